"""End to end: a job task deferred to a real triggerer, then marked failed by a user or left
alone across a triggerer restart (``tests/dags/emr_ray_kill_e2e.py``).

* Marked failed through the REST API (``PATCH .../taskInstances/{task_id}`` with
  ``new_state=failed``, what the UI's "Mark as failed" sends) while its trigger polls the job:
  the job must end ``Cancelling``/``Cancelled`` in the emulator. On Airflow 3.3 the triggerer
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
from pathlib import Path
from typing import Any

import pytest

from devtools.airflow_stack import StackError
from devtools.emulator import cli_args

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parents[1] / "dags"
KILL_DAG = "emr_ray_e2e_kill_deferred"
RESTART_DAG = "emr_ray_e2e_triggerer_restart"
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
def hook(stack):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_EMR_RAY_DEFAULT", stack.connection)
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        hook = EmrRayHook("emr_ray_default")
        yield hook
        hook.close()


@pytest.fixture(scope="module")
def parsed(stack) -> None:
    for dag_id in (KILL_DAG, RESTART_DAG):
        stack.wait_for(lambda d=dag_id: stack.dag_parsed(d), 120, f"the DAG {dag_id} to be parsed")


def job_status(hook, submission_id: str) -> str:
    status = hook.get_ray_job(submission_id).status
    return str(getattr(status, "value", status))


def get_job_calls(stack) -> int:
    with urllib.request.urlopen(f"{stack.endpoint}/__emulator__/stats", timeout=10) as response:
        return json.loads(response.read())["calls"].get("GetRayJob", 0)


def ti_state(stack, dag_id: str, run_id: str) -> str | None:
    return stack.task_states(dag_id, run_id).get(TASK)


def wait_deferred_and_polled(stack, dag_id: str, run_id: str, timeout: float = 150) -> str:
    """Wait until the task is deferred and its trigger has polled the job (a GetRayJob call made
    after the task left the worker); returns the job's submission id."""

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
    """Wait until a GetRayJob call arrives after now (only a trigger polls while the task is deferred)."""
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


def test_marking_a_deferred_task_failed_cancels_its_job(stack, hook, parsed) -> None:
    run_id = stack.trigger(KILL_DAG)
    sid = wait_deferred_and_polled(stack, KILL_DAG, run_id)
    assert job_status(hook, sid) in ("Pending", "Running")
    started = time.monotonic()
    path = f"/api/v2/dags/{KILL_DAG}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{TASK}"
    stack.api("PATCH", path, {"new_state": "failed"})
    try:
        status = stack.wait_for(
            lambda: (s := job_status(hook, sid)) in CANCELLED and s, 90, f"job {sid} to be cancelled", interval=0.3
        )
    finally:
        if job_status(hook, sid) not in (*CANCELLED, "Succeeded", "Failed"):
            hook.cancel_ray_job(sid)  # do not leave a ten-minute job behind a failed test
    stack.say(f"job {sid} {status} {time.monotonic() - started:.1f}s after the task was marked failed")
    assert ti_state(stack, KILL_DAG, run_id) == "failed"
    assert stack.wait_run(KILL_DAG, run_id, timeout=60) == "failed"
    # The trigger's own log line (the cancellation came from the trigger, not the test's cleanup).
    assert stack.wait_for(
        lambda: "Cancelled Ray job" in trigger_log_text(stack, KILL_DAG, run_id), 30, "the trigger's cancel log line"
    )


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
