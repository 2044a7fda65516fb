"""The one poll step (``Wait``): state-change lines, transient errors, the target / failure /
deadline decision, the pause, and the three drivers (sync ``run``, async ``apoll``, ``poll``)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from airflow_provider_emr_ray.exceptions import EmrRayAuthError, EmrRayConnectionError, EmrRayThrottlingError
from airflow_provider_emr_ray.states import WaitOutcome
from airflow_provider_emr_ray.utils.resources import CLUSTER, JOB
from airflow_provider_emr_ray.utils.waiting import Wait
from airflow_provider_emr_ray.utils.waiting_args import WaitingMixin
from tests.operators.fakes import ScriptedHook

LOG = logging.getLogger("test-wait")


def _wait(**kw: Any) -> Wait:
    kw.setdefault("targets", ("Running",))
    kw.setdefault("failures", ("Error",))
    return Wait(CLUSTER, "ray-1", log=LOG, poll_interval=0, **kw)


def test_one_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test-wait")
    wait = _wait(started_at=time.time() - 75)
    for state in ("Starting", "Starting", "Starting"):
        assert wait.step({"state": state}) is None
    assert wait.step({"state": "Running"}) is WaitOutcome.success
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Ray cluster ray-1 is Starting after 1m15s",
        "Ray cluster ray-1 changed Starting -> Running after 1m15s",
    ]


def test_failure_state_logs_the_service_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test-wait")
    wait = _wait()
    assert wait.step({"state": "Error", "message": "no quota"}) is WaitOutcome.failure
    assert wait.message(WaitOutcome.failure) == "no quota"
    assert caplog.records[-1].getMessage().endswith(": no quota")


def test_unknown_state_is_waited_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test-wait")
    wait = _wait()
    assert wait.step({"state": "Resizing"}) is None
    assert "not known to this provider" in caplog.text


def test_transient_errors_in_a_row_then_error() -> None:
    err = EmrRayThrottlingError("slow down", status=429)
    wait = _wait(max_transient_errors=2)
    assert wait.step(error=err) is None and wait.step(error=err) is None
    assert wait.step({"state": "Starting"}) is None  # a success resets the count
    assert wait.step(error=err) is None and wait.step(error=err) is None
    assert wait.step(error=err) is WaitOutcome.error and wait.error is err
    other = _wait()
    denied = EmrRayAuthError("denied", status=403)
    assert other.step(error=denied) is WaitOutcome.error
    assert other.event(WaitOutcome.error)["message"] == str(denied)


def test_deadline_ends_the_wait_and_bounds_the_pause() -> None:
    wait = Wait(CLUSTER, "ray-1", log=LOG, targets=("Running",), poll_interval=30, deadline=time.time() + 0.5)
    assert wait.step({"state": "Starting"}) is None
    assert 0 < wait.pause() <= 0.5
    wait.deadline = time.time() - 1
    assert wait.step(error=EmrRayConnectionError("refused")) is WaitOutcome.timeout
    assert wait.pause() == 0
    event = wait.event(WaitOutcome.timeout, "the job was cancelled")
    assert event["state"] == "Starting" and "deadline passed" in event["message"]
    assert event["message"].endswith("; the job was cancelled")


def test_sync_and_async_drivers_poll_the_same_step() -> None:
    answers = [{"clusterId": "ray-1", "state": "Starting"}, EmrRayConnectionError("refused"), {"clusterId": "ray-1", "state": "Running"}]
    sleeps: list[float] = []
    wait = _wait()
    assert wait.run(ScriptedHook(clusters=list(answers)), sleep=sleeps.append) is WaitOutcome.success
    assert len(sleeps) == 2 and wait.resource["clusterId"] == "ray-1"

    async def drive() -> WaitOutcome:
        w = _wait()
        hook = ScriptedHook(clusters=list(answers))
        while (outcome := await w.apoll(hook)) is None:
            pass
        return outcome

    assert asyncio.run(drive()) is WaitOutcome.success


def test_sync_run_reraises_the_error() -> None:
    wait = Wait(JOB, "rj-1", log=LOG, targets=("Succeeded",), poll_interval=0)
    with pytest.raises(EmrRayAuthError):
        wait.run(ScriptedHook(jobs=[EmrRayAuthError("denied", status=403)]))


def test_trigger_kwargs_continue_the_same_wait() -> None:
    wait = Wait(JOB, "rj-1", log=LOG, targets=("Succeeded",), failures=("Failed",), poll_interval=5, deadline=9.0, started_at=1.0)
    assert wait.trigger_kwargs() == {
        "submission_id": "rj-1",
        "target_states": ["Succeeded"],
        "failure_states": ["Failed"],
        "poll_interval": 5.0,
        "deadline": 9.0,
        "max_transient_errors": 5,
        "started_at": 1.0,
    }


def test_waiting_mixin_deadline_is_the_earlier_of_max_wait_and_execution_timeout() -> None:
    from datetime import timedelta

    from airflow_provider_emr_ray.operators.emr_ray import EmrRayWaitingOperator
    from tests.operators.fakes import FakeTI

    class Op(WaitingMixin):
        log = LOG
        _new_wait = EmrRayWaitingOperator._new_wait  # the operators' base builds the wait

    op = Op()
    op._init_waiting(True, False, timedelta(seconds=2), 600, 3)
    assert (op.poll_interval, op.max_wait, op.max_transient_errors) == (2.0, 600.0, 3)
    wait, by_exec = op._new_wait({"ti": FakeTI()}, CLUSTER, "c", ("Running",), ())
    assert not by_exec and 590 < wait.deadline - time.time() <= 600
    op.execution_timeout = timedelta(seconds=60)  # type: ignore[attr-defined]
    ti = FakeTI()
    wait, by_exec = op._new_wait({"ti": ti}, CLUSTER, "c", ("Running",), ())
    assert by_exec and wait.deadline == pytest.approx(ti.start_date.timestamp() + 60)
