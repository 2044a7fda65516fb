"""Job-log scenarios run by tests/operators/test_job_log_integration.py.

Each scenario exists once per submission path: ``..._openapi`` (SubmitRayJob, an entrypoint
with the absolute path of ``job_logs/lines.py``, no working_dir) and ``..._ray`` (Ray's Jobs API
of the cluster, the local folder ``job_logs/`` as working_dir). The jobs run on one shared
cluster, ``e2e-job-logs`` (``if_exists="reuse"``: the first DAG creates it, the others reuse it).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterCreateOperator,
    EmrRayJobSubmitOperator,
)
from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

HEAD = {"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"}
FAST = {"poll_interval": 0.2}
JOB_DIR = Path(__file__).resolve().parent / "job_logs"
PYTHON = shlex.quote(sys.executable)
#: The failing job: FAIL_LINES lines, then it opens a missing train.py.
FAIL_LINES = 25


def job(api: str, args: str) -> dict:
    """The submit arguments running ``lines.py ARGS`` on ``api``."""
    if api == "ray":
        return {"submission_api": "ray", "working_dir": "job_logs", "entrypoint": f"{PYTHON} lines.py {args}"}
    return {"submission_api": "openapi", "entrypoint": f"{PYTHON} {shlex.quote(str(JOB_DIR / 'lines.py'))} {args}"}


def shared_cluster() -> EmrRayClusterCreateOperator:
    return EmrRayClusterCreateOperator(task_id="cluster", name="e2e-job-logs", head_spec=HEAD, max_wait=60, **FAST)


for api in ("openapi", "ray"):
    # Deferred: the log is copied into the task log when the task resumes.
    with DAG(dag_id=f"emr_ray_job_logs_deferred_{api}", schedule=None, catchup=False) as dag:
        EmrRayJobSubmitOperator(
            task_id="submit",
            cluster_id=shared_cluster().output,
            deferrable=True,
            **job(api, "--count 10 --prefix deferred-line"),
            **FAST,
        )
    globals()[dag.dag_id] = dag

    # A failing job waited on by a deferrable sensor: its log, and its last lines in the error.
    with DAG(dag_id=f"emr_ray_job_logs_failing_{api}", schedule=None, catchup=False) as dag:
        submit = EmrRayJobSubmitOperator(
            task_id="submit",
            cluster_id=shared_cluster().output,
            wait_for_completion=False,
            **job(api, f"--count {FAIL_LINES} --prefix fail-line --open-missing train.py"),
        )
        RayJobSensor(
            task_id="wait",
            cluster_id="{{ ti.xcom_pull(task_ids='cluster') }}",
            submission_id=submit.output,
            submission_api="{{ ti.xcom_pull(task_ids='submit', key='submissionApi') }}",
            deferrable=True,
            poke_interval=0.2,
            timeout=60,
        )
    globals()[dag.dag_id] = dag

    # A large log, deferred, default bounds: its end is copied, with a line on what is left out.
    with DAG(
        dag_id=f"emr_ray_job_logs_large_{api}",
        schedule=None,
        catchup=False,
        params={"count": 30000, "width": 99},
    ) as dag:
        EmrRayJobSubmitOperator(
            task_id="submit",
            cluster_id=shared_cluster().output,
            deferrable=True,
            **job(api, "--count {{ params.count }} --width {{ params.width }} --prefix large-line"),
            **FAST,
        )
    globals()[dag.dag_id] = dag

    # show_logs=False: waited on in the worker, deferred, and failing - the log is never read.
    with DAG(dag_id=f"emr_ray_job_logs_quiet_{api}", schedule=None, catchup=False) as dag:
        cluster = shared_cluster()
        for task_id, deferrable, args in (
            ("live", False, "--count 5 --prefix quiet-line"),
            ("deferred", True, "--count 5 --prefix quiet-line"),
            ("failing", False, "--count 5 --prefix quiet-line --open-missing train.py"),
        ):
            EmrRayJobSubmitOperator(
                task_id=task_id,
                cluster_id=cluster.output,
                deferrable=deferrable,
                show_logs=False,
                **job(api, args),
                **FAST,
            )
    globals()[dag.dag_id] = dag
