"""Unit tests of the sensors' poke / defer / resume logic (scripted hook)."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_emr_ray.exceptions import EmrRayServerError
from airflow_provider_emr_ray.sensors.emr_ray import EmrRayClusterStateSensor, RayJobSensor
from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger, RayJobStatusTrigger
from tests.operators.fakes import FakeTI, ScriptedHook, ctx, with_hook

JOB_DONE = {
    "submissionId": "s",
    "status": "Succeeded",
    "duration": 7,
    "cuHours": 0.25,
    "dashboardUrl": "https://d/?token=T",
    "tags": [{"key": "workflowId", "value": "wf-1"}],
}


def test_job_sensor_pushes_status_tags_duration_cuhours() -> None:
    hook = ScriptedHook(jobs=[{"status": "Running"}, JOB_DONE])
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id="s"), hook)
    ti = FakeTI()
    assert sensor.poke(ctx(ti)) is False
    assert sensor.poke(ctx(ti)) is True
    assert ti.xcoms == {
        "status": "Succeeded",
        "tags": {"workflowId": "wf-1"},
        "duration": 7,
        "cuHours": 0.25,
        "dashboardUrl": "https://d/",  # the token never reaches XCom
    }


def test_job_sensor_failure_state_fails_and_soft_fail_skips() -> None:
    hook = ScriptedHook(jobs=[{"status": "Failed", "message": "exit code 1"}])
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id="s", poke_interval=0.01), hook)
    with pytest.raises(AirflowFailException, match="exit code 1"):
        sensor.execute(ctx())
    soft = with_hook(RayJobSensor(task_id="wait", submission_id="s", soft_fail=True, poke_interval=0.01), hook)
    with pytest.raises(AirflowSkipException):
        soft.execute(ctx())
    soft_deferrable = with_hook(
        RayJobSensor(task_id="wait", submission_id="s", soft_fail=True, deferrable=True), hook
    )
    with pytest.raises(AirflowSkipException):
        soft_deferrable.execute(ctx())


def test_poke_tolerates_transient_errors() -> None:
    err = EmrRayServerError("boom", status=503)
    hook = ScriptedHook(clusters=[err, {"clusterId": "c", "state": "Running"}])
    sensor = with_hook(EmrRayClusterStateSensor(task_id="s", cluster_id="c"), hook)
    ti = FakeTI()
    assert sensor.poke(ctx(ti)) is False
    assert sensor.poke(ctx(ti)) is True
    assert ti.xcoms["clusterId"] == "c"


def test_deferrable_sensor_defers_with_its_timeout_and_resumes() -> None:
    hook = ScriptedHook(jobs=[{"status": "Running"}])
    sensor = with_hook(RayJobSensor(task_id="wait", submission_id="s", deferrable=True, timeout=30), hook)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobStatusTrigger)
    assert trigger.cancel_on_kill is False  # a sensor does not own the job
    assert trigger.deadline is not None
    ti = FakeTI()
    event = {"outcome": "success", "state": "Succeeded", "job": {**JOB_DONE, "tags": {"workflowId": "wf-1"}}}
    sensor.resume_execution("execute_complete", {"event": event}, ctx(ti))
    assert ti.xcoms["tags"]["workflowId"] == "wf-1"


@pytest.mark.parametrize(
    ("outcome", "soft_fail", "expected"),
    [
        ("failure", False, AirflowFailException),
        ("failure", True, AirflowSkipException),
        ("timeout", False, AirflowSensorTimeout),
        ("timeout", True, AirflowSkipException),
    ],
)
def test_resume_honours_soft_fail(outcome: str, soft_fail: bool, expected: type) -> None:
    sensor = EmrRayClusterStateSensor(task_id="s", cluster_id="c", deferrable=True, soft_fail=soft_fail)
    event = {"outcome": outcome, "state": "Error", "message": "m", "cluster": {}}
    with pytest.raises(expected):
        sensor.resume_execution("execute_complete", {"event": event}, ctx())


def test_cluster_sensor_defers_its_wait() -> None:
    hook = ScriptedHook(clusters=[{"clusterId": "c", "state": "Running"}])
    sensor = with_hook(
        EmrRayClusterStateSensor(
            task_id="s", cluster_id="c", target_states="Stopped", failure_states=["Error"], poke_interval=3,
            deferrable=True, timeout=100, region_id="cn-beijing",
        ),
        hook,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, EmrRayClusterStateTrigger)
    assert trigger.target_states == ["Stopped"] and trigger.poll_interval == 3 and trigger.region_id == "cn-beijing"
    assert 95 < trigger.deadline - trigger.started_at <= 100
    assert deferred.value.timeout.total_seconds() > 100


def test_sensors_do_not_import_the_operators() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_provider_emr_ray.sensors.emr_ray\n"
        "assert 'airflow_provider_emr_ray.operators.emr_ray' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_poke_error_after_transient_errors_raises_it() -> None:
    err = EmrRayServerError("boom", status=503)
    hook = ScriptedHook(clusters=[err])
    sensor = with_hook(EmrRayClusterStateSensor(task_id="s", cluster_id="c", max_transient_errors=1), hook)
    assert sensor.poke(ctx()) is False
    with pytest.raises(EmrRayServerError):
        sensor.poke(ctx())


def test_overlapping_states_rejected() -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    with pytest.raises(EmrRayValidationError, match=r"failure_states.*overlaps target_states: \['Failed'\]"):
        RayJobSensor(task_id="s", submission_id="x", target_states=["Failed"], failure_states=["Failed", "Cancelled"])
    # waiting for a failure state: the default failures are the others
    sensor = RayJobSensor(task_id="s2", submission_id="x", target_states="Failed")
    assert sensor.target_states == ["Failed"] and sensor.failure_states == ["Cancelled", "Timeout"]


@pytest.mark.parametrize(
    ("sensor_class", "kwargs", "field", "rule"),
    [
        (RayJobSensor, {"target_states": ["Runing"]}, "target_states", "must be one of"),
        (RayJobSensor, {"target_states": []}, "target_states", "must name at least one state"),
        (RayJobSensor, {"failure_states": ["Broken"]}, "failure_states", "must be one of"),
        (RayJobSensor, {"target_states": 5}, "target_states", "must be a state or a list of states"),
        (EmrRayClusterStateSensor, {"target_states": ["Succeeded"]}, "target_states", "must be one of"),
    ],
)
def test_unknown_or_empty_states_rejected_at_parse(sensor_class, kwargs, field, rule) -> None:
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    ids = {"submission_id": "x"} if sensor_class is RayJobSensor else {"cluster_id": "c"}
    with pytest.raises(EmrRayValidationError, match=rf"^{field}: {rule}") as raised:
        sensor_class(task_id="s", **ids, **kwargs)
    assert raised.value.field == field


def test_ray_vocabulary_states_read_as_the_providers() -> None:
    sensor = RayJobSensor(task_id="s", submission_id="x", target_states=["SUCCEEDED", "STOPPED"])
    # read in the provider's words at parse (the openapi path polls GetRayJob), failures less them
    assert sensor.target_states == ["Succeeded", "Cancelled"] and sensor.failure_states == ["Failed", "Timeout"]
