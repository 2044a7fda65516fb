"""A DAG whose literal cluster spec is invalid: its task must fail naming the field, before any API call."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

with DAG(dag_id="emr_ray_bad_spec", schedule=None, catchup=False):
    EmrRayClusterCreateOperator(
        task_id="create",
        name="bad",
        head_spec={"queueName": "dev_queue", "cpu": "2", "memory": "8GB"},  # 8GB: not a valid size
    )
