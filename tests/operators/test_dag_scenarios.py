"""DAG runs against the served emulator: retries, kills, timeouts, failures, faults, sensors,
parse-time validation, and no secret in any task log, XCom or rendered template field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_emr_ray import version_compat

from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_faults(emulator: Any):
    emulator.emulator.clear_faults()
    yield
    emulator.emulator.clear_faults()


def calls(emulator: Any, action: str) -> int:
    return emulator.emulator.stats.calls[action]


def clusters_named(emulator: Any, name: str) -> list[dict[str, Any]]:
    store = emulator.emulator.store
    with store.lock:
        return [dict(c) for c in store.clusters.values() if c["name"] == name]


def job_record(emulator: Any, sid: str) -> dict[str, Any]:
    store = emulator.emulator.store
    with store.lock:
        return dict(store.jobs[sid])


def assert_no_secrets(result: Any, emulator: Any) -> None:
    """The AccessKey secret, every cluster's submit token and every dashboard token appear in no
    log, XCom or rendered template field."""
    store = emulator.emulator.store
    with store.lock:
        submit_tokens = [c["submitToken"] for c in store.clusters.values()]
        dash_tokens = [c["_dashToken"] for c in store.clusters.values()]
    logs = "\n".join(result.logs.values())
    stored = json.dumps([result.all_xcoms(), result.rendered_fields()], default=str)
    for secret in (TEST_SECRET, *submit_tokens):
        assert secret not in logs
        assert secret not in stored
    for token in dash_tokens:
        assert token not in logs
        assert token not in stored


def test_the_e2e_runs_leak_no_secret(run_dag, emulator) -> None:
    result = run_dag("emr_ray_e2e_deferrable")
    assert set(result.states.values()) == {"success"}
    url = result.xcom("create", "dashboardUrl")
    assert url and "/dashboard" in url and "token" not in url  # stored without its token
    assert_no_secrets(result, emulator)


def test_retry_after_create_reuses_the_cluster(run_dag, emulator) -> None:
    emulator.emulator.add_fault(kind="500", action="GetRayCluster", times=2)  # = 1 call + 1 hook retry
    creates = calls(emulator, "CreateRayCluster")
    result = run_dag("emr_ray_retry_create")
    assert result.states == {"create": "success", "delete": "success"}
    assert result.dag_run.get_task_instance("create").try_number == 2
    assert calls(emulator, "CreateRayCluster") - creates == 1
    assert len(clusters_named(emulator, "e2e-retry-create")) <= 1
    assert "Reusing Ray cluster" in result.logs["__printed__"]
    assert_no_secrets(result, emulator)


@pytest.mark.xfail(
    not version_compat.AIRFLOW_V_3_1_PLUS(),
    reason="Airflow 3.0: dag.test() fails the second try of this deferred task (not yet diagnosed; the real-scheduler e2e covers retries)",
    strict=True,
)
def test_retry_after_submit_reattaches(run_dag, emulator, tmp_path) -> None:
    run_dag("emr_ray_sensors")  # makes sure the shared cluster exists before counting
    emulator.emulator.add_fault(kind="500", action="GetRayJob", times=2)
    submits = calls(emulator, "SubmitRayJob")
    result = run_dag("emr_ray_retry_submit", conf={"gate": str(tmp_path / "gate")})
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    assert result.dag_run.get_task_instance("submit").try_number == 2
    assert calls(emulator, "SubmitRayJob") - submits == 1
    assert "Reattaching to Ray job" in result.logs["__printed__"]
    sid = result.xcom("submit")
    assert job_record(emulator, sid)["status"] == "Succeeded"
    assert_no_secrets(result, emulator)


@pytest.mark.parametrize("mode", ["polling", "deferred"])
def test_execution_timeout_cancels_the_job(run_dag, emulator, mode: str) -> None:
    result = run_dag(f"emr_ray_exec_timeout_{mode}")
    assert result.states["submit"] == "failed"
    sid = result.xcom("submit", "submissionId")
    assert job_record(emulator, sid)["status"] in ("Cancelling", "Cancelled")
    assert "Cancelled Ray job" in result.logs["__printed__"]
    assert_no_secrets(result, emulator)


def test_failing_job_fails_the_task_with_its_log_tail(run_dag, emulator) -> None:
    result = run_dag("emr_ray_failing_job")
    assert result.states["submit"] == "failed"
    printed = result.logs["__printed__"]
    assert "boom-marker-42" in printed  # the log tail is in the task log
    assert "[ray] ValueError: boom-marker-42" in printed  # the job's log, copied into the task log
    assert "Last " in printed and "lines of its log:\n" in printed  # and its end quoted in the error
    assert "ended Failed" in printed  # the error names the status
    if version_compat.AIRFLOW_V_3_1_PLUS():  # 3.0's in-process supervisor logs every message at debug level
        assert "Signature=" not in printed  # the presigned log URL is never logged by us
    assert_no_secrets(result, emulator)


def test_cluster_error_with_delete_on_error(run_dag, emulator) -> None:
    result = run_dag("emr_ray_cluster_error")
    assert result.states["create"] == "failed"
    printed = result.logs["__printed__"]
    assert "is Error instead of Running" in printed
    assert "delete_on_error: deleting Ray cluster" in printed
    assert all(c["state"] in ("Stopping", "Deleted") or c.get("_deleting") for c in clusters_named(emulator, "e2e-error-1"))
    assert_no_secrets(result, emulator)


def test_throttling_and_5xx_while_deferred(run_dag, emulator) -> None:
    run_dag("emr_ray_sensors")  # the shared cluster exists
    emulator.emulator.add_fault(kind="429", action="GetRayJob", times=4, retry_after=0)
    emulator.emulator.add_fault(kind="503", action="GetRayJob", times=2)
    submits = calls(emulator, "SubmitRayJob")
    result = run_dag("emr_ray_throttled")
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    assert calls(emulator, "SubmitRayJob") - submits == 1
    assert emulator.emulator.stats.faults_by_kind["429"] >= 4
    assert "transient error" in result.logs["__printed__"]
    assert_no_secrets(result, emulator)


def test_sensors_soft_fail_and_timeout(run_dag, emulator) -> None:
    result = run_dag("emr_ray_sensors")
    assert result.states == {
        "cluster": "success",
        "cluster_running": "success",
        "bad_job": "success",
        "job_soft_poke": "skipped",
        "job_soft_deferred": "skipped",
        "job_hard": "failed",
        "timeout_poke": "failed",
        "timeout_soft_deferred": "skipped",
    }
    cluster_id = result.xcom("cluster")
    assert result.xcom("cluster_running", "clusterId") == cluster_id
    assert result.xcom("cluster_running", "grpcEndpoint")
    printed = result.logs["__printed__"]
    assert "Sensor has timed out" in printed
    assert_no_secrets(result, emulator)


def test_bad_literal_spec_fails_the_task_naming_the_field_before_any_request(run_dag, dagbag, emulator) -> None:
    """The spec rules (pydantic models) are not loaded at parse time, which would add about 25 ms
    to every parse of every DAG file using the operators: a literal spec is checked by the
    same model as a templated one, when the task starts, before any API call."""
    assert "emr_ray_bad_spec" in dagbag.dag_ids and not dagbag.import_errors
    before = sum(emulator.emulator.stats.calls.values())
    result = run_dag("emr_ray_bad_spec")
    assert result.states == {"create": "failed"}
    assert result.dag_run.get_task_instance("create").try_number == 1  # retries=2: none used
    assert "head_spec.memory" in "\n".join(result.logs.values())
    assert sum(emulator.emulator.stats.calls.values()) == before  # not even a lookup


def test_a_wrong_secret_fails_the_task_once_without_retry(run_dag, emulator, monkeypatch) -> None:
    """One signed call, rejected; neither the hook (max_retries=3) nor Airflow (retries=2) tries again."""
    from airflow_provider_emr_ray.emulator.config import conn_json

    conn = conn_json(emulator.endpoint, password="not-the-secret-at-all", max_retries=3)
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_WRONG_SECRET", conn)
    before, rejected = sum(emulator.emulator.stats.calls.values()), sum(emulator.emulator.stats.rejections.values())
    result = run_dag("emr_ray_wrong_secret")
    assert result.states == {"create": "failed"}
    assert result.dag_run.get_task_instance("create").try_number == 1
    assert sum(emulator.emulator.stats.calls.values()) - before == 1
    assert sum(emulator.emulator.stats.rejections.values()) - rejected == 1
    assert "SignatureDoesNotMatch" in "\n".join(result.logs.values())
    assert "not-the-secret-at-all" not in "\n".join(result.logs.values())


def test_misspelled_key_in_a_rendered_spec_fails_before_any_request(run_dag, emulator) -> None:
    before = sum(emulator.emulator.stats.calls.values())
    result = run_dag("emr_ray_bad_spec_rendered")
    assert result.states == {"create": "failed"}
    assert result.dag_run.get_task_instance("create").try_number == 1
    assert "head_spec.memroy: unknown field; did you mean 'memory'?" in "\n".join(result.logs.values())
    assert sum(emulator.emulator.stats.calls.values()) == before
