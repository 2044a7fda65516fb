"""``@task.emr_ray`` DAG runs against the served emulator (the functions run as real local
processes): the mapped sweep feeding ``best``, a deferred task, a raising function, a
job-scoped cluster (SubmitRayJob) next to the existing-cluster ones (Ray's Jobs API), a return
value above the limit, a non-JSON argument (no job), default and keyword-only arguments, a retry
after a lost submit answer (one job), a kill while deferred (the trigger stops the job); no
secret in logs, XCom or rendered fields; the result line never shown raw.

DAGs: ``tests/dags/emr_ray_taskflow.py`` and ``tests/dags/emr_ray_taskflow_more.py``.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_emr_ray.utils.function_source import (
    RESULT_MARKER,
    RESULT_MAX_BYTES,
)
from tests.emulator.helpers import wait_for
from tests.operators.conftest import DAGS
from tests.operators.fakes import FakeTI
from tests.operators.test_ray_path_integration import assert_no_secrets, gateway_jobs

pytestmark = pytest.mark.integration

MARKER = RESULT_MARKER.strip()  # "##emr-ray-task-result##"


@pytest.fixture(autouse=True)
def _no_faults(emulator: Any):
    emulator.emulator.clear_faults()
    yield
    emulator.emulator.clear_faults()


def test_the_dag_folder_holds_the_taskflow_dags(dagbag: Any) -> None:
    assert (DAGS / "emr_ray_taskflow.py").is_file() and (
        DAGS / "emr_ray_taskflow_more.py"
    ).is_file()
    assert not dagbag.import_errors, dagbag.import_errors
    assert {
        "emr_ray_taskflow_sweep",
        "emr_ray_taskflow_retry",
        "emr_ray_taskflow_kill",
    } <= set(dagbag.dag_ids)


def submits(emulator: Any) -> tuple[int, int]:
    """(SubmitRayJob calls, Ray Jobs API SubmitJob calls) so far."""
    stats = emulator.emulator.stats
    return stats.calls["SubmitRayJob"], stats.ray_jobs_calls["SubmitJob"]


def all_logs(result: Any) -> str:
    return "\n".join(result.logs.values())


def error_text(result: Any, exception: str = "AirflowException") -> str:
    """The text of the task's exception as the task log shows it (up to the next log record)."""
    found = re.search(
        rf"{exception}: (.*?)(?=\n\d{{4}}-\d\d-\d\dT|\Z)", all_logs(result), re.DOTALL
    )
    assert found, all_logs(result)[-3000:]
    return found.group(1)


def check_common(result: Any, emulator: Any) -> None:
    assert MARKER not in all_logs(
        result
    )  # the result line is read back, never shown raw
    assert_no_secrets(result, emulator)


def xcoms_of(result: Any, task_id: str, key: str = "return_value") -> list[Any]:
    return [v for t, k, v in result.all_xcoms() if t == task_id and k == key]


# ---------------------------------------------------------------- emr_ray_taskflow.py


def test_the_sweep_feeds_every_mapped_result_to_best(run_dag, emulator, dagbag) -> None:
    score = dagbag.get_dag("emr_ray_taskflow_sweep").get_task("score")
    alphas = score.op_kwargs_expand_input.value["alpha"]
    assert len(alphas) == 3 and score.partial_kwargs["op_kwargs"] == {
        "data_uri": "oss://bucket/train/"
    }
    openapi, ray = submits(emulator)
    result = run_dag("emr_ray_taskflow_sweep")
    assert result.states == {
        "cluster": "success",
        "score": "success",
        "best": "success",
    }, all_logs(result)[-3000:]
    expected = [
        {
            "alpha": a,
            "score": round(1 - math.pow(a - 0.3, 2), 6),
            "data": "oss://bucket/train/",
        }
        for a in alphas
    ]
    assert sorted(xcoms_of(result, "score"), key=lambda r: r["alpha"]) == sorted(
        expected, key=lambda r: r["alpha"]
    )
    assert result.xcom("best") == max(expected, key=lambda r: r["score"])
    logs = all_logs(result)
    for a in alphas:
        assert f"[ray] scoring alpha={a} on oss://bucket/train/ with Python 3" in logs
    assert submits(emulator) == (
        openapi,
        ray + len(alphas),
    )  # Ray's Jobs API, one job each; no SubmitRayJob
    check_common(result, emulator)


def test_a_deferred_task_returns_the_functions_value(run_dag, emulator, dagbag) -> None:
    args = dagbag.get_dag("emr_ray_taskflow_deferred").get_task("add").op_args
    openapi, ray = submits(emulator)
    result = run_dag("emr_ray_taskflow_deferred")
    assert result.states == {"cluster": "success", "add": "success"}, all_logs(result)[
        -3000:
    ]
    assert result.xcom("add") == sum(args)
    assert result.xcom("add", "submissionApi") == "ray"
    assert submits(emulator) == (openapi, ray + 1)
    check_common(result, emulator)


def test_a_raising_function_fails_the_task_with_its_traceback(
    run_dag, emulator
) -> None:
    result = run_dag("emr_ray_taskflow_raises")
    assert result.states == {"cluster": "success", "divide": "failed"}
    logs = all_logs(result)
    assert "[ray] about to divide" in logs
    assert "Traceback" in logs and "ZeroDivisionError" in logs
    error = error_text(result)
    assert "ended Failed" in error
    assert (
        "Traceback (most recent call last)" in error
        and "ZeroDivisionError: division by zero" in error
    )
    assert "return x / 0" in error  # the function's own frame
    assert xcoms_of(result, "divide") == []
    check_common(result, emulator)


def test_a_job_scoped_cluster_goes_through_submit_ray_job(run_dag, emulator) -> None:
    openapi, ray = submits(emulator)
    result = run_dag("emr_ray_taskflow_job_scoped")
    assert result.states == {"hello": "success"}, all_logs(result)[-3000:]
    assert result.xcom("hello") == "hello ray"
    assert result.xcom("hello", "submissionApi") == "openapi"
    assert "[ray] hello from a job-scoped cluster" in all_logs(result)
    assert submits(emulator) == (openapi + 1, ray)
    check_common(result, emulator)


# ---------------------------------------------------------------- emr_ray_taskflow_more.py


def test_a_return_value_above_the_limit_fails_with_a_clear_message(
    run_dag, emulator
) -> None:
    result = run_dag("emr_ray_taskflow_too_large")
    assert result.states == {"cluster": "success", "too_large": "failed"}
    error = error_text(result)
    assert (
        f"above the limit of {RESULT_MAX_BYTES} bytes; write large results to OSS"
        in error
    )
    assert f"is {RESULT_MAX_BYTES + 2} bytes of JSON" in error
    assert xcoms_of(result, "too_large") == []
    check_common(result, emulator)


def test_a_non_json_argument_fails_before_any_job(run_dag, emulator) -> None:
    before = submits(emulator)
    jobs = set(gateway_jobs(emulator))
    result = run_dag("emr_ray_taskflow_not_json")
    assert result.states == {"cluster": "success", "not_json": "failed"}
    error = error_text(result, "EmrRayValidationError")
    assert error.startswith(
        "op_args/op_kwargs: argument #1 (positional) is not JSON-serialisable (datetime"
    )
    assert (
        submits(emulator) == before and set(gateway_jobs(emulator)) == jobs
    )  # no job submitted
    assert xcoms_of(result, "not_json", "submissionId") == []
    check_common(result, emulator)


def test_default_and_keyword_only_arguments(run_dag, emulator, dagbag) -> None:
    task = dagbag.get_dag("emr_ray_taskflow_defaults").get_task("combine")
    result = run_dag("emr_ray_taskflow_defaults")
    assert result.states == {"cluster": "success", "combine": "success"}, all_logs(
        result
    )[-3000:]
    value = result.xcom("combine")
    assert value == task.python_callable(
        *task.op_args, **task.op_kwargs
    )  # the same call, here
    assert (
        task.op_kwargs.keys() >= {"d"}
        and "c" not in task.op_kwargs
        and len(task.op_args) == 1
    )
    assert (value["b"], value["c"]) == (10, 1)  # the defaults the call left out
    check_common(result, emulator)


def test_a_retry_after_a_lost_submit_answer_gives_one_job(
    run_dag, emulator, dagbag
) -> None:
    task = dagbag.get_dag("emr_ray_taskflow_retry").get_task("once")
    before = set(gateway_jobs(emulator))
    result = run_dag("emr_ray_taskflow_retry")
    assert result.states == {"cluster": "success", "once": "success"}, all_logs(result)[
        -3000:
    ]
    assert result.dag_run.get_task_instance("once").try_number == 2
    sid = result.xcom("once", "submissionId")
    assert set(gateway_jobs(emulator)) - before == {
        sid
    }  # exactly one job, the first try's
    job = gateway_jobs(emulator)[sid]
    assert job["metadata"]["airflow_try_number"] == "1" and job["status"] == "SUCCEEDED"
    assert "Reattaching to Ray job" in all_logs(result)
    (x,) = task.op_args
    assert result.xcom("once") == x * 3
    job_log = emulator.emulator.ray_jobs.logs(result.xcom("cluster"), sid)
    assert job_log.count(f"once x={x}") == 1  # the function ran once
    check_common(result, emulator)


def test_kill_while_deferred_stops_the_job(
    run_dag, emulator, dagbag, tmp_path: Path
) -> None:
    """The deferred task's trigger stops the Ray job when the task is killed (3.3's on_kill),
    as in tests/operators/test_ray_path.py, here against the emulator's gateway."""
    from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

    cluster_id = run_dag("emr_ray_taskflow_deferred").xcom(
        "cluster"
    )  # the shared cluster exists
    operator = dagbag.get_dag("emr_ray_taskflow_kill").get_task("hang")
    started = tmp_path / "started"
    operator.cluster_id = cluster_id  # rendered by hand: executed outside a DAG run
    operator.op_args = [str(started), 120]
    stops = emulator.emulator.stats.ray_jobs_calls["StopJob"]
    ti = FakeTI(run_id=f"manual__kill-{uuid.uuid4().hex[:8]}")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    sid = ti.xcoms["submissionId"]
    wait_for(
        started.exists, timeout=30, what="the job to start"
    )  # the function is running
    assert gateway_jobs(emulator)[sid]["status"] == "RUNNING"

    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["submission_id"] == sid and kwargs["submission_api"] == "ray"
    asyncio.run(RayJobStatusTrigger(**kwargs).on_kill())  # as the triggerer rebuilt it
    assert emulator.emulator.stats.ray_jobs_calls["StopJob"] == stops + 1
    job = wait_for(
        lambda: (
            (j := gateway_jobs(emulator)[sid])["status"]
            in ("STOPPED", "SUCCEEDED", "FAILED")
            and j
        ),
        timeout=30,
        what="the job to end",
    )
    assert job["status"] == "STOPPED"
    assert MARKER not in emulator.emulator.ray_jobs.logs(
        cluster_id, sid
    )  # stopped before returning


def test_the_example_sweep_runs_green(run_example, emulator) -> None:
    """``example_dags/example_emr_ray_taskflow.py`` with ``airflow dags test``: the cluster
    created, one Ray Jobs API job per alpha (deferred), every mapped result handed to
    ``choose_best``, the cluster deleted."""
    stats = emulator.emulator.stats
    openapi, ray_jobs = submits(emulator)
    deletes, creates = stats.calls["DeleteRayCluster"], stats.calls["CreateRayCluster"]
    example = run_example("example_emr_ray_taskflow")
    alphas = [0.01, 0.1, 1.0, 10.0]
    mapped = {f"train[{i}]": "success" for i in range(len(alphas))}
    assert example.states == {"create_cluster": "success", **mapped, "choose_best": "success", "delete_cluster": "success"}, (
        example.output[-6000:]
    )
    assert example.state == "success"
    results = [example.xcom("train", map_index=i) for i in range(len(alphas))]
    assert [r["alpha"] for r in results] == alphas and {r["folds"] for r in results} == {4}
    assert all(-1 < r["score"] < 1 for r in results)
    assert len({r["score"] for r in results}) == len(alphas)  # a real function of alpha, not one value
    assert example.xcom("choose_best") == max(results, key=lambda r: r["score"])
    # One job per mapped task, through Ray's Jobs API; one cluster created and deleted.
    assert submits(emulator) == (openapi, ray_jobs + len(alphas))
    assert stats.calls["CreateRayCluster"] == creates + 1 and stats.calls["DeleteRayCluster"] == deletes + 1
    # Each mapped task deferred to its trigger; what the function printed is in its log.
    deferred = re.findall(r"Pausing task as DEFERRED.*task_id=train\b", example.output)
    assert len(deferred) == len(alphas), example.output[-6000:]
    for alpha in alphas:
        assert f"[ray] alpha={alpha} fold 4/4: R^2=" in example.output
    assert MARKER not in example.output
