"""Ray on EMR Serverless Spark: run code from a folder next to this DAG file, no OSS upload.

choose_cluster -> create_cluster (setup) -> new_cluster.submit_job -> new_cluster.wait_for_job
                  -> delete_cluster (teardown)
               -> use_existing_cluster -> given_cluster.submit_job -> given_cluster.wait_for_job

* Param ``cluster_id``: empty (default) creates a cluster for this run and deletes it at the end
  (a teardown: also when the job fails); the id of a Running cluster uses that one and leaves it
  running. A branch picks one of the two chains; both run the same two tasks (``run_code``).
* ``submit_job`` gives ``working_dir="ray_jobs"``: a local folder (no ``oss://``), resolved
  against this file's folder. With ``submission_api="auto"`` (the default) and a
  ``cluster_id``, the operator submits through Ray's own Jobs API at the cluster's ``jobUrl``,
  as ``ray job submit --working-dir ray_jobs`` would: the folder is zipped on the worker,
  uploaded, and ``python train.py`` runs inside it on the cluster. The token the Jobs API needs
  is read from the cluster by the hook and never reaches XCom or the logs.
* The job's ``submission_id`` is derived from the task instance, so a retry reattaches to the
  job instead of submitting it twice. The task returns at once (``wait_for_completion=False``)
  and pushes ``submissionId`` and ``submissionApi``.
* ``wait_for_job`` waits in the triggerer (``deferrable=True``) on the same cluster and path
  (pulled from XCom). A failed job fails the run.

Connection: ``emr_ray_conn_id="emr_ray_default"`` (AccessKey pair, ``region_id``,
``workspace_id``; extra ``ray_jobs_endpoint="internal"`` when the workers run in the cluster's
VPC). The workers need the ``ray_jobs/`` folder next to this file, as they have the DAG file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup, task

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.sensors.emr_ray import EmrRayClusterStateSensor, RayJobSensor

RELEASE = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
HEAD_SPEC = {"cpu": 2, "memory": "8Gi"}
WORKER_SPEC = [{"group_name": "cpu", "worker_type": "CPU", "replica": 1, "cpu": 2, "memory": "8Gi"}]


def run_code(group_id: str, cluster_id: Any) -> TaskGroup:
    """Submit ``ray_jobs/train.py`` to ``cluster_id`` and wait for it in the triggerer."""
    with TaskGroup(group_id) as group:
        submit_job = EmrRayJobSubmitOperator(
            task_id="submit_job",
            cluster_id=cluster_id,
            working_dir="ray_jobs",  # the folder next to this file: uploaded through Ray's Jobs API
            entrypoint="python train.py --epochs {{ params.epochs }}",
            runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1"}},
            tags={"team": "data-platform"},  # with workflowId, airflow_dag_id, ...: the job's metadata
            wait_for_completion=False,  # the sensor below waits
        )
        RayJobSensor(
            task_id="wait_for_job",
            cluster_id=cluster_id,
            submission_id=submit_job.output,
            submission_api=f"{{{{ ti.xcom_pull(task_ids='{submit_job.task_id}', key='submissionApi') }}}}",
            deferrable=True,  # wait in the triggerer, not in a worker slot
            poke_interval=10,
            timeout=timedelta(hours=1),
        ).set_upstream(submit_job)
    return group


with DAG(
    dag_id="example_emr_ray_local_code",
    schedule=None,  # run it by hand (manual runs have no logical date: nothing templates on it)
    catchup=False,
    tags=["example", "emr_ray"],
    doc_md=__doc__,
    params={
        "cluster_id": Param(
            "",
            type="string",
            description="A Running Ray cluster to use; empty: create one for this run and delete it at the end",
        ),
        "epochs": Param(3, type="integer", minimum=1),
    },
) as dag:

    @task.branch
    def choose_cluster(params=None) -> str:
        return "use_existing_cluster" if params["cluster_id"] else "create_cluster"

    branch = choose_cluster()

    # A cluster for this run: created, used, deleted.
    create_cluster = EmrRayClusterCreateOperator(
        task_id="create_cluster",
        name="airflow-example-ray-local-code",
        display_release_version=RELEASE,
        head_spec=HEAD_SPEC,
        worker_spec=WORKER_SPEC,
        delete_on_error=True,
        poll_interval=10,
        max_wait=timedelta(minutes=20),
    )
    delete_cluster = EmrRayClusterDeleteOperator(
        task_id="delete_cluster",
        cluster_id=create_cluster.output,
    ).as_teardown(setups=create_cluster)
    branch >> create_cluster >> run_code("new_cluster", create_cluster.output) >> delete_cluster

    # The cluster given as a param: used as it is, left running.
    use_existing_cluster = EmrRayClusterStateSensor(
        task_id="use_existing_cluster",
        cluster_id="{{ params.cluster_id }}",  # must be Running (or become so)
        poke_interval=10,
        timeout=timedelta(minutes=20),
    )
    branch >> use_existing_cluster >> run_code("given_cluster", "{{ params.cluster_id }}")
