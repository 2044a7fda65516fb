"""Jobs really run: local subprocesses, env vars, logs through the API, cancel/timeout kill the group."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from airflow_provider_emr_ray.emulator import DEFAULT_WORKSPACE, EmulatorConfig, serve_in_thread
from airflow_provider_emr_ray.emulator.processes import shell_quote
from airflow_provider_emr_ray.emulator.procgroup import pid_alive
from tests.emulator.helpers import FAST_DELAYS, SyncCaller, wait_for

pytestmark = pytest.mark.integration
PY = sys.executable


def _py(code: str) -> str:
    return shell_quote(PY, "-c", code)


@pytest.fixture
def served(tmp_path):
    config = EmulatorConfig(**FAST_DELAYS, data_dir=str(tmp_path / "data"), kill_grace=1.0, oss_root=str(tmp_path / "oss"))
    with serve_in_thread(config) as server:
        with httpx.Client(timeout=10) as client:
            yield server, SyncCaller(client, server.endpoint)


def _finished(call, sid, statuses=("Succeeded", "Failed", "Cancelled", "Timeout")):
    def check():
        job = call("GetRayJob", {"submissionId": sid})
        return job if job["status"] in statuses else None

    return wait_for(check, what=f"job {sid} to finish")


def test_succeeding_job_with_env_and_logs(served, tmp_path):
    server, call = served
    code_dir = tmp_path / "oss" / "bucket" / "code"  # oss://bucket/code under the served oss_root
    code_dir.mkdir(parents=True)
    (code_dir / "main.py").write_text("import os\nprint('hello', os.environ['GREETING'], os.path.exists('main.py'))\n")
    sid = call(
        "SubmitRayJob",
        body={
            "entrypoint": f"{shell_quote(PY)} main.py",
            "workingDir": "oss://bucket/code",
            "runtimeEnvJson": json.dumps({"env_vars": {"GREETING": "from env"}}),
        },
    )["submissionId"]
    job = _finished(call, sid)
    assert job["status"] == "Succeeded", job["message"]
    assert job["endTime"] >= job["startTime"] > 0

    logs = call("ListRayLogs", {"instanceId": sid})["data"]
    assert [o["name"] for o in logs["objectList"]] == [f"job-driver-{sid}.log"]
    obj = logs["objectList"][0]
    assert obj["size"] > 0 and obj["isDir"] is False and obj["path"] == job["logPath"] + obj["name"]
    url = call("GetRayLog", {"instanceId": sid}, query={"path": obj["path"]})["data"]["accessUrl"]
    assert url.startswith(server.endpoint + "/__emulator__/logs/")
    text = httpx.get(url).text
    assert text.strip() == "hello from env True"
    assert httpx.get(url.replace("Signature=", "Signature=0")).status_code == 403


def test_failing_job_reports_exit_code(served):
    _, call = served
    sid = call("SubmitRayJob", body={"entrypoint": _py("import sys; print('bye'); sys.exit(3)")})["submissionId"]
    job = _finished(call, sid)
    assert job["status"] == "Failed" and "exit code 3" in job["message"]


def test_cancel_kills_the_process_group(served, tmp_path):
    _, call = served
    pidfile = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(os.environ['PIDFILE'] + '.tmp', 'w').write(f'{os.getpid()} {child.pid}')\n"
        "os.replace(os.environ['PIDFILE'] + '.tmp', os.environ['PIDFILE'])\n"
        "time.sleep(60)\n"
    )
    sid = call(
        "SubmitRayJob",
        body={"entrypoint": _py(code), "runtimeEnvJson": json.dumps({"env_vars": {"PIDFILE": str(pidfile)}})},
    )["submissionId"]
    wait_for(pidfile.exists, what="the job to write its pids")
    pids = [int(p) for p in pidfile.read_text().split()]
    assert all(pid_alive(p) for p in pids)
    assert call("CancelRayJob", {"submissionId": sid})["success"] is True
    job = _finished(call, sid)
    assert job["status"] == "Cancelled"
    wait_for(lambda: not any(pid_alive(p) for p in pids), what="the process group to be gone")


def test_active_deadline_kills_the_process(served, tmp_path):
    _, call = served
    pidfile = tmp_path / "pid"
    code = "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(60)"
    sid = call(
        "SubmitRayJob",
        body={"entrypoint": _py(code), "activeDeadlineSeconds": 1,
              "runtimeEnvJson": json.dumps({"env_vars": {"PIDFILE": str(pidfile)}})},
    )["submissionId"]
    job = _finished(call, sid)
    assert job["status"] == "Timeout"
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="pid"))
    wait_for(lambda: not pid_alive(pid), what="the timed-out process to be gone")


def test_shutdown_leaves_no_child_behind(tmp_path):
    pidfile = tmp_path / "pid"
    code = "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(60)"
    with serve_in_thread(EmulatorConfig(**FAST_DELAYS, data_dir=str(tmp_path / "d"))) as server, httpx.Client() as client:
        call = SyncCaller(client, server.endpoint)
        call("SubmitRayJob", body={"entrypoint": _py(code), "runtimeEnvJson": json.dumps({"env_vars": {"PIDFILE": str(pidfile)}})})
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="pid"))
        assert pid_alive(pid)
    assert not pid_alive(pid)


async def test_in_process_execution_reconciles_on_reads(make_app, connect):
    """Under httpx.ASGITransport no server loop runs: each read polls the process."""
    app = make_app(execute_jobs=True)
    call = await connect(app)
    sid = (await call("SubmitRayJob", body={"entrypoint": _py("print('in-process')")}))["submissionId"]
    from tests.emulator.helpers import async_wait_for

    async def done():
        job = await call("GetRayJob", {"submissionId": sid})
        return job if job["status"] == "Succeeded" else None

    await async_wait_for(done, what="in-process job")
    logdir = Path(app.emulator.store.log_dir(DEFAULT_WORKSPACE, sid))
    assert (logdir / f"job-driver-{sid}.log").read_text().strip() == "in-process"
