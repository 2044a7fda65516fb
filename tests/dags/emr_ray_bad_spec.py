"""DAGs whose cluster spec is invalid: the task must fail naming the field, before any API call.

``emr_ray_bad_spec``: a literal spec with a bad value. ``emr_ray_bad_spec_rendered``: a spec
that is a template, whose rendered value has a misspelled key. ``emr_ray_wrong_secret``: a
connection whose AccessKey secret is wrong. Every task has ``retries=2``: none may be used (a
validation or authentication error fails the task without retry).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

RETRIES = {"retries": 2, "retry_delay": timedelta(0)}

with DAG(dag_id="emr_ray_bad_spec", schedule=None, catchup=False, default_args=RETRIES):
    EmrRayClusterCreateOperator(
        task_id="create",
        name="bad",
        head_spec={"queueName": "dev_queue", "cpu": "2", "memory": "8GB"},  # 8GB: not a valid size
    )

with DAG(
    dag_id="emr_ray_bad_spec_rendered",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    params={"head": {"queueName": "dev_queue", "cpu": "2", "memroy": "8Gi"}},  # memroy: a typo
    default_args=RETRIES,
):
    EmrRayClusterCreateOperator(task_id="create", name="bad-rendered", head_spec="{{ params.head }}")

with DAG(dag_id="emr_ray_wrong_secret", schedule=None, catchup=False, default_args=RETRIES):
    EmrRayClusterCreateOperator(
        task_id="create", name="wrong-secret", head_spec={"cpu": 2, "memory": "8Gi"}, emr_ray_conn_id="emr_ray_wrong_secret"
    )
