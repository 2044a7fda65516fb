"""The example DAGs parse without import errors and are wired as documented (fast, no DB)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"


@pytest.fixture(scope="module")
def dagbag():
    from tests.airflow_compat import DagBag

    with warnings.catch_warnings():
        # A deprecated Airflow import (DeprecatedImportWarning is a FutureWarning) in an example
        # would be copied by every reader.
        warnings.simplefilter("error", FutureWarning)
        return DagBag(dag_folder=str(EXAMPLE_DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "example_emr_ray_lifecycle",
        "example_emr_ray_job_scoped_cluster",
        "example_emr_ray_cluster_schedule",
        "example_emr_ray_local_code",
        "example_emr_ray_taskflow",
    }


def test_lifecycle_wiring(dagbag) -> None:
    from airflow.providers.common.compat.sdk import TriggerRule

    from airflow_provider_emr_ray.operators.emr_ray import (
        EmrRayClusterCreateOperator,
        EmrRayClusterDeleteOperator,
        EmrRayJobSubmitOperator,
    )
    from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

    dag = dagbag.dags["example_emr_ray_lifecycle"]
    assert set(dag.task_ids) == {"create_cluster", "submit_job", "wait_for_job", "report", "delete_cluster"}
    create, submit, wait, report, delete = (
        dag.get_task(t) for t in ("create_cluster", "submit_job", "wait_for_job", "report", "delete_cluster")
    )
    assert isinstance(create, EmrRayClusterCreateOperator)
    assert isinstance(submit, EmrRayJobSubmitOperator)
    assert isinstance(wait, RayJobSensor)
    assert isinstance(delete, EmrRayClusterDeleteOperator)
    assert dag.schedule is None

    # create -> submit -> wait -> report -> delete
    assert submit.upstream_task_ids == {"create_cluster"}
    assert wait.upstream_task_ids == {"submit_job"}
    assert report.upstream_task_ids == {"wait_for_job"}
    assert delete.upstream_task_ids == {"create_cluster", "report"}

    # delete_cluster is the teardown of create_cluster: it runs even when the job fails.
    assert create.is_setup and not create.is_teardown
    assert delete.is_teardown and not delete.is_setup
    assert delete.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    for t in (submit, wait, report):
        assert not t.is_setup and not t.is_teardown

    # The sensor defers; the submit returns at once and leaves the waiting to it.
    assert wait.deferrable is True
    assert submit.wait_for_completion is False
    assert submit.emr_ray_conn_id == create.emr_ray_conn_id == wait.emr_ray_conn_id == "emr_ray_default"
    assert create.display_release_version == "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
    assert submit.runtime_env == {"env_vars": {"GREETING": "Airflow on EMR Serverless Ray"}}


def test_job_scoped_cluster(dagbag) -> None:
    dag = dagbag.dags["example_emr_ray_job_scoped_cluster"]
    assert dag.task_ids == ["run_job"]
    run_job = dag.get_task("run_job")
    assert run_job.cluster_id is None
    assert run_job.head_spec and run_job.worker_spec
    assert run_job.deferrable is True


def test_cluster_schedule(dagbag) -> None:
    dag = dagbag.dags["example_emr_ray_cluster_schedule"]
    assert dag.schedule == "0 20 * * 1-5"
    assert dag.get_task("stop_cluster").upstream_task_ids == {"resize_workers"}
    for task_id in ("resize_workers", "stop_cluster"):
        assert dag.get_task(task_id).cluster_id == "{{ params.cluster_id }}"


def test_local_code(dagbag) -> None:
    """A local folder next to the DAG file goes through Ray's Jobs API (``submission_api="auto"``
    with a cluster); the created cluster is a setup with its teardown, the given one is left alone."""
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
    from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

    dag = dagbag.dags["example_emr_ray_local_code"]
    assert (EXAMPLE_DAGS / "ray_jobs" / "train.py").is_file()
    create, delete = dag.get_task("create_cluster"), dag.get_task("delete_cluster")
    assert create.is_setup and delete.is_teardown
    assert delete.upstream_task_ids == {"create_cluster", "new_cluster.wait_for_job"}
    assert dag.get_task("use_existing_cluster").upstream_task_ids == {"choose_cluster"}
    for group in ("new_cluster", "given_cluster"):
        submit, wait = dag.get_task(f"{group}.submit_job"), dag.get_task(f"{group}.wait_for_job")
        assert isinstance(submit, EmrRayJobSubmitOperator) and isinstance(wait, RayJobSensor)
        assert submit.working_dir == "ray_jobs" and submit.submission_api == "auto"
        assert submit.wait_for_completion is False and wait.deferrable is True
        assert "submissionApi" in wait.submission_api
        assert not (submit.is_setup or submit.is_teardown or wait.is_setup or wait.is_teardown)
    assert dag.get_task("given_cluster.submit_job").cluster_id == "{{ params.cluster_id }}"
    assert dag.params["cluster_id"] == ""


def test_taskflow(dagbag) -> None:
    """``@task.emr_ray`` mapped over alphas on the created cluster (a setup with its teardown),
    waiting in the triggerer; ``choose_best`` reduces the mapped results."""
    from airflow_provider_emr_ray.decorators.emr_ray import EmrRayDecoratedOperator

    dag = dagbag.dags["example_emr_ray_taskflow"]
    assert set(dag.task_ids) == {"create_cluster", "train", "choose_best", "delete_cluster"}
    create, train, best, delete = (dag.get_task(t) for t in ("create_cluster", "train", "choose_best", "delete_cluster"))
    assert create.is_setup and delete.is_teardown
    assert delete.upstream_task_ids == {"create_cluster", "choose_best"}
    assert train.upstream_task_ids == {"create_cluster"} and best.upstream_task_ids == {"train"}
    # A mapped @task.emr_ray: its operator class, its mapped argument, the cluster from XCom.
    assert issubclass(train.operator_class, EmrRayDecoratedOperator)
    assert train.op_kwargs_expand_input.value == {"alpha": [0.01, 0.1, 1.0, 10.0]}
    partial = train.partial_kwargs
    assert partial["deferrable"] is True
    assert partial["cluster_id"].operator.task_id == "create_cluster"
    assert partial["op_kwargs"] == {"folds": 4}


def test_no_logical_date_templates() -> None:
    """Manual runs have no logical date: the examples must not template on it."""
    for path in EXAMPLE_DAGS.glob("*.py"):
        text = path.read_text()
        for word in ("{{ ds", "{{ ts", "logical_date", "execution_date", "data_interval"):
            assert word not in text, f"{path.name} templates on {word!r}"
