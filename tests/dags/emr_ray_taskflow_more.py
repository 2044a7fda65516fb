"""More ``@task.emr_ray`` scenarios run by tests/decorators/test_emr_ray_task_integration.py
(next to those of ``emr_ray_taskflow.py``): a return value above the limit, a non-JSON argument,
default and keyword-only arguments, a retry after a lost submit answer, and a long job the
test kills while deferred. All on the shared cluster ``e2e-taskflow``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.providers.common.compat.sdk import task_decorator_factory
from airflow.sdk import DAG
from airflow.sdk import task as t

from airflow_provider_emr_ray.decorators.emr_ray import EmrRayDecoratedOperator
from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
FAST = {"poll_interval": 0.2}
CLUSTER = "{{ ti.xcom_pull(task_ids='cluster') }}"


def cluster() -> EmrRayClusterCreateOperator:
    return EmrRayClusterCreateOperator(
        task_id="cluster", name="e2e-taskflow", head_spec=HEAD, max_wait=60, **FAST
    )


with DAG(dag_id="emr_ray_taskflow_too_large", schedule=None, catchup=False):

    @t.emr_ray(cluster_id=CLUSTER, **FAST)
    def too_large(n: int) -> str:
        print(f"returning {n} characters", flush=True)
        return "x" * n

    cluster() >> too_large(1024 * 1024)  # its JSON: 2 bytes above RESULT_MAX_BYTES


with DAG(dag_id="emr_ray_taskflow_not_json", schedule=None, catchup=False):

    @t.emr_ray(cluster_id=CLUSTER, **FAST)
    def not_json(when) -> str:
        return str(when)

    cluster() >> not_json(datetime(2026, 1, 1, tzinfo=timezone.utc))


@t.emr_ray(cluster_id=CLUSTER, **FAST)
def combine(
    a: int, b: int = 10, *rest: int, c: int = 1, d: int = 2, **extra: str
) -> dict:
    return {"a": a, "b": b, "rest": list(rest), "c": c, "d": d, "extra": extra}


with DAG(dag_id="emr_ray_taskflow_defaults", schedule=None, catchup=False):
    cluster() >> combine(1, d=5, label="x")


class LoseFirstAnswer(EmrRayDecoratedOperator):
    """Try 1: the submit reaches the cluster, then its answer is lost (the task fails as if the
    worker's connection dropped); the retry must find that job, not submit a second one."""

    def _ray_submit(self, context, submit_kwargs):
        submission_id = super()._ray_submit(context, submit_kwargs)
        if context["ti"].try_number == 1:
            raise ConnectionError("the answer of the submit was lost (test)")
        return submission_id


def lose_first_answer(python_callable=None, multiple_outputs=None, **kwargs):
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=LoseFirstAnswer,
        **kwargs,
    )


with DAG(dag_id="emr_ray_taskflow_retry", schedule=None, catchup=False):

    @lose_first_answer(cluster_id=CLUSTER, retries=1, retry_delay=timedelta(0), **FAST)
    def once(x: int) -> int:
        print(f"once x={x}", flush=True)
        return x * 3

    cluster() >> once(14)


with DAG(dag_id="emr_ray_taskflow_kill", schedule=None, catchup=False):

    @t.emr_ray(cluster_id=CLUSTER, deferrable=True, **FAST)
    def hang(started: str, seconds: float) -> bool:
        import pathlib
        import time

        pathlib.Path(started).write_text("running")
        time.sleep(seconds)  # the job's own work: the test stops it long before
        return True

    cluster() >> hang("/nonexistent/started", 120)
