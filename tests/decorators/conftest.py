"""The DAG-running fixtures of ``tests/operators/conftest.py`` (a served emulator, its
connection, the metadata database, the DagBag of ``tests/dags``, ``run_dag``), for the
``@task.emr_ray`` integration tests."""

from tests.operators.conftest import (  # noqa: F401
    airflow_cli,
    airflow_db,
    dagbag,
    emr_ray_conn,
    emulator,
    run_dag,
    run_example,
)
