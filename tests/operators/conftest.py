"""Fixtures of the DAG-running tests: one served emulator per session, the connection as an
``AIRFLOW_CONN_EMR_RAY_DEFAULT`` environment variable pointing at it, the metadata database
initialised once, and a helper that runs a DAG of ``tests/dags`` with ``dag.test()``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_AK, TEST_REGION, TEST_SECRET, TEST_WORKSPACE

DAGS = Path(__file__).resolve().parent.parent / "dags"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread

    config = EmulatorConfig(
        access_key_id=TEST_AK,
        access_key_secret=TEST_SECRET,
        region_id=TEST_REGION,
        workspace_id=TEST_WORKSPACE,
        cluster_start_delay=0.3,
        cluster_stop_delay=0.2,
        job_submit_delay=0.1,
        job_pending_delay=0.1,
        job_cancel_delay=0.1,
        kill_grace=1.0,
        execute_jobs=True,
        error_name_pattern=r"^e2e-error-",
        enable_control=True,
    )
    with serve_in_thread(config) as handle:
        yield handle


@pytest.fixture
def emr_ray_conn(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection, as Airflow reads it from the environment (also in inline triggers).
    Set per test, so it never leaks into other test modules."""
    from airflow_provider_emr_ray.emulator.config import conn_json

    conn = conn_json(
        emulator.endpoint,
        login=TEST_AK,
        password=TEST_SECRET,
        region_id=TEST_REGION,
        workspace_id=TEST_WORKSPACE,
        max_retries=1,  # one hook retry: an injected fault exhausts a call in 2 answers
    )
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_DEFAULT", conn)
    return "emr_ray_default"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db: None) -> Any:
    from tests.airflow_compat import DagBag

    return DagBag(dag_folder=str(DAGS))  # examples are off (AIRFLOW__CORE__LOAD_EXAMPLES)


@dataclass
class DagRunResult:
    dag_run: Any
    states: dict[str, str]
    logs: dict[str, str] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        ti = self.dag_run.get_task_instance(task_id)
        return ti.xcom_pull(task_ids=task_id, key=key)

    def all_xcoms(self) -> list[Any]:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter(
                XComModel.dag_id == self.dag_run.dag_id, XComModel.run_id == self.dag_run.run_id
            )
            return [(r.task_id, r.key, r.value) for r in rows]

    def rendered_fields(self) -> list[Any]:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(RTIF).filter(RTIF.dag_id == self.dag_run.dag_id, RTIF.run_id == self.dag_run.run_id)
            return [(r.task_id, r.rendered_fields) for r in rows]


def _task_logs(dag_run: Any) -> dict[str, str]:
    """Every log file Airflow wrote for the run's task instances (all attempts, trigger logs)."""
    from airflow.configuration import conf

    base = Path(conf.get("logging", "base_log_folder"))
    logs: dict[str, str] = {}
    run_dir = base / f"dag_id={dag_run.dag_id}" / f"run_id={dag_run.run_id}"
    if run_dir.exists():
        for path in sorted(run_dir.rglob("*.log*")):
            task = path.parent.name.removeprefix("task_id=")
            logs[task] = logs.get(task, "") + path.read_text(errors="replace")
    return logs


class _Records(logging.Handler):
    """Every record at INFO and above, as pytest prints them (``LEVEL logger:file:line message``),
    with its exception's traceback."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)-8s %(name)s:%(filename)s:%(lineno)d %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not the test's business
            pass


@pytest.fixture
def run_dag(dagbag: Any, emr_ray_conn: str, capfd: pytest.CaptureFixture) -> Any:
    """Run a DAG of tests/dags with ``dag.test()``; return states, XComs and the task logs
    (the log files plus what the in-process run printed; on Airflow 3.0, whose ``dag.test()``
    leaves the tasks' records to stdlib logging, those records too)."""
    from airflow_provider_emr_ray import version_compat

    def _run(dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        assert not dagbag.import_errors, dagbag.import_errors
        dag = dagbag.get_dag(dag_id)
        assert dag is not None, f"{dag_id} not in {sorted(dagbag.dag_ids)}"
        capfd.readouterr()
        records = _Records()
        root = logging.getLogger()
        root.addHandler(records)
        try:
            dr = dag.test(run_conf=conf)
        finally:
            root.removeHandler(records)
        printed = capfd.readouterr()
        states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
        logs = _task_logs(dr)
        logs["__printed__"] = printed.out + printed.err
        if not version_compat.AIRFLOW_V_3_1_PLUS():
            logs["__printed__"] += "\n" + "\n".join(records.lines)
        return DagRunResult(dag_run=dr, states=states, logs=logs)

    return _run
