"""RayJobSensor on a job of either path: ``submission_api`` ("auto" = "ray" with a cluster_id),
poke and deferral on Ray's Jobs API, the XCom keys, and its errors."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor
from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
from tests.operators.fakes import FakeTI, ScriptedHook, ctx, record_log, with_hook

SID = "af-dag-submit-0123456789abcdef0123"


def ray_hook(*statuses: str) -> ScriptedHook:
    hook = ScriptedHook(jobs=[{"submissionId": SID, "status": "Succeeded"}])
    hook._ray_store()[SID] = {
        "submission_id": SID,
        "status": "PENDING",
        "start_time": 1_700_000_000_000,
        "metadata": {"workflowId": "af-w", "team": "ml", "airflow_try_number": "1"},
    }
    hook.ray_statuses().extend(statuses)
    return hook


def test_auto_with_a_cluster_reads_the_ray_path() -> None:
    hook = ray_hook("RUNNING", "SUCCEEDED")
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1"), hook)
    ti = FakeTI()
    assert sensor.poke(ctx(ti)) is False
    assert sensor.poke(ctx(ti)) is True
    assert {c[0] for c in hook.calls} == {"ray_get_job", "ray_get_job_logs"}  # the job, and its log (poke: live)
    assert ti.xcoms == {
        "status": "Succeeded",
        "tags": {"workflowId": "af-w", "team": "ml"},
        "duration": 42.0,
    }  # cuHours and dashboardUrl are unknown on this path: not pushed (Airflow 3.0 refuses None)


def test_auto_without_a_cluster_and_openapi_read_get_ray_job() -> None:
    for kwargs in ({}, {"cluster_id": "ray-1", "submission_api": "openapi"}):
        hook = ray_hook("SUCCEEDED")
        sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, **kwargs), hook)
        assert sensor.poke(ctx()) is True
        assert hook.names() == ["get_ray_job"]


def test_ray_failure_and_ray_target_names() -> None:
    hook = ray_hook("STOPPED")
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="c", poke_interval=0.01), hook)
    with pytest.raises(AirflowFailException, match="Cancelled"):
        sensor.execute(ctx())
    hook = ray_hook("RUNNING")
    sensor = with_hook(
        RayJobSensor(task_id="wait", submission_id=SID, cluster_id="c", target_states=["RUNNING"], failure_states=["FAILED"]),
        hook,
    )
    assert sensor.poke(ctx()) is True


def test_templated_submission_api_from_the_submit_xcom() -> None:
    sensor = RayJobSensor(
        task_id="wait",
        cluster_id="{{ ti.xcom_pull('create_cluster') }}",
        submission_id="{{ ti.xcom_pull('submit', key='submissionId') }}",
        submission_api="{{ ti.xcom_pull('submit', key='submissionApi') }}",
    )
    assert {"cluster_id", "submission_id", "submission_api", "ray_jobs_endpoint"} <= set(sensor.template_fields)
    sensor.cluster_id, sensor.submission_id, sensor.submission_api = "ray-1", SID, "ray"  # as rendered
    hook = with_hook(sensor, ray_hook("SUCCEEDED")).hook
    assert sensor.poke(ctx()) is True and hook.names() == ["ray_get_job", "ray_get_job_logs"]  # the job, its log


def test_deferrable_ray_sensor_defers_with_the_ray_trigger() -> None:
    hook = ray_hook("RUNNING")
    sensor = with_hook(
        RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", deferrable=True, ray_jobs_endpoint="public"), hook
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobStatusTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["submission_api"] == "ray" and kwargs["cluster_id"] == "ray-1" and kwargs["internal"] is False
    assert kwargs["cancel_on_kill"] is False and kwargs["cancel_on_timeout"] is False  # the sensor owns no job
    ti = FakeTI()
    event = {"outcome": "success", "state": "Succeeded", "submission_id": SID, "job": {"status": "Succeeded", "tags": {"workflowId": "w"}}}
    fresh = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", deferrable=True), ray_hook())
    fresh.execute_complete(ctx(ti), event)
    assert ti.xcoms["tags"] == {"workflowId": "w"}
    assert fresh.hook.names() == ["ray_get_job_logs"]  # on resume: no status call, only the log (copied)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"submission_api": "ray"}, "cluster_id"),
        ({"submission_api": "jobs", "cluster_id": "c"}, "submission_api"),
        ({"cluster_id": "c", "ray_jobs_endpoint": "vpc"}, "ray_jobs_endpoint"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(EmrRayValidationError) as err:
        RayJobSensor(task_id="wait", submission_id=SID, **kwargs)
    assert err.value.field == field


def test_rendered_ray_without_cluster_fails_before_any_call() -> None:
    sensor = RayJobSensor(task_id="wait", submission_id=SID, submission_api="{{ x }}", cluster_id="{{ y }}")
    sensor.submission_api, sensor.cluster_id = "ray", ""
    hook = with_hook(sensor, ray_hook()).hook
    with pytest.raises(EmrRayValidationError) as err:
        sensor.poke(ctx())
    assert err.value.field == "cluster_id" and hook.calls == []


# ---------------------------------------------------------------- the job's log in the task log


def test_poke_mode_shows_new_log_lines_at_each_poke_once() -> None:
    hook = ray_hook("RUNNING", "RUNNING", "SUCCEEDED")
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", mode="poke"), hook)
    rec = record_log(sensor)
    hook.ray_logs = "a\n"
    assert sensor.poke(ctx()) is False
    assert rec.ray() == ["a"]
    hook.ray_logs = "a\nb\nc"
    assert sensor.poke(ctx()) is False
    assert rec.ray() == ["a", "b"]  # "c" is not a whole line yet
    hook.ray_logs = "a\nb\nc\nd\n"
    assert sensor.poke(ctx()) is True
    assert rec.ray() == ["a", "b", "c", "d"]


def test_reschedule_mode_copies_the_log_once_at_the_last_poke() -> None:
    hook = ray_hook("RUNNING", "SUCCEEDED")
    hook.ray_logs = "".join(f"line {i}\n" for i in range(5))
    first = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", mode="reschedule"), hook)
    rec1 = record_log(first)
    assert first.poke(ctx()) is False and rec1.ray() == [] and "ray_get_job_logs" not in hook.names()
    last = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", mode="reschedule", log_lines=3), hook)
    rec2 = record_log(last)
    assert last.poke(ctx()) is True
    assert rec2.ray() == ["line 2", "line 3", "line 4"] and hook.names().count("ray_get_job_logs") == 1
    assert any("its first 2 lines" in m and "left out" in m for m in rec2.lines)


def test_deferred_failure_copies_the_log_on_resume_and_quotes_the_cause() -> None:
    hook = ray_hook()
    hook.ray_logs = "loading\npython: can't open file 'train.py': [Errno 2] No such file or directory\n"
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", deferrable=True), hook)
    rec = record_log(sensor)
    event = {"outcome": "failure", "state": "Failed", "message": "exit code 2", "submission_id": SID,
             "job": {"status": "Failed", "rayStatus": "FAILED"}}  # fmt: skip
    with pytest.raises(AirflowFailException) as info:
        sensor.execute_complete(ctx(), event)
    assert str(info.value) == (
        f"Ray job {SID} is Failed (a failure state): exit code 2\nLast 2 lines of its log:\n"
        "loading\npython: can't open file 'train.py': [Errno 2] No such file or directory"
    )
    assert rec.ray() == ["loading", "python: can't open file 'train.py': [Errno 2] No such file or directory"]


def test_unreadable_log_never_fails_a_succeeded_job() -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayAuthError

    hook = ray_hook()

    def refuse(*a: object, **k: object) -> str:
        raise EmrRayAuthError("the Ray Jobs endpoint of cluster ray-1 rejected the token")

    hook.ray_get_job_logs = refuse
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id=SID, cluster_id="ray-1", deferrable=True), hook)
    rec = record_log(sensor)
    ti = FakeTI()
    sensor.execute_complete(ctx(ti), {"outcome": "success", "state": "Succeeded", "submission_id": SID, "job": {"status": "Succeeded"}})
    assert ti.xcoms["status"] == "Succeeded"
    assert [m for m in rec.lines if m.startswith("Could not read the log")] != [] and rec.ray() == []
