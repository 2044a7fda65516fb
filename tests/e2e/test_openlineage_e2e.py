"""End to end: OpenLineage with a real Airflow (scheduler, LocalExecutor workers, triggerer)
against the emulator, the OpenLineage provider's HTTP transport pointed at a collector on loopback.

Two job submits that inject the parent run and the transport, one waiting in the worker, one
deferred to the triggerer. Their jobs print their OpenLineage variables, API key included, and
the operators copy that output into the task logs. What is checked: the key is masked wherever
Airflow writes (the task logs of both paths, a resumed task being a new process, the trigger and
component logs), the jobs did get it, and the workers' lineage events carry our facets. A plain
Airflow task that masks and logs a secret of its own is the control.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest

pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is in the test extra")

from tests.lineage_collector import PRINT_ENV, Collector  # noqa: E402

pytestmark = pytest.mark.e2e

DAG_ID = "emr_ray_openlineage_e2e"
TASKS = ("in_worker", "deferred")
API_KEY = "ol-e2e-key-7c41d2a9f3"
CONTROL = "plain-airflow-secret-93jd0c"
#: Filled by the ``lineage`` fixture before the ``stack`` fixture reads it.
STACK: dict = {}

DAG_FILE = textwrap.dedent(
    '''
    from airflow.sdk import DAG

    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    with DAG(dag_id={dag_id!r}, schedule=None, catchup=False) as dag:
        for task_id, deferrable in (("in_worker", False), ("deferred", True)):
            EmrRayJobSubmitOperator(
                task_id=task_id,
                entrypoint={entry!r},
                head_spec={{"cpu": 2, "memory": "8Gi"}},
                openlineage_inject_parent_job_info=True,
                openlineage_inject_transport_info=True,
                deferrable=deferrable,
                poll_interval=1,
            )

        # the control: a secret Airflow itself was told to mask, then logged and printed
        from airflow.providers.standard.operators.python import PythonOperator

        def plain():
            import logging

            from airflow.providers.common.compat.sdk import mask_secret

            mask_secret({control!r})
            logging.getLogger("airflow.task").info("logged: %s", {control!r})
            print("printed:", {control!r})

        PythonOperator(task_id="plain", python_callable=plain)
    '''
)


@pytest.fixture(scope="module", autouse=True)
def lineage(tmp_path_factory):
    """The collector, the DAG file and the stack's OpenLineage settings (before the stack starts)."""
    collector = Collector()
    work = tmp_path_factory.mktemp("openlineage-e2e")
    (work / "print_env.py").write_text(PRINT_ENV)
    dag_file = work / f"{DAG_ID}.py"
    dag_file.write_text(DAG_FILE.format(dag_id=DAG_ID, control=CONTROL, entry=f"{sys.executable} {work / 'print_env.py'}"))
    STACK.clear()
    STACK.update(
        dag_files=[dag_file],
        airflow_env={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(collector.transport(API_KEY)),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "emr-ray-e2e",
        },
    )
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def run(lineage, stack) -> dict:
    stack.wait_for(lambda: stack.dag_parsed(DAG_ID), 120, f"the DAG {DAG_ID} to be parsed")
    run_id = stack.trigger(DAG_ID)
    state = stack.wait_run(DAG_ID, run_id, timeout=240)
    states = stack.task_states(DAG_ID, run_id)
    assert state == "success", f"{states}; logs under {stack.logs_folder}"
    assert states == {"in_worker": "success", "deferred": "success", "plain": "success"}, states
    return {"run_id": run_id, "submissions": {t: stack.xcom(DAG_ID, run_id, t, "submissionId") for t in TASKS}}


@pytest.fixture(scope="module")
def airflow_masks(stack, run) -> bool:
    """Whether this Airflow masks, in a task log, a value given to its own ``mask_secret`` (the
    control task). Airflow 3.0.0-3.0.4 does not (apache/airflow#54540): no provider can mask
    there, and the key is held to the control's standard."""
    text = (stack.task_log_dir(DAG_ID, run["run_id"], "plain") / "attempt=1.log").read_text()
    assert "logged: " in text and "printed: " in text  # the control's lines are in its log
    masked = CONTROL not in text
    if masked:
        assert "logged: ***" in text and "printed: ***" in text
    return masked


def test_the_jobs_got_the_key_and_the_task_logs_show_their_output_masked(stack, run, airflow_masks) -> None:
    for task_id in TASKS:
        sid = run["submissions"][task_id]
        printed = re.findall(r"^OLENV (.*)$", stack.job_log_path(sid).read_text(), re.MULTILINE)
        env = json.loads(printed[-1])
        assert env["OPENLINEAGE_API_KEY"] == API_KEY, task_id  # the job has it ...
        assert env["OPENLINEAGE_PARENT_ID"].startswith(f"emr-ray-e2e/{DAG_ID}.{task_id}/")
        log_dir = stack.task_log_dir(DAG_ID, run["run_id"], task_id)
        text = "".join(p.read_text("utf-8", errors="replace") for p in sorted(log_dir.glob("attempt=*.log")))
        assert "OLENV" in text and "OPENLINEAGE_API_KEY" in text, task_id  # ... its output is in the task log ...
        assert API_KEY not in text or not airflow_masks, task_id  # ... masked (where Airflow masks at all)
    deferred = stack.task_log_dir(DAG_ID, run["run_id"], "deferred")
    assert list(deferred.glob("attempt=*.log.trigger.*.log")), "the deferred task did wait in the triggerer"


def test_the_key_is_masked_wherever_airflow_masks_its_own_secrets(stack, run, airflow_masks) -> None:
    """The key is in no file Airflow's own masked secret is not in. Where Airflow masks task logs,
    no log file holds the key; its LocalExecutor supervisor still echoes each task log line to
    the scheduler's stdout without masking (its own ``mask_secret`` values too), so the
    scheduler's output is held to the control's standard."""
    logs = list(stack.files_under(stack.logs_folder))
    outputs = [p for p in stack.files_under(stack.outputs) if p.name != "emulator.out"]
    assert len(logs) > 4 and any(".log.trigger." in p.name for p in logs) and outputs

    def holding(files, secret: str) -> set[str]:
        return {str(p) for p in files if secret.encode() in p.read_bytes()}

    # the components' own output (scheduler, triggerer, ...): only where Airflow's secret is too
    assert holding(outputs, API_KEY) <= holding(outputs, CONTROL), sorted(holding(outputs, API_KEY))
    in_logs = holding(logs, API_KEY)
    if airflow_masks:  # no log file at all (task, trigger, scheduler, dag-processor logs)
        assert not in_logs, sorted(in_logs)
    else:  # at most the attempt logs of the tasks whose jobs printed it, as the control's own
        tasks = [str(stack.task_log_dir(DAG_ID, run["run_id"], t)) for t in TASKS]
        assert all(p.rsplit("/", 1)[0] in tasks and p.rsplit("/", 1)[1].startswith("attempt=") and ".trigger." not in p
                   for p in in_logs), sorted(in_logs)  # fmt: skip


def test_the_workers_lineage_events_carry_the_job(lineage, run) -> None:
    complete = {
        e["job"]["name"].rsplit(".", 1)[-1]: e
        for e in lineage.events
        if e.get("eventType") == "COMPLETE" and e.get("job", {}).get("name", "").startswith(f"{DAG_ID}.")
    }
    for task_id in TASKS:
        assert complete[task_id]["run"]["facets"]["externalQuery"]["externalQueryId"] == run["submissions"][task_id]
    assert f"Bearer {API_KEY}" in lineage.auth
