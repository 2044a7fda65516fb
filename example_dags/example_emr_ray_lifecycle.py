"""Ray on EMR Serverless Spark: the full lifecycle of a Ray cluster in one DAG.

create_cluster -> submit_job -> wait_for_job (deferrable) -> report -> delete_cluster (teardown)

* ``create_cluster`` creates a Ray cluster (or reuses a live one of the same name, so a retry
  never creates a second cluster) and waits until it is Running.
* ``submit_job`` submits a Ray job to it and returns at once (``wait_for_completion=False``).
* ``wait_for_job`` waits for the job in the triggerer (``deferrable=True``): no worker slot is
  held while the job runs.
* ``report`` reads the job's tags, among them ``workflowId``, from the sensor's ``tags`` XCom.
* ``delete_cluster`` is a teardown task: it runs even when the job fails, so the cluster never
  outlives the DAG run. The run still fails when the job fails.

Connection: ``emr_ray_default`` (type "Alibaba Cloud EMR Serverless Ray"): AccessKey pair,
``region_id`` and ``workspace_id``. Against the local emulator, see ``bash scripts/demo.sh``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

# The engine release of the cluster (as listed by the EMR Serverless Spark console).
RELEASE = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"

# A small cluster: a 2-CPU head and one group of CPU workers.
HEAD_SPEC = {"cpu": 2, "memory": "8Gi"}
WORKER_SPEC = [{"group_name": "cpu", "worker_type": "CPU", "replica": 2, "cpu": 4, "memory": "16Gi"}]

# Anything `ray job submit` accepts as an entrypoint; typically `python main.py` with a
# `working_dir` on OSS. This one runs anywhere Python does (the emulator too).
ENTRYPOINT = "python -c \"import os; print('hello from', os.environ.get('GREETING'))\""

with DAG(
    dag_id="example_emr_ray_lifecycle",
    schedule=None,  # run it by hand: manual runs have no logical date, so nothing templates on ds
    catchup=False,
    tags=["example", "emr_ray"],
    doc_md=__doc__,
) as dag:
    create_cluster = EmrRayClusterCreateOperator(
        task_id="create_cluster",
        name="airflow-example-ray",
        display_release_version=RELEASE,
        head_spec=HEAD_SPEC,
        worker_spec=WORKER_SPEC,
        description="Created by the example_emr_ray_lifecycle DAG",
        delete_on_error=True,  # a cluster that ends in Error is deleted by this task itself
        poll_interval=10,
        max_wait=timedelta(minutes=20),
    )

    submit_job = EmrRayJobSubmitOperator(
        task_id="submit_job",
        cluster_id=create_cluster.output,  # the cluster id the create task returned
        entrypoint=ENTRYPOINT,
        runtime_env={"env_vars": {"GREETING": "Airflow on EMR Serverless Ray"}},
        tags={"team": "data-platform"},  # Airflow adds workflowId, airflow_dag_id, airflow_run_id, ...
        wait_for_completion=False,  # the sensor below waits
    )

    wait_for_job = RayJobSensor(
        task_id="wait_for_job",
        submission_id=submit_job.output,
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poke_interval=10,
        timeout=timedelta(hours=2),
    )

    @task
    def report(ti=None) -> str:
        """Read the job's tags pushed by the sensor; workflowId identifies this DAG run's jobs."""
        tags = ti.xcom_pull(task_ids="wait_for_job", key="tags")
        print(f"Ray job finished; workflowId={tags['workflowId']} tags={tags}")
        return tags["workflowId"]

    # The teardown runs once the tasks between it and its setup are done, whatever their
    # outcome, as long as the setup (create_cluster) succeeded.
    delete_cluster = EmrRayClusterDeleteOperator(
        task_id="delete_cluster",
        cluster_id=create_cluster.output,
    ).as_teardown(setups=create_cluster)

    create_cluster >> submit_job >> wait_for_job >> report() >> delete_cluster
