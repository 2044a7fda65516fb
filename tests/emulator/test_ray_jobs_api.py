"""Ray's own Jobs REST API served by the emulator at GetRayCluster's ``jobUrl`` (by ``ray-token``),
on a real loopback socket; and SubmitRayJob's ``workingDir`` read as the URL it is (``oss://``
through ``oss_root``, a local path refused)."""

from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from airflow_provider_emr_ray.emulator import RAY_GATEWAY_PREFIX, EmulatorConfig, ray_job_url, serve_in_thread
from airflow_provider_emr_ray.emulator.processes import shell_quote
from airflow_provider_emr_ray.emulator.procgroup import pid_alive
from airflow_provider_emr_ray.emulator.ray_jobs import RAY_JOBS_ACTIONS
from airflow_provider_emr_ray.states import RAY_JOBS_TERMINAL_STATUSES
from tests.emulator.helpers import FAST_DELAYS, SyncCaller, wait_for

pytestmark = pytest.mark.integration
PY = sys.executable
RELEASE = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
#: The keys of Ray 2.60's JobDetails, in its field order.
JOB_DETAILS_KEYS = [
    "type", "job_id", "submission_id", "driver_info", "status", "entrypoint", "message", "error_type",
    "start_time", "end_time", "metadata", "runtime_env", "driver_agent_http_address", "driver_node_id",
    "driver_exit_code",
]  # fmt: skip


def _py(code: str) -> str:
    return shell_quote(PY, "-c", code)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@dataclass
class Cluster:
    cid: str
    job_url: str
    token: str


class Gateway:
    """A served emulator, its signed OpenAPI caller and a Ray Jobs API client per token."""

    def __init__(self, server, call: SyncCaller, http: httpx.Client) -> None:
        self.server = server
        self.call = call
        self.http = http

    @property
    def emulator(self):
        return self.server.emulator

    def cluster(self, name: str = "c") -> Cluster:
        body = {"name": name, "displayReleaseVersion": RELEASE, "headSpec": {"cpu": "4", "memory": "16Gi"}, "workerSpec": []}
        cid = self.call("CreateRayCluster", body=body)["clusterId"]
        got = wait_for(lambda: (g := self.call("GetRayCluster", {"clusterId": cid}))["state"] == "Running" and g)
        return Cluster(cid, got["jobUrl"], got["submitToken"])

    def ray(self, method: str, path: str, token: str | None, **kw) -> httpx.Response:
        headers = {"ray-token": token} if token is not None else {}
        return self.http.request(method, ray_job_url(self.server.endpoint) + path, headers=headers, **kw)

    def submit(self, c: Cluster, **body) -> str:
        r = self.ray("POST", "/api/jobs/", c.token, json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer == {"job_id": answer["submission_id"], "submission_id": answer["submission_id"]}
        return answer["submission_id"]

    def job(self, c: Cluster, job_id: str) -> dict:
        r = self.ray("GET", f"/api/jobs/{job_id}", c.token)
        assert r.status_code == 200, r.text
        return r.json()

    def finished(self, c: Cluster, job_id: str) -> dict:
        return wait_for(lambda: (j := self.job(c, job_id))["status"] in RAY_JOBS_TERMINAL_STATUSES and j, what=f"{job_id} to end")

    def logs(self, c: Cluster, job_id: str) -> str:
        r = self.ray("GET", f"/api/jobs/{job_id}/logs", c.token)
        assert r.status_code == 200, r.text
        return r.json()["logs"]


def _gateway(tmp_path: Path, **overrides):
    settings = {**FAST_DELAYS, "data_dir": str(tmp_path / "data"), "kill_grace": 1.0, "oss_root": str(tmp_path / "oss"), **overrides}
    return serve_in_thread(EmulatorConfig(**settings))


@pytest.fixture
def gw(tmp_path):
    with _gateway(tmp_path) as server, httpx.Client(timeout=10) as http:
        yield Gateway(server, SyncCaller(http, server.endpoint), http)


# --------------------------------------------------------------------------- address and auth
def test_job_url_names_the_gateway_and_version_answers(gw):
    c = gw.cluster()
    assert c.job_url == gw.server.endpoint + RAY_GATEWAY_PREFIX == ray_job_url(gw.server.endpoint)
    r = gw.http.get(c.job_url + "/api/version", headers={"ray-token": c.token})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    version = r.json()
    assert version["version"] == "4" and version["ray_version"] == "2.47.1"  # from displayReleaseVersion
    assert set(version) == {"version", "ray_version", "ray_commit", "session_name"}


@pytest.mark.parametrize("action", sorted(a for a, (_, _, ep) in RAY_JOBS_ACTIONS.items() if ep is not None))
def test_every_endpoint_wants_the_token_of_a_running_cluster(gw, action):
    c = gw.cluster()
    method, path, _ = RAY_JOBS_ACTIONS[action]
    path = path.format(protocol="gcs", package_name="_ray_pkg_x.zip", job_or_submission_id="raysubmit_x")
    missing = gw.ray(method, path, None, json={"entrypoint": "true"})
    assert missing.status_code == 401 and "ray-token" in missing.text
    for wrong in (c.token + "0", "Bearer " + c.token, c.token.upper(), "x"):
        refused = gw.ray(method, path, wrong, json={"entrypoint": "true"})
        assert refused.status_code == 403, (wrong, refused.status_code)
        assert c.token not in refused.text and c.token.upper() not in refused.text
    assert gw.emulator.stats.ray_jobs_rejections == {"missing": 1, "invalid": 4}
    assert gw.emulator.stats.ray_jobs_calls[action] == 5
    assert gw.emulator.stats.snapshot()["rayJobsCalls"] == {action: 5}
    assert gw.emulator.stats.snapshot()["rejections"] == {}  # OpenAPI rejections are a separate count


def test_token_routes_to_its_own_cluster(gw):
    a, b = gw.cluster("a"), gw.cluster("b")
    assert a.job_url == b.job_url and a.token != b.token  # one gateway host, the token picks the cluster
    assert gw.ray("PUT", "/api/packages/gcs/_ray_pkg_a.zip", a.token, content=_zip({"m.py": ""})).status_code == 200
    assert gw.ray("GET", "/api/packages/gcs/_ray_pkg_a.zip", a.token).status_code == 200
    assert gw.ray("GET", "/api/packages/gcs/_ray_pkg_a.zip", b.token).status_code == 404
    sid = gw.submit(a, entrypoint=_py("print('on a')"), submission_id="same-id")
    assert gw.ray("GET", f"/api/jobs/{sid}", b.token).status_code == 404
    assert gw.ray("GET", "/api/jobs/", b.token).json() == []
    assert [j["submission_id"] for j in gw.ray("GET", "/api/jobs/", a.token).json()] == [sid]
    # the same submission id is free on the other cluster
    assert gw.submit(b, entrypoint=_py("print('on b')"), submission_id="same-id") == "same-id"
    assert "on a" in gw.logs(a, gw.finished(a, sid)["submission_id"])
    gw.finished(b, "same-id")
    assert gw.logs(b, "same-id") == "on b\n"
    # Jobs API jobs are not SubmitRayJob jobs
    assert gw.call("ListRayJob", query={"pageNum": 1, "pageSize": 100})["rayJobs"] == []


@pytest.mark.parametrize("action", ["StopRayCluster", "DeleteRayCluster"])
def test_stopping_the_cluster_refuses_its_token_and_kills_its_jobs(gw, tmp_path, action):
    c, other = gw.cluster("c"), gw.cluster("other")
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    sid = gw.submit(c, entrypoint=_py(code))
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="the driver to start"))
    assert gw.job(c, sid)["status"] == "RUNNING" and pid_alive(pid)
    gw.call(action, {"clusterId": c.cid}, body={} if action == "StopRayCluster" else None)
    assert gw.ray("GET", "/api/version", c.token).status_code == 403
    assert gw.ray("GET", f"/api/jobs/{sid}", c.token).status_code == 403
    wait_for(lambda: not pid_alive(pid), what="the driver to be killed")
    assert gw.ray("GET", "/api/version", other.token).status_code == 200  # other clusters keep working
    if action == "StopRayCluster":  # a restarted cluster: same token, a fresh (empty) Ray head
        gw.call("StartRayCluster", {"clusterId": c.cid}, body={})
        wait_for(lambda: gw.call("GetRayCluster", {"clusterId": c.cid})["state"] == "Running")
        assert gw.ray("GET", "/api/jobs/", c.token).json() == []


# --------------------------------------------------------------------------- packages and jobs
def test_packages_put_and_get(gw):
    c = gw.cluster()
    missing = gw.ray("GET", "/api/packages/gcs/_ray_pkg_abc.zip", c.token)
    assert missing.status_code == 404 and missing.text == "Package gcs://_ray_pkg_abc.zip does not exist"
    assert gw.ray("PUT", "/api/packages/gcs/_ray_pkg_abc.zip", c.token, content=b"PK..").status_code == 200
    assert gw.ray("GET", "/api/packages/gcs/_ray_pkg_abc.zip", c.token).status_code == 200


def test_job_runs_in_its_working_dir_with_py_modules_and_env_vars(gw):
    c = gw.cluster()
    work = _zip({"main.py": "import os, helper\nprint('main', helper.VALUE, os.environ['GREETING'], sorted(os.listdir('.')))\n"})
    mod = _zip({"helper/__init__.py": "VALUE = 42\n"})
    assert gw.ray("PUT", "/api/packages/gcs/_ray_pkg_w.zip", c.token, content=work).status_code == 200
    assert gw.ray("PUT", "/api/packages/gcs/_ray_pkg_m.zip", c.token, content=mod).status_code == 200
    runtime_env = {"working_dir": "gcs://_ray_pkg_w.zip", "py_modules": ["gcs://_ray_pkg_m.zip"], "env_vars": {"GREETING": "hi"}}
    sid = gw.submit(c, entrypoint=f"{shell_quote(PY)} main.py", runtime_env=runtime_env, metadata={"k": "v"},
                    entrypoint_num_cpus=1, entrypoint_resources={"r": 1.0})  # fmt: skip
    assert sid.startswith("raysubmit_")
    job = gw.finished(c, sid)
    assert list(job) == JOB_DETAILS_KEYS
    assert job["status"] == "SUCCEEDED" and job["message"] == "Job finished successfully.", job
    assert job["type"] == "SUBMISSION" and job["error_type"] is None and job["driver_exit_code"] == 0
    assert job["metadata"] == {"k": "v"} and job["runtime_env"] == runtime_env and job["entrypoint"].endswith("main.py")
    assert isinstance(job["start_time"], int) and job["end_time"] >= job["start_time"] > 1_600_000_000_000
    assert job["job_id"] == "01000000" and job["driver_info"]["id"] == "01000000"
    assert gw.job(c, "01000000")["submission_id"] == sid  # {id} may be the driver's job id
    assert gw.logs(c, sid) == "main 42 hi ['main.py']\n"
    assert gw.logs(c, "01000000") == gw.logs(c, sid)
    listed = gw.ray("GET", "/api/jobs/", c.token).json()
    assert listed == [job]


def test_failing_entrypoint_and_runtime_env_failures(gw):
    c = gw.cluster()
    sid = gw.submit(c, entrypoint=_py("import sys; print('last words'); sys.exit(3)"))
    job = gw.finished(c, sid)
    assert job["status"] == "FAILED" and job["error_type"] == "JOB_ENTRYPOINT_COMMAND_ERROR" and job["driver_exit_code"] == 3
    assert job["message"].startswith("Job entrypoint command failed with exit code 3, last available logs")
    assert job["message"].endswith("last words")
    assert gw.ray("PUT", "/api/packages/gcs/_ray_pkg_bad.zip", c.token, content=b"not a zip").status_code == 200
    for working_dir in ("gcs://_ray_pkg_missing.zip", "gcs://_ray_pkg_bad.zip", "s3://bucket/code.zip"):
        sid = gw.submit(c, entrypoint=_py("print('never')"), runtime_env={"working_dir": working_dir})
        job = gw.finished(c, sid)
        assert job["status"] == "FAILED" and job["error_type"] == "RUNTIME_ENV_SETUP_FAILURE", (working_dir, job)
        assert job["message"].startswith("runtime_env setup failed:") and job["driver_exit_code"] is None
        assert "never" not in gw.logs(c, sid) and "runtime_env setup failed" in gw.logs(c, sid)
        assert job["job_id"] is None and job["driver_info"] is None


def test_submit_validation_and_duplicate_submission_id(gw):
    c = gw.cluster()
    for body, text in (
        ({"entrypoint": 5}, "TypeError: entrypoint must be a string, got <class 'int'>"),
        ({}, "missing 1 required positional argument: 'entrypoint'"),
        ({"entrypoint": "true", "metadata": {"k": 1}}, "metadata values must be strings"),
        ({"entrypoint": "true", "bogus": 1}, "unexpected keyword argument 'bogus'"),
    ):
        r = gw.ray("POST", "/api/jobs/", c.token, json=body)
        assert r.status_code == 400 and text in r.text, (body, r.status_code, r.text)
    assert gw.ray("GET", "/api/jobs/", c.token).json() == []
    assert gw.submit(c, entrypoint="true", submission_id="dup", metadata=None) == "dup"
    again = gw.ray("POST", "/api/jobs/", c.token, json={"entrypoint": "true", "submission_id": "dup"})
    # Ray 2.60's head relays its agent's 400 as a 500, the agent's text inside.
    assert again.status_code == 500
    assert "Request failed with status code 400" in again.text
    assert "ValueError: Job with submission_id dup already exists. Please use a different submission_id." in again.text
    assert len(gw.ray("GET", "/api/jobs/", c.token).json()) == 1


def test_logs_grow_while_the_job_runs(gw, tmp_path):
    c = gw.cluster()
    go = tmp_path / "go"
    code = f"import os, time\nprint('first', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\nprint('second')"
    sid = gw.submit(c, entrypoint=_py(code))
    wait_for(lambda: gw.logs(c, sid) == "first\n", what="the first line")
    assert gw.job(c, sid)["status"] == "RUNNING" and gw.job(c, sid)["message"] == "Job is currently running."
    assert gw.job(c, sid)["end_time"] is None and gw.job(c, sid)["driver_exit_code"] is None
    go.write_text("")
    assert gw.finished(c, sid)["status"] == "SUCCEEDED"
    assert gw.logs(c, sid) == "first\nsecond\n"


def test_stop_kills_the_process_group(gw, tmp_path):
    c = gw.cluster()
    pidfile = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    sid = gw.submit(c, entrypoint=_py(code))
    pids = [int(p) for p in wait_for(lambda: pidfile.exists() and pidfile.read_text().split(), what="the pids")]
    assert all(pid_alive(p) for p in pids)
    r = gw.ray("POST", f"/api/jobs/{sid}/stop", c.token)
    assert r.status_code == 200 and r.json() == {"stopped": True}
    job = gw.finished(c, sid)
    assert job["status"] == "STOPPED" and job["message"] == "Job was intentionally stopped." and job["end_time"]
    assert job["error_type"] is None
    wait_for(lambda: not any(pid_alive(p) for p in pids), what="the group to be gone")
    assert gw.ray("POST", f"/api/jobs/{sid}/stop", c.token).json() == {"stopped": False}
    unknown = gw.ray("POST", "/api/jobs/nope/stop", c.token)
    assert unknown.status_code == 404 and unknown.text == "Job nope does not exist"


def test_delete_only_ended_jobs(gw, tmp_path):
    c = gw.cluster()
    go = tmp_path / "go"
    sid = gw.submit(c, entrypoint=_py(f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)"))
    wait_for(lambda: gw.job(c, sid)["status"] == "RUNNING")
    busy = gw.ray("DELETE", f"/api/jobs/{sid}", c.token)
    assert busy.status_code == 500
    assert f"Attempted to delete job '{sid}', but it is in a non-terminal state RUNNING." in busy.text
    assert gw.job(c, sid)["status"] == "RUNNING"
    go.write_text("")
    gw.finished(c, sid)
    r = gw.ray("DELETE", f"/api/jobs/{sid}", c.token)
    assert r.status_code == 200 and r.json() == {"deleted": True}
    for method, path in (("GET", f"/api/jobs/{sid}"), ("DELETE", f"/api/jobs/{sid}"), ("GET", f"/api/jobs/{sid}/logs")):
        gone = gw.ray(method, path, c.token)
        assert gone.status_code == 404 and gone.text == f"Job {sid} does not exist"
    assert gw.ray("GET", "/api/jobs/", c.token).json() == []


def test_pending_job_and_stop_before_start(tmp_path):
    with _gateway(tmp_path, job_pending_delay=600.0) as server, httpx.Client(timeout=10) as http:
        gw = Gateway(server, SyncCaller(http, server.endpoint), http)
        c = gw.cluster()
        sid = gw.submit(c, entrypoint="true", runtime_env={"env_vars": {"A": "1"}}, entrypoint_num_cpus=2)
        job = gw.job(c, sid)
        assert job["status"] == "PENDING" and job["end_time"] is None and job["job_id"] is None
        assert job["message"] == (
            "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to "
            "become available. It may be waiting for the runtime environment to be set up."
        )
        assert gw.ray("POST", f"/api/jobs/{sid}/stop", c.token).json() == {"stopped": True}
        job = gw.job(c, sid)
        assert job["status"] == "STOPPED" and job["end_time"] >= job["start_time"]
        assert gw.logs(c, sid) == ""


# --------------------------------------------------------------------------- SubmitRayJob workingDir
def _openapi_job(gw: Gateway, working_dir: str, entrypoint: str) -> dict:
    c = gw.cluster()
    body = {"entrypoint": entrypoint, "workingDir": working_dir, "clusterId": c.cid}
    sid = gw.call("SubmitRayJob", body=body)["submissionId"]

    def done():
        job = gw.call("GetRayJob", {"submissionId": sid})
        return job if job["status"] in ("Succeeded", "Failed") else None

    return wait_for(done, what=f"{sid} to end")


def _driver_log(gw: Gateway, job: dict) -> str:
    sid = job["submissionId"]
    obj = gw.call("ListRayLogs", {"instanceId": sid})["data"]["objectList"][0]
    url = gw.call("GetRayLog", {"instanceId": sid}, query={"path": obj["path"]})["data"]["accessUrl"]
    return httpx.get(url).text


def test_submit_ray_job_local_working_dir_fails_as_the_service_would(gw, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("print('ran')\n")
    for working_dir in (str(code), f"file://{code}"):
        job = _openapi_job(gw, working_dir, f"{shell_quote(PY)} main.py")
        assert job["status"] == "Failed", job
        assert "local path" in job["message"] and "oss://" in job["message"], job["message"]
        assert "ran" not in _driver_log(gw, job)


def test_submit_ray_job_oss_working_dir_maps_to_oss_root(gw, tmp_path):
    oss = tmp_path / "oss" / "bucket"
    (oss / "folder").mkdir(parents=True)
    (oss / "folder" / "main.py").write_text("print('from folder')\n")
    # a zip with one top-level folder: stripped, as Ray does for remote zips
    (oss / "jobs").mkdir()
    (oss / "jobs" / "code.zip").write_bytes(_zip({"proj/main.py": "print('from zip')\n", "proj/data.txt": "x"}))
    run = f"{shell_quote(PY)} main.py"
    job = _openapi_job(gw, "oss://bucket/folder", run)
    assert job["status"] == "Succeeded", job["message"]
    assert _driver_log(gw, job) == "from folder\n"
    job = _openapi_job(gw, "oss://bucket/jobs/code.zip", run)
    assert job["status"] == "Succeeded", job["message"]
    assert _driver_log(gw, job) == "from zip\n"
    job = _openapi_job(gw, "oss://bucket/jobs/missing.zip", run)
    assert job["status"] == "Failed" and "oss://bucket/jobs/missing.zip does not exist" in job["message"]
    job = _openapi_job(gw, "oss://bucket/../../escape", run)
    assert job["status"] == "Failed" and "escapes" in job["message"]


def test_oss_working_dir_without_oss_root_fails_with_the_flag_named(tmp_path):
    with _gateway(tmp_path, oss_root=None) as server, httpx.Client(timeout=10) as http:
        gw = Gateway(server, SyncCaller(http, server.endpoint), http)
        job = _openapi_job(gw, "oss://bucket/code.zip", "true")
        assert job["status"] == "Failed" and "--oss-root" in job["message"], job["message"]


# --------------------------------------------------------------------------- Ray's own client
@pytest.fixture
def ray_client(gw, monkeypatch):
    from tests.ray_oracle import require

    require("ray.job_submission")
    from ray.job_submission import JobSubmissionClient

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_JOB_HEADERS", raising=False)

    def make(c: Cluster, token: str | None = None):
        return JobSubmissionClient(c.job_url, headers={"ray-token": c.token if token is None else token})

    return make


def test_ray_client_submits_a_local_working_dir_and_manages_jobs(gw, ray_client, tmp_path):
    import asyncio

    from ray.job_submission import JobStatus

    c = gw.cluster()
    client = ray_client(c)
    assert gw.emulator.stats.ray_jobs_calls["GetVersion"] == 2  # the client checks the version twice
    code = tmp_path / "project"
    code.mkdir()
    (code / "main.py").write_text("import os\nprint('hello from', os.environ['WHO'])\n")
    sid = client.submit_job(entrypoint="python main.py", runtime_env={"working_dir": str(code), "env_vars": {"WHO": "ray"}})
    calls = gw.emulator.stats.ray_jobs_calls
    assert calls["GetPackage"] == 1 and calls["UploadPackage"] == 1 and calls["SubmitJob"] == 1
    wait_for(lambda: client.get_job_status(sid) in (JobStatus.SUCCEEDED, JobStatus.FAILED), what="the job to end")
    info = client.get_job_info(sid)
    assert info.status == JobStatus.SUCCEEDED, info.message
    assert info.runtime_env["working_dir"].startswith("gcs://_ray_pkg_") and info.driver_exit_code == 0
    assert client.get_job_logs(sid) == "hello from ray\n"
    assert [j.submission_id for j in client.list_jobs()] == [sid]

    async def tail(job_id: str) -> str:
        return "".join([chunk async for chunk in client.tail_job_logs(job_id)])

    assert asyncio.run(tail(sid)) == "hello from ray\n"  # the socket closes once the job has ended

    long_job = client.submit_job(entrypoint=_py("import time; print('started', flush=True); time.sleep(60)"))
    wait_for(lambda: client.get_job_logs(long_job) == "started\n", what="the long job to start")
    assert client.stop_job(long_job) is True
    wait_for(lambda: client.get_job_status(long_job) == JobStatus.STOPPED, what="the long job to stop")
    with pytest.raises(RuntimeError, match="non-terminal state"):
        busy = client.submit_job(entrypoint=_py("import time; time.sleep(60)"))
        wait_for(lambda: client.get_job_status(busy) == JobStatus.RUNNING)
        try:
            client.delete_job(busy)
        finally:
            client.stop_job(busy)
    with pytest.raises(RuntimeError, match="already exists"):
        client.submit_job(entrypoint="true", submission_id=sid)
    assert client.delete_job(sid) is True
    with pytest.raises(RuntimeError, match="does not exist"):
        client.get_job_info(sid)


def test_ray_client_tail_streams_while_the_job_runs(gw, ray_client, tmp_path):
    import asyncio

    c = gw.cluster()
    client = ray_client(c)
    go = tmp_path / "go"
    code = f"import os, time\nprint('one', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\nprint('two')"
    sid = client.submit_job(entrypoint=_py(code))

    async def tail() -> list[str]:
        chunks = []
        async for chunk in client.tail_job_logs(sid):
            chunks.append(chunk)
            if "one" in "".join(chunks) and not go.exists():
                assert "two" not in "".join(chunks)
                go.write_text("")  # release the job only once its first line has streamed
        return chunks

    chunks = asyncio.run(asyncio.wait_for(tail(), timeout=30))
    assert "".join(chunks) == "one\ntwo\n" and len(chunks) >= 2


def test_ray_client_refuses_a_wrong_token(gw, ray_client):
    c = gw.cluster()
    with pytest.raises(Exception, match="Authentication failed") as err:
        ray_client(c, token="not-the-token")
    assert c.token not in str(err.value)
    with pytest.raises(Exception, match="Authentication required"):
        from ray.job_submission import JobSubmissionClient

        JobSubmissionClient(c.job_url)
    ray_client(c)  # the right token works


def test_ray_client_tail_of_an_unknown_job_is_refused(gw, ray_client):
    import asyncio

    c = gw.cluster()
    client = ray_client(c)

    async def tail() -> None:
        async for _ in client.tail_job_logs("raysubmit_unknown"):
            pass

    with pytest.raises(Exception, match="404"):
        asyncio.run(tail())
    assert gw.emulator.stats.ray_jobs_calls["TailJobLogs"] == 1


# --------------------------------------------------------------------------- configuration
def test_cli_oss_root_flag_and_in_process_gateway(tmp_path):
    import asyncio

    from airflow_provider_emr_ray.emulator import create_app
    from airflow_provider_emr_ray.emulator.__main__ import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args(["--oss-root", str(tmp_path)])).oss_root == str(tmp_path)
    assert config_from_args(build_parser().parse_args([])).oss_root is None

    async def run() -> None:  # the gateway also answers over httpx.ASGITransport (no server)
        app = create_app(EmulatorConfig(**FAST_DELAYS, data_dir=str(tmp_path / "data")))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu.local") as http:
                store = app.emulator.store
                cid = store.create_cluster(store.config.workspace_id, {"name": "x", "displayReleaseVersion": RELEASE,
                                                                        "headSpec": {"cpu": "4", "memory": "16Gi"}})  # fmt: skip
                token = store.get_cluster(store.config.workspace_id, cid)["submitToken"]
                r = await http.get(RAY_GATEWAY_PREFIX + "/api/version", headers={"ray-token": token})
                assert r.status_code == 200 and r.json()["version"] == "4"
                assert (await http.get(RAY_GATEWAY_PREFIX + "/api/jobs/")).status_code == 401
        finally:
            app.emulator.close()

    asyncio.run(run())
