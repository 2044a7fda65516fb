"""OpenLineage with the real OpenLineage provider: ``airflow dags test`` of a DAG of job submits
against the emulator, the provider's HTTP transport pointed at a lineage collector on loopback.

What is checked: the parent/root run variables and the transport reach the Ray job's
environment (the job prints them), they name the very runs the provider emitted, the user's
variables are never overwritten, nothing is injected unless asked, the API key is in no XCom,
rendered field or lineage event, and the task's COMPLETE / FAIL events carry our facets (``externalQuery`` keyed by the
submission id, the code locations as inputs, ``errorMessage`` on failure).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_REGION, TEST_WORKSPACE
from tests.lineage_collector import PRINT_ENV, Collector

pytestmark = pytest.mark.integration

pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is in the test extra")

DAG_ID = "emr_ray_openlineage"
#: Its masking in the task log is checked end to end (tests/e2e/test_openlineage_e2e.py):
#: ``airflow dags test`` prints in-process task logs without the task SDK's masker.
API_KEY = "ol-api-key-5b1f0c2e9d"

DAG_FILE = textwrap.dedent(
    '''
    from airflow.sdk import DAG

    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    ENTRY = {entry!r}
    HEAD = {{"cpu": 2, "memory": "8Gi"}}  # each job with its own job-scoped cluster

    with DAG(dag_id={dag_id!r}, schedule=None, catchup=False) as dag:
        # parent info from [openlineage] spark_inject_parent_job_info (true here), transport asked
        EmrRayJobSubmitOperator(
            task_id="lineage",
            entrypoint=ENTRY,
            runtime_env={{"env_vars": {{"USER_VAR": "kept"}}, "py_modules": ["oss://bucket/libs/helpers.zip"]}},
            openlineage_inject_transport_info=True,
            head_spec=HEAD,
            poll_interval=0.2,
        )
        # the user's own parent id: the parent group is left out, the user's value kept
        EmrRayJobSubmitOperator(
            task_id="user_parent",
            entrypoint=ENTRY,
            runtime_env={{"env_vars": {{"OPENLINEAGE_PARENT_ID": "mine/job/00000000-0000-0000-0000-000000000001"}}}},
            head_spec=HEAD,
            poll_interval=0.2,
        )
        # not asked
        EmrRayJobSubmitOperator(
            task_id="not_asked", entrypoint=ENTRY, openlineage_inject_parent_job_info=False, head_spec=HEAD, poll_interval=0.2
        )
        EmrRayJobSubmitOperator(task_id="failing", entrypoint=ENTRY + " 3", head_spec=HEAD, poll_interval=0.2)
    '''
)


@pytest.fixture(scope="module")
def collector() -> Any:
    server = Collector()
    yield server
    server.close()


@pytest.fixture(scope="module")
def lineage_run(tmp_path_factory: pytest.TempPathFactory, emulator: Any, collector: Any) -> dict[str, Any]:
    from airflow_provider_emr_ray.emulator.__main__ import connection_value
    from devtools.env import isolated_env

    url = collector.url
    work = tmp_path_factory.mktemp("openlineage")
    (work / "print_env.py").write_text(PRINT_ENV)
    dags = work / "dags"
    dags.mkdir()
    (dags / "lineage_dag.py").write_text(DAG_FILE.format(entry=f"{sys.executable} {work / 'print_env.py'}", dag_id=DAG_ID))
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "OPENLINEAGE"))}
    env.update(isolated_env(home, log_level="INFO"))
    transport = collector.transport(API_KEY)
    env.update(
        {
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "emr-ray-tests",
            "AIRFLOW__OPENLINEAGE__SPARK_INJECT_PARENT_JOB_INFO": "true",
            "AIRFLOW_CONN_EMR_RAY_DEFAULT": connection_value(emulator.config, emulator.endpoint),
            "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")) if p),
        }
    )

    def airflow(*args: str, check: bool = True) -> str:
        proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, cwd=work, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0 or not check, f"`airflow {' '.join(args)}` exited {proc.returncode}:\n{output[-6000:]}"
        return output

    airflow("db", "migrate")
    output = airflow("dags", "test", DAG_ID, check=False)  # one task fails on purpose
    with sqlite3.connect(home / "airflow.db") as db:
        run_id = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchone()[0]
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE run_id = ?", (run_id,)).fetchall())
        xcoms = db.execute("SELECT task_id, value FROM xcom WHERE run_id = ? AND key = 'submissionId'", (run_id,)).fetchall()
        every_xcom = [str(v) for (v,) in db.execute("SELECT value FROM xcom WHERE run_id = ?", (run_id,)).fetchall()]
        rendered = dict(
            db.execute("SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE run_id = ?", (run_id,)).fetchall()
        )
    submissions = {t: json.loads(v.decode() if isinstance(v, bytes) else v) for t, v in xcoms}
    printed: dict[str, dict[str, str]] = {}
    for task_id, sid in submissions.items():
        store = emulator.emulator.store
        log_file = store.log_dir(store.jobs[sid]["_ws"], sid) / f"job-driver-{sid}.log"
        log = log_file.read_text() if log_file.exists() else ""
        found = re.findall(r"^OLENV (.*)$", log, re.MULTILINE)
        printed[task_id] = json.loads(found[-1]) if found else {}
    return {
        "output": output,
        "states": states,
        "submissions": submissions,
        "printed": printed,
        "every_xcom": every_xcom,
        "rendered": {t: str(v) for t, v in rendered.items()},
        "events": list(collector.events),
        "auth": list(collector.auth),
        "url": url,
    }


def _task_events(run: dict[str, Any], task_id: str) -> dict[str, dict[str, Any]]:
    name = f"{DAG_ID}.{task_id}"
    return {e["eventType"]: e for e in run["events"] if e.get("job", {}).get("name") == name}


def test_the_tasks_ran(lineage_run: dict[str, Any]) -> None:
    assert lineage_run["states"] == {"lineage": "success", "user_parent": "success", "not_asked": "success", "failing": "failed"}, (
        lineage_run["output"][-4000:]
    )
    assert set(lineage_run["submissions"]) == {"lineage", "user_parent", "not_asked", "failing"}


def test_the_job_gets_the_parent_and_root_run_the_provider_emitted(lineage_run: dict[str, Any]) -> None:
    env = lineage_run["printed"]["lineage"]
    start = _task_events(lineage_run, "lineage")["START"]
    run_id = start["run"]["runId"]
    parent_facet = start["run"]["facets"]["parent"]
    root_run_id = parent_facet["root"]["run"]["runId"]
    assert env["OPENLINEAGE_PARENT_ID"] == f"emr-ray-tests/{DAG_ID}.lineage/{run_id}"
    assert env["OPENLINEAGE_ROOT_PARENT_ID"] == f"emr-ray-tests/{DAG_ID}/{root_run_id}"
    context = json.loads(env["OPENLINEAGE_CONTEXT"])["parent"]
    assert context["run"] == {"runId": run_id}
    assert context["job"]["namespace"] == "emr-ray-tests" and context["job"]["name"] == f"{DAG_ID}.lineage"
    assert context["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert context["root"]["run"] == {"runId": root_run_id}
    assert context["root"]["job"]["name"] == DAG_ID and context["root"]["job"]["facets"]["jobType"]["jobType"] == "DAG"


def test_the_job_gets_the_transport_and_the_user_variable_is_kept(lineage_run: dict[str, Any]) -> None:
    env = lineage_run["printed"]["lineage"]
    assert env["OPENLINEAGE_URL"] == lineage_run["url"]
    assert env["OPENLINEAGE_ENDPOINT"] == "api/v1/lineage"
    assert env["OPENLINEAGE_API_KEY"] == API_KEY  # the job has it (to emit its own lineage) ...
    assert env["USER_VAR"] == "kept"
    assert f"Bearer {API_KEY}" in lineage_run["auth"]  # (the collector did see the provider's key)


def test_the_api_key_is_in_no_xcom_rendered_field_or_lineage_event(lineage_run: dict[str, Any]) -> None:
    """The key reaches the job's environment only: the rendered ``runtime_env`` is the user's,
    the job's XComs (GetRayJob's answer, which echoes the runtime env) and our facets omit it
    (``user_parent`` sets an ``OPENLINEAGE_PARENT_ID`` of its own: rendered, as given)."""
    assert "USER_VAR" in lineage_run["rendered"]["lineage"]  # the rows read are the task's ...
    assert len(lineage_run["every_xcom"]) >= 4  # ... and its XComs (submissionId, status, ...)
    assert not [t for t, fields in lineage_run["rendered"].items() if API_KEY in fields or "OPENLINEAGE_URL" in fields or "OPENLINEAGE_CONTEXT" in fields]
    assert not [v for v in lineage_run["every_xcom"] if API_KEY in v]
    assert not [e["eventType"] for e in lineage_run["events"] if API_KEY in json.dumps(e)]


def test_user_variables_of_a_group_leave_the_group_out(lineage_run: dict[str, Any]) -> None:
    env = lineage_run["printed"]["user_parent"]
    assert env == {"OPENLINEAGE_PARENT_ID": "mine/job/00000000-0000-0000-0000-000000000001"}
    assert "runtime_env.env_vars already sets OPENLINEAGE_PARENT_ID" in lineage_run["output"]


def test_nothing_is_injected_unless_asked(lineage_run: dict[str, Any]) -> None:
    assert lineage_run["printed"]["not_asked"] == {}
    # the failing task: parent info from the config default, no transport
    assert set(lineage_run["printed"]["failing"]) == {"OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID", "OPENLINEAGE_CONTEXT"}


def test_complete_event_carries_the_job_and_its_code(lineage_run: dict[str, Any]) -> None:
    complete = _task_events(lineage_run, "lineage")["COMPLETE"]
    query = complete["run"]["facets"]["externalQuery"]
    assert query["externalQueryId"] == lineage_run["submissions"]["lineage"]
    assert query["source"] == f"emr-serverless-spark://{TEST_REGION}/{TEST_WORKSPACE}"
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("oss://bucket", "libs/helpers.zip")]


def test_fail_event_carries_the_job_and_the_error(lineage_run: dict[str, Any]) -> None:
    fail = _task_events(lineage_run, "failing")["FAIL"]
    facets = fail["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == lineage_run["submissions"]["failing"]
    assert f"Ray job {lineage_run['submissions']['failing']} ended Failed" in facets["errorMessage"]["message"]
