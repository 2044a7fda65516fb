"""The hook's Ray Jobs path against a real Ray 2.60 head on loopback (``ray start --head``).

A real head has no GetRayCluster, so the hook is given a
:class:`~airflow_provider_emr_ray.client.ray_jobs.RayJobsTarget` (its dashboard URL) directly;
everything after that (packaging, upload, submit, poll, logs, stop, duplicate) is the hook's own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.exceptions import EmrRayJobAlreadyExistsError
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from airflow_provider_emr_ray.states import RAY_JOBS_TERMINAL_STATUSES
from tests.ray_oracle import require

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    require("ray")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_bin is not None, "Ray imports but its `ray` executable is not next to the interpreter"
    temp = tmp_path_factory.mktemp("ray")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    port, dash = _free_port(), _free_port()
    cmd = [ray_bin, "start", "--head", f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
           "--include-dashboard=true", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp}"]  # fmt: skip
    started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
        pytest.fail(f"ray start failed: {started.stdout[-2000:]} {started.stderr[-2000:]}")
    url = f"http://127.0.0.1:{dash}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:  # the dashboard's job module answers once the head is up
            try:
                if httpx.get(f"{url}/api/version", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Ray dashboard did not answer /api/version within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def hook_and_target(ray_head, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_REAL_HEAD", conn_json("http://127.0.0.1:9"))
    hook = EmrRayHook("emr_ray_real_head", timeout=60)
    # a real head wants no ray-token; one is sent anyway, as the EMR gateway wants it
    yield hook, RayJobsTarget(url=ray_head, token="tok-real-head-0123456789", cluster_id="rc-real-head")
    hook.close()


def _wait(hook, target, sid, statuses, deadline_s=120.0):
    deadline = time.monotonic() + deadline_s
    while True:
        job = hook.ray_get_job(target, sid)
        if job.status in statuses:
            return job
        if job.status in RAY_JOBS_TERMINAL_STATUSES or time.monotonic() > deadline:
            logs = hook.ray_get_job_logs(target, sid)
            pytest.fail(f"job {sid} is {job.status} ({job.message}), waiting for {statuses}; logs: {logs[-2000:]}")
        time.sleep(0.2)


def test_submit_local_working_dir_logs_duplicate_and_stop(hook_and_target, tmp_path, capsys):
    hook, target = hook_and_target
    code = tmp_path / "code"
    (code / "data").mkdir(parents=True)
    (code / "main.py").write_text("import os\nfor i in range(3):\n    print(f'line {i}', flush=True)\nprint(open('data/f0.txt').read())\n")
    for i in range(200):
        (code / "data" / f"f{i}.txt").write_text(f"file {i}\n")
    (code / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024))

    t0 = time.monotonic()
    uri = hook.ray_upload_package(target, str(code))
    upload_s = time.monotonic() - t0
    assert uri.startswith("gcs://_ray_pkg_") and uri.endswith(".zip")
    packaging = require("ray._private.runtime_env.packaging")
    ray_constants = require("ray._private.ray_constants")
    assert uri == packaging.get_uri_for_directory(str(code), True, excludes=ray_constants.get_runtime_env_default_excludes())
    t1 = time.monotonic()
    assert hook.ray_upload_package(target, str(code)) == uri  # present: not uploaded again
    again_s = time.monotonic() - t1

    sid = f"emr-ray-{uuid.uuid4().hex[:8]}"
    t2 = time.monotonic()
    assert hook.ray_submit_job(target, entrypoint="python main.py", submission_id=sid,
                               runtime_env={"working_dir": str(code)}, metadata={"by": "test"}) == sid  # fmt: skip
    _wait(hook, target, sid, {"RUNNING", "SUCCEEDED"})
    to_running = time.monotonic() - t2
    job = _wait(hook, target, sid, {"SUCCEEDED"})
    assert job.submission_id == sid and job.job_status == "Succeeded" and job.runtime_env["working_dir"] == uri
    logs = hook.ray_get_job_logs(target, sid)
    assert "line 0" in logs and "line 2" in logs and "file 0" in logs
    assert any(j.submission_id == sid for j in hook.ray_list_jobs(target))

    with pytest.raises(EmrRayJobAlreadyExistsError) as info:
        hook.ray_submit_job(target, entrypoint="python main.py", submission_id=sid)
    assert info.value.submission_id == sid

    long_sid = f"emr-ray-long-{uuid.uuid4().hex[:8]}"
    hook.ray_submit_job(target, entrypoint="python -c 'import time; time.sleep(600)'", submission_id=long_sid)
    _wait(hook, target, long_sid, {"RUNNING"})
    assert hook.ray_stop_job(target, long_sid) is True
    stopped = _wait(hook, target, long_sid, {"STOPPED"})
    assert stopped.job_status == "Cancelled"
    assert hook.ray_delete_job(target, long_sid) is True
    size = sum(p.stat().st_size for p in code.rglob("*") if p.is_file())
    with capsys.disabled():
        print(f"\n[ray head] sample folder 201 files, {size / 1024**2:.2f} MiB: first upload {upload_s:.3f} s, "
              f"second (present) {again_s:.3f} s; submit-to-RUNNING {to_running:.3f} s")  # fmt: skip


async def test_async_twins_on_the_real_head(hook_and_target, tmp_path):
    hook, target = hook_and_target
    (tmp_path / "m.py").write_text("print('async hello')\n")
    sid = await hook.aray_submit_job(target, entrypoint="python m.py", runtime_env={"working_dir": str(tmp_path)})
    deadline = time.monotonic() + 120
    while (job := await hook.aray_get_job(target, sid)).status not in RAY_JOBS_TERMINAL_STATUSES:
        assert time.monotonic() < deadline, job
        import asyncio

        await asyncio.sleep(0.2)
    assert job.status == "SUCCEEDED", await hook.aray_get_job_logs(target, sid)
    assert "async hello" in await hook.aray_get_job_logs(target, sid)
