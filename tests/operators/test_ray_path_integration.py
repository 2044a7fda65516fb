"""DAG runs on Ray's Jobs API path against the served emulator (its gateway at ``jobUrl``): a
local working_dir runs and its output is in the log; a failing entrypoint fails the task with
its log tail; a retry after a lost submit answer gives one job; the example DAG runs green; no
token anywhere Airflow stores or logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_faults(emulator: Any):
    emulator.emulator.clear_faults()
    yield
    emulator.emulator.clear_faults()


def ray_calls(emulator: Any, action: str) -> int:
    return emulator.emulator.stats.ray_jobs_calls[action]


def gateway_jobs(emulator: Any) -> dict[str, Any]:
    """Every Ray Jobs API job the gateway knows, by submission id."""
    found: dict[str, Any] = {}
    api = emulator.emulator.ray_jobs
    with api.store.lock:
        for cid in [c["clusterId"] for c in api.store.clusters.values()]:
            try:
                for job in api.list(cid):
                    found[job["submission_id"]] = job
            except Exception:
                continue
    return found


def assert_no_secrets(result: Any, emulator: Any) -> None:
    store = emulator.emulator.store
    with store.lock:
        tokens = [c["submitToken"] for c in store.clusters.values()] + [c["_dashToken"] for c in store.clusters.values()]
    logs = "\n".join(result.logs.values())
    stored = json.dumps([result.all_xcoms(), result.rendered_fields()], default=str)
    for secret in (TEST_SECRET, *tokens):
        assert secret not in logs
        assert secret not in stored


def test_local_working_dir_runs_and_the_sensor_reads_it(run_dag, emulator) -> None:
    openapi_submits = emulator.emulator.stats.calls["SubmitRayJob"]
    result = run_dag("emr_ray_ray_path_success")
    assert result.states == {"cluster": "success", "submit": "success", "wait": "success"}, result.logs["__printed__"][-3000:]
    sid = result.xcom("submit")
    assert result.xcom("submit", "submissionId") == sid and result.xcom("submit", "submissionApi") == "ray"
    assert sid.startswith("af-emr-ray-ray-path-success-submit-")
    assert result.xcom("submit", "tags")["workflowId"].startswith("af-")
    assert result.xcom("wait", "status") == "Succeeded"
    assert result.xcom("wait", "tags")["team"] == "ml"
    job = gateway_jobs(emulator)[sid]
    assert job["status"] == "SUCCEEDED"
    assert job["metadata"]["airflow_task_id"] == "submit" and job["metadata"]["airflow_try_number"] == "1"
    logs = emulator.emulator.ray_jobs.logs(result.xcom("cluster"), sid)
    assert "ray-path-marker-7 hello from a local working_dir" in logs  # ran inside the uploaded folder
    assert emulator.emulator.stats.calls["SubmitRayJob"] == openapi_submits  # not through SubmitRayJob
    assert ray_calls(emulator, "GetPackage") >= 1  # the folder went up as a package (or was there already)
    assert_no_secrets(result, emulator)


def test_deferred_wait_on_the_ray_path(run_dag, emulator) -> None:
    result = run_dag("emr_ray_ray_path_deferred")
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    assert gateway_jobs(emulator)[result.xcom("submit")]["status"] == "SUCCEEDED"
    assert_no_secrets(result, emulator)


def test_failing_entrypoint_fails_with_its_log_tail(run_dag, emulator) -> None:
    result = run_dag("emr_ray_ray_path_failing")
    assert result.states["submit"] == "failed"
    printed = result.logs["__printed__"]
    assert "ray-boom-marker-99" in printed  # the job's log ([ray] lines: test_job_log_integration.py)
    assert "lines of its log:\n" in printed  # its end quoted in the error
    assert "ended Failed (Ray: FAILED)" in printed
    assert ray_calls(emulator, "TailJobLogs") + ray_calls(emulator, "GetJobLogs") >= 1
    assert_no_secrets(result, emulator)


def test_retry_after_a_lost_submit_answer_gives_one_job(run_dag, emulator) -> None:
    before = set(gateway_jobs(emulator))
    result = run_dag("emr_ray_ray_path_retry")
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    assert result.dag_run.get_task_instance("submit").try_number == 2
    new = set(gateway_jobs(emulator)) - before
    assert new == {result.xcom("submit")}  # exactly one job, the first try's
    assert gateway_jobs(emulator)[result.xcom("submit")]["metadata"]["airflow_try_number"] == "1"
    assert "Reattaching to Ray job" in result.logs["__printed__"]
    assert_no_secrets(result, emulator)


def test_example_dag_creates_runs_local_code_and_deletes(run_example, emulator) -> None:
    deletes = emulator.emulator.stats.calls["DeleteRayCluster"]
    before = set(gateway_jobs(emulator))
    example = run_example("example_emr_ray_local_code")
    state, states, output = example.state, example.states, example.output
    assert states == {
        "choose_cluster": "success",
        "create_cluster": "success",
        "new_cluster.submit_job": "success",
        "new_cluster.wait_for_job": "success",
        "delete_cluster": "success",
        "use_existing_cluster": "skipped",
        "given_cluster.submit_job": "skipped",
        "given_cluster.wait_for_job": "skipped",
    }, output[-6000:]
    assert state == "success"
    assert emulator.emulator.stats.calls["DeleteRayCluster"] == deletes + 1
    assert len(set(gateway_jobs(emulator)) - before) <= 1  # the deleted cluster's jobs are forgotten


def test_example_dag_with_an_existing_cluster_leaves_it(run_example, emulator, run_dag) -> None:
    cluster_id = run_dag("emr_ray_ray_path_deferred").xcom("cluster")  # the shared cluster exists
    before = set(gateway_jobs(emulator))
    example = run_example("example_emr_ray_local_code", {"cluster_id": cluster_id, "epochs": 2})
    state, states, output = example.state, example.states, example.output
    assert states == {
        "choose_cluster": "success",
        "create_cluster": "skipped",
        "new_cluster.submit_job": "skipped",
        "new_cluster.wait_for_job": "skipped",
        "delete_cluster": "skipped",
        "use_existing_cluster": "success",
        "given_cluster.submit_job": "success",
        "given_cluster.wait_for_job": "success",
    }, output[-6000:]
    assert state == "success"
    (sid,) = set(gateway_jobs(emulator)) - before
    job = gateway_jobs(emulator)[sid]
    assert job["status"] == "SUCCEEDED" and job["entrypoint"] == "python train.py --epochs 2"
    assert "epoch 2/2" in emulator.emulator.ray_jobs.logs(cluster_id, sid)
    store = emulator.emulator.store
    with store.lock:
        assert store.clusters[cluster_id]["state"] == "Running"
