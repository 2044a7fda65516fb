"""End to end: ``example_dags/example_emr_ray_local_code.py`` in a real Airflow against the emulator.

The scheduler runs the DAG, a worker zips ``example_dags/ray_jobs/`` and submits it through Ray's
Jobs API at the cluster's ``jobUrl`` (the emulator's gateway), the ``RayJobSensor`` defers to
the real triggerer, which polls the job there, and the teardown deletes the cluster.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "example_emr_ray_local_code"
NEW = "new_cluster"


def emulator_stats(stack) -> dict:
    with urllib.request.urlopen(f"{stack.endpoint}/__emulator__/stats", timeout=10) as response:
        return json.loads(response.read())


def test_local_code_runs_through_the_ray_jobs_api_with_a_deferred_sensor(stack, hook) -> None:
    stack.wait_for(lambda: stack.dag_parsed(DAG_ID), 120, f"the DAG {DAG_ID} to be parsed")
    before = emulator_stats(stack)
    started = time.monotonic()
    run_id = stack.trigger(DAG_ID)
    state = stack.wait_run(DAG_ID, run_id, timeout=300)
    stack.say(f"{DAG_ID} ended {state} in {time.monotonic() - started:.1f}s")
    states = {ti["task_id"]: ti["state"] for ti in stack.task_instances(DAG_ID, run_id)}
    assert state == "success", f"{states}; logs under {stack.logs_folder}"
    assert states == {
        "choose_cluster": "success",
        "create_cluster": "success",
        f"{NEW}.submit_job": "success",
        f"{NEW}.wait_for_job": "success",
        "delete_cluster": "success",
        "use_existing_cluster": "skipped",
        "given_cluster.submit_job": "skipped",
        "given_cluster.wait_for_job": "skipped",
    }

    # Submitted through Ray's Jobs API (one POST /api/jobs/), not SubmitRayJob.
    after = emulator_stats(stack)
    assert stack.xcom(DAG_ID, run_id, f"{NEW}.submit_job", "submissionApi") == "ray"
    ray_calls = {k: v - before.get("rayJobsCalls", {}).get(k, 0) for k, v in after["rayJobsCalls"].items()}
    assert ray_calls.get("SubmitJob") == 1, ray_calls
    assert after["calls"].get("SubmitRayJob", 0) == before["calls"].get("SubmitRayJob", 0)

    # The sensor waited in the triggerer, polling the gateway.
    log_dir = stack.task_log_dir(DAG_ID, run_id, f"{NEW}.wait_for_job")
    trigger_text = "".join(p.read_text("utf-8", errors="replace") for p in sorted(log_dir.glob("attempt=*.log.trigger.*.log")))
    assert "RayJobStatusTrigger" in trigger_text and "Trigger fired event" in trigger_text, sorted(log_dir.iterdir())
    assert ray_calls.get("GetJob", 0) >= 1, ray_calls

    # The job's output is in the sensor's task log (the [ray] lines, copied on resume).
    task_log = "".join(p.read_text("utf-8", errors="replace") for p in sorted(log_dir.glob("attempt=*.log")))
    assert "[ray] training done" in task_log and "[ray] epoch 1/" in task_log, task_log[-3000:]

    # The cluster's submit token (the ray-token) is in no log file of the stack.
    cluster_id = stack.xcom(DAG_ID, run_id, "create_cluster", "clusterId")
    token = hook.get_ray_cluster(cluster_id).submit_token
    assert token
    files = [p for p in stack.files_under(stack.logs_folder)] + [
        p for p in stack.files_under(stack.outputs) if p.name != "emulator.out"
    ]
    leaks = [str(p) for p in files if token.encode() in p.read_bytes()]
    assert not leaks, f"the ray-token in {leaks}"
