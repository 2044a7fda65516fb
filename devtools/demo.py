"""The demo: run the example lifecycle DAG in a real local Airflow against the emulator.

Started by ``bash scripts/demo.sh`` (which makes the virtualenv); runnable alone, from the
repository root, with a Python that has the provider installed:
``python -m devtools.demo [--root .demo/run]``.

It starts the emulator and Airflow (see :mod:`devtools.airflow_stack`), waits for the DAG to be
parsed, unpauses and triggers ``example_emr_ray_lifecycle``, follows the run, then prints every
task's state, the XCom values and the Ray job's output, and stops every process it started
(also on Ctrl-C and on failure).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from airflow_provider_emr_ray.redaction import mask_url
from devtools import REPO, airflow_stack

DAG_ID = "example_emr_ray_lifecycle"
TASKS = ("create_cluster", "submit_job", "wait_for_job", "report", "delete_cluster")
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def job_output(stack: Any, run_id: str, task_id: str) -> tuple[list[Path], list[str]]:
    """The Ray job's output as the provider copied it into ``task_id``'s Airflow task log (the
    ``[ray]`` lines; Airflow 3 writes one JSON object per log line): the log files, the lines."""
    import json

    files = sorted(stack.task_log_dir(DAG_ID, run_id, task_id).glob("*.log*"))
    lines: list[str] = []
    for path in files:
        for raw in path.read_text("utf-8", errors="replace").splitlines():
            try:
                event = json.loads(raw).get("event", "")
            except (ValueError, AttributeError):
                event = raw
            if isinstance(event, str) and event.startswith("[ray] "):
                lines.append(event[len("[ray] ") :])
    return files, lines


def report(stack: Any, run_id: str, state: str) -> None:
    print()
    print(f"== DAG run {run_id}: {state.upper()}")
    print(f"{'task':<16}{'state':<12}{'tries':>5}")
    for ti in sorted(stack.task_instances(DAG_ID, run_id), key=lambda t: TASKS.index(t["task_id"])):
        print(f"{ti['task_id']:<16}{str(ti['state']):<12}{ti['try_number']:>5}")

    def xcom(task_id: str, key: str = "return_value") -> Any:
        try:
            return stack.xcom(DAG_ID, run_id, task_id, key)
        except airflow_stack.StackError:
            return None

    print()
    print("== XCom")
    for task_id, key in (
        ("create_cluster", "clusterId"),
        ("create_cluster", "jobUrl"),
        ("create_cluster", "dashboardUrl"),
        ("submit_job", "submissionId"),
        ("wait_for_job", "status"),
        ("wait_for_job", "tags"),
        ("report", "return_value"),
    ):
        print(f"{task_id + '.' + key:<28} {mask_url(xcom(task_id, key))}")
    tags = xcom("wait_for_job", "tags") or {}
    print(f"{'workflowId':<28} {tags.get('workflowId')}")

    submission_id = xcom("submit_job", "submissionId")
    if submission_id:
        files, lines = job_output(stack, run_id, "wait_for_job")
        print()
        print(f"== Ray job {submission_id}: its output, from the Airflow task log of wait_for_job")
        print("   (the sensor waited in the triggerer; on resume it copied the job's driver log, read")
        print("   through GetRayLog with HTTP Range, into its task log as [ray] lines)")
        for path in files:
            print(f"task log  : {path}")
        if not lines:
            print("output    : (no [ray] line in the task log)")
        for line in lines:
            print(f"output    : {line}")

    retried = [ti["task_id"] for ti in stack.task_instances(DAG_ID, run_id) if (ti.get("try_number") or 1) > 1]
    mismatches = stack.state_mismatches(DAG_ID)
    if retried:
        print()
        print(f"note: {', '.join(retried)} needed a second try", end="")
        if mismatches:
            print(
                " after Airflow 3.3.2's scheduler failed a task the executor had already finished"
                " (apache/airflow#66374); the demo gives every task retries=1 to absorb it."
            )
        else:
            print(".")
    print()
    print(f"task logs : {stack.logs_folder / f'dag_id={DAG_ID}' / f'run_id={run_id}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO / ".demo" / "run"), help="working directory (emptied first)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds the DAG run may take")
    args = parser.parse_args(argv)

    airflow_stack.install_signal_handlers()
    # retries=1 for every task: absorbs Airflow 3.3.2's scheduler race (apache/airflow#66374),
    # which otherwise fails about one cold run in eight; the operators make retries safe.
    stack = airflow_stack.AirflowStack(root=Path(args.root), say=say, default_task_retries=1)
    code = 1
    try:
        stack.start()
        say(f"waiting for the DAG {DAG_ID} to be parsed by the dag-processor")
        stack.wait_for(lambda: stack.dag_parsed(DAG_ID), 180, f"the DAG {DAG_ID} to be parsed")
        run_id = stack.trigger(DAG_ID)
        say(f"unpaused {DAG_ID} and triggered run {run_id}")

        def progress(state: str, states: dict[str, Any]) -> None:
            shown = ", ".join(f"{t}={states.get(t) or 'none'}" for t in TASKS if t in states)
            say(f"run is {state}: {shown}")

        state = stack.wait_run(DAG_ID, run_id, args.timeout, on_change=progress)
        report(stack, run_id, state)
        code = 0 if state == "success" else 1
    except KeyboardInterrupt:
        say("interrupted")
        code = 130
    except airflow_stack.StackError as exc:
        say(f"FAILED: {exc}")
        say(f"component outputs: {stack.outputs}")
    finally:
        say("stopping every process the demo started")
        stack.stop()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
