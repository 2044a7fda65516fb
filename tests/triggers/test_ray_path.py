"""RayJobStatusTrigger on Ray's Jobs API path (``submission_api="ray"``): serialisation (cluster
id and path, never a token), polling through ``aray_get_job`` with Ray's statuses mapped to the
provider's, the deadline and kills (3.3's on_kill and the pre-3.3 cancellation path) stopping
the job."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
from tests.operators.fakes import ScriptedHook, with_hook

SID = "af-dag-task-0123456789abcdef0123"


def ray_hook(*statuses: str) -> ScriptedHook:
    hook = ScriptedHook()
    hook._ray_store()[SID] = {
        "submission_id": SID,
        "status": "PENDING",
        "start_time": 1_700_000_000_000,
        "metadata": {"workflowId": "af-w", "airflow_try_number": "1"},
    }
    hook.ray_statuses().extend(statuses)
    return hook


def trigger(**kwargs) -> RayJobStatusTrigger:
    return RayJobStatusTrigger(submission_id=SID, submission_api="ray", cluster_id="ray-1", poll_interval=0, **kwargs)


def _run_first(t: RayJobStatusTrigger, hook: ScriptedHook) -> dict:
    return asyncio.run(with_hook(t, hook).run().__anext__()).payload


def _import(classpath: str):
    module, _, name = classpath.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


@pytest.mark.parametrize("internal", [None, True, False])
def test_serialize_round_trip_carries_cluster_and_path(internal: bool | None) -> None:
    t = trigger(internal=internal, cancel_on_kill=True, target_states=["SUCCEEDED"])
    classpath, kwargs = t.serialize()
    assert kwargs["submission_api"] == "ray" and kwargs["cluster_id"] == "ray-1" and kwargs["internal"] is internal
    assert kwargs["target_states"] == ["Succeeded"]  # Ray's names read as the provider's
    rebuilt = _import(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    from tests.airflow_compat import serde

    assert serde().deserialize(serde().serialize(kwargs)) == kwargs
    assert not any("token" in str(k).lower() for k in kwargs)


def test_openapi_serialisation_is_unchanged() -> None:
    _, kwargs = RayJobStatusTrigger(submission_id="s").serialize()
    assert "submission_api" not in kwargs and "cluster_id" not in kwargs


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="cluster_id"):
        RayJobStatusTrigger(submission_id="s", submission_api="ray")
    with pytest.raises(ValueError, match="submission_api"):
        RayJobStatusTrigger(submission_id="s", submission_api="jobs")


def test_polls_the_ray_path_and_maps_statuses() -> None:
    hook = ray_hook("PENDING", "RUNNING", "SUCCEEDED")
    event = _run_first(trigger(internal=True), hook)
    assert event["outcome"] == "success" and event["state"] == "Succeeded"
    job = event["job"]
    assert job["rayStatus"] == "SUCCEEDED" and job["submissionId"] == SID and job["clusterId"] == "ray-1"
    assert job["tags"] == {"workflowId": "af-w"} and job["duration"] == 42.0
    assert {c[0] for c in hook.calls} == {"ray_get_job"}
    assert all(c[2] == {"internal": True} for c in hook.calls)


@pytest.mark.parametrize(("status", "state"), [("FAILED", "Failed"), ("STOPPED", "Cancelled")])
def test_failure_statuses(status: str, state: str) -> None:
    event = _run_first(trigger(), ray_hook("RUNNING", status))
    assert event["outcome"] == "failure" and event["state"] == state and event["job"]["rayStatus"] == status


def test_deadline_stops_the_job_when_asked() -> None:
    hook = ray_hook("RUNNING")
    event = _run_first(trigger(deadline=time.time() - 1, cancel_on_timeout=True), hook)
    assert event["outcome"] == "timeout" and "stopped" in event["message"]
    assert hook.names() == ["ray_get_job", "ray_stop_job"]


def test_on_kill_stops_only_when_asked() -> None:
    hook = ray_hook()
    asyncio.run(with_hook(trigger(cancel_on_kill=True), hook).on_kill())
    assert hook.calls == [("ray_stop_job", ("ray-1", SID), {})]
    hook = ray_hook()
    asyncio.run(with_hook(trigger(cancel_on_kill=False), hook).on_kill())
    assert hook.calls == []


def test_a_failing_stop_is_reported_not_raised() -> None:
    hook = ray_hook("RUNNING")

    async def boom(*a, **k):
        raise RuntimeError("gateway down")

    hook.aray_stop_job = boom  # type: ignore[method-assign]
    event = _run_first(trigger(deadline=time.time() - 1, cancel_on_timeout=True), hook)
    assert "stopping the job failed: gateway down" in event["message"]


class _TI:
    dag_id, task_id, run_id, map_index = "d", "t", "r", -1


@pytest.mark.parametrize(("state", "stopped"), [("failed", True), ("success", True), ("deferred", False), (None, False)])
def test_before_3_3_the_cancellation_path_stops_a_ray_job(monkeypatch: pytest.MonkeyPatch, state, stopped: bool) -> None:
    async def task_state(ti: object) -> str | None:
        return state

    monkeypatch.setattr(version_compat, "triggerer_calls_on_kill", lambda: False)
    monkeypatch.setattr(version_compat, "atask_instance_state", task_state)
    hook = ray_hook("RUNNING")
    # Polling alone: a shared trigger's first look is its watcher's first round, at a random
    # point of the (here one-hour) interval; the cancellation path is the same for both.
    t = with_hook(
        RayJobStatusTrigger(
            submission_id=SID, submission_api="ray", cluster_id="ray-1", cancel_on_kill=True, poll_interval=3600, shared_poll=False
        ),
        hook,
    )
    t.task_instance = _TI()
    polled = asyncio.Event()
    original = hook.aray_get_job

    async def aray_get_job(*a, **k):
        try:
            return await original(*a, **k)
        finally:
            polled.set()

    hook.aray_get_job = aray_get_job  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(t.run().__anext__())
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert hook.names() == (["ray_get_job", "ray_stop_job"] if stopped else ["ray_get_job"])
