"""DAGs of the end-to-end test of a deferred job task (tests/e2e/test_deferred_kill_e2e.py).

``emr_ray_e2e_kill_deferred``: a job that runs for ten minutes on a job-scoped cluster; the test
marks the deferred task failed or successful, or clears it, through the REST API and expects the
job cancelled.
``emr_ray_e2e_kill_deferred_ray``: the same ten-minute job on a created cluster, submitted
through Ray's Jobs API (a local ``working_dir``: this file's folder); marked failed, its job
must be stopped.
``emr_ray_e2e_triggerer_restart``: a job that ends once the test creates the file ``gate`` (a
run ``conf`` value) names; the test restarts the triggerer while the task is deferred and expects
the same job, not cancelled, to complete the task.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator, EmrRayJobSubmitOperator

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}


def deferred_job_dag(dag_id: str, entrypoint: str, ray_jobs_api: bool = False, **dag_kwargs: Any) -> DAG:
    """One deferrable, cancel-on-kill job task ``submit`` with no retry (a try marked failed must
    stay failed, and a retry would hide a cancelled job). ``ray_jobs_api``: on a cluster created
    by a task ``cluster`` first, with a local ``working_dir`` (so through Ray's Jobs API)."""
    with DAG(dag_id=dag_id, schedule=None, catchup=False, tags=["emr_ray_tests"], **dag_kwargs) as dag:
        where: dict[str, Any] = {"head_spec": HEAD}
        if ray_jobs_api:
            cluster = EmrRayClusterCreateOperator(task_id="cluster", name=dag_id, head_spec=HEAD, poll_interval=0.5)
            where = {"cluster_id": cluster.output, "working_dir": "."}
        EmrRayJobSubmitOperator(
            task_id="submit",
            entrypoint=entrypoint,
            **where,
            deferrable=True,
            cancel_on_kill=True,
            poll_interval=0.5,
            max_wait=900,
            retries=0,
        )
    return dag


kill_deferred = deferred_job_dag("emr_ray_e2e_kill_deferred", "sleep 600")
kill_deferred_ray = deferred_job_dag("emr_ray_e2e_kill_deferred_ray", "sleep 600", ray_jobs_api=True)
triggerer_restart = deferred_job_dag(
    "emr_ray_e2e_triggerer_restart",
    "while [ ! -f '{{ params.gate }}' ]; do sleep 0.1; done; echo released-by-gate",
    params={"gate": "/nonexistent/gate"},
)
