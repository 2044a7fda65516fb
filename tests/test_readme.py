"""README blocks that are run as they are written (so the README cannot drift from the code).

A block is marked in the README by an HTML comment ``<!-- readme-test: NAME -->`` on the line
before its fence; :func:`readme_block` extracts it.

* ``pytest-fixture``: the user's test file of "Test your own DAGs offline", run by pytest in a
  fresh process whose only link to this repository is the installed package (its ``pytest11``
  entry point gives the ``emr_ray_emulator`` fixture), next to a DAG module ``my_dags``.
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
