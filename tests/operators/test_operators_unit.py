"""Unit tests of the operators' own logic against a scripted hook: validation at parse time and at start,
if_exists, reconciliation of unknown outcomes, Airflow tags, reattach, deferral, resume."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout, TaskDeferred

from airflow_provider_emr_ray._waiting import fit_tag_value, workflow_id
from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError, EmrRayValidationError
from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger, RayJobStatusTrigger
from tests.operators.fakes import ScriptedHook

HEAD = {"cpu": "2", "memory": "8Gi", "queueName": "dev_queue"}
WORKERS = [{"groupName": "g1", "workerType": "CPU", "cpu": "2", "memory": "8Gi", "replica": 1}]


class FakeTI:
    def __init__(self, try_number: int = 1, run_id: str = "manual__2026-01-01T00:00:00+00:00") -> None:
        self.dag_id = "dag"
        self.run_id = run_id
        self.task_id = "task"
        self.map_index = -1
        self.try_number = try_number
        self.start_date = datetime.now(timezone.utc)
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get(key)


def ctx(ti: FakeTI | None = None) -> dict[str, Any]:
    return {"ti": ti or FakeTI()}


def with_hook(op, hook: ScriptedHook):
    op.__dict__["hook"] = hook  # fill the cached_property
    return op


# ---------------------------------------------------------------- parse-time validation


def _rejected_at_start(op) -> EmrRayValidationError:
    """``op`` built without error (no pydantic model at parse time); its execute must fail
    naming the field before any hook call."""
    hook = with_hook(op, ScriptedHook()).hook
    with pytest.raises(EmrRayValidationError) as err:
        op.execute(ctx())
    assert hook.calls == [] and hook.listed_clusters == [] and hook.listed_jobs == []
    return err.value


def test_bad_literal_spec_fails_at_start_naming_the_field() -> None:
    op = EmrRayClusterCreateOperator(task_id="c", name="x", head_spec={**HEAD, "memory": "8GB"})
    assert _rejected_at_start(op).field.startswith("head_spec.memory")


def test_bad_worker_spec_names_the_group() -> None:
    bad = [{**WORKERS[0], "minReplica": 3, "maxReplica": 1}]
    op = EmrRayClusterCreateOperator(task_id="c", name="x", worker_spec=bad)
    assert _rejected_at_start(op).field.startswith("worker_spec[0]")


def test_templated_spec_is_validated_only_after_rendering() -> None:
    op = EmrRayClusterCreateOperator(task_id="c", name="x", head_spec={**HEAD, "memory": "{{ params.mem }}"})
    op.head_spec = {**HEAD, "memory": "8GB"}  # as rendered
    hook = with_hook(op, ScriptedHook()).hook
    with pytest.raises(EmrRayValidationError) as err:
        op.execute(ctx())
    assert err.value.field.startswith("head_spec.memory")
    assert hook.calls == []  # no API call before validation


def test_cheap_checks_at_init_model_rules_at_start() -> None:
    with pytest.raises(EmrRayValidationError) as err:
        EmrRayJobSubmitOperator(task_id="j", entrypoint="python x.py", runtime_env="[1, 2]")
    assert err.value.field == "runtime_env"
    with pytest.raises(EmrRayValidationError):
        EmrRayJobSubmitOperator(task_id="j", entrypoint="  ")
    with pytest.raises(EmrRayValidationError):
        EmrRayClusterCreateOperator(task_id="c", name="x", if_exists="maybe")
    op = EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="python x.py", entrypoint_memory="lots")
    assert "entrypoint_memory" in _rejected_at_start(op).field
    op = EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="python x.py", tags={"k": "v" * 300})
    assert "tags" in _rejected_at_start(op).field


def test_pydantic_models_are_not_loaded_to_build_operators() -> None:
    """Building every operator with literal specs must not import the models module (about
    25 ms of pydantic class building on every DAG file parse)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_emr_ray.operators.emr_ray import *\n"
        "from airflow_provider_emr_ray.sensors.emr_ray import *\n"
        f"HEAD, WORKERS = {HEAD!r}, {WORKERS!r}\n"
        "with DAG('d', schedule=None):\n"
        "    EmrRayClusterCreateOperator(task_id='c', name='x', head_spec=HEAD, worker_spec=WORKERS)\n"
        "    EmrRayClusterUpdateOperator(task_id='u', cluster_id='ray-1', head_spec=HEAD, worker_spec=WORKERS)\n"
        "    EmrRayJobSubmitOperator(task_id='j', entrypoint='python x.py', head_spec=HEAD, worker_spec=WORKERS,"
        " tags={'a': 'b'}, entrypoint_memory='4Gi', runtime_env={'pip': ['x']})\n"
        "    RayJobSensor(task_id='s', submission_id='rj-1')\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_emr_ray')))\n"
        "assert 'airflow_provider_emr_ray.models' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:] + out.stdout


def test_no_hook_is_built_at_init() -> None:
    op = EmrRayJobSubmitOperator(task_id="j", entrypoint="python x.py", emr_ray_conn_id="does_not_exist")
    assert "hook" not in op.__dict__


# ---------------------------------------------------------------- cluster create


def running(cid: str = "ray-1", **kw: Any) -> dict[str, Any]:
    return {
        "clusterId": cid,
        "state": "Running",
        "jobUrl": "https://job",
        "jobUrlInner": "http://inner",
        "grpcEndpoint": "grpc://x",
        "dashboardUrl": "https://dash/?token=DASHTOKEN",
        "submitToken": "SUBMIT-SECRET",
        **kw,
    }


def test_create_reuses_a_live_cluster_of_the_same_name() -> None:
    hook = ScriptedHook(clusters=[running("ray-old")])
    hook.listed_clusters = [
        {"clusterId": "ray-dead", "name": "x", "state": "Error", "createTime": 3},
        {"clusterId": "ray-old", "name": "x", "state": "Stopped", "createTime": 2},
        {"clusterId": "ray-other", "name": "y", "state": "Running", "createTime": 1},
    ]
    op = with_hook(EmrRayClusterCreateOperator(task_id="c", name="x", poll_interval=0.01), hook)
    ti = FakeTI()
    assert op.execute(ctx(ti)) == "ray-old"
    assert "create_ray_cluster" not in hook.names()
    assert ("start_ray_cluster", ("ray-old",), {}) in hook.calls
    assert ti.xcoms["clusterId"] == "ray-old"
    assert ti.xcoms["grpcEndpoint"] == "grpc://x"
    assert "SUBMIT-SECRET" not in repr(ti.xcoms)


def test_if_exists_fail_and_create() -> None:
    hook = ScriptedHook(clusters=[running("ray-new")])
    hook.listed_clusters = [{"clusterId": "ray-old", "name": "x", "state": "Running"}]
    with pytest.raises(AirflowException, match="already exists"):
        with_hook(EmrRayClusterCreateOperator(task_id="c", name="x", if_exists="fail"), hook).execute(ctx())
    op = with_hook(EmrRayClusterCreateOperator(task_id="c", name="x", if_exists="create", poll_interval=0.01), hook)
    assert op.execute(ctx()) == "ray-new"
    assert "create_ray_cluster" in hook.names()


def test_create_outcome_unknown_reconciles_by_name() -> None:
    hook = ScriptedHook(clusters=[running("ray-made")])
    hook.create_result = EmrRayOutcomeUnknownError("read timeout", action="CreateRayCluster")
    op = with_hook(
        EmrRayClusterCreateOperator(task_id="c", name="x", if_exists="create", poll_interval=0.01), hook
    )
    op.reconcile_settle_seconds = 0
    # Never listed, and every send's outcome is unknown too: the try fails (its retry looks first).
    with pytest.raises(AirflowException, match="may or may not"):
        op.execute(ctx())
    assert hook.names().count("create_ray_cluster") == op.resend_limit
    assert hook.names().count("list_ray_clusters") == 2 * op.resend_limit  # two looks after each unknown outcome
    # Listed after an unknown outcome: that cluster is used, nothing is sent again.
    hook.calls.clear()
    hook.listed_clusters = [{"clusterId": "ray-made", "name": "x", "state": "Starting"}]
    assert op.execute(ctx()) == "ray-made"
    assert hook.names().count("create_ray_cluster") == 1


def test_create_that_did_not_take_effect_is_sent_again() -> None:
    """A 5xx before the service acted: nothing is listed, so the create is sent once more."""
    hook = ScriptedHook(clusters=[running("ray-second")])
    answers = [EmrRayOutcomeUnknownError("HTTP 503", action="CreateRayCluster"), "ray-second"]

    def create(**kw):
        hook.calls.append(("create_ray_cluster", (), kw))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    hook.create_ray_cluster = create  # type: ignore[method-assign]
    op = with_hook(EmrRayClusterCreateOperator(task_id="c", name="x", if_exists="create", poll_interval=0.01), hook)
    op.reconcile_settle_seconds = 0
    assert op.execute(ctx()) == "ray-second"
    assert hook.names().count("create_ray_cluster") == 2


def test_create_deferrable_then_resume_without_api_call() -> None:
    hook = ScriptedHook()
    op = with_hook(
        EmrRayClusterCreateOperator(
            task_id="c", name="x", deferrable=True, max_wait=600, execution_timeout=timedelta(seconds=60)
        ),
        hook,
    )
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, EmrRayClusterStateTrigger)
    assert deferred.value.method_name == "execute_complete"
    # the trigger's deadline is the execution timeout (earlier than max_wait)
    assert abs(trigger.deadline - (ti.start_date.timestamp() + 60)) < 1
    assert deferred.value.timeout > timedelta(seconds=60)
    calls_before = len(hook.calls)
    event = {"status": "success", "state": "Running", "message": None, "cluster_id": "ray-new", "cluster": running("ray-new")}
    assert op.execute_complete(ctx(ti), event, **deferred.value.kwargs) == "ray-new"
    assert len(hook.calls) == calls_before
    assert ti.xcoms["dashboardUrl"] == "https://dash/?token=DASHTOKEN"


def test_delete_on_error() -> None:
    hook = ScriptedHook(clusters=[{"clusterId": "ray-new", "state": "Starting"}, {"clusterId": "ray-new", "state": "Error", "message": "no quota"}])
    op = with_hook(
        EmrRayClusterCreateOperator(task_id="c", name="x", delete_on_error=True, poll_interval=0.01), hook
    )
    with pytest.raises(AirflowException, match="no quota"):
        op.execute(ctx())
    assert ("delete_ray_cluster", ("ray-new",), {}) in hook.calls


def test_delete_already_gone() -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

    hook = ScriptedHook()

    def gone(cluster_id: str) -> None:
        raise EmrRayNotFoundError("not found", status=404)

    hook.delete_ray_cluster = gone  # type: ignore[method-assign]
    with_hook(EmrRayClusterDeleteOperator(task_id="d", cluster_id="ray-x"), hook).execute(ctx())


# ---------------------------------------------------------------- jobs


def test_airflow_tags_and_xcoms() -> None:
    long_run = "manual__" + "x" * 200
    ti = FakeTI(run_id=long_run)
    hook = ScriptedHook()
    op = with_hook(
        EmrRayJobSubmitOperator(task_id="j", entrypoint="python x.py", tags={"team": "ml"}, wait_for_completion=False),
        hook,
    )
    assert op.execute(ctx(ti)) == "sub-new"
    sent = hook.calls[-1][2]
    tags = sent["tags"]
    assert tags["team"] == "ml"
    assert tags["airflow_dag_id"] == "dag" and tags["airflow_task_id"] == "task"
    assert tags["airflow_run_id"] == fit_tag_value(long_run) and len(tags["airflow_run_id"]) <= 63
    assert tags["workflowId"] == workflow_id("dag", long_run)
    assert sent["name"] == "airflow-dag-task"
    assert ti.xcoms["submissionId"] == "sub-new" and ti.xcoms["tags"] == tags


def test_user_workflow_id_wins_and_tags_can_be_off() -> None:
    hook = ScriptedHook()
    op = with_hook(
        EmrRayJobSubmitOperator(task_id="j", entrypoint="e", tags=[{"key": "workflowId", "value": "mine"}], wait_for_completion=False),
        hook,
    )
    op.execute(ctx())
    assert hook.calls[-1][2]["tags"]["workflowId"] == "mine"
    op2 = with_hook(
        EmrRayJobSubmitOperator(task_id="j", entrypoint="e", add_airflow_tags=False, wait_for_completion=False), hook
    )
    op2.execute(ctx())
    assert hook.calls[-1][2]["tags"] is None


def _job(sid: str, status: str, run_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "submissionId": sid,
        "name": "airflow-dag-task",
        "status": status,
        "submitTime": kw.pop("submitTime", 1),
        "tags": [
            {"key": "airflow_dag_id", "value": "dag"},
            {"key": "airflow_run_id", "value": run_id},
            {"key": "airflow_task_id", "value": "task"},
        ],
        **kw,
    }


def test_retry_reattaches_to_the_live_job_of_the_same_task_instance() -> None:
    ti = FakeTI(try_number=2)
    hook = ScriptedHook()
    mine = _job("sub-mine", "Running", ti.run_id, submitTime=5)
    other_run = _job("sub-other", "Running", "another-run", submitTime=9)
    finished = _job("sub-done", "Failed", ti.run_id, submitTime=7)
    hook.listed_jobs = [mine, other_run, finished]
    hook.job_details = {j["submissionId"]: j for j in (mine, other_run, finished)}
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e", wait_for_completion=False), hook)
    assert op.execute(ctx(ti)) == "sub-mine"
    assert "submit_ray_job" not in hook.names()


def test_first_try_does_not_look_up() -> None:
    hook = ScriptedHook()
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e", wait_for_completion=False), hook)
    op.execute(ctx(FakeTI(try_number=1)))
    assert hook.names() == ["submit_ray_job"]


def test_submit_outcome_unknown_reconciles() -> None:
    ti = FakeTI()
    hook = ScriptedHook()
    hook.submit_result = EmrRayOutcomeUnknownError("dropped", action="SubmitRayJob")
    done = _job("sub-made", "Succeeded", ti.run_id)
    hook.listed_jobs = [done]
    hook.job_details = {"sub-made": done}
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e", wait_for_completion=False), hook)
    assert op.execute(ctx(ti)) == "sub-made"
    assert hook.names().count("submit_ray_job") == 1


def test_job_deferral_and_resume() -> None:
    ti = FakeTI()
    hook = ScriptedHook()
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e", deferrable=True, poll_interval=5), hook)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobStatusTrigger)
    assert trigger.cancel_on_kill and trigger.cancel_on_timeout
    assert deferred.value.timeout is None  # no max_wait, no execution_timeout
    event = {
        "status": "success",
        "state": "Succeeded",
        "submission_id": "sub-new",
        "job": {"status": "Succeeded", "dashboardUrl": "https://d/?token=T0KEN", "tags": {"workflowId": "w"}},
    }
    assert op.execute_complete(ctx(ti), event, **deferred.value.kwargs) == "sub-new"
    assert ti.xcoms["dashboardUrl"] == "https://d/?token=T0KEN"
    assert hook.names() == ["submit_ray_job"]


def test_resume_on_execution_timeout_raises_task_timeout() -> None:
    op = EmrRayJobSubmitOperator(task_id="j", entrypoint="e", deferrable=True)
    event = {"status": "timeout", "state": "Running", "message": "the job was cancelled", "job": {}}
    with pytest.raises(AirflowTaskTimeout):
        op.execute_complete(ctx(), event, submission_id="s", by_execution_timeout=True)
    with pytest.raises(AirflowException, match="still Running"):
        op.execute_complete(ctx(), event, submission_id="s", by_execution_timeout=False)


def test_airflow_trigger_timeout_backstop_cancels() -> None:
    from airflow.sdk.exceptions import TaskDeferralTimeout

    hook = ScriptedHook()
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e"), hook)
    ti = FakeTI()
    ti.xcoms["submissionId"] = "sub-1"
    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution("__fail__", {"error": "Trigger timeout"}, ctx(ti))
    assert hook.calls == [("cancel_ray_job", ("sub-1",), {})]


def test_on_kill_cancels_the_polled_job() -> None:
    hook = ScriptedHook()
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e"), hook)
    op.on_kill()  # nothing submitted yet
    assert hook.calls == []
    op._submission_id = "sub-1"
    op.on_kill()
    assert hook.calls == [("cancel_ray_job", ("sub-1",), {})]


def test_log_tail_errors_never_carry_the_presigned_url(monkeypatch) -> None:
    import httpx

    from airflow_provider_emr_ray.operators.emr_ray import fetch_log_tail

    signed = "http://logs.example/job.log?Expires=1&Signature=SECRET-SIGNATURE"

    class LogHook:
        def list_ray_logs(self, *a, **k):
            return {"objectList": [{"name": "job-driver.log", "path": "logs/job-driver.log"}]}

        def get_ray_log(self, *a, **k):
            return signed

    monkeypatch.setattr(httpx, "get", lambda url, **k: httpx.Response(403, request=httpx.Request("GET", url)))
    with pytest.raises(RuntimeError) as info:
        fetch_log_tail(LogHook(), "rj-1", {}, 10)
    assert "HTTP 403" in str(info.value) and "SECRET-SIGNATURE" not in str(info.value)

    def refuse(url, **k):
        raise httpx.ConnectError(f"cannot reach {url}")

    monkeypatch.setattr(httpx, "get", refuse)
    with pytest.raises(RuntimeError) as info:
        fetch_log_tail(LogHook(), "rj-1", {}, 10)
    assert "SECRET-SIGNATURE" not in str(info.value)
