"""EmrRayHook against the emulator: in-process (ASGI, async path) and over a real socket (sync path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from airflow_provider_emr_ray.client.retry import RetryPolicy
from airflow_provider_emr_ray.emulator import EmulatorConfig, FaultRule, create_app, serve_in_thread
from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayNotFoundError,
    EmrRayOutcomeUnknownError,
)
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from devtools.emulator import FAST_DELAYS
from tests.conftest import TEST_AK, TEST_SECRET
from tests.emulator.helpers import async_wait_for, wait_for

HEAD = {"cpu": 2, "memory": "8Gi"}
WORKERS = [{"group_name": "cpu", "worker_type": "CPU", "replica": 2, "cpu": 4, "memory": "16Gi"}]


def _conn(monkeypatch, endpoint: str, conn_id: str = "emr_ray_emu", secret: str = TEST_SECRET) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(endpoint, password=secret))
    return conn_id


def _until(fetch, done, timeout=30.0):
    """The first ``fetch()`` that ``done`` accepts (polled by the shared helper)."""
    found = wait_for(lambda: (value,) if done(value := fetch()) else None, timeout=timeout)
    return found[0]


async def _auntil(fetch, done, timeout=30.0):
    """Async :func:`_until`."""

    async def probe():
        value = await fetch()
        return (value,) if done(value) else None

    return (await async_wait_for(probe, timeout=timeout))[0]


async def test_async_lifecycle_in_process(monkeypatch):
    app = create_app(EmulatorConfig(**FAST_DELAYS, execute_jobs=False))
    try:
        hook = EmrRayHook(_conn(monkeypatch, "http://emulator.local"), async_transport=httpx.ASGITransport(app=app))
        cluster_id = await hook.acreate_ray_cluster(name="async-life", head_spec=HEAD, worker_spec=WORKERS)
        cluster = await _auntil(lambda: hook.aget_ray_cluster(cluster_id), lambda c: c.state == "Running")
        assert cluster.name == "async-life" and cluster.grpc_endpoint and cluster.job_url
        assert len(cluster.instances) == 3  # a head and one per worker replica
        assert [c.cluster_id for c in await hook.alist_ray_clusters(page_size=1)] == [cluster_id]

        await hook.aupdate_ray_cluster(cluster_id, description="resized")
        updated = await hook.aget_ray_cluster(cluster_id)
        assert updated.description == "resized" and updated.modified

        job_id = await hook.asubmit_ray_job(entrypoint="python main.py", cluster_id=cluster_id, tags={"workflowId": "wf-1"})
        job = await _auntil(lambda: hook.aget_ray_job(job_id), lambda j: j.is_terminal)
        assert job.status == "Succeeded" and job.tags_dict["workflowId"] == "wf-1"
        assert [j.submission_id for j in await hook.alist_ray_jobs(submission_id=job_id)] == [job_id]

        await hook.astop_ray_cluster(cluster_id)
        await _auntil(lambda: hook.aget_ray_cluster(cluster_id), lambda c: c.state == "Stopped")
        await hook.astart_ray_cluster(cluster_id)
        await _auntil(lambda: hook.aget_ray_cluster(cluster_id), lambda c: c.state == "Running")
        await hook.adelete_ray_cluster(cluster_id)
        with pytest.raises(EmrRayNotFoundError):
            await _auntil(lambda: hook.aget_ray_cluster(cluster_id), lambda c: False, timeout=5)
    finally:
        app.emulator.close()


@pytest.fixture
def served():
    with serve_in_thread(EmulatorConfig(**FAST_DELAYS)) as server:
        yield server


@pytest.mark.integration
def test_sync_lifecycle_with_a_real_job_over_a_socket(monkeypatch, served):
    hook = EmrRayHook(_conn(monkeypatch, served.endpoint))
    cluster_id = hook.create_ray_cluster(name="sync-life", head_spec=HEAD, worker_spec=WORKERS)
    _until(lambda: hook.get_ray_cluster(cluster_id), lambda c: c.state == "Running")

    code = "import os; print('hello from', os.environ['GREETING'])"
    job_id = hook.submit_ray_job(
        entrypoint=f'{sys.executable} -c "{code}"', cluster_id=cluster_id, runtime_env_json={"env_vars": {"GREETING": "emulator"}}
    )
    job = _until(lambda: hook.get_ray_job(job_id), lambda j: j.is_terminal)
    assert job.status == "Succeeded", job.message

    logs = hook.list_ray_logs(job_id)
    paths = [o["path"] for o in logs["objectList"] if not o.get("isDir")]
    assert paths
    url = hook.get_ray_log(job_id, path=paths[0])
    assert "hello from emulator" in httpx.get(url).text

    failing = hook.submit_ray_job(entrypoint=f'{sys.executable} -c "import sys; sys.exit(3)"', cluster_id=cluster_id)
    failed = _until(lambda: hook.get_ray_job(failing), lambda j: j.is_terminal)
    assert failed.status == "Failed" and "3" in (failed.message or "")

    long_job = hook.submit_ray_job(entrypoint=f'{sys.executable} -c "import time; time.sleep(60)"', cluster_id=cluster_id)
    _until(lambda: hook.get_ray_job(long_job), lambda j: j.status == "Running")
    assert hook.cancel_ray_job(long_job) is True
    assert _until(lambda: hook.get_ray_job(long_job), lambda j: j.is_terminal).status == "Cancelled"

    hook.delete_ray_cluster(cluster_id)
    ok, message = hook.test_connection()
    assert ok, message


@pytest.mark.integration
def test_create_whose_answer_is_lost_is_not_resent(monkeypatch, served):
    """The service creates the cluster but the answer is a 500: one cluster, and the caller is told to reconcile."""
    served.emulator.add_fault(FaultRule(kind="500", action="CreateRayCluster", times=1, after=True))
    hook = EmrRayHook(_conn(monkeypatch, served.endpoint), retry_policy=RetryPolicy(max_retries=3, base_delay=0.01))
    with pytest.raises(EmrRayOutcomeUnknownError):
        hook.create_ray_cluster(name="exactly-once", head_spec=HEAD)
    assert [c.name for c in hook.list_ray_clusters()] == ["exactly-once"]


@pytest.mark.integration
def test_throttling_and_5xx_are_absorbed(monkeypatch, served):
    served.emulator.add_fault(FaultRule(kind="429", action="GetRayCluster", times=2, retry_after=0))
    served.emulator.add_fault(FaultRule(kind="503", action="ListRayCluster", times=2))
    hook = EmrRayHook(_conn(monkeypatch, served.endpoint), retry_policy=RetryPolicy(max_retries=3, base_delay=0.01))
    cluster_id = hook.create_ray_cluster(name="throttled", head_spec=HEAD)
    assert hook.get_ray_cluster(cluster_id).cluster_id == cluster_id
    assert len(hook.list_ray_clusters()) == 1


@pytest.mark.integration
def test_wrong_secret_is_a_readable_auth_error(monkeypatch, served):
    hook = EmrRayHook(_conn(monkeypatch, served.endpoint, secret="wrong-secret-value"))
    with pytest.raises(EmrRayAuthError, match="SignatureDoesNotMatch") as info:
        hook.list_ray_clusters()
    assert "wrong-secret-value" not in str(info.value)
    ok, message = hook.test_connection()
    assert not ok and "SignatureDoesNotMatch" in message and "AccessKey" in message


@pytest.mark.integration
def test_airflow_cli_connection_passes_test_connection(served, tmp_path):
    """`airflow connections add --conn-type emr_ray ...` then `airflow connections test` against the emulator."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"},
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=240)
    extra = json.loads(conn_json(served.endpoint))["extra"]
    subprocess.run(
        [*airflow, "connections", "add", "emr_ray_cli", "--conn-type", "emr_ray", "--conn-login", TEST_AK,
         "--conn-password", TEST_SECRET, "--conn-extra", json.dumps(extra)],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    good = subprocess.run([*airflow, "connections", "test", "emr_ray_cli"], env=env, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and "Connection success!" in good.stdout, good.stdout + good.stderr
    # The same connection with a wrong secret (from the environment, to spare a CLI round trip).
    env["AIRFLOW_CONN_EMR_RAY_CLI_BAD"] = conn_json(served.endpoint, password="not-the-secret")
    bad = subprocess.run([*airflow, "connections", "test", "emr_ray_cli_bad"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 or "Connection success!" not in bad.stdout
    assert "SignatureDoesNotMatch" in bad.stdout + bad.stderr
    assert "not-the-secret" not in bad.stdout + bad.stderr


def _alibaba_cloud_conn(endpoint: str, **keys: str) -> str:
    """An ``alibaba_cloud`` connection as apache-airflow-providers-alibaba's form saves it (conn
    type ``alibaba_cloud``, the AccessKey pair in the extras ``access_key_id`` and
    ``access_key_secret``, no login or password), with this provider's extras added to it."""
    from airflow_provider_emr_ray.emulator.config import DEFAULT_REGION, DEFAULT_WORKSPACE

    extra = {"access_key_id": TEST_AK, "access_key_secret": TEST_SECRET, **keys}
    extra.update(region_id=DEFAULT_REGION, workspace_id=DEFAULT_WORKSPACE, endpoint=endpoint)
    return json.dumps({"conn_type": "alibaba_cloud", "extra": extra})


@pytest.mark.integration
def test_an_alibaba_cloud_connection_drives_the_emulator(monkeypatch, served):
    from airflow_provider_emr_ray import redaction, version_compat

    masked: list[str] = []
    monkeypatch.setattr(version_compat, "mask_secret", lambda secret, name=None: masked.append(secret))
    monkeypatch.setattr(redaction, "_REGISTERED", set())
    monkeypatch.setenv("AIRFLOW_CONN_ALIBABACLOUD_DEFAULT", _alibaba_cloud_conn(served.endpoint))
    hook = EmrRayHook("alibabacloud_default")
    cluster_id = hook.create_ray_cluster(name="from-alibaba-cloud-conn", head_spec=HEAD)
    assert [c.cluster_id for c in hook.list_ray_clusters()].count(cluster_id) == 1
    ok, message = hook.test_connection()
    assert ok, message
    hook.delete_ray_cluster(cluster_id)
    assert TEST_SECRET in masked  # the secret read from the extras is registered with the masker


def test_an_alibaba_cloud_pair_that_differs_from_login_and_password_is_refused(monkeypatch):
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    conn = json.loads(_alibaba_cloud_conn("http://127.0.0.1:1"))
    conn.update(login=TEST_AK, password="another-secret-value")
    monkeypatch.setenv("AIRFLOW_CONN_MIXED", json.dumps(conn))
    with pytest.raises(EmrRayValidationError, match="access_key_secret") as info:
        EmrRayHook("mixed").settings  # noqa: B018 - reading the connection is the check
    assert TEST_SECRET not in str(info.value) and "another-secret-value" not in str(info.value)
    # The same pair both ways is one pair.
    conn["password"] = TEST_SECRET
    monkeypatch.setenv("AIRFLOW_CONN_MIXED", json.dumps(conn))
    assert EmrRayHook("mixed").settings.credentials is not None
