"""The official SDK (unchanged) completes all thirteen Ray calls against a served emulator."""

from __future__ import annotations

import sys

import httpx
import pytest

from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread
from airflow_provider_emr_ray.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_REGION,
    DEFAULT_WORKSPACE,
)
from tests.emulator.helpers import FAST_DELAYS, wait_for

sdk_client = pytest.importorskip("alibabacloud_emr_serverless_spark20230808.client")
sdk_models = pytest.importorskip("alibabacloud_emr_serverless_spark20230808.models")
openapi_models = pytest.importorskip("alibabacloud_tea_openapi.models")
from alibabacloud_tea_openapi.exceptions import ClientException  # noqa: E402

pytestmark = pytest.mark.integration


def _client(port: int) -> sdk_client.Client:
    config = openapi_models.Config(
        access_key_id=DEFAULT_ACCESS_KEY_ID,
        access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
        region_id=DEFAULT_REGION,
    )
    return sdk_client.Client(config)


def test_official_sdk_all_thirteen_calls(tmp_path):
    cfg = EmulatorConfig(**FAST_DELAYS, data_dir=str(tmp_path))
    with serve_in_thread(cfg) as server:
        c = _client(server.port)
        ws = DEFAULT_WORKSPACE
        m = sdk_models

        created = c.create_ray_cluster(
            ws,
            m.CreateRayClusterRequest(
                name="sdk cluster",
                description="made by the SDK",
                display_release_version="ray-1.0.0 (Ray 2.47.1, Python 3.12)",
                network_service_name="vpc",
                head_spec=m.CreateRayClusterRequestHeadSpec(queue_name="root_queue", cpu="2", memory="8Gi"),
                worker_spec=[
                    m.CreateRayClusterRequestWorkerSpec(
                        group_name="G1", worker_type="CPU", replica=2, cpu="2", memory="8Gi", min_replica=1, max_replica=4
                    )
                ],
                volume_ids=["vol-1"],
                extra_param="{}",
            ),
        )
        cid = created.body.cluster_id
        assert cid.startswith("ray-") and created.body.request_id

        got = c.get_ray_cluster(ws, cid).body
        assert got.state == "Running" and got.name == "sdk cluster"
        assert got.head_spec.cpu == "2" and got.worker_spec[0].replica == 2
        assert len(got.instances) == 3 and got.instances[0].type == "Head"
        assert "token=" in got.dashboard_url and got.submit_token and got.job_url and got.grpc_endpoint

        c.update_ray_cluster(ws, cid, m.UpdateRayClusterRequest(name="sdk cluster", description="changed"))
        got = c.get_ray_cluster(ws, cid).body
        assert got.description == "changed" and got.modified is True

        listed = c.list_ray_cluster(ws, m.ListRayClusterRequest(page_num=1, page_size=10)).body
        assert [rc.cluster_id for rc in listed.ray_clusters] == [cid]

        c.stop_ray_cluster(ws, cid, m.StopRayClusterRequest(instance_id=got.instance_id))
        assert c.get_ray_cluster(ws, cid).body.state == "Stopped"
        c.start_ray_cluster(ws, cid, m.StartRayClusterRequest(client_token="tok-1"))
        assert c.get_ray_cluster(ws, cid).body.state == "Running"

        entry = f'"{sys.executable}" -c "print(42)"'
        sub = c.submit_ray_job(
            ws,
            m.SubmitRayJobRequest(
                entrypoint=entry,
                name="sdk job with spaces",
                cluster_id=cid,
                tags=[m.Tag(key="workflowId", value="wf 1")],
                runtime_env_json='{"env_vars":{"A":"1"}}',
                metadata_json='{"owner":"alice"}',
                entrypoint_num_cpus="1",
            ),
        ).body
        sid = sub.submission_id

        def finished():
            body = c.get_ray_job(ws, sid, m.GetRayJobRequest()).body
            return body if body.status in ("Succeeded", "Failed") else None

        job = wait_for(finished, what="SDK job to finish")
        assert job.status == "Succeeded", job.message
        assert job.tags[0].value == "wf 1" and job.metadata_json == '{"owner":"alice"}'
        assert job.log_path.endswith(f"/{sid}/")

        jobs = c.list_ray_job(
            ws,
            m.ListRayJobRequest(page_num=1, page_size=20, name="sdk job with spaces", submit_time=m.ListRayJobRequestSubmitTime(start_time=0, end_time=2**42)),
        ).body
        assert jobs.total_count == 1 and jobs.ray_jobs[0].submission_id == sid

        logs = c.list_ray_logs(ws, sid, m.ListRayLogsRequest(max_keys=10)).body
        names = [o.name for o in logs.data.object_list]
        assert names == [f"job-driver-{sid}.log"]
        link = c.get_ray_log(ws, sid, m.GetRayLogRequest(path=logs.data.object_list[0].path)).body.data.access_url
        assert httpx.get(link).text.strip() == "42"

        # A second, long job to cancel.
        sub2 = c.submit_ray_job(
            ws,
            m.SubmitRayJobRequest(entrypoint=f'"{sys.executable}" -c "import time; time.sleep(60)"', cluster_id=cid),
        ).body
        cancelled = c.cancel_ray_job(ws, sub2.submission_id, m.CancelRayJobRequest()).body
        assert cancelled.success is True
        wait_for(
            lambda: c.get_ray_job(ws, sub2.submission_id, m.GetRayJobRequest()).body.status == "Cancelled",
            what="cancel",
        )

        c.delete_ray_cluster(ws, cid)
        with pytest.raises(ClientException) as info:
            c.get_ray_cluster(ws, cid)
        assert info.value.code == "RayCluster.NotFound" and info.value.status_code == 404
        assert server.emulator.stats.calls["GetRayJob"] >= 1


def test_official_sdk_sees_auth_errors():
    with serve_in_thread(EmulatorConfig(**FAST_DELAYS, execute_jobs=False)) as server:
        config = openapi_models.Config(
            access_key_id=DEFAULT_ACCESS_KEY_ID,
            access_key_secret="wrong-secret",
            endpoint=f"127.0.0.1:{server.port}",
            protocol="http",
            region_id=DEFAULT_REGION,
        )
        with pytest.raises(ClientException) as info:
            sdk_client.Client(config).get_ray_cluster(DEFAULT_WORKSPACE, "ray-x")
        assert info.value.code == "SignatureDoesNotMatch"
        assert "wrong-secret" not in str(info.value)
