"""Ray Jobs API path scenarios run by tests/operators/test_ray_path_integration.py.

Every DAG submits ``ray_code/`` (a folder next to this file) through Ray's Jobs API of the
shared cluster ``e2e-ray-path`` (the emulator's gateway at ``jobUrl``).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator, EmrRayJobSubmitOperator
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
FAST = {"poll_interval": 0.2}


def ray_cluster() -> EmrRayClusterCreateOperator:
    return EmrRayClusterCreateOperator(task_id="cluster", name="e2e-ray-path", head_spec=HEAD, max_wait=60, **FAST)


# A local working_dir, waited on in the worker, then by a deferrable sensor pulling the XComs.
with DAG(dag_id="emr_ray_ray_path_success", schedule=None, catchup=False) as success:
    cluster = ray_cluster()
    submit = EmrRayJobSubmitOperator(
        task_id="submit",
        cluster_id=cluster.output,
        working_dir="ray_code",
        entrypoint="python job.py",
        tags={"team": "ml"},
        **FAST,
    )
    RayJobSensor(
        task_id="wait",
        cluster_id="{{ ti.xcom_pull(task_ids='cluster') }}",
        submission_id="{{ ti.xcom_pull(task_ids='submit', key='submissionId') }}",
        submission_api="{{ ti.xcom_pull(task_ids='submit', key='submissionApi') }}",
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
    ).set_upstream(submit)

# Deferred: the trigger polls the Jobs API.
with DAG(dag_id="emr_ray_ray_path_deferred", schedule=None, catchup=False) as deferred:
    EmrRayJobSubmitOperator(
        task_id="submit",
        cluster_id=ray_cluster().output,
        working_dir="ray_code",
        entrypoint="python job.py",
        deferrable=True,
        **FAST,
    )

# A failing entrypoint: the task fails with the job's log tail in its log.
with DAG(dag_id="emr_ray_ray_path_failing", schedule=None, catchup=False) as failing:
    EmrRayJobSubmitOperator(
        task_id="submit",
        cluster_id=ray_cluster().output,
        working_dir="ray_code",
        entrypoint="python job.py --fail",
        log_tail_lines=20,
        **FAST,
    )


class LoseFirstAnswer(EmrRayJobSubmitOperator):
    """Try 1: the submit reaches the cluster, then its answer is lost (the task fails as if the
    worker's connection dropped); the retry must find that job, not submit a second one."""

    def _ray_submit(self, context, submit_kwargs):
        submission_id = super()._ray_submit(context, submit_kwargs)
        if context["ti"].try_number == 1:
            raise ConnectionError("the answer of the submit was lost (test)")
        return submission_id


with DAG(dag_id="emr_ray_ray_path_retry", schedule=None, catchup=False) as retry:
    LoseFirstAnswer(
        task_id="submit",
        cluster_id=ray_cluster().output,
        working_dir="ray_code",
        entrypoint="python job.py",
        retries=1,
        retry_delay=timedelta(0),
        **FAST,
    )
