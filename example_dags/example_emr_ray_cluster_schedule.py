"""Ray on EMR Serverless Spark: resize and stop a long-lived Ray cluster every evening.

A shared Ray cluster is used during the working day. Every evening this DAG applies the
next day's worker sizing (``UpdateRayCluster``, then waits until the cluster is Running
again) and stops the cluster (``StopRayCluster``, waits until Stopped) so it costs nothing
overnight. ``EmrRayClusterStartOperator`` starts it again (e.g. from a morning DAG).

The cluster id is a DAG param: scheduled runs use its default, a manual run can override it
("Trigger DAG" form, or ``airflow dags trigger ... --conf '{"cluster_id": "..."}'``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_emr_ray.operators.emr_ray import (
    EmrRayClusterStopOperator,
    EmrRayClusterUpdateOperator,
)

with DAG(
    dag_id="example_emr_ray_cluster_schedule",
    schedule="0 20 * * 1-5",  # 20:00 UTC, Monday to Friday
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"cluster_id": Param("ray-0123456789abcdef", type="string", description="The Ray cluster to manage")},
    tags=["example", "emr_ray"],
    doc_md=__doc__,
) as dag:
    resize_workers = EmrRayClusterUpdateOperator(
        task_id="resize_workers",
        cluster_id="{{ params.cluster_id }}",
        # The spec to run tomorrow: three CPU workers of 4 CPUs / 16Gi.
        worker_spec=[{"group_name": "cpu", "worker_type": "CPU", "replica": 3, "cpu": 4, "memory": "16Gi"}],
        description="Resized by example_emr_ray_cluster_schedule",
        deferrable=True,
        poll_interval=15,
        max_wait=timedelta(minutes=30),
    )

    stop_cluster = EmrRayClusterStopOperator(
        task_id="stop_cluster",
        cluster_id="{{ params.cluster_id }}",
        deferrable=True,
        poll_interval=15,
        max_wait=timedelta(minutes=30),
    )

    resize_workers >> stop_cluster
