"""Ray on EMR Serverless Spark: a Ray job with its own, job-scoped cluster.

Without ``cluster_id`` the job brings its own head and worker spec: the service starts a Ray
cluster for the job and shuts it down when the job ends. There is nothing to clean up.

The operator waits for the job in the triggerer (``deferrable=True``) and fails the task when
the job fails, copying the last lines of the job's driver log into the task log. A retry
reattaches to the job a previous try submitted instead of submitting a second one, and killing
the task (or its ``execution_timeout``) cancels the job.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

with DAG(
    dag_id="example_emr_ray_job_scoped_cluster",
    schedule=None,
    catchup=False,
    tags=["example", "emr_ray"],
    doc_md=__doc__,
) as dag:
    run_job = EmrRayJobSubmitOperator(
        task_id="run_job",
        entrypoint="python -c \"import os; print('hello from', os.environ.get('GREETING'))\"",
        runtime_env={"env_vars": {"GREETING": "a job-scoped Ray cluster"}},
        # The job's own cluster: a 2-CPU head and one group of CPU workers.
        display_release_version="ray-1.0.0 (Ray 2.47.1, Python 3.12)",
        head_spec={"cpu": 2, "memory": "8Gi"},
        worker_spec=[{"group_name": "cpu", "worker_type": "CPU", "replica": 2, "cpu": 4, "memory": "16Gi"}],
        entrypoint_num_cpus=1,
        shutdown_after_job_finishes=True,  # the cluster goes away with the job
        active_deadline_seconds=3600,  # the service stops the job after an hour
        tags={"team": "data-platform"},
        deferrable=True,
        poll_interval=15,
        execution_timeout=timedelta(hours=2),  # cancels the job too (cancel_on_kill=True)
    )
