"""RayJobSensor on a job of either path: ``submission_api`` ("auto" = "ray" with a cluster_id),
poke and deferral on Ray's Jobs API, the XCom keys, and its errors."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor
from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
from tests.operators.fakes import FakeTI, ScriptedHook, ctx, with_hook

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
    assert {c[0] for c in hook.calls} == {"ray_get_job"}
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
    assert sensor.poke(ctx()) is True and hook.names() == ["ray_get_job"]


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
    assert ti.xcoms["tags"] == {"workflowId": "w"} and fresh.hook.calls == []


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
