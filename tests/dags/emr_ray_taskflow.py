"""``@task.emr_ray`` scenarios run by tests/decorators/test_emr_ray_task_integration.py.

The functions run as Ray jobs in the emulator (real local processes): on an existing cluster
through Ray's Jobs API (a generated working_dir), and on a job-scoped cluster through
SubmitRayJob (the script in a ``python -c`` entrypoint).
"""

from __future__ import annotations

from airflow.sdk import DAG
from airflow.sdk import task as t  # an aliased import: the decorator is found all the same

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
FAST = {"poll_interval": 0.2}


def cluster() -> EmrRayClusterCreateOperator:
    return EmrRayClusterCreateOperator(task_id="cluster", name="e2e-taskflow", head_spec=HEAD, max_wait=60, **FAST)


@t.emr_ray(cluster_id="{{ ti.xcom_pull(task_ids='cluster') }}", **FAST)
def score(alpha: float, data_uri: str = "oss://bucket/data/", *, power: int = 2) -> dict:
    import math
    import sys

    print(f"scoring alpha={alpha} on {data_uri} with Python {sys.version_info[0]}", flush=True)
    return {"alpha": alpha, "score": round(1 - math.pow(alpha - 0.3, power), 6), "data": data_uri}


@t
def best(results: list) -> dict:
    return max(results, key=lambda r: r["score"])


with DAG(dag_id="emr_ray_taskflow_sweep", schedule=None, catchup=False) as sweep:
    c = cluster()
    results = score.partial(data_uri="oss://bucket/train/").expand(alpha=[0.1, 0.3, 1.0])
    c >> results
    best(results)


with DAG(dag_id="emr_ray_taskflow_deferred", schedule=None, catchup=False) as deferred:

    @t.emr_ray(cluster_id="{{ ti.xcom_pull(task_ids='cluster') }}", deferrable=True, **FAST)
    def add(a: int, b: int) -> int:
        return a + b

    cluster() >> add(2, 40)


with DAG(dag_id="emr_ray_taskflow_raises", schedule=None, catchup=False) as raises:

    @t.emr_ray(cluster_id="{{ ti.xcom_pull(task_ids='cluster') }}", **FAST)
    def divide(x: int) -> float:
        print("about to divide", flush=True)
        return x / 0

    cluster() >> divide(1)


with DAG(dag_id="emr_ray_taskflow_job_scoped", schedule=None, catchup=False) as job_scoped:

    @t.emr_ray(head_spec=HEAD, **FAST)
    def hello(name: str) -> str:
        print("hello from a job-scoped cluster", flush=True)
        return f"hello {name}"

    hello("ray")
