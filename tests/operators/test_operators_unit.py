"""Unit tests of the operators' own logic against a scripted hook: validation at parse time and at start,
if_exists, reconciliation of unknown outcomes, Airflow tags, reattach, deferral, resume."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowTaskTimeout, TaskDeferred

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError, EmrRayValidationError
from airflow_provider_emr_ray.limits import MAX_JOB_NAME_LENGTH, MAX_TAG_VALUE_LENGTH
from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayClusterStopOperator,
    EmrRayClusterUpdateOperator,
    EmrRayJobCancelOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.tags import fit, workflow_id
from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger, RayJobStatusTrigger
from tests.operators.fakes import FakeTI, ScriptedHook, ctx, record_log, with_hook

HEAD = {"cpu": "2", "memory": "8Gi", "queueName": "dev_queue"}
WORKERS = [{"groupName": "g1", "workerType": "CPU", "cpu": "2", "memory": "8Gi", "replica": 1}]


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
    assert _rejected_at_start(op).field.startswith("tags")
    op = EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", tags=[{"key": "k", "vaule": "v"}])
    assert _rejected_at_start(op).field == "tags[0].vaule"


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
        # the run-time kit (poll step, clock, logs, redaction, tag rules) loads on first use too
        "late = ['utils.waiting', 'utils.clock', 'utils.logs', 'redaction', 'tags', 'triggers.emr_ray', 'hooks.emr_ray']\n"
        "assert not [m for m in late if 'airflow_provider_emr_ray.' + m in sys.modules], sorted(sys.modules)\n"
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
    event = {"outcome": "success", "state": "Running", "message": None, "cluster_id": "ray-new", "cluster": running("ray-new")}
    assert op.execute_complete(ctx(ti), event, **deferred.value.kwargs) == "ray-new"
    assert len(hook.calls) == calls_before
    assert ti.xcoms["dashboardUrl"] == "https://dash/"  # never a token in XCom, whatever the event held
    assert "SUBMIT-SECRET" not in repr(ti.xcoms)


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
    assert tags["airflow_run_id"] == fit(long_run) and len(tags["airflow_run_id"]) == MAX_TAG_VALUE_LENGTH
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


def test_retry_after_a_clear_does_not_wait_on_the_job_being_cancelled() -> None:
    # A cleared deferred task: its trigger's on_kill cancelled the job (Cancelling); the new try
    # must submit a new job, not reattach to the dying one and fail with "cancelled by the user".
    ti = FakeTI(try_number=2)
    hook = ScriptedHook()
    dying = _job("sub-dying", "Cancelling", ti.run_id, submitTime=5)
    hook.listed_jobs = [dying]
    hook.job_details = {"sub-dying": dying}
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", entrypoint="e", wait_for_completion=False), hook)
    assert op.execute(ctx(ti)) != "sub-dying"
    assert hook.names().count("submit_ray_job") == 1


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
        "outcome": "success",
        "state": "Succeeded",
        "submission_id": "sub-new",
        "job": {"status": "Succeeded", "dashboardUrl": "https://d/?token=T0KEN", "tags": {"workflowId": "w"}},
    }
    assert op.execute_complete(ctx(ti), event, **deferred.value.kwargs) == "sub-new"
    assert ti.xcoms["dashboardUrl"] == "https://d/"
    assert ti.xcoms["tags"] == {"workflowId": "w"}
    assert hook.names() == ["submit_ray_job"]


def test_resume_on_execution_timeout_raises_task_timeout() -> None:
    op = EmrRayJobSubmitOperator(task_id="j", entrypoint="e", deferrable=True)
    event = {"outcome": "timeout", "state": "Running", "message": "the job was cancelled", "job": {}}
    with pytest.raises(AirflowTaskTimeout):
        op.execute_complete(ctx(), event, submission_id="s", by_execution_timeout=True)
    with pytest.raises(AirflowException, match="still Running"):
        op.execute_complete(ctx(), event, submission_id="s", by_execution_timeout=False)


def test_airflow_trigger_timeout_backstop_cancels() -> None:
    TaskDeferralTimeout = version_compat.task_deferral_timeout()

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


# ---------------------------------------------------------------- arguments shared through the bases


def test_extra_fields_reach_the_hook_and_are_templated() -> None:
    hook = ScriptedHook()
    extra = {"futureField": {"a": 1}}
    create = with_hook(
        EmrRayClusterCreateOperator(task_id="c", name="x", extra_fields=extra, wait_for_completion=False), hook
    )
    create.execute(ctx())
    assert hook.calls[-1][0] == "create_ray_cluster" and hook.calls[-1][2]["extra_fields"] == extra
    update = with_hook(EmrRayClusterUpdateOperator(task_id="u", cluster_id="ray-1", extra_fields=extra, wait_for_completion=False), hook)
    hook.update_ray_cluster = lambda cid, **kw: hook.calls.append(("update_ray_cluster", (cid,), kw))  # type: ignore[attr-defined]
    update.execute(ctx())
    assert hook.calls[-1][2]["extra_fields"] == extra
    submit = with_hook(
        EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", extra_fields=extra, wait_for_completion=False),
        hook,
    )
    submit.execute(ctx())
    assert hook.calls[-1][0] == "submit_ray_job" and hook.calls[-1][2]["extra_fields"] == extra
    for op in (create, update, submit):
        assert "extra_fields" in op.template_fields
    # without extra_fields the hook is not given the keyword at all
    with_hook(EmrRayClusterCreateOperator(task_id="c", name="y", wait_for_completion=False), hook).execute(ctx())
    assert "extra_fields" not in hook.calls[-1][2]
    with pytest.raises(EmrRayValidationError) as err:
        EmrRayJobSubmitOperator(task_id="j", entrypoint="e", extra_fields=["futureField"])
    assert err.value.field == "extra_fields"


def test_default_args_and_partial_know_the_base_arguments() -> None:
    """The connection and waiting arguments are named by the bases' ``__init__``: Airflow's
    ``default_args`` fill them and ``partial()`` accepts them."""
    from airflow.sdk import DAG

    defaults = {"emr_ray_conn_id": "other", "region_id": "cn-shanghai", "deferrable": True, "poll_interval": 7}
    with DAG("d", schedule=None, default_args=defaults):
        op = EmrRayJobSubmitOperator(task_id="j", entrypoint="e")
        stop = EmrRayClusterStopOperator(task_id="s", cluster_id="c")
        EmrRayJobSubmitOperator.partial(task_id="m", max_wait=60, workspace_id="w-1").expand(entrypoint=["a", "b"])
    for task in (op, stop):
        assert (task.emr_ray_conn_id, task.region_id, task.deferrable, task.poll_interval) == ("other", "cn-shanghai", True, 7.0)
    assert op.connection_kwargs() == {"emr_ray_conn_id": "other", "region_id": "cn-shanghai", "workspace_id": None}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"poll_interval": 0}, "poll_interval"), ({"max_wait": timedelta(0)}, "max_wait"), ({"max_transient_errors": -1}, "max_transient_errors")],
)
def test_waiting_arguments_are_checked(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(EmrRayValidationError) as err:
        EmrRayClusterStopOperator(task_id="s", cluster_id="c", **kwargs)
    assert err.value.field == field


# ---------------------------------------------------------------- synchronous waits


def test_sync_cluster_wait_logs_changes_and_pushes(caplog: pytest.LogCaptureFixture) -> None:
    hook = ScriptedHook(clusters=[{"clusterId": "ray-new", "state": "Starting"}, running("ray-new")])
    op = with_hook(EmrRayClusterCreateOperator(task_id="c", name="x", poll_interval=0.01), hook)
    ti = FakeTI()
    assert op.execute(ctx(ti)) == "ray-new"
    assert ti.xcoms["jobUrl"] == "https://job" and ti.xcoms["dashboardUrl"] == "https://dash/"
    assert hook.names().count("get_ray_cluster") == 2


def test_stop_waits_for_stopped_and_pushes_no_endpoints() -> None:
    hook = ScriptedHook(clusters=[{"clusterId": "c", "state": "Stopping"}, {"clusterId": "c", "state": "Stopped"}])
    op = with_hook(EmrRayClusterStopOperator(task_id="s", cluster_id="c", poll_interval=0.01), hook)
    ti = FakeTI()
    assert op.execute(ctx(ti)) == "c"
    assert ti.xcoms == {}


def test_sync_wait_raises_the_error_that_ended_it() -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayAuthError, EmrRayServerError

    boom = EmrRayServerError("boom", status=503)
    hook = ScriptedHook(clusters=[boom, boom, boom])
    op = with_hook(EmrRayClusterStopOperator(task_id="s", cluster_id="c", poll_interval=0.01, max_transient_errors=2), hook)
    with pytest.raises(EmrRayServerError):
        op.execute(ctx())
    assert hook.names().count("get_ray_cluster") == 3  # 2 tolerated, the third ends the wait
    hook = ScriptedHook(clusters=[EmrRayAuthError("denied", status=403)])
    with pytest.raises(EmrRayAuthError):
        with_hook(EmrRayClusterStopOperator(task_id="s", cluster_id="c", poll_interval=0.01), hook).execute(ctx())
    assert hook.names().count("get_ray_cluster") == 1


def test_sync_job_deadline_cancels_and_fails() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "sub-new", "status": "Running"}])
    op = with_hook(
        EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", poll_interval=0.01, max_wait=0.05), hook
    )
    with pytest.raises(AirflowException, match="was still Running when the wait ended .*the job was cancelled"):
        op.execute(ctx())
    assert hook.names()[-1] == "cancel_ray_job"


def test_failed_job_shows_its_log_live_and_quotes_its_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from airflow_provider_emr_ray.utils import logs

    text = "".join(f"line {i}\n" for i in range(30)) + "FileNotFoundError: 'train.py'\n"
    asked: list[str | None] = []

    def oss(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("range"))
        return httpx.Response(200, text=text)

    client = httpx.Client(transport=httpx.MockTransport(oss))
    monkeypatch.setattr(logs.OpenApiLog, "_http", lambda self: client)
    hook = ScriptedHook(jobs=[{"submissionId": "sub-new", "status": "Failed", "message": "exit 3", "logPath": "logs/"}])
    hook.log_objects = [{"name": "sub-new-driver.log", "path": "logs/sub-new-driver.log"}]
    hook.log_url = "https://oss.example/sub-new-driver.log?Signature=PRESIGNED"
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", poll_interval=0.01, log_tail_lines=2), hook)
    rec = record_log(op)
    with pytest.raises(AirflowException) as info:
        op.execute(ctx())
    assert str(info.value) == "Ray job sub-new ended Failed: exit 3\nLast 2 lines of its log:\nline 29\nFileNotFoundError: 'train.py'"
    assert rec.ray() == [f"line {i}" for i in range(30)] + ["FileNotFoundError: 'train.py'"]
    assert ("list_ray_logs", ("sub-new",), {"bucket_name": None, "prefix": "logs/"}) in hook.log_reads
    assert "PRESIGNED" not in " ".join(rec.lines) and asked[0] == "bytes=0-"


def test_show_logs_false_reads_no_log() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "sub-new", "status": "Failed", "message": "exit 3"}])
    op = with_hook(EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", poll_interval=0.01, show_logs=False), hook)
    with pytest.raises(AirflowException) as info:
        op.execute(ctx())
    assert str(info.value) == "Ray job sub-new ended Failed: exit 3" and hook.log_reads == []


@pytest.mark.parametrize(
    ("arg", "value"), [("show_logs", "yes"), ("log_lines", -1), ("log_bytes", 1.5), ("log_tail_lines", True)]
)
def test_log_arguments_are_checked_at_parse(arg: str, value: Any) -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    with pytest.raises(EmrRayValidationError, match=arg):
        EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", **{arg: value})


def test_default_job_name_is_cut_to_the_limit_and_names_the_map_index() -> None:
    ti = FakeTI(map_index=3)
    ti.task_id = "t" * 200
    hook = ScriptedHook()
    with_hook(EmrRayJobSubmitOperator(task_id="j", cluster_id="ray-1", entrypoint="e", wait_for_completion=False), hook).execute(ctx(ti))
    sent = hook.calls[-1][2]
    assert len(sent["name"]) == MAX_JOB_NAME_LENGTH and sent["name"] == fit(f"airflow-dag-{ti.task_id}-3", MAX_JOB_NAME_LENGTH)
    assert sent["tags"]["airflow_map_index"] == "3"


def test_cancel_operator_skips_ended_jobs() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Succeeded"}])
    assert with_hook(EmrRayJobCancelOperator(task_id="x", submission_id="s"), hook).execute(ctx()) is False
    assert "cancel_ray_job" not in hook.names()
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    assert with_hook(EmrRayJobCancelOperator(task_id="x", submission_id="s"), hook).execute(ctx()) is True
