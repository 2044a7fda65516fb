"""README blocks that are run as they are written (so the README cannot drift from the code).

A block is marked in the README by an HTML comment ``<!-- readme-test: NAME -->`` on the line
before its fence; :func:`readme_block` extracts it.

* ``pytest-fixture``: the user's test file of "Test your own DAGs offline", run by pytest in a
  fresh process whose only link to this repository is the installed package (its ``pytest11``
  entry point gives the ``emr_ray_emulator`` fixture), next to a DAG module ``my_dags``.
* ``hook``: the "Using the hook" snippet, run as a script in a fresh process with
  ``emr_ray_default`` pointed at a served emulator (its job really runs).
* ``dag-nightly``: a whole DAG file; ``dag-local-code`` and ``dag-taskflow``: tasks of a DAG,
  placed (as the README says they assume) inside ``with DAG(...):`` after a ``create_cluster``
  task, with ``ray_jobs/train.py`` next to the file. All three are parsed into a DagBag with no
  import error, and run with ``airflow dags test`` against the emulator (``dag-taskflow``'s
  function imports Ray on the cluster: its jobs find a stand-in ``ray`` package).

Every ```python block of the README carries a marker and a test here
(:func:`test_every_python_block_of_the_readme_is_marked`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: The DAG of the user's test: a job with its own cluster through the emr_ray_default connection.
MY_DAGS = textwrap.dedent(
    '''
    from airflow.sdk import DAG

    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    with DAG(dag_id="my_dag", schedule=None, catchup=False) as dag:
        EmrRayJobSubmitOperator(
            task_id="train",
            entrypoint="python -c \\"print('trained')\\"",
            head_spec={"cpu": 2, "memory": "8Gi"},
            poll_interval=0.2,
        )
    '''
)


def readme_block(name: str) -> str:
    """The code of the fenced block right after ``<!-- readme-test: NAME -->``."""
    text = README.read_text()
    found = re.search(rf"<!-- readme-test: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert found, f"no block marked readme-test: {name} in README.md"
    return found.group(1) + "\n"


def test_the_marked_blocks_are_found() -> None:
    block = readme_block("pytest-fixture")
    assert "def test_" in block and "emr_ray_emulator" in block
    compile(block, "README.md", "exec")


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("emr_ray_emulator") == "airflow_provider_emr_ray.emulator.pytest_plugin"


@pytest.mark.integration
def test_the_readme_pytest_fixture_example_runs_as_written(tmp_path: Path) -> None:
    from devtools.env import isolated_env

    work = tmp_path / "user"
    work.mkdir()
    (work / "test_my_dags.py").write_text(readme_block("pytest-fixture"))
    (work / "my_dags.py").write_text(MY_DAGS)
    home = tmp_path / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTEST_"))}
    env.update(isolated_env(home, log_level="WARNING"))
    env.update(
        {
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work),
            "PYTHONPATH": str(work),  # my_dags; nothing of this repository
        }
    )
    env.pop("COLUMNS", None)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=work, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_my_dags.py"],
        env=env, cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "1 passed" in output, output[-6000:]


# ---- every python block ----------------------------------------------------------------------

#: The marked python blocks of README.md, each run or parsed by a test of this module.
MARKED = ("hook", "dag-nightly", "dag-local-code", "dag-taskflow", "pytest-fixture")
#: What the DAG-fragment blocks assume around them (README says so before each); the test's
#: DAG polls every 0.5 s (the blocks keep the default 30 s).
PRELUDE = textwrap.dedent(
    """
    from airflow.sdk import DAG
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

    with DAG(dag_id={dag_id!r}, schedule=None, catchup=False, default_args={{"poll_interval": 0.5}}) as dag:
        create_cluster = EmrRayClusterCreateOperator(
            task_id="create_cluster", name={dag_id!r}, head_spec={{"cpu": 2, "memory": "8Gi"}}, poll_interval=0.5
        )
    """
)
TRAIN_PY = 'print("trained from the README\'s ray_jobs folder")\n'


def test_every_python_block_of_the_readme_is_marked() -> None:
    lines = README.read_text().splitlines()
    names = []
    for number, line in enumerate(lines):
        if line.strip().startswith("```python"):
            marker = re.fullmatch(r"<!-- readme-test: ([a-z0-9-]+) -->", lines[number - 1].strip()) if number else None
            assert marker, f"README.md:{number + 1}: a python block without a readme-test marker on the line before"
            names.append(marker.group(1))
    assert sorted(names) == sorted(MARKED), f"marked blocks {names}; tests exist for {MARKED}"
    for name in MARKED:
        compile(readme_block(name), f"README.md[{name}]", "exec")


def dag_files(folder: Path) -> dict[str, Path]:
    """The README's DAG blocks as DAG files in ``folder`` (dag id -> file), with what they assume."""
    (folder / "ray_jobs").mkdir(parents=True, exist_ok=True)
    (folder / "ray_jobs" / "train.py").write_text(TRAIN_PY)
    files = {"ray_nightly": folder / "readme_nightly.py"}
    files["ray_nightly"].write_text(readme_block("dag-nightly"))
    for dag_id, name, tail in (
        ("readme_local_code", "dag-local-code", "create_cluster >> submit >> wait"),
        ("readme_taskflow", "dag-taskflow", ""),
    ):
        body = textwrap.indent(readme_block(name) + tail + "\n", "    ")
        files[dag_id] = folder / f"{dag_id}.py"
        files[dag_id].write_text(PRELUDE.format(dag_id=dag_id) + body)
    return files


def test_the_readme_dags_parse_without_import_errors(tmp_path: Path) -> None:
    from tests.airflow_compat import DagBag

    files = dag_files(tmp_path)
    bag = DagBag(dag_folder=str(tmp_path))  # examples are off (AIRFLOW__CORE__LOAD_EXAMPLES)
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dag_ids) == set(files)
    assert {t.task_id for t in bag.dags["ray_nightly"].tasks} == {"create", "submit", "wait", "delete"}
    assert {t.task_id for t in bag.dags["readme_local_code"].tasks} == {"create_cluster", "submit", "wait"}
    taskflow = bag.dags["readme_taskflow"]
    assert {t.task_id for t in taskflow.tasks} == {"create_cluster", "train"}
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    train = taskflow.get_task("train")  # mapped by .expand: its class is the operator's class
    assert issubclass(train.operator_class, EmrRayJobSubmitOperator), train.operator_class


def _user_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A user's process: isolated AIRFLOW_HOME, nothing of this repository on its path."""
    from devtools.env import isolated_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTEST_"))}
    env.update(isolated_env(home, log_level="WARNING"))
    env.update({"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", **extra})
    env.pop("COLUMNS", None)
    env.pop("PYTHONPATH", None)
    return env


def _served(**options: object):
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread

    delays = {k: 0.0 for k in ("cluster_start_delay", "cluster_stop_delay", "cluster_delete_delay",
                               "job_submit_delay", "job_pending_delay", "job_run_duration")}  # fmt: skip
    return serve_in_thread(EmulatorConfig(**{**delays, **options}))


def _conn(handle: object) -> str:
    from airflow_provider_emr_ray.emulator.__main__ import connection_value

    return connection_value(handle.config, handle.endpoint)  # type: ignore[attr-defined]


@pytest.mark.integration
def test_the_readme_hook_snippet_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "hook_snippet.py"
    script.write_text(readme_block("hook"))
    with _served(execute_jobs=True) as handle:
        env = _user_env(tmp_path / "airflow-home", {"AIRFLOW_CONN_EMR_RAY_DEFAULT": _conn(handle)})
        run = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
        )
        calls = dict(handle.emulator.stats.calls)
        clusters = {c["clusterId"]: c["state"] for c in handle.emulator.store.clusters.values()}
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    # what the snippet printed (Airflow 3.0 and 3.1 also log a warning about the conn type's '_')
    printed = [line for line in run.stdout.splitlines() if not re.match(r"\[?\d{4}-\d\d-\d\d[T ]\d", line)]
    assert printed[0].startswith("Running http"), printed  # waited for Running before submitting
    assert printed[1] == "Succeeded wf-1" and printed[2].startswith("Succeeded "), printed
    assert calls["CreateRayCluster"] == 1 and calls["SubmitRayJob"] == 1 and calls["DeleteRayCluster"] == 1, calls
    assert calls["GetRayJob"] >= 2 and calls["GetRayCluster"] >= 2, calls  # the waits, then the async twins
    assert not clusters or set(clusters.values()) == {"Deleted"}, clusters  # the snippet deleted its cluster


@pytest.mark.integration
def test_the_readme_dags_run_with_airflow_dags_test(tmp_path: Path) -> None:
    """``ray_nightly`` (its ``python train.py`` is not run: the emulator runs no entrypoint) and
    the local-code tasks (their ``ray_jobs/train.py`` really runs, through Ray's Jobs API)."""
    import sqlite3

    folder = tmp_path / "dags"
    dag_files(folder)
    home = tmp_path / "airflow-home"
    base = _user_env(home, {"AIRFLOW__CORE__DAGS_FOLDER": str(folder), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})

    def airflow(args: list[str], conn: str | None = None) -> str:
        env = {**base, **({"AIRFLOW_CONN_EMR_RAY_DEFAULT": conn} if conn else {})}
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"airflow {' '.join(args)}:\n{output[-6000:]}"
        return output

    def states(dag_id: str) -> tuple[str, dict[str, str]]:
        with sqlite3.connect(home / "airflow.db") as db:
            run_id, state = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC", (dag_id,)
            ).fetchone()
            tis = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
            return state, dict(tis.fetchall())

    airflow(["db", "migrate"])
    with _served(execute_jobs=False) as handle:
        output = airflow(["dags", "test", "ray_nightly"], _conn(handle))
        calls = dict(handle.emulator.stats.calls)
    assert states("ray_nightly") == ("success", dict.fromkeys(("create", "submit", "wait", "delete"), "success")), output[-6000:]
    assert calls["CreateRayCluster"] == 1 and calls["SubmitRayJob"] == 1 and calls["DeleteRayCluster"] == 1, calls

    with _served(execute_jobs=True) as handle:
        output = airflow(["dags", "test", "readme_local_code"], _conn(handle))
        ray_jobs = handle.emulator.ray_jobs
        cluster_id = next(iter(handle.emulator.store.clusters))
        logs = [ray_jobs.logs(cluster_id, j["submission_id"]) for j in ray_jobs.list(cluster_id)]
        submits = dict(handle.emulator.stats.calls).get("SubmitRayJob", 0)
    assert states("readme_local_code") == ("success", dict.fromkeys(("create_cluster", "submit", "wait"), "success")), (
        output[-6000:]
    )
    assert submits == 0  # the local folder went through Ray's Jobs API...
    assert len(logs) == 1 and "trained from the README's ray_jobs folder" in logs[0], logs  # ...and its script ran


@pytest.mark.integration
def test_the_readme_taskflow_sweep_runs_with_airflow_dags_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dag-taskflow``: the mapped function really runs on the emulator's cluster (through Ray's
    Jobs API, deferred) and each mapped task returns its dict. The jobs find a stand-in ``ray``
    package (``init`` only: the function's ``...`` does the rest) on their ``PYTHONPATH``; the
    README's ``pip`` runtime env is not installed by the emulator."""
    import json
    import sqlite3

    stub = tmp_path / "stub"
    (stub / "ray").mkdir(parents=True)
    (stub / "ray" / "__init__.py").write_text("def init(*args, **kwargs):\n    print('ray.init (stand-in)')\n")
    monkeypatch.setenv("PYTHONPATH", str(stub))  # the emulator's job processes inherit it
    folder = tmp_path / "dags"
    dag_files(folder)
    home = tmp_path / "airflow-home"
    env = _user_env(home, {"AIRFLOW__CORE__DAGS_FOLDER": str(folder), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})

    def airflow(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"airflow {' '.join(args)}:\n{output[-6000:]}"
        return output

    airflow("db", "migrate")
    with _served(execute_jobs=True) as handle:
        env["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = _conn(handle)
        output = airflow("dags", "test", "readme_taskflow")
        cluster_id = next(iter(handle.emulator.store.clusters))
        logs = [handle.emulator.ray_jobs.logs(cluster_id, j["submission_id"]) for j in handle.emulator.ray_jobs.list(cluster_id)]
    with sqlite3.connect(home / "airflow.db") as db:
        tis = db.execute("SELECT task_id, map_index, state FROM task_instance WHERE dag_id = 'readme_taskflow'").fetchall()
        rows = db.execute(
            "SELECT map_index, value FROM xcom WHERE dag_id = 'readme_taskflow' AND task_id = 'train' AND key = 'return_value'"
        ).fetchall()
    assert sorted(tis) == [("create_cluster", -1, "success"), *[("train", i, "success") for i in range(3)]], output[-6000:]
    returned = {i: json.loads(v.decode() if isinstance(v, bytes) else v) for i, v in rows}
    assert returned == {0: {"alpha": 0.1, "score": 0.93}, 1: {"alpha": 0.3, "score": 0.93}, 2: {"alpha": 1.0, "score": 0.93}}
    assert len(logs) == 3 and all("ray.init (stand-in)" in log for log in logs), logs  # the function ran, in 3 jobs
