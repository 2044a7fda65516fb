"""Failure and recovery scenarios run by tests/operators/test_dag_scenarios.py.

Every DAG here uses the emulator through the ``emr_ray_default`` connection. Jobs share one
cluster, ``e2e-shared`` (``if_exists="reuse"``: the first DAG creates it, the others reuse it).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayClusterDeleteOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.sensors.emr_ray import EmrRayClusterStateSensor, RayJobSensor

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
FAST = {"poll_interval": 0.2}


def shared_cluster() -> EmrRayClusterCreateOperator:
    return EmrRayClusterCreateOperator(task_id="cluster", name="e2e-shared", head_spec=HEAD, max_wait=60, **FAST)


# A task retry after the cluster was created: the retry must reuse it, not create a second.
with DAG(dag_id="emr_ray_retry_create", schedule=None, catchup=False) as retry_create:
    create = EmrRayClusterCreateOperator(
        task_id="create",
        name="e2e-retry-create",
        head_spec=HEAD,
        max_transient_errors=0,  # the injected 5xx fails the first try right after the create
        retries=1,
        retry_delay=timedelta(0),
        max_wait=60,
        **FAST,
    )
    EmrRayClusterDeleteOperator(task_id="delete", cluster_id=create.output)


class GatedSubmit(EmrRayJobSubmitOperator):
    """Opens the job's gate (a file its entrypoint waits for) only once a retry has chosen the
    job to wait on, so the job is certainly still live when the retry looks it up."""

    def _wait_job(self, context, submission_id):
        if context["ti"].try_number > 1:
            Path(context["params"]["gate"]).touch()
        return super()._wait_job(context, submission_id)


# A task retry after the job was submitted: the retry reattaches to the live job.
with DAG(
    dag_id="emr_ray_retry_submit", schedule=None, catchup=False, params={"gate": "/nonexistent/gate"}
) as retry_submit:
    GatedSubmit(
        task_id="submit",
        cluster_id=shared_cluster().output,
        entrypoint="while [ ! -f '{{ params.gate }}' ]; do sleep 0.05; done; echo released",
        deferrable=True,
        max_transient_errors=0,  # the injected 5xx ends the first try's trigger with an error
        retries=1,
        retry_delay=timedelta(0),
        max_wait=60,
        **FAST,
    )

# The task's execution_timeout cancels the job: in the worker (on_kill) and while deferred
# (the trigger enforces the deadline).
for mode in ("polling", "deferred"):
    with DAG(dag_id=f"emr_ray_exec_timeout_{mode}", schedule=None, catchup=False) as dag:
        EmrRayJobSubmitOperator(
            task_id="submit",
            cluster_id=shared_cluster().output,
            entrypoint="sleep 600",
            deferrable=mode == "deferred",
            execution_timeout=timedelta(seconds=3),
            **FAST,
        )
    globals()[dag.dag_id] = dag

# A failing job: the task fails, naming the status and message, with the log tail in its log.
with DAG(dag_id="emr_ray_failing_job", schedule=None, catchup=False) as failing_job:
    EmrRayJobSubmitOperator(
        task_id="submit",
        cluster_id=shared_cluster().output,
        entrypoint="echo 'Traceback (most recent call last):'; echo 'ValueError: boom-marker-42' >&2; exit 3",
        deferrable=True,
        log_tail_lines=20,
        **FAST,
    )

# A cluster that goes to Error is deleted with delete_on_error.
with DAG(dag_id="emr_ray_cluster_error", schedule=None, catchup=False) as cluster_error:
    EmrRayClusterCreateOperator(
        task_id="create", name="e2e-error-1", head_spec=HEAD, delete_on_error=True, deferrable=True, **FAST
    )

# Throttling and 5xx while deferred: the task still succeeds, with a single submit.
with DAG(dag_id="emr_ray_throttled", schedule=None, catchup=False) as throttled:
    EmrRayJobSubmitOperator(
        task_id="submit",
        cluster_id=shared_cluster().output,
        entrypoint="echo survived-throttling",
        deferrable=True,
        **FAST,
    )

# Sensors: soft_fail on a failed job (poke and deferrable), timeouts with and without soft_fail.
with DAG(dag_id="emr_ray_sensors", schedule=None, catchup=False) as sensors:
    cluster = shared_cluster()
    running = EmrRayClusterStateSensor(task_id="cluster_running", cluster_id=cluster.output, poke_interval=0.2)
    bad_job = EmrRayJobSubmitOperator(
        task_id="bad_job", cluster_id=cluster.output, entrypoint="exit 1", wait_for_completion=False
    )
    common = {"submission_id": bad_job.output, "poke_interval": 0.2, "timeout": 60, "trigger_rule": "all_done"}
    job_soft_poke = RayJobSensor(task_id="job_soft_poke", soft_fail=True, **common)
    job_soft_deferred = RayJobSensor(task_id="job_soft_deferred", soft_fail=True, deferrable=True, **common)
    job_hard = RayJobSensor(task_id="job_hard", **common)
    stopped = {"cluster_id": cluster.output, "target_states": ["Stopped"], "poke_interval": 0.2, "timeout": 1}
    timeout_poke = EmrRayClusterStateSensor(task_id="timeout_poke", trigger_rule="all_done", **stopped)
    timeout_soft_deferred = EmrRayClusterStateSensor(
        task_id="timeout_soft_deferred", soft_fail=True, deferrable=True, trigger_rule="all_done", **stopped
    )
    running >> bad_job >> [job_soft_poke, job_soft_deferred, job_hard]
    job_hard >> timeout_poke >> timeout_soft_deferred
