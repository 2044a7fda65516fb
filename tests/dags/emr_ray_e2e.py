"""End to end: create a cluster -> submit a job -> RayJobSensor -> a follow-up job that reads the
sensor's ``tags`` XCom through a template -> delete. Once deferrable, once polling."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
WORKERS = [{"groupName": "cpu", "workerType": "CPU", "cpu": "2", "memory": "8Gi", "replica": 1}]

for mode in ("deferrable", "polling"):
    deferrable = mode == "deferrable"
    with DAG(dag_id=f"emr_ray_e2e_{mode}", schedule=None, catchup=False, tags=["emr_ray_tests"]) as dag:
        create = EmrRayClusterCreateOperator(
            task_id="create",
            name=f"e2e-{mode}",
            head_spec=HEAD,
            worker_spec=WORKERS,
            description="{{ dag.dag_id }}",
            extra_fields={"clientNote": "{{ dag.dag_id }}"},  # not modelled: sent as given
            deferrable=deferrable,
            poll_interval=0.2,
            max_wait=120,
        )
        submit = EmrRayJobSubmitOperator(
            task_id="submit",
            cluster_id=create.output,
            entrypoint="echo hello-from-ray && echo \"$GREETING\"",
            runtime_env={"env_vars": {"GREETING": "hi-{{ ti.task_id }}"}},
            metadata={"source": "airflow"},
            tags={"team": "ml"},
            entrypoint_num_cpus=1,
            wait_for_completion=False,
        )
        wait = RayJobSensor(
            task_id="wait", submission_id=submit.output, deferrable=deferrable, poke_interval=0.2, timeout=120
        )
        follow_up = EmrRayJobSubmitOperator(
            task_id="follow_up",
            cluster_id="{{ ti.xcom_pull(task_ids='create', key='clusterId') }}",
            entrypoint="echo workflow={{ ti.xcom_pull(task_ids='wait', key='tags')['workflowId'] }}",
            deferrable=deferrable,
            poll_interval=0.2,
            max_wait=120,
        )
        delete = EmrRayClusterDeleteOperator(task_id="delete", cluster_id=create.output, trigger_rule="all_done")
        create >> submit >> wait >> follow_up >> delete
    globals()[dag.dag_id] = dag
