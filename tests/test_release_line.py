"""The running Airflow release line, through Airflow's own command line (issue 12, "Done when").

On whichever Airflow the test runs with (``scripts/test.sh`` runs it on every line of the matrix):

* ``airflow providers list`` shows this package, with its installed version;
* the lifecycle example DAG (``example_dags/example_emr_ray_lifecycle.py``) runs green with
  ``airflow dags test`` against the emulator served on a loopback port: every task instance
  succeeded, and the emulator saw the cluster created once and deleted at the end.

Each command runs in a subprocess with its own throw-away ``AIRFLOW_HOME`` (``devtools.env``),
so nothing of the pytest process's Airflow configuration leaks into it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from devtools.emulator import FAST_DELAYS
from devtools.env import isolated_env

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
LIFECYCLE_DAG_ID = "example_emr_ray_lifecycle"
LIFECYCLE_TASKS = {"create_cluster", "submit_job", "wait_for_job", "report", "delete_cluster"}
PACKAGE = "airflow-provider-emr-ray"
# The `airflow` console script of the interpreter running the tests (the line under test).
AIRFLOW = [sys.executable, "-m", "airflow"]
CLI_TIMEOUT = 300  # seconds; a hung command fails the test instead of hanging CI


def _airflow_version() -> str:
    return version("apache-airflow")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``airflow ARGS`` in ``env``; the output goes into the assertion message when it fails."""
    proc = subprocess.run(
        [*AIRFLOW, *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, (
        f"`airflow {' '.join(args)}` exited {proc.returncode} on Airflow {_airflow_version()}\n"
        f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the ``airflow`` subprocesses: an isolated, migrated ``AIRFLOW_HOME``
    whose DAG folder is ``example_dags/``."""
    home = tmp_path_factory.mktemp("airflow-home")
    # Start from the parent's environment without any Airflow setting of its own (tests/conftest
    # points AIRFLOW__CORE__DAGS_FOLDER at tests/dags, for instance).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(isolated_env(home, log_level="INFO"))
    env.update(
        {
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    _run(["db", "migrate"], env)
    assert (home / "airflow.db").is_file(), "airflow db migrate did not create the SQLite database"
    return env


def test_providers_list_shows_the_package(airflow_env: dict[str, str]) -> None:
    proc = _run(["providers", "list", "--output", "json"], airflow_env)
    # Log lines may precede the JSON document on stdout (their format differs per line): the
    # document is the one line that is a JSON array.
    documents = [line for line in proc.stdout.splitlines() if line.startswith("[{")]
    assert len(documents) == 1, f"no single JSON listing in:\n{proc.stdout[-6000:]}"
    listing = json.loads(documents[0])
    ours = [p for p in listing if p.get("package_name") == PACKAGE]
    assert ours, f"{PACKAGE} missing from `airflow providers list` on Airflow {_airflow_version()}: {listing}"
    assert ours[0]["version"] == version(PACKAGE)


@pytest.fixture
def emulator() -> Iterator[Any]:
    """The emulator served on a loopback port in this process (its store and counters are
    readable here), every state transition immediate, entrypoints really executed."""
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread

    with serve_in_thread(EmulatorConfig(**FAST_DELAYS, enable_control=True), host="127.0.0.1") as handle:
        yield handle


def _task_states(home: Path, dag_id: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(dag runs as (run_id, state), {task_id: state}) from the metadata database."""
    with sqlite3.connect(home / "airflow.db") as db:
        runs = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchall()
        tis = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)).fetchall()
    return runs, dict(tis)


def test_lifecycle_example_dag_runs_green(airflow_env: dict[str, str], emulator: Any) -> None:
    from airflow_provider_emr_ray.emulator.__main__ import connection_value

    env = {**airflow_env, "AIRFLOW_CONN_EMR_RAY_DEFAULT": connection_value(emulator.config, emulator.endpoint)}
    # Airflow 3.0.x's `dags test` looks the DAG up in the metadata database before parsing its
    # file (3.1 parses the DAG folder itself): serialize the DAG folder first, on every line.
    _run(["dags", "reserialize"], env)
    proc = _run(["dags", "test", LIFECYCLE_DAG_ID], env)
    output = proc.stdout + proc.stderr

    runs, states = _task_states(Path(env["AIRFLOW_HOME"]), LIFECYCLE_DAG_ID)
    assert len(runs) == 1 and runs[0][1] == "success", f"dag runs {runs}; output:\n{output[-6000:]}"
    assert states == {task: "success" for task in LIFECYCLE_TASKS}, f"task states {states}; output:\n{output[-6000:]}"

    # The emulator's view: one cluster created, its one job finished, the cluster deleted and gone.
    calls = emulator.emulator.stats.calls
    assert calls["CreateRayCluster"] == 1, dict(calls)
    assert calls["DeleteRayCluster"] == 1, dict(calls)
    store = emulator.emulator.store
    jobs = store.list_jobs(emulator.config.workspace_id)
    assert [job["status"] for job in jobs] == ["Succeeded"], jobs
    assert store.list_clusters(emulator.config.workspace_id) == [], "the cluster outlived the DAG run"
