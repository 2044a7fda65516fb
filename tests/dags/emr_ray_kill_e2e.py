"""DAGs of the end-to-end test of a deferred job task (tests/e2e/test_deferred_kill_e2e.py).

``emr_ray_e2e_kill_deferred``: a job that runs for ten minutes on a job-scoped cluster; the test
marks the deferred task failed through the REST API and expects the job cancelled.
``emr_ray_e2e_triggerer_restart``: a job that ends once the test creates the file ``gate`` (a
run ``conf`` value) names; the test restarts the triggerer while the task is deferred and expects
the same job, not cancelled, to complete the task.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}

with DAG(dag_id="emr_ray_e2e_kill_deferred", schedule=None, catchup=False, tags=["emr_ray_tests"]) as kill_deferred:
    EmrRayJobSubmitOperator(
        task_id="submit",
        entrypoint="sleep 600",
        head_spec=HEAD,
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=0.5,
        max_wait=900,
        retries=0,  # a try marked failed must stay failed
    )

with DAG(
    dag_id="emr_ray_e2e_triggerer_restart",
    schedule=None,
    catchup=False,
    tags=["emr_ray_tests"],
    params={"gate": "/nonexistent/gate"},
) as triggerer_restart:
    EmrRayJobSubmitOperator(
        task_id="submit",
        entrypoint="while [ ! -f '{{ params.gate }}' ]; do sleep 0.1; done; echo released-by-gate",
        head_spec=HEAD,
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=0.5,
        max_wait=900,
        retries=0,  # a retry would hide a cancelled job
    )
