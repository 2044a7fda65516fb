"""One home of the connection arguments: operators, sensors and triggers take them the same way."""

from __future__ import annotations

from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterDeleteOperator
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor
from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger
from airflow_provider_emr_ray.utils.connection import DEFAULT_CONN_ID, ConnectionMixin


def test_operators_sensors_and_triggers_share_the_mixin(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_OTHER", conn_json("http://127.0.0.1:1", region_id="cn-beijing"))
    args = {"emr_ray_conn_id": "emr_ray_other", "region_id": "cn-shanghai", "workspace_id": "w-2"}
    objects = [
        EmrRayClusterDeleteOperator(task_id="d", cluster_id="c", **args),
        RayJobSensor(task_id="s", submission_id="rj-1", **args),
        EmrRayClusterStateTrigger(cluster_id="c", **args),
    ]
    for obj in objects:
        assert isinstance(obj, ConnectionMixin)
        assert obj.connection_kwargs() == args
        assert "hook" not in obj.__dict__  # built on first use only
        hook = obj.hook
        assert obj.hook is hook and hook.settings.region_id == "cn-shanghai" and hook.settings.workspace_id == "w-2"
    assert EmrRayClusterDeleteOperator(task_id="d", cluster_id="c").emr_ray_conn_id == DEFAULT_CONN_ID
