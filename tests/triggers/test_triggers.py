"""Unit tests of the triggers: serialisation, the polling loop, transient errors, deadlines and
``on_kill`` (against a scripted hook; the emulator-backed runs are in tests/operators)."""

from __future__ import annotations

import json
import asyncio
import logging
import time

import pytest

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayConnectionError,
    EmrRayServerError,
    EmrRayThrottlingError,
)
from airflow_provider_emr_ray.triggers.emr_ray import (
    EmrRayBaseTrigger,
    EmrRayClusterStateTrigger,
    RayJobStatusTrigger,
)
from tests.operators.fakes import ScriptedHook, signal_polls, with_hook

TOKEN = "dash-token-abc123"
DASH = f"https://ray.example/dashboard/?token={TOKEN}"
DASH_STORED = "https://ray.example/dashboard/"  # what events, XCom and links carry: no token


def _import(classpath: str):
    module, _, name = classpath.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


@pytest.mark.parametrize(
    "trigger",
    [
        EmrRayClusterStateTrigger(cluster_id="ray-1", region_id="cn-hangzhou", workspace_id="w-1", deadline=123.0),
        EmrRayClusterStateTrigger(
            cluster_id="ray-2", target_states=["Stopped"], failure_states=[], poll_interval=5, started_at=1.0
        ),
        RayJobStatusTrigger(submission_id="sub-1", cancel_on_kill=True, cancel_on_timeout=True, max_transient_errors=2),
        RayJobStatusTrigger(submission_id="sub-2", emr_ray_conn_id="other", target_states=["Running"]),
    ],
)
def test_serialize_round_trip(trigger: EmrRayBaseTrigger) -> None:
    classpath, kwargs = trigger.serialize()
    assert classpath.startswith("airflow_provider_emr_ray.triggers.emr_ray.")
    rebuilt = _import(classpath)(**kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    # JSON-able through Airflow's serde, as the task runner sends it
    from tests.airflow_compat import serde

    assert serde().deserialize(serde().serialize(kwargs)) == kwargs


def _run_first(trigger: EmrRayBaseTrigger, hook: ScriptedHook):
    return asyncio.run(with_hook(trigger, hook).run().__anext__()).payload


def _log_lines(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines, whether Airflow's structlog wrote them to stdout or stdlib logging caught them."""
    out = capsys.readouterr()
    # Airflow 3.0 also echoes stdlib records to stdout: read one channel, the records when there are any.
    return [r.getMessage() for r in caplog.records] or (out.out + out.err).splitlines()


def test_job_success_event_carries_everything(capsys, caplog: pytest.LogCaptureFixture) -> None:
    hook = ScriptedHook(
        jobs=[
            {"submissionId": "s", "status": "Pending"},
            {"submissionId": "s", "status": "Running"},
            {"submissionId": "s", "status": "Running"},
            {
                "submissionId": "s",
                "status": "Succeeded",
                "duration": 12,
                "cuHours": 0.5,
                "dashboardUrl": DASH,
                "tags": [{"key": "workflowId", "value": "wf"}],
            },
        ]
    )
    caplog.set_level(logging.INFO)
    event = _run_first(RayJobStatusTrigger(submission_id="s", poll_interval=0), hook)
    assert event["outcome"] == "success"
    assert event["state"] == "Succeeded"
    assert event["submission_id"] == "s"
    job = event["job"]
    assert job["tags"] == {"workflowId": "wf"}
    assert job["duration"] == 12 and job["cuHours"] == 0.5 and job["dashboardUrl"] == DASH_STORED
    # one log line per state change, not per poll
    changes = [line for line in _log_lines(capsys, caplog) if "Ray job s " in line and " after " in line]
    assert len(changes) == 3, changes


@pytest.mark.parametrize(
    "error",
    [
        EmrRayThrottlingError("slow down", status=429, code="Throttling.User"),
        EmrRayServerError("boom", status=503),
        EmrRayConnectionError("refused"),
    ],
)
def test_transient_errors_are_tolerated(error: Exception) -> None:
    hook = ScriptedHook(
        clusters=[error, error, {"clusterId": "c", "state": "Starting"}, error, {"clusterId": "c", "state": "Running"}]
    )
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0, max_transient_errors=2), hook)
    assert event["outcome"] == "success"
    assert event["cluster"]["clusterId"] == "c"


def test_too_many_transient_errors_end_with_error_event() -> None:
    err = EmrRayServerError("boom", status=500)
    hook = ScriptedHook(clusters=[err, err, err, {"clusterId": "c", "state": "Running"}])
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0, max_transient_errors=2), hook)
    assert event["outcome"] == "error"
    assert "boom" in event["message"]


def test_non_transient_error_ends_at_once() -> None:
    hook = ScriptedHook(clusters=[EmrRayAuthError("bad signature", status=403), {"state": "Running"}])
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0), hook)
    assert event["outcome"] == "error"
    assert len(hook.calls) == 1


def test_failure_state() -> None:
    hook = ScriptedHook(clusters=[{"clusterId": "c", "state": "Error", "message": "quota exceeded"}])
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0), hook)
    assert event == {**event, "outcome": "failure", "state": "Error", "message": "quota exceeded"}
    assert "status" not in event  # the outcome and the resource's own status never share a word


def test_cluster_event_never_carries_submit_token() -> None:
    hook = ScriptedHook(
        clusters=[{"clusterId": "c", "state": "Running", "submitToken": "SUBMIT-SECRET", "dashboardUrl": DASH}]
    )
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0), hook)
    assert "SUBMIT-SECRET" not in repr(event)
    assert event["cluster"]["dashboardUrl"] == DASH_STORED
    assert TOKEN not in json.dumps(event)


def test_unknown_state_keeps_waiting(capsys, caplog: pytest.LogCaptureFixture) -> None:
    hook = ScriptedHook(clusters=[{"state": "Resizing"}, {"state": "Running"}])
    caplog.set_level(logging.INFO)
    event = _run_first(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=0), hook)
    assert event["outcome"] == "success"
    assert any("not known" in line for line in _log_lines(capsys, caplog))


def test_deadline_cancels_the_job_when_asked() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    trigger = RayJobStatusTrigger(
        submission_id="s", poll_interval=0, deadline=time.time() - 1, cancel_on_timeout=True
    )
    event = _run_first(trigger, hook)
    assert event["outcome"] == "timeout"
    assert "cancelled" in event["message"]
    assert hook.names() == ["get_ray_job", "cancel_ray_job"]


def test_deadline_without_cancel() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    event = _run_first(RayJobStatusTrigger(submission_id="s", poll_interval=0, deadline=time.time() - 1), hook)
    assert event["outcome"] == "timeout"
    assert "cancel_ray_job" not in hook.names()


def test_on_kill_cancels_only_when_asked() -> None:
    hook = ScriptedHook()
    trigger = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=True), hook)
    asyncio.run(trigger.on_kill())
    assert hook.names() == ["cancel_ray_job"]

    hook2 = ScriptedHook()
    trigger2 = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=False), hook2)
    asyncio.run(trigger2.on_kill())
    assert hook2.calls == []


@pytest.mark.skipif(not version_compat.triggerer_calls_on_kill(), reason="Airflow < 3.3 never calls on_kill")
def test_user_kill_through_the_triggerer_runner_calls_on_kill() -> None:
    """What Airflow 3.3's TriggerRunner does on mark-failed/clear: cancel the trigger task with
    its user-action message, then await ``on_kill`` (see TriggerRunner.run_trigger)."""
    from airflow.jobs import triggerer_job_runner as runner

    assert hasattr(runner, "_USER_ACTION_CANCEL_MSG")
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    trigger = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=True, poll_interval=3600), hook)

    async def scenario() -> None:
        polled = signal_polls(hook)
        task = asyncio.create_task(trigger.run().__anext__())
        await polled.wait()
        task.cancel(runner._USER_ACTION_CANCEL_MSG)
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.on_kill()

    asyncio.run(scenario())
    # on 3.3 the cancellation path itself asks nothing and cancels nothing: on_kill does, once
    assert hook.names() == ["get_ray_job", "cancel_ray_job"]


class _TI:
    dag_id, task_id, run_id, map_index = "d", "t", "r", -1


def _cancel_while_polling(trigger: RayJobStatusTrigger, hook: ScriptedHook) -> None:
    async def scenario() -> None:
        polled = signal_polls(hook)
        task = asyncio.create_task(trigger.run().__anext__())
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("state", "cancelled"),
    [("failed", True), ("success", True), ("up_for_retry", True), ("deferred", False), (None, False)],
)
def test_before_3_3_a_cancelled_trigger_cancels_the_job_only_when_its_task_left_deferred(
    monkeypatch: pytest.MonkeyPatch, state: str | None, cancelled: bool
) -> None:
    """Airflow 3.0-3.2: the triggerer only cancels run(); a triggerer restart looks the same as a
    user's mark-failed, so the task's state decides (unknown: leave the job alone)."""
    asked: list[object] = []

    async def task_state(ti: object) -> str | None:
        asked.append(ti)
        return state

    monkeypatch.setattr(version_compat, "triggerer_calls_on_kill", lambda: False)
    monkeypatch.setattr(version_compat, "atask_instance_state", task_state)
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    trigger = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=True, poll_interval=3600), hook)
    trigger.task_instance = ti = _TI()
    _cancel_while_polling(trigger, hook)
    assert asked == [ti]
    assert hook.names() == (["get_ray_job", "cancel_ray_job"] if cancelled else ["get_ray_job"])


@pytest.mark.parametrize("on_3_3", [True, False])
def test_a_cancelled_trigger_asks_nothing_when_it_would_not_act(monkeypatch: pytest.MonkeyPatch, on_3_3: bool) -> None:
    """No state query without cancel_on_kill, nor on 3.3 (whose triggerer calls on_kill itself)."""

    async def task_state(ti: object) -> str | None:
        raise AssertionError("asked for the task state")

    monkeypatch.setattr(version_compat, "triggerer_calls_on_kill", lambda: on_3_3)
    monkeypatch.setattr(version_compat, "atask_instance_state", task_state)
    for cancel_on_kill in ([True, False] if on_3_3 else [False]):
        hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
        trigger = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=cancel_on_kill, poll_interval=3600), hook)
        trigger.task_instance = _TI()
        _cancel_while_polling(trigger, hook)
        assert hook.names() == ["get_ray_job"]


def test_a_failing_state_query_leaves_the_job_running(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    async def task_state(ti: object) -> str | None:
        raise ConnectionError("supervisor gone")

    monkeypatch.setattr(version_compat, "triggerer_calls_on_kill", lambda: False)
    monkeypatch.setattr(version_compat, "atask_instance_state", task_state)
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    trigger = with_hook(RayJobStatusTrigger(submission_id="s", cancel_on_kill=True, poll_interval=3600), hook)
    caplog.set_level(logging.WARNING)
    _cancel_while_polling(trigger, hook)
    assert hook.names() == ["get_ray_job"]


@pytest.mark.parametrize("map_index", [-1, 3])
def test_task_state_query_names_the_task_on_this_airflow(monkeypatch: pytest.MonkeyPatch, map_index: int) -> None:
    """The query the real RuntimeTaskInstance.get_task_states answers, keyed as this line keys it."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    calls: list[dict] = []
    key = "t" if map_index < 0 else "t_3"

    def get_task_states(**query):
        calls.append(query)
        return {"r": {key: "failed", "other": "deferred"}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    ti = _TI()
    ti.map_index = map_index
    state = asyncio.run(version_compat.atask_instance_state(ti))
    if version_compat.AIRFLOW_V_3_1_PLUS():
        assert state == "failed"
        assert calls == [{"dag_id": "d", "task_ids": ["t"], "run_ids": ["r"], "map_index": map_index}]
    elif map_index >= 0:  # 3.0's query cannot name a map index: unknown, never a guess
        assert state is None and calls == []
    else:
        assert state == "failed" and calls == [{"dag_id": "d", "task_ids": ["t"], "run_ids": ["r"]}]
    assert asyncio.run(version_compat.atask_instance_state(None)) is None


@pytest.mark.parametrize(("answer", "expected"), [({"r": {"t": None}}, "none"), ({"r": {}}, None), ({}, None)])
def test_a_cleared_task_is_told_from_an_unknown_one(monkeypatch: pytest.MonkeyPatch, answer, expected) -> None:
    """A cleared task instance has no state: that is not "deferred" (the trigger's task left it),
    while a task missing from the answer stays unknown (the job is left alone)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(lambda **query: answer))
    assert asyncio.run(version_compat.atask_instance_state(_TI())) == expected


def test_event_shape() -> None:
    hook = ScriptedHook(jobs=[{"submissionId": "s", "status": "Succeeded", "message": "done"}])
    event = _run_first(RayJobStatusTrigger(submission_id="s", poll_interval=0, started_at=time.time() - 5), hook)
    assert set(event) == {"outcome", "state", "message", "elapsed", "submission_id", "job"}
    assert (event["outcome"], event["state"], event["message"]) == ("success", "Succeeded", "done")
    assert type(event["outcome"]) is str and type(event["state"]) is str
    assert 5 <= event["elapsed"] < 60
    assert json.loads(json.dumps(event)) == event


def test_triggers_have_no_dead_close() -> None:
    assert not hasattr(EmrRayBaseTrigger, "_close")
