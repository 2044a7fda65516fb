"""End to end: ``example_dags/example_emr_ray_taskflow.py`` in a real Airflow against the emulator.

The scheduler maps ``train`` (``@task.emr_ray``) over four alphas; each mapped task ships the
function's source to the created cluster through Ray's Jobs API and defers to the real
triggerer, which polls its job; on resume the return value is read back from the job's log into
XCom, ``choose_best`` receives every mapped result, and the teardown deletes the cluster.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "example_emr_ray_taskflow"
ALPHAS = [0.01, 0.1, 1.0, 10.0]


def emulator_stats(stack) -> dict:
    with urllib.request.urlopen(f"{stack.endpoint}/__emulator__/stats", timeout=10) as response:
        return json.loads(response.read())


def mapped_xcom(stack, run_id: str, task_id: str, map_index: int) -> object:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return stack.api("GET", path, params={"deserialize": "true", "map_index": map_index})["value"]


def test_a_mapped_sweep_defers_and_the_reducer_gets_every_result(stack, hook) -> None:
    stack.wait_for(lambda: stack.dag_parsed(DAG_ID), 120, f"the DAG {DAG_ID} to be parsed")
    before = emulator_stats(stack)
    started = time.monotonic()
    run_id = stack.trigger(DAG_ID)
    state = stack.wait_run(DAG_ID, run_id, timeout=420)
    stack.say(f"{DAG_ID} ended {state} in {time.monotonic() - started:.1f}s")
    tis = stack.task_instances(DAG_ID, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
    assert state == "success", f"{states}; logs under {stack.logs_folder}"
    assert states == {
        ("create_cluster", -1): "success",
        **{("train", i): "success" for i in range(len(ALPHAS))},
        ("choose_best", -1): "success",
        ("delete_cluster", -1): "success",
    }

    # Every mapped result reached XCom and the reducer chose the best of them.
    results = [mapped_xcom(stack, run_id, "train", i) for i in range(len(ALPHAS))]
    assert [r["alpha"] for r in results] == ALPHAS, results
    assert stack.xcom(DAG_ID, run_id, "choose_best") == max(results, key=lambda r: r["score"])

    # One job per mapped task through Ray's Jobs API (a retry reattaches), none through SubmitRayJob.
    after = emulator_stats(stack)
    ray_calls = {k: v - before.get("rayJobsCalls", {}).get(k, 0) for k, v in after["rayJobsCalls"].items()}
    assert ray_calls.get("SubmitJob") == len(ALPHAS), ray_calls
    assert after["calls"].get("SubmitRayJob", 0) == before["calls"].get("SubmitRayJob", 0)
    assert after["calls"].get("DeleteRayCluster", 0) == before["calls"].get("DeleteRayCluster", 0) + 1

    # Each mapped task waited in the triggerer; its log holds what the function printed.
    for i, alpha in enumerate(ALPHAS):
        log_dir = stack.task_log_dir(DAG_ID, run_id, "train") / f"map_index={i}"
        trigger_text = "".join(p.read_text("utf-8", errors="replace") for p in sorted(log_dir.glob("attempt=*.log.trigger.*.log")))
        assert "RayJobStatusTrigger" in trigger_text and "Trigger fired event" in trigger_text, sorted(log_dir.iterdir())
        task_log = "".join(p.read_text("utf-8", errors="replace") for p in sorted(log_dir.glob("attempt=*.log")))
        assert f"[ray] alpha={alpha} fold 4/4: R^2=" in task_log, task_log[-3000:]
        assert "##emr-ray-task-result##" not in task_log  # the result line is read back, not shown

    # The cluster's submit token (the ray-token) is in no log file of the stack.
    cluster_id = stack.xcom(DAG_ID, run_id, "create_cluster", "clusterId")
    token = hook.get_ray_cluster(cluster_id).submit_token
    assert token
    files = list(stack.files_under(stack.logs_folder)) + [p for p in stack.files_under(stack.outputs) if p.name != "emulator.out"]
    leaks = [str(p) for p in files if token.encode() in p.read_bytes()]
    assert not leaks, f"the ray-token in {leaks}"
