"""Killing a deferred job task: Airflow 3.3's TriggerRunner cancels the trigger with its
user-action message and awaits ``on_kill``; older lines' runner only cancels it, and the trigger's
cancellation path acts. Either way the job must end up cancelled in the emulator.

``dag.test()`` cannot kill a deferred task, so this drives the real ``TriggerRunner.run_trigger``
and ``cancel_triggers`` (the code path of mark-failed / clear in a running triggerer) with the
real hook against the served emulator.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
from tests.operators.fakes import signal_polls

pytestmark = pytest.mark.integration


def _live_job(entrypoint: str) -> str:
    """A job with its own job-scoped cluster (no cluster to wait for first)."""
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    return EmrRayHook().submit_ray_job(
        entrypoint=entrypoint, name="kill-deferred", head_spec={"cpu": "2", "memory": "8Gi"}
    )


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_user_kill_of_a_deferred_task_cancels_the_job(
    emr_ray_conn, emulator, cancel_on_kill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    from airflow_provider_emr_ray import version_compat

    sid = _live_job("sleep 600")
    trigger = RayJobStatusTrigger(submission_id=sid, cancel_on_kill=cancel_on_kill, poll_interval=0.05)
    trigger.timeout_after = None  # what the triggerer sets on every trigger it runs
    if not version_compat.triggerer_calls_on_kill():
        # Airflow < 3.3: the trigger asks its task's state through the triggerer's supervisor
        # (not running here: the real query is in tests/e2e); mark-failed leaves it "failed".
        async def task_state(ti: object) -> str:
            return "failed"

        monkeypatch.setattr(version_compat, "atask_instance_state", task_state)
        # No task instance: the runner reads and logs many of its fields (3.2: ids, trace context).
        trigger.task_instance = None

    async def scenario() -> None:
        runner = TriggerRunner()
        polled = signal_polls(trigger.hook)
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1] = {"task": task, "name": "kill-test", "events": 0, "is_watcher": False}
        # The trigger is really waiting on the job (or it died: its exception, not a hang).
        waiting = asyncio.ensure_future(polled.wait())
        await asyncio.wait({waiting, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert waiting.done(), "the trigger never polled the job"

        runner.to_cancel.append(1)
        await runner.cancel_triggers()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    store = emulator.emulator.store
    with store.lock:
        status = store.jobs[sid]["status"]
    if cancel_on_kill:
        assert status in ("Cancelling", "Cancelled")
    else:
        assert status not in ("Cancelling", "Cancelled")
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        EmrRayHook().cancel_ray_job(sid)  # do not leave the process running
