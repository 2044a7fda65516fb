"""A Ray job's driver log in the Airflow task log, on both submission paths, against the served
emulator (jobs run as real local processes): followed live while a worker waits (the job only
goes on once its line was logged), copied once after a deferral, bounded for a large log,
quoted in a failed job's error, best effort when unreadable, not read at all with
``show_logs=False``; and no secret or presigned link in any log."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emr_ray import version_compat
from tests.conftest import TEST_AK, TEST_REGION, TEST_SECRET, TEST_WORKSPACE
from tests.operators.fakes import FakeTI, ctx

pytestmark = pytest.mark.integration

APIS = ["openapi", "ray"]
JOB_DIR = Path(__file__).resolve().parents[1] / "dags" / "job_logs"
PYTHON = shlex.quote(sys.executable)
LOG_LINES = 2000  # the defaults (utils/log_args.py), re-stated: a changed default is noticed
LOG_BYTES = 1024 * 1024
LOG_TAIL_LINES = 20
UNREADABLE = "Could not read the log of Ray job"
LEFT_OUT = re.compile(
    r"Log of Ray job (?P<sid>\S+): its first (?:(?P<lines>\d+) lines, )?(?P<bytes>\d+) bytes are left out "
    r"\(log_lines=(?P<log_lines>\d+), log_bytes=(?P<log_bytes>\d+)\); the whole log: (?P<where>.+)"
)


@pytest.fixture(autouse=True)
def _no_faults(emulator: Any):
    emulator.emulator.clear_faults()
    yield
    emulator.emulator.clear_faults()


# ---- helpers --------------------------------------------------------------------------------------


def job_args(api: str, args: str) -> dict[str, Any]:
    """Submit arguments running ``job_logs/lines.py ARGS`` on ``api`` (absolute paths: no DAG
    folder when an operator runs outside a DAG)."""
    if api == "ray":
        return {"submission_api": "ray", "working_dir": str(JOB_DIR), "entrypoint": f"{PYTHON} lines.py {args}"}
    return {"submission_api": "openapi", "entrypoint": f"{PYTHON} {shlex.quote(str(JOB_DIR / 'lines.py'))} {args}"}


#: A record as dag.test() prints it: ``<time> [<level> ] <event>  [<logger>] key=value...``.
_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[(?P<level>\w+) *\] (?P<event>.*?) +\[(?P<logger>[\w.]+)\](?: .*)?$")
#: The same record where Airflow (3.0) leaves the task's records to stdlib logging, captured by
#: pytest: ``<LEVEL> <logger>:<file>:<line> <event>``.
_STDLIB_RECORD = re.compile(r"^(?P<level>[A-Z]+) +(?P<logger>[\w.]+):[\w.]+:\d+ (?P<event>.*)$")
_STARTING = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+) ")
_STARTED = re.compile(r"^\S+ \[info *\] Task started .* ti_id=(?P<ti>[\w-]+)")
#: The logger of the submit operator's task log records.
SUBMIT_LOGGER = "airflow.task.operators.airflow_provider_emr_ray.operators.emr_ray.EmrRayJobSubmitOperator"


def task_output(result: Any, task_id: str) -> str:
    """What ``dag.test()`` printed while it ran ``task_id``: its task log (each try from its
    "Task started", the inline trigger, the resumed try up to the next task's start); its log
    file instead where Airflow wrote one."""
    if task_id in result.logs:
        return result.logs[task_id]
    tasks = {str(ti.id): ti.task_id for ti in result.dag_run.get_task_instances()}
    sections: dict[str, list[str]] = {}
    current = None
    for line in result.logs["__printed__"].splitlines():
        if (match := _STARTED.match(line)) and match["ti"] in tasks:
            current = tasks[match["ti"]]
        elif match := _STARTING.search(line):
            current = match["task"]
        if current is not None:
            sections.setdefault(current, []).append(line)
    assert task_id in sections, f"{task_id} never ran: {sorted(sections)}"
    return "\n".join(sections[task_id])


def records(text: str) -> list[tuple[str, str, str]]:
    """The ``(level, logger, message)`` of each record of a task log, in order."""
    found = []
    for line in text.splitlines():
        if match := _RECORD.match(line) or _STDLIB_RECORD.match(line):
            found.append((match["level"].lower(), match["logger"], match["event"]))
    return found


def messages(text: str, level: str | None = None) -> list[str]:
    """The messages of a task log (at ``level``), in order."""
    return [event for lv, _, event in records(text) if level in (None, lv)]


def ray_lines(msgs: list[str]) -> list[str]:
    """The job's lines in a task log (what follows the ``[ray] `` mark)."""
    return [m[len("[ray] ") :] for m in msgs if m.startswith("[ray] ")]


def exception_texts(text: str) -> list[str]:
    """The messages of the exceptions a task log shows (``<type>: Ray job ...``, up to the next
    record)."""
    next_record = r"^\d{4}-\d\d-\d\d[T ]\S+ \[|^\[\d{4}-\d\d-\d\dT|^[A-Z]+ +[\w.]+:[\w.]+:\d+ "
    pattern = rf"^(?:\w+\.)*\w+: (Ray job \S+ .*?)\s*(?={next_record}|\Z)"
    return [m[1] for m in re.finditer(pattern, text, re.MULTILINE | re.DOTALL)]


def job_log(emulator: Any, api: str, cluster_id: str, sid: str) -> str:
    """The job's driver log as the emulator wrote it (the truth the task log is compared to)."""
    if api == "ray":
        return emulator.emulator.ray_jobs.logs(cluster_id, sid)
    path = emulator.emulator.store.log_dir(TEST_WORKSPACE, sid) / f"job-driver-{sid}.log"
    return path.read_text(encoding="utf-8")


def openapi_status(emulator: Any, sid: str) -> str:
    store = emulator.emulator.store
    with store.lock:
        return store.jobs[sid]["status"]


def log_reads(emulator: Any) -> dict[str, int]:
    """Every call that reads a job's log, on both paths."""
    stats = emulator.emulator.stats
    return {
        "ListRayLogs": stats.calls["ListRayLogs"],
        "GetRayLog": stats.calls["GetRayLog"],
        "TailJobLogs": stats.ray_jobs_calls["TailJobLogs"],
        "GetJobLogs": stats.ray_jobs_calls["GetJobLogs"],
    }


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


def secrets(emulator: Any) -> list[str]:
    store = emulator.emulator.store
    with store.lock:
        tokens = [c["submitToken"] for c in store.clusters.values()] + [c["_dashToken"] for c in store.clusters.values()]
    return [TEST_SECRET, *tokens]


def assert_no_secrets(result: Any, emulator: Any) -> None:
    """No AccessKey secret, submit or dashboard token in a task log, XCom or rendered field; no
    presigned log link in a task log."""
    logs = "\n".join(result.logs.values())
    stored = json.dumps([result.all_xcoms(), result.rendered_fields()], default=str)
    for secret in secrets(emulator):
        assert secret not in logs
        assert secret not in stored
    files = "\n".join(v for k, v in result.logs.items() if k != "__printed__")
    assert "Signature=" not in files
    if version_compat.AIRFLOW_V_3_1_PLUS():  # 3.0's in-process supervisor prints every message at debug level
        assert "Signature=" not in result.logs["__printed__"]


class Recorder:
    """Stands in for an operator's logger (``op._log``): records ``(level, text)``;
    ``on_info(text)`` is called with each INFO text as it is logged."""

    def __init__(self, on_info: Callable[[str], Any] | None = None) -> None:
        self.records: list[tuple[str, str]] = []
        self._on_info = on_info

    def _add(self, level: str, msg: Any, *args: Any, **kwargs: Any) -> None:
        text = str(msg) % args if args else str(msg)
        self.records.append((level, text))
        if level == "info" and self._on_info is not None:
            self._on_info(text)

    def debug(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("debug", msg, *args, **kw)

    def info(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("info", msg, *args, **kw)

    def warning(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("warning", msg, *args, **kw)

    warn = warning

    def error(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("error", msg, *args, **kw)

    def exception(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("error", msg, *args, **kw)

    def critical(self, msg: Any, *args: Any, **kw: Any) -> None:
        self._add("critical", msg, *args, **kw)

    def isEnabledFor(self, level: int) -> bool:
        return True

    def texts(self, level: str | None = None) -> list[str]:
        return [t for lv, t in self.records if level is None or lv == level]

    def assert_no_secrets(self, emulator: Any) -> None:
        text = "\n".join(self.texts())
        for secret in secrets(emulator):
            assert secret not in text
        assert "Signature=" not in text


@pytest.fixture(scope="module")
def live_cluster(emulator: Any) -> str:
    """A Running cluster, created with the real hook (for the operators run outside a DAG)."""
    import time

    from airflow_provider_emr_ray.emulator.config import conn_json
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    conn = conn_json(emulator.endpoint, login=TEST_AK, password=TEST_SECRET, region_id=TEST_REGION,
                     workspace_id=TEST_WORKSPACE, max_retries=1)  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_EMR_RAY_DEFAULT", conn)
        hook = EmrRayHook()
        cluster_id = hook.create_ray_cluster(name="e2e-job-logs-direct", head_spec={"queueName": "dev_queue", "cpu": "2", "memory": "8Gi"})
        deadline = time.monotonic() + 60
        while (state := str(hook.get_ray_cluster(cluster_id).state)) != "Running":  # waits for a state, not a time
            assert time.monotonic() < deadline, f"cluster {cluster_id} still {state}"
            time.sleep(0.05)
    return cluster_id


def use_logger(op: Any, recorder: Recorder) -> None:
    """Make ``recorder`` the logger of ``op``: Airflow caches an operator's logger in
    ``_cached_logger`` (3.3's DAG nodes) or ``_log`` (LoggingMixin)."""
    op._log = recorder
    if hasattr(op, "_cached_logger"):
        op._cached_logger = recorder
    assert op.log is recorder


def fake_ti(task_id: str) -> FakeTI:
    """A task instance of its own run (a job id, a job's Airflow tags: never another test's)."""
    ti = FakeTI(run_id=f"manual__{uuid.uuid4().hex}")
    ti.dag_id = "job_logs_direct"
    ti.task_id = task_id
    return ti


# ---- a. live, while a worker waits -------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_live_lines_reach_the_task_log_while_the_job_runs(api, live_cluster, emr_ray_conn, emulator, tmp_path) -> None:
    """Each line is logged while the job runs: the job prints ``live-line i``, then waits for
    the file ``ack-i``, which only the task's logger creates, when it logs that line."""
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    acks = tmp_path / "acks"
    acks.mkdir()

    def ack(text: str) -> None:
        if match := re.fullmatch(r"\[ray\] live-line (\d+)", text):
            (acks / f"ack-{match[1]}").touch()

    recorder = Recorder(on_info=ack)
    op = EmrRayJobSubmitOperator(
        task_id=f"live_{api}",
        cluster_id=live_cluster,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
        **job_args(api, f"--count 10 --prefix live-line --ack-dir {shlex.quote(str(acks))}"),
    )
    use_logger(op, recorder)
    sid = op.execute(ctx(fake_ti(op.task_id)))

    shown = ray_lines(recorder.texts("info"))
    assert shown == [f"live-line {i}" for i in range(1, 11)], recorder.texts()  # in order, each once
    assert sorted(p.name for p in acks.iterdir()) == sorted(f"ack-{i}" for i in range(1, 11))
    assert not recorder.texts("warning"), recorder.texts("warning")
    if api == "openapi":
        assert openapi_status(emulator, sid) == "Succeeded"
    else:
        assert emulator.emulator.ray_jobs.find(live_cluster, sid)["status"] == "SUCCEEDED"
    recorder.assert_no_secrets(emulator)


# ---- b. deferred: copied once on resume ---------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_deferred_job_log_is_copied_on_resume(api, run_dag, emulator) -> None:
    before = log_reads(emulator)
    result = run_dag(f"emr_ray_job_logs_deferred_{api}")
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    sid = result.xcom("submit")
    assert result.xcom("submit", "submissionApi") == api
    output = task_output(result, "submit")  # the try, the inline trigger, the resumed try
    msgs = messages(output)
    warned = [m for m in msgs if UNREADABLE in m]
    assert ray_lines(msgs) == [f"deferred-line {i}" for i in range(1, 11)], warned  # in order, once
    assert {logger for _, logger, m in records(output) if m.startswith("[ray] ")} == {SUBMIT_LOGGER}
    assert msgs.count(f"Log of Ray job {sid} (10 lines):") == 1
    reads = delta(before, log_reads(emulator))
    if api == "openapi":  # the log located once and downloaded once; Ray's Jobs API not used
        assert reads == {"ListRayLogs": 1, "GetRayLog": 1, "TailJobLogs": 0, "GetJobLogs": 0}, reads
    else:
        assert reads["ListRayLogs"] == reads["GetRayLog"] == 0, reads
        assert reads["TailJobLogs"] + reads["GetJobLogs"] == 1, reads
    assert_no_secrets(result, emulator)


# ---- c. a failing job waited on by a deferrable sensor ------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_failing_job_sensor_logs_and_quotes_its_last_lines(api, run_dag, emulator) -> None:
    result = run_dag(f"emr_ray_job_logs_failing_{api}")
    assert result.states == {"cluster": "success", "submit": "success", "wait": "failed"}, result.logs["__printed__"][-3000:]
    sid, cluster_id = result.xcom("submit"), result.xcom("cluster")
    assert result.xcom("submit", "submissionApi") == api
    truth = job_log(emulator, api, cluster_id, sid).splitlines()
    cause = "FileNotFoundError: [Errno 2] No such file or directory: 'train.py'"
    assert truth[:25] == [f"fail-line {i}" for i in range(1, 26)] and truth[-1] == cause, truth  # the job did that

    log = task_output(result, "wait")
    assert ray_lines(messages(log)) == truth  # the whole (short) log, in order, once
    (error,) = {e for e in exception_texts(log) if sid in e}  # the failure, as the task log records it
    tail = truth[-LOG_TAIL_LINES:]
    assert error.endswith(f"\nLast {LOG_TAIL_LINES} lines of its log:\n" + "\n".join(tail)), error
    assert cause in error
    assert "fail-line 5\n" not in error  # only the last lines are quoted
    assert_no_secrets(result, emulator)


# ---- d. a large log, deferred, default bounds ---------------------------------------------------------


def kept_end(lines: list[str], max_lines: int, max_bytes: int) -> list[str]:
    """The longest end of ``lines`` within ``max_lines`` lines and ``max_bytes`` bytes (with
    their newlines)."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        cost = len(line.encode()) + 1
        if len(kept) == max_lines or size + cost > max_bytes:
            break
        kept.append(line)
        size += cost
    return kept[::-1]


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param({"count": 30000, "width": 99}, id="lines-bound"),  # 3 MB; 2000 lines = 200 kB
        pytest.param({"count": 3000, "width": 999}, id="bytes-bound"),  # 3 MB; 1 MiB = 1048 lines
    ],
)
@pytest.mark.parametrize("api", APIS)
def test_large_log_is_copied_from_its_end(api, shape, run_dag, emulator) -> None:
    result = run_dag(f"emr_ray_job_logs_large_{api}", conf=shape)
    assert result.states == {"cluster": "success", "submit": "success"}, result.logs["__printed__"][-3000:]
    sid, cluster_id = result.xcom("submit"), result.xcom("cluster")
    whole = job_log(emulator, api, cluster_id, sid)
    truth = whole.splitlines()
    assert len(truth) == shape["count"] and len(whole.encode()) > 2 * LOG_BYTES  # the job wrote ~3 MB
    expected = kept_end(truth, LOG_LINES, LOG_BYTES)

    msgs = messages(task_output(result, "submit"))
    shown = ray_lines(msgs)
    warned = [m for m in msgs if UNREADABLE in m]
    assert shown == expected, (len(shown), len(expected), shown[:1], expected[:1], warned)
    assert truth[0] not in shown and truth[len(truth) - len(expected) - 1] not in shown  # the start is left out
    left_out = [m for m in msgs if m.startswith("Log of Ray job ")]
    assert len(left_out) == 1, left_out
    match = LEFT_OUT.fullmatch(left_out[0])
    assert match, left_out[0]
    assert match["sid"] == sid and sid in match["where"]
    assert (int(match["log_lines"]), int(match["log_bytes"])) == (LOG_LINES, LOG_BYTES)
    kept_bytes = sum(len(line.encode()) + 1 for line in expected)
    assert int(match["bytes"]) == len(whole.encode()) - kept_bytes  # exactly what is not shown
    if match["lines"] is not None:  # when it counts lines, it counts them right
        assert int(match["lines"]) == len(truth) - len(expected), left_out[0]
    assert_no_secrets(result, emulator)


# ---- e. an unreadable log -----------------------------------------------------------------------------


async def _first_event(trigger: Any) -> Any:
    events_ = trigger.run()
    try:
        return await asyncio.wait_for(events_.__anext__(), timeout=60)
    finally:
        await events_.aclose()


@pytest.mark.parametrize("api", APIS)
def test_unreadable_log_of_a_deferred_job_warns_once(api, live_cluster, emr_ray_conn, emulator) -> None:
    """Deferred, then its log becomes unreadable before the task resumes: on SubmitRayJob's path
    GetRayLog answers 500; on Ray's path the job was deleted (``ray job delete``: its log goes
    with it). The task still succeeds, with one warning."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    recorder = Recorder()
    op = EmrRayJobSubmitOperator(
        task_id=f"unreadable_{api}", cluster_id=live_cluster, deferrable=True, poll_interval=0.2,
        **job_args(api, "--count 3 --prefix unread-line"),
    )  # fmt: skip
    use_logger(op, recorder)
    context = ctx(fake_ti(op.task_id))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    trigger.timeout_after = None  # what the triggerer sets on every trigger it runs
    event = asyncio.run(_first_event(trigger))
    sid = context["ti"].xcoms["submissionId"]
    if api == "openapi":
        emulator.emulator.add_fault(kind="500", action="GetRayLog")
        assert openapi_status(emulator, sid) == "Succeeded"
    else:
        assert emulator.emulator.ray_jobs.find(live_cluster, sid)["status"] == "SUCCEEDED"
        assert emulator.emulator.ray_jobs.delete(live_cluster, sid)
    before = log_reads(emulator)

    resumed = getattr(op, deferred.value.method_name)(context, event.payload, **(deferred.value.kwargs or {}))

    assert resumed == sid  # success
    warnings = [w for w in recorder.texts("warning") if UNREADABLE in w]
    assert len(warnings) == 1 and sid in warnings[0], recorder.texts("warning")
    assert not ray_lines(recorder.texts())
    reads = delta(before, log_reads(emulator))
    if api == "openapi":  # it tried, on the path that submitted the job
        assert reads["GetRayLog"] >= 1 and reads["TailJobLogs"] == reads["GetJobLogs"] == 0, reads
        assert f"GetRayLog instanceId={sid}" in warnings[0]
    else:
        assert reads["TailJobLogs"] + reads["GetJobLogs"] >= 1 and reads["ListRayLogs"] == 0, reads
        assert f"ray job logs {sid}" in warnings[0]
    recorder.assert_no_secrets(emulator)


def test_unreadable_log_of_a_live_wait_warns_once(live_cluster, emr_ray_conn, emulator) -> None:
    """Every GetRayLog fails while a worker waits (many polls): one warning, the task succeeds."""
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator

    emulator.emulator.add_fault(kind="500", action="GetRayLog")
    recorder = Recorder()
    op = EmrRayJobSubmitOperator(
        task_id="unreadable_live", cluster_id=live_cluster, deferrable=False, poll_interval=0.05,
        **job_args("openapi", "--count 3 --prefix unread-line"),
    )  # fmt: skip
    use_logger(op, recorder)
    before = emulator.emulator.stats.calls["GetRayJob"]
    sid = op.execute(ctx(fake_ti(op.task_id)))
    assert openapi_status(emulator, sid) == "Succeeded"
    assert emulator.emulator.stats.calls["GetRayJob"] - before >= 2  # it did poll more than once
    warnings = [w for w in recorder.texts("warning") if UNREADABLE in w]
    assert len(warnings) == 1 and sid in warnings[0], recorder.texts("warning")
    assert not ray_lines(recorder.texts())
    recorder.assert_no_secrets(emulator)


# ---- f. show_logs=False -------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_show_logs_false_reads_no_log(api, run_dag, emulator) -> None:
    before = log_reads(emulator)
    result = run_dag(f"emr_ray_job_logs_quiet_{api}")
    assert result.states == {"cluster": "success", "live": "success", "deferred": "success", "failing": "failed"}, (
        result.logs["__printed__"][-3000:]
    )
    assert delta(before, log_reads(emulator)) == {"ListRayLogs": 0, "GetRayLog": 0, "TailJobLogs": 0, "GetJobLogs": 0}
    for text in result.logs.values():
        assert "[ray]" not in text
    errors = [e for e in exception_texts(task_output(result, "failing")) if result.xcom("failing", "submissionId") in e]
    assert errors and not any("lines of its log" in e for e in errors), errors
    assert_no_secrets(result, emulator)
