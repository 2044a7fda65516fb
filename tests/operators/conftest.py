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
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


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


@pytest.fixture(scope="module")
def airflow_cli(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``airflow ARGS`` in a subprocess whose DAG folder is ``example_dags/`` (an in-process
    dag.test() runs only DAGs of the configured DAG folder, tests/dags here), with its own
    migrated, throw-away ``AIRFLOW_HOME``."""
    import os
    import subprocess
    import sys

    from devtools.env import isolated_env

    repo = EXAMPLE_DAGS.parent
    home = tmp_path_factory.mktemp("airflow-home-examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(isolated_env(home, log_level="INFO"))
    env.update(
        {
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH", "")) if p),
        }
    )

    def run(args: list[str], extra_env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env={**env, **(extra_env or {})},
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"`airflow {' '.join(args)}` exited {proc.returncode}:\n{output[-6000:]}"
        return output

    run(["db", "migrate"])
    run.home = home  # type: ignore[attr-defined]
    return run


@dataclass
class ExampleRun:
    """The last run of an example DAG, read from the subprocess's metadata database.

    ``states``: task id to state; a mapped task's instances as ``task_id[i]``."""

    dag_id: str
    run_id: str
    state: str
    states: dict[str, str]
    output: str
    home: Path

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        import json
        import sqlite3

        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? AND map_index = ?",
                (self.dag_id, self.run_id, task_id, key, map_index),
            ).fetchone()
        assert row is not None, f"no XCom {key!r} of {task_id}[{map_index}]"
        value = row[0]
        return json.loads(value.decode() if isinstance(value, bytes) else value)


@pytest.fixture
def run_example(airflow_cli: Any, emulator: Any) -> Any:
    """``run_example(dag_id, conf=None)``: ``airflow dags test`` an example DAG against the
    served emulator (its connection as ``AIRFLOW_CONN_EMR_RAY_DEFAULT``); an :class:`ExampleRun`."""
    import json
    import sqlite3

    from airflow_provider_emr_ray.emulator.__main__ import connection_value

    conn = {"AIRFLOW_CONN_EMR_RAY_DEFAULT": connection_value(emulator.config, emulator.endpoint)}

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> ExampleRun:
        airflow_cli(["dags", "reserialize"], conn)
        output = airflow_cli(["dags", "test", dag_id] + (["-c", json.dumps(conf)] if conf else []), conn)
        with sqlite3.connect(airflow_cli.home / "airflow.db") as db:
            run_id, state = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC", (dag_id,)
            ).fetchone()
            tis = db.execute(
                "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            ).fetchall()
        states = {(t if i < 0 else f"{t}[{i}]"): st for t, i, st in tis}
        return ExampleRun(dag_id, run_id, state, states, output, airflow_cli.home)

    return run
