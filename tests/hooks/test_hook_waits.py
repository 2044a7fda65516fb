"""The hook's waits (``wait_for_cluster`` / ``wait_for_job`` and their async twins
``await_for_cluster`` / ``await_for_job``) against the emulator served on loopback (the
``emr_ray_emulator`` fixture: ``emr_ray_default`` points at it).

They are the operators' poll step (:class:`~airflow_provider_emr_ray.utils.waiting.Wait`): one
log line per state change, failure states and timeouts raised, bad arguments refused before
any call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError, EmrRayValidationError
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

HEAD = {"cpu": 2, "memory": "8Gi"}
FAST = 0.02  # seconds between polls: many polls within one emulated state


def _hook() -> EmrRayHook:
    """A hook logging to a stdlib logger: on Airflow 3.1+ a hook's own logger is structlog's,
    which writes to stdout only, and caplog (the one channel read here) sees stdlib records."""
    hook = EmrRayHook("emr_ray_default", max_retries=0)
    hook._log = logging.getLogger("tests.hooks.test_hook_waits")
    return hook


def _state_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    """The wait's state-change lines about ``what`` (caplog only: one channel)."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(what + " ") and " after " in r.getMessage()]


# ---- clusters -------------------------------------------------------------------------------


def _start_after_polls(emulator, cluster_id: str, polls: int = 3) -> threading.Thread:
    """A thread that makes the cluster (created with a start delay of an hour) Running once
    the emulator counted ``polls`` GetRayCluster calls: the wait sees Starting several times
    whatever the machine's speed, with no timing assumption."""

    def release() -> None:
        deadline = time.monotonic() + 60
        while emulator.calls.get("GetRayCluster", 0) < polls and time.monotonic() < deadline:
            time.sleep(FAST)  # observing a counter, not standing in for one
        with emulator.emulator.store.lock:
            emulator.emulator.store.clusters[cluster_id]["_since"] -= 3600 * 1000  # the start is due now

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


@pytest.mark.emr_ray_emulator(cluster_start_delay=3600)
def test_wait_for_cluster_reaches_running_with_one_line_per_state_change(emr_ray_emulator, caplog) -> None:
    hook = _hook()
    cluster_id = hook.create_ray_cluster(name="wait-running", head_spec=HEAD)
    released = _start_after_polls(emr_ray_emulator, cluster_id)
    with caplog.at_level(logging.INFO):
        cluster = hook.wait_for_cluster(cluster_id, poll_interval=FAST, timeout=120)
    released.join(5)
    assert cluster.cluster_id == cluster_id and cluster.state == "Running" and cluster.job_url
    lines = _state_lines(caplog, f"Ray cluster {cluster_id}")
    assert emr_ray_emulator.calls["GetRayCluster"] > 3  # it polled Starting several times...
    assert len(lines) == 2, lines  # ...and logged each state once
    assert " is Starting after " in lines[0] and " changed Starting -> Running after " in lines[1]


@pytest.mark.emr_ray_emulator(error_name_pattern=r"^broken-")
def test_wait_for_cluster_fails_on_a_failure_state_naming_it(emr_ray_emulator) -> None:
    hook = _hook()
    cluster_id = hook.create_ray_cluster(name="broken-cluster", head_spec=HEAD)
    with pytest.raises(AirflowException) as raised:
        hook.wait_for_cluster(cluster_id, poll_interval=FAST, timeout=30)
    assert not isinstance(raised.value, EmrRayValidationError)
    assert f"Ray cluster {cluster_id} is Error instead of Running" in str(raised.value)
    assert emr_ray_emulator.clusters()[cluster_id] == "Error"


@pytest.mark.emr_ray_emulator(cluster_start_delay=60)
def test_wait_for_cluster_times_out(emr_ray_emulator) -> None:
    hook = _hook()
    cluster_id = hook.create_ray_cluster(name="slow-cluster", head_spec=HEAD)
    with pytest.raises(AirflowException, match=r"is still Starting: not Running after \d+s \(deadline passed\)"):
        hook.wait_for_cluster(cluster_id, poll_interval=0.05, timeout=timedelta(seconds=1.5))
    assert emr_ray_emulator.calls["GetRayCluster"] >= 2  # polled until the deadline, not once


@pytest.mark.emr_ray_emulator(cluster_start_delay=0.2, cluster_stop_delay=0.2)
def test_wait_for_cluster_other_target_states(emr_ray_emulator) -> None:
    hook = _hook()
    cluster_id = hook.create_ray_cluster(name="to-stop", head_spec=HEAD)
    hook.wait_for_cluster(cluster_id, poll_interval=FAST, timeout=30)
    hook.stop_ray_cluster(cluster_id)
    assert hook.wait_for_cluster(cluster_id, target_states="Stopped", poll_interval=FAST, timeout=30).state == "Stopped"


def test_wait_for_cluster_raises_the_api_error_of_an_unknown_cluster(emr_ray_emulator) -> None:
    with pytest.raises(EmrRayNotFoundError):
        _hook().wait_for_cluster("rc-doesnotexist", poll_interval=FAST, timeout=30)


@pytest.mark.emr_ray_emulator(cluster_start_delay=3600)
async def test_await_for_cluster(emr_ray_emulator, caplog) -> None:
    hook = _hook()
    cluster_id = await hook.acreate_ray_cluster(name="async-wait", head_spec=HEAD)
    released = _start_after_polls(emr_ray_emulator, cluster_id)
    with caplog.at_level(logging.INFO):
        cluster = await hook.await_for_cluster(cluster_id, poll_interval=FAST, timeout=120)
    released.join(5)
    assert cluster.state == "Running"
    lines = _state_lines(caplog, f"Ray cluster {cluster_id}")
    assert len(lines) == 2 and emr_ray_emulator.calls["GetRayCluster"] > 3, lines


# ---- bad arguments: refused before any call --------------------------------------------------

BAD_CLUSTER_WAITS = [
    ({"timeout": "nan"}, "timeout"),
    ({"timeout": math.nan}, "timeout"),
    ({"timeout": -1}, "timeout"),
    ({"poll_interval": -1}, "poll_interval"),
    ({"poll_interval": 0}, "poll_interval"),
    ({"poll_interval": None}, "poll_interval"),
    ({"max_transient_errors": -1}, "max_transient_errors"),
    ({"target_states": ["Runing"]}, "target_states"),
    ({"target_states": []}, "target_states"),
    ({"target_states": 3}, "target_states"),
    ({"failure_states": ["Running"]}, "failure_states"),  # overlaps the default target
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_CLUSTER_WAITS, ids=[f"{f}={v}" for (v, f) in BAD_CLUSTER_WAITS])
async def test_bad_wait_arguments_fail_before_any_call(emr_ray_emulator, kwargs, field) -> None:
    hook = _hook()
    with pytest.raises(EmrRayValidationError) as raised:
        hook.wait_for_cluster("rc-123", **kwargs)
    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")
    with pytest.raises(EmrRayValidationError) as araised:
        await hook.await_for_cluster("rc-123", **kwargs)
    assert araised.value.field == field
    assert emr_ray_emulator.calls == {}


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("",), {}, "submission_id"),
        (("a/b",), {}, "submission_id"),
        (("job-1",), {"cluster_id": ""}, "cluster_id"),
        (("job-1",), {"cluster_id": "rc-1", "internal": "yes"}, "internal"),
        (("job-1",), {"cluster_id": "rc-1", "target_states": "DONE"}, "target_states"),
        (("job-1",), {"timeout": "nan"}, "timeout"),
    ],
)
def test_bad_job_wait_arguments_fail_before_any_call(emr_ray_emulator, args, kwargs, field) -> None:
    with pytest.raises(EmrRayValidationError) as raised:
        _hook().wait_for_job(*args, **kwargs)
    assert raised.value.field == field
    assert emr_ray_emulator.calls == {}


def test_the_async_twins_have_the_same_signatures() -> None:
    import inspect

    for name in ("wait_for_cluster", "wait_for_job"):
        twin = getattr(EmrRayHook, "a" + name)
        assert inspect.iscoroutinefunction(twin) and twin.__doc__ == f"Async twin of :meth:`{name}`."
        assert inspect.signature(twin) == inspect.signature(getattr(EmrRayHook, name))


# ---- jobs ------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.emr_ray_emulator(cluster_start_delay=0.1)
def test_wait_for_job_succeeds_and_fails(emr_ray_emulator, caplog) -> None:
    hook = _hook()
    cluster_id = hook.create_ray_cluster(name="jobs", head_spec=HEAD)
    hook.wait_for_cluster(cluster_id, poll_interval=FAST, timeout=30)
    ok = hook.submit_ray_job(entrypoint="python -c \"print('fine')\"", cluster_id=cluster_id)
    with caplog.at_level(logging.INFO):
        job = hook.wait_for_job(ok, poll_interval=FAST, timeout=60)
    assert job.submission_id == ok and job.status == "Succeeded"
    lines = _state_lines(caplog, f"Ray job {ok}")
    assert lines and len(lines) == len({line.split(" after ")[0] for line in lines}), lines
    assert lines[-1].startswith(f"Ray job {ok} changed ") and " -> Succeeded after " in lines[-1]

    bad = hook.submit_ray_job(entrypoint="python -c 'import sys; sys.exit(3)'; exit 3", cluster_id=cluster_id)
    with pytest.raises(AirflowException, match=rf"Ray job {bad} is Failed instead of Succeeded"):
        hook.wait_for_job(bad, poll_interval=FAST, timeout=60)
    # a failure status asked for is a target, not a failure
    assert hook.wait_for_job(bad, target_states=["Failed"], poll_interval=FAST, timeout=60).status == "Failed"
    # Ray's vocabulary reads as the provider's on this path too (as the job sensor takes it)
    assert hook.wait_for_job(bad, target_states="FAILED", poll_interval=FAST, timeout=60).status == "Failed"
    with pytest.raises(AirflowException, match=rf"Ray job {ok} is Succeeded instead of Cancelled"):
        hook.wait_for_job(ok, target_states="STOPPED", failure_states=["SUCCEEDED"], poll_interval=FAST, timeout=60)


@pytest.mark.integration
@pytest.mark.emr_ray_emulator(cluster_start_delay=0.1)
async def test_await_for_job_on_the_ray_jobs_api(emr_ray_emulator) -> None:
    """A job of Ray's own Jobs API at the cluster's jobUrl: polled there, states in either
    vocabulary, the Ray model returned."""
    hook = _hook()
    cluster_id = await hook.acreate_ray_cluster(name="ray-jobs", head_spec=HEAD)
    await hook.await_for_cluster(cluster_id, poll_interval=FAST, timeout=30)
    sid = await hook.aray_submit_job(cluster_id, entrypoint="python -c \"print('via ray')\"")
    job = await hook.await_for_job(sid, cluster_id=cluster_id, target_states="SUCCEEDED", poll_interval=FAST, timeout=60)
    assert job.submission_id == sid and str(job.status) == "SUCCEEDED"
    assert hook.wait_for_job(sid, cluster_id=cluster_id, poll_interval=FAST, timeout=30).submission_id == sid
    assert emr_ray_emulator.calls.get("GetRayJob", 0) == 0  # never asked the SubmitRayJob API

    failing = await hook.aray_submit_job(cluster_id, entrypoint="python -c 'import sys; sys.exit(2)'")
    with pytest.raises(AirflowException, match=rf"Ray job {failing} is Failed instead of Succeeded"):
        await hook.await_for_job(failing, cluster_id=cluster_id, poll_interval=FAST, timeout=60)
