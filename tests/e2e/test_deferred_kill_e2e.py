"""End to end: a job task deferred to a real triggerer, then marked failed by a user or left
alone across a triggerer restart (``tests/dags/emr_ray_kill_e2e.py``).

* Marked failed or successful through the REST API (``PATCH .../taskInstances/{task_id}`` with
  ``new_state``, what the UI's "Mark as failed"/"Mark as success" send), or cleared
  (``POST .../clearTaskInstances``), while its trigger polls the job: the job must end
  ``Cancelling``/``Cancelled`` in the emulator. A job of Ray's Jobs API (submitted at the cluster's
  ``jobUrl``), marked failed, must end ``STOPPED``. On Airflow 3.3 the triggerer
  calls the trigger's ``on_kill``; on 3.0-3.2 the trigger's cancelled ``run()`` asks the task's
  state and calls ``on_kill`` itself (``RayJobStatusTrigger``).
* The triggerer stopped (SIGTERM) and started again while the task is deferred: the job must not
  be cancelled, the new triggerer must take the trigger over, and the task must succeed on its
  first try with the job it submitted.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import pytest

from devtools.airflow_stack import StackError
from devtools.emulator import cli_args

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parents[1] / "dags"
KILL_DAG = "emr_ray_e2e_kill_deferred"
RESTART_DAG = "emr_ray_e2e_triggerer_restart"
RAY_KILL_DAG = "emr_ray_e2e_kill_deferred_ray"
TASK = "submit"
CANCELLED = ("Cancelling", "Cancelled")

STACK = {
    "dag_files": [DAGS / "emr_ray_kill_e2e.py"],
    # A job runs 0.5 s after its submit (no 12 s Pending): the trigger polls a Running job.
    "emulator_args": (
        *cli_args({"cluster_start_delay": 3, "cluster_stop_delay": 1, "job_submit_delay": 0.5, "job_pending_delay": 0.5}),
        "--enable-control",
    ),
}



@pytest.fixture(scope="module")
def parsed(stack) -> None:
    for dag_id in (KILL_DAG, RESTART_DAG, RAY_KILL_DAG):
        stack.wait_for(lambda d=dag_id: stack.dag_parsed(d), 120, f"the DAG {dag_id} to be parsed")


def job_status(hook, submission_id: str) -> str:
    status = hook.get_ray_job(submission_id).status
    return str(getattr(status, "value", status))


def get_job_calls(stack) -> int:
    """Job polls so far: GetRayJob and ListRayJob (a trigger's shared watcher lists the jobs
    while it waits; its own GetRayJob comes at the end), and GET /api/jobs/{id} and /api/jobs/
    at the Ray Jobs gateway."""
    with urllib.request.urlopen(f"{stack.endpoint}/__emulator__/stats", timeout=10) as response:
        stats = json.loads(response.read())
    calls, ray = stats["calls"], stats.get("rayJobsCalls", {})
    return calls.get("GetRayJob", 0) + calls.get("ListRayJob", 0) + ray.get("GetJob", 0) + ray.get("ListJobs", 0)


def ti_state(stack, dag_id: str, run_id: str) -> str | None:
    return stack.task_states(dag_id, run_id).get(TASK)


def wait_deferred_and_polled(stack, dag_id: str, run_id: str, timeout: float = 150) -> str:
    """Wait until the task is deferred and its trigger has polled the job (a GetRayJob or
    ListRayJob call made after the task left the worker); returns the job's submission id."""

    def deferred() -> bool:
        state = ti_state(stack, dag_id, run_id)
        if state in ("success", "failed", "upstream_failed", "skipped"):
            raise StackError(f"the task ended {state} before it deferred; logs under {stack.logs_folder}")
        return state == "deferred"

    stack.wait_for(deferred, timeout, f"{dag_id}.{TASK} to be deferred", interval=0.3)
    sid = stack.xcom(dag_id, run_id, TASK, "submissionId")
    wait_polled(stack, dag_id, run_id, timeout=60)
    stack.say(f"{dag_id}: task deferred, trigger polling job {sid}")
    return sid


def wait_polled(stack, dag_id: str, run_id: str, timeout: float) -> None:
    """Wait until a job poll (:func:`get_job_calls`) arrives after now (only a trigger polls while
    the task is deferred)."""
    before = get_job_calls(stack)

    def polled() -> bool:
        assert ti_state(stack, dag_id, run_id) == "deferred", "the task left the deferred state"
        return get_job_calls(stack) > before

    stack.wait_for(polled, timeout, "the trigger to poll the job", interval=0.3)


def trigger_log_text(stack, dag_id: str, run_id: str, try_number: int = 1) -> str:
    log_dir = stack.task_log_dir(dag_id, run_id, TASK)
    files = sorted(log_dir.glob(f"attempt={try_number}.log.trigger.*.log")) if log_dir.is_dir() else []
    return "".join(p.read_text("utf-8", errors="replace") for p in files)


# ---------------------------------------------------------------------------------------------


def _act(stack, action: str, run_id: str, dag_id: str = KILL_DAG) -> None:
    """What the UI's "Mark as failed", "Mark as success" and "Clear" send for one task."""
    if action == "clear":
        body = {"dry_run": False, "task_ids": [TASK], "dag_run_id": run_id, "only_failed": False}
        stack.api("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body)
    else:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{TASK}"
        stack.api("PATCH", path, {"new_state": action})


def _cancel_live_jobs(hook) -> None:
    """Leave no ten-minute job behind: a failed test, or the new try a clear starts."""
    for job in hook.list_ray_jobs():
        if job_status(hook, job.submission_id) not in (*CANCELLED, "Succeeded", "Failed"):
            hook.cancel_ray_job(job.submission_id)


@pytest.mark.parametrize("action", ["failed", "success", "clear"])
def test_a_user_acting_on_a_deferred_task_cancels_its_job(stack, hook, parsed, action: str) -> None:
    run_id = stack.trigger(KILL_DAG)
    sid = wait_deferred_and_polled(stack, KILL_DAG, run_id)
    assert job_status(hook, sid) in ("Pending", "Running")
    started = time.monotonic()
    _act(stack, action, run_id)
    try:
        if action == "clear" and stack.airflow_version < (3, 3):
            # Before 3.3 the cancelled trigger asks its task's state; when the cleared task's new
            # try has already deferred again (seen on 3.0.3 under CI load) it reads "deferred",
            # takes the cancellation for a triggerer move and leaves the job, and the new try
            # reattaches to it (the same job, still running): an accepted outcome (README).
            def cancelled_or_reattached() -> str | None:
                status = job_status(hook, sid)
                if status in CANCELLED:
                    return status
                tis = [t for t in stack.task_instances(KILL_DAG, run_id) if t["task_id"] == TASK]
                if tis and tis[0]["state"] == "deferred" and (tis[0]["try_number"] or 1) > 1:
                    if stack.xcom(KILL_DAG, run_id, TASK, "submissionId") == sid:
                        return "reattached"
                return None

            outcome = stack.wait_for(cancelled_or_reattached, 90, f"job {sid} cancelled or reattached", interval=0.3)
            stack.say(f"job {sid}: {outcome} {time.monotonic() - started:.1f}s after the task was cleared")
            if outcome == "reattached":
                _act(stack, "failed", run_id)
                stack.wait_for(lambda: job_status(hook, sid) in CANCELLED, 90, f"job {sid} to be cancelled", interval=0.3)
                assert stack.wait_run(KILL_DAG, run_id, timeout=90) == "failed"
                return
        status = stack.wait_for(
            lambda: (s := job_status(hook, sid)) in CANCELLED and s, 90, f"job {sid} to be cancelled", interval=0.3
        )
        stack.say(f"job {sid} {status} {time.monotonic() - started:.1f}s after the task was {action}")
        # The trigger's own log line (the cancellation came from the trigger, not from a cleanup).
        assert stack.wait_for(
            lambda: "Cancelled Ray job" in trigger_log_text(stack, KILL_DAG, run_id), 30, "the trigger's cancel log line"
        )
        if action == "clear":
            # The cleared task runs again. Its new try may start before the old trigger's on_kill
            # lands and reattach to the job being cancelled (then it fails "cancelled by the
            # user"), or start after it and submit a new job: either way no job is left running
            # once the run ends (README, "Airflow versions"). A new job's task is marked failed.
            def settled() -> str | None:
                state = ti_state(stack, KILL_DAG, run_id)
                if state == "deferred" and stack.xcom(KILL_DAG, run_id, TASK, "submissionId") != sid:
                    # Only a running trigger can act: a task marked failed before its trigger
                    # started leaves its job running (README, "Airflow versions").
                    try:
                        wait_polled(stack, KILL_DAG, run_id, timeout=60)
                    except AssertionError:  # it left the deferred state on its own (3.0: below)
                        return None
                    _act(stack, "failed", run_id)
                return state if state in ("failed", "success") else None

            stack.wait_for(settled, 150, "the cleared task's new try to end", interval=0.5)
            assert stack.wait_run(KILL_DAG, run_id, timeout=90) == "failed"

            def live_jobs() -> list[str]:
                return [j.submission_id for j in hook.list_ray_jobs() if j.status not in (*CANCELLED, "Succeeded", "Failed")]

            if stack.airflow_version >= (3, 3):
                stack.wait_for(lambda: not live_jobs(), 60, "no job left running after the cleared run ended", interval=0.5)
            elif live_jobs():
                # Airflow 3.0.3 (seen): the old try's late "success" executor event fails the new
                # try right after it deferred, before any trigger ran: nothing can act on its job
                # (README, "Airflow versions"); the cleanup below cancels it.
                warnings.warn(f"Airflow {stack.airflow_version}: a cleared task's new job was left running", stacklevel=1)
            return
        expected = "success" if action == "success" else "failed"
        assert stack.wait_run(KILL_DAG, run_id, timeout=60) == expected
        assert ti_state(stack, KILL_DAG, run_id) == expected
    finally:
        _cancel_live_jobs(hook)


def test_marking_a_deferred_ray_jobs_api_task_failed_stops_its_job(stack, hook, parsed) -> None:
    run_id = stack.trigger(RAY_KILL_DAG)
    sid = wait_deferred_and_polled(stack, RAY_KILL_DAG, run_id)
    cluster_id = stack.xcom(RAY_KILL_DAG, run_id, "cluster", "clusterId")
    assert stack.xcom(RAY_KILL_DAG, run_id, TASK, "submissionApi") == "ray"

    def status() -> str:
        return str(hook.ray_get_job(cluster_id, sid).status).rsplit(".", 1)[-1]

    assert status() in ("PENDING", "RUNNING")
    started = time.monotonic()
    _act(stack, "failed", run_id, RAY_KILL_DAG)
    try:
        stack.wait_for(lambda: status() == "STOPPED", 90, f"Ray Jobs API job {sid} to be stopped", interval=0.3)
        stack.say(f"job {sid} STOPPED {time.monotonic() - started:.1f}s after the task was marked failed")
        assert stack.wait_for(
            lambda: "Stopped Ray job" in trigger_log_text(stack, RAY_KILL_DAG, run_id), 30, "the trigger's stop log line"
        )
        assert stack.wait_run(RAY_KILL_DAG, run_id, timeout=60) == "failed"
    finally:
        if status() in ("PENDING", "RUNNING"):
            hook.ray_stop_job(cluster_id, sid)


def test_a_triggerer_restart_leaves_the_deferred_job_running(stack, hook, parsed, tmp_path) -> None:
    gate = tmp_path / "gate"
    run_id = stack.trigger(RESTART_DAG, conf={"gate": str(gate)})
    sid = wait_deferred_and_polled(stack, RESTART_DAG, run_id)
    started = time.monotonic()
    stack.stop_component("triggerer")
    assert ti_state(stack, RESTART_DAG, run_id) == "deferred"
    assert job_status(hook, sid) == "Running", "stopping the triggerer must not cancel the job"
    stack.start_component("triggerer")
    # The new triggerer takes the trigger over: the job is polled again, still deferred.
    wait_polled(stack, RESTART_DAG, run_id, timeout=120)
    stack.say(f"a new triggerer polls job {sid} {time.monotonic() - started:.1f}s after the stop")
    assert job_status(hook, sid) == "Running"
    gate.touch()
    assert stack.wait_run(RESTART_DAG, run_id, timeout=120) == "success"
    ti = next(t for t in stack.task_instances(RESTART_DAG, run_id) if t["task_id"] == TASK)
    assert (ti["state"], ti["try_number"]) == ("success", 1)
    assert stack.xcom(RESTART_DAG, run_id, TASK) == sid
    assert job_status(hook, sid) == "Succeeded"
