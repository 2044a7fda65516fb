"""The hook's Ray Jobs API path against mocked transports: requests, headers, the jobUrl prefix,
GetRayCluster resolution, retries, error mapping, uploads and secrecy of the ray-token."""

from __future__ import annotations

import json
import logging
import pickle

import httpx
import pytest

from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayError,
    EmrRayJobAlreadyExistsError,
    EmrRayNotFoundError,
    EmrRayOutcomeUnknownError,
    EmrRayPackageUploadRefusedError,
    EmrRayValidationError,
)
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from tests.conftest import TEST_WORKSPACE
from tests.hooks.test_emr_ray import conn_env

TOKEN = "rt-SECRET-ray-token-0123456789abcdef"
BASE = "http://gw.test/ray-gateway"
CLUSTER = "rc-abc123"


class Gateway:
    """A fake EMR OpenAPI (GetRayCluster) plus a fake Ray Jobs API under /ray-gateway."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.packages: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.faults: list[httpx.Response | Exception] = []
        self.refuse_packages: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        self.bodies.append(body)
        path = request.url.path
        if path.startswith("/api/v1/workspaces/"):
            return httpx.Response(200, json={"clusterId": CLUSTER, "state": "Running", "submitToken": TOKEN,
                                             "jobUrl": BASE, "jobUrlInner": "http://inner.test/gw"})  # fmt: skip
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return fault
        prefix = "/ray-gateway" if request.url.host == "gw.test" else "/gw"
        assert path.startswith(prefix + "/api/"), path
        path = path[len(prefix) :]
        if request.headers.get("ray-token") != TOKEN:
            return httpx.Response(401, text="bad token")
        if path.startswith("/api/packages/gcs/"):
            if self.refuse_packages:
                return httpx.Response(self.refuse_packages, text="nope")
            name = path.rsplit("/", 1)[1]
            if request.method == "GET":
                return httpx.Response(200 if name in self.packages else 404)
            self.packages[name] = body
            return httpx.Response(200)
        if path == "/api/jobs/" and request.method == "POST":
            data = json.loads(body)
            sid = data.get("submission_id") or "raysubmit_X"
            if sid in self.jobs:
                return httpx.Response(500, text="Traceback ...\nValueError: Job with submission_id " + sid + " already exists. Please use a different submission_id.")
            self.jobs[sid] = {"submission_id": sid, "status": "PENDING", "entrypoint": data["entrypoint"],
                              "runtime_env": data.get("runtime_env"), "type": "SUBMISSION", "driver_info": None}  # fmt: skip
            return httpx.Response(200, json={"job_id": None, "submission_id": sid})
        if path == "/api/jobs/":
            return httpx.Response(200, json=list(self.jobs.values()))
        parts = path.split("/")  # '', api, jobs, id, [stop|logs]
        sid = parts[3]
        if sid not in self.jobs:
            return httpx.Response(404, text=f"Job {sid} does not exist")
        if len(parts) == 5 and parts[4] == "stop":
            return httpx.Response(200, json={"stopped": True})
        if len(parts) == 5 and parts[4] == "logs":
            return httpx.Response(200, json={"logs": "hello\n"})
        if request.method == "DELETE":
            return httpx.Response(200, json={"deleted": True})
        return httpx.Response(200, json=self.jobs[sid])


@pytest.fixture
def gateway():
    return Gateway()


@pytest.fixture
def sleeps(monkeypatch):
    got: list[float] = []
    monkeypatch.setattr("airflow_provider_emr_ray.hooks.emr_ray._sleep", got.append)

    async def fake(delay):
        got.append(delay)

    monkeypatch.setattr("airflow_provider_emr_ray.hooks.emr_ray._asleep", fake)
    return got


def make_hook(monkeypatch, gateway, **extra):
    conn_id = conn_env(monkeypatch, **extra)
    return EmrRayHook(conn_id, transport=httpx.MockTransport(gateway), async_transport=httpx.MockTransport(gateway),
                      max_retries=2)  # fmt: skip


def ray_requests(gateway):
    return [r for r in gateway.requests if "/api/v1/" not in r.url.path]


def test_submit_resolves_the_cluster_joins_the_prefix_and_sends_the_token(monkeypatch, gateway, sleeps, caplog):
    hook = make_hook(monkeypatch, gateway)
    with caplog.at_level(logging.DEBUG):
        sid = hook.ray_submit_job(CLUSTER, entrypoint="python x.py", submission_id="s-1", metadata={"a": "b"},
                                  entrypoint_num_cpus=1, entrypoint_resources={"r": 1.0})  # fmt: skip
    assert sid == "s-1"
    get_cluster = gateway.requests[0]
    assert get_cluster.url.path == f"/api/v1/workspaces/{TEST_WORKSPACE}/rayCluster/{CLUSTER}"
    (post,) = ray_requests(gateway)
    assert str(post.url) == f"{BASE}/api/jobs/" and post.method == "POST"
    assert post.headers["ray-token"] == TOKEN and "authorization" not in post.headers
    assert json.loads(post.content) == {"entrypoint": "python x.py", "submission_id": "s-1", "metadata": {"a": "b"},
                                        "entrypoint_num_cpus": 1, "entrypoint_resources": {"r": 1.0}}  # fmt: skip
    assert TOKEN not in caplog.text
    assert not hasattr(hook, "_token") and TOKEN not in repr(vars(hook))


def test_internal_endpoint_from_the_argument_and_the_connection_extra(monkeypatch, gateway, sleeps):
    hook = make_hook(monkeypatch, gateway)
    hook.ray_list_jobs(CLUSTER, internal=True)
    assert ray_requests(gateway)[-1].url.host == "inner.test"
    hook2 = make_hook(monkeypatch, gateway, ray_jobs_endpoint="internal")
    hook2.ray_list_jobs(CLUSTER)
    assert str(ray_requests(gateway)[-1].url) == "http://inner.test/gw/api/jobs/"
    hook2.ray_list_jobs(CLUSTER, internal=False)
    assert ray_requests(gateway)[-1].url.host == "gw.test"
    with pytest.raises(EmrRayValidationError, match="ray_jobs_endpoint"):
        make_hook(monkeypatch, gateway, ray_jobs_endpoint="vpc").ray_list_jobs(CLUSTER)
    with pytest.raises(EmrRayValidationError, match="internal"):
        hook.ray_list_jobs(CLUSTER, internal="yes")


def test_get_list_stop_delete_logs(monkeypatch, gateway, sleeps):
    hook = make_hook(monkeypatch, gateway)
    target = RayJobsTarget(BASE, TOKEN, CLUSTER)
    hook.ray_submit_job(target, entrypoint="python x.py", submission_id="s-2")
    job = hook.ray_get_job(target, "s-2")
    assert job.submission_id == "s-2" and job.status == "PENDING" and job.job_status == "Pending"
    assert job.model_extra.get("type") is None or job.type == "SUBMISSION"
    assert [j.submission_id for j in hook.ray_list_jobs(target)] == ["s-2"]
    assert hook.ray_stop_job(target, "s-2") is True
    assert hook.ray_get_job_logs(target, "s-2") == "hello\n"
    assert hook.ray_delete_job(target, "s-2") is True
    methods = [(r.method, r.url.path) for r in ray_requests(gateway)]
    assert methods[-4:] == [("GET", "/ray-gateway/api/jobs/"), ("POST", "/ray-gateway/api/jobs/s-2/stop"),
                            ("GET", "/ray-gateway/api/jobs/s-2/logs"), ("DELETE", "/ray-gateway/api/jobs/s-2")]  # fmt: skip
    assert not any(r.url.host == "emr.test" for r in gateway.requests)  # a given target needs no GetRayCluster


def test_not_found_and_duplicate(monkeypatch, gateway, sleeps):
    hook = make_hook(monkeypatch, gateway)
    target = RayJobsTarget(BASE, TOKEN, CLUSTER)
    with pytest.raises(EmrRayNotFoundError, match="'nope' not found on cluster rc-abc123"):
        hook.ray_get_job(target, "nope")
    hook.ray_submit_job(target, entrypoint="python x.py", submission_id="dup")
    with pytest.raises(EmrRayJobAlreadyExistsError) as info:
        hook.ray_submit_job(target, entrypoint="python x.py", submission_id="dup")
    assert info.value.submission_id == "dup" and isinstance(info.value, EmrRayError)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is EmrRayJobAlreadyExistsError and again.submission_id == "dup"
    assert sleeps == []  # neither is retried


def test_rejected_token_names_the_cluster_never_the_token(monkeypatch, gateway, sleeps, caplog):
    hook = make_hook(monkeypatch, gateway)
    gateway.faults = [httpx.Response(403, text=f"token {TOKEN} rejected")]
    with caplog.at_level(logging.DEBUG), pytest.raises(EmrRayAuthError) as info:
        hook.ray_get_job(RayJobsTarget(BASE, TOKEN, CLUSTER), "s")
    assert "ray-token" in str(info.value) and CLUSTER in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value) and TOKEN not in caplog.text
    assert TOKEN not in repr(RayJobsTarget(BASE, TOKEN, CLUSTER))


def test_error_texts_are_scrubbed_of_the_token(monkeypatch, gateway, sleeps, caplog):
    hook = make_hook(monkeypatch, gateway)
    gateway.faults = [httpx.Response(400, text=f"bad request, header ray-token={TOKEN}"),
                      httpx.Response(503, text=f"busy {TOKEN}"), httpx.Response(503, text=f"busy {TOKEN}"),
                      httpx.Response(503, text=f"busy {TOKEN}")]  # fmt: skip
    target = RayJobsTarget(BASE, TOKEN, CLUSTER)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(EmrRayError) as info:
            hook.ray_get_job(target, "s")
        assert TOKEN not in str(info.value) and "bad request" in str(info.value)
        with pytest.raises(EmrRayError) as info:
            hook.ray_get_job(target, "s")
    assert info.value.status == 503 and TOKEN not in str(info.value) and TOKEN not in caplog.text
    assert len(sleeps) == 2  # max_retries=2


def test_retry_rules_submit_is_not_resent_reads_are(monkeypatch, gateway, sleeps):
    hook = make_hook(monkeypatch, gateway)
    target = RayJobsTarget(BASE, TOKEN, CLUSTER)
    gateway.faults = [httpx.ReadTimeout("lost")]
    with pytest.raises(EmrRayOutcomeUnknownError):
        hook.ray_submit_job(target, entrypoint="python x.py", submission_id="s-3")
    assert len([r for r in ray_requests(gateway) if r.method == "POST"]) == 1
    gateway.faults = [httpx.ConnectError("refused"), httpx.Response(429, text="slow down", headers={"retry-after": "1"})]
    assert hook.ray_submit_job(target, entrypoint="python x.py", submission_id="s-4") == "s-4"
    assert sleeps[-1] == 1.0 and len(sleeps) == 2
    gateway.faults = [httpx.ReadTimeout("lost"), httpx.Response(502, text="bad gateway")]
    assert hook.ray_get_job(target, "s-4").submission_id == "s-4"
    assert len(sleeps) == 4


def test_local_working_dir_and_py_modules_are_uploaded_once(monkeypatch, gateway, sleeps, tmp_path):
    hook = make_hook(monkeypatch, gateway)
    target = RayJobsTarget(BASE, TOKEN, CLUSTER)
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "main.py").write_text("print(1)\n")
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "__init__.py").write_text("")
    (tmp_path / "one.py").write_text("X = 1\n")
    env = {"working_dir": str(tmp_path / "wd"), "py_modules": [str(tmp_path / "mod"), "oss://b/m.zip", str(tmp_path / "one.py")],
           "env_vars": {"A": "1"}}  # fmt: skip
    hook.ray_submit_job(target, entrypoint="python main.py", submission_id="u-1", runtime_env=env)
    sent = json.loads(ray_requests(gateway)[-1].content)["runtime_env"]
    assert sent["working_dir"].startswith("gcs://_ray_pkg_") and sent["py_modules"][1] == "oss://b/m.zip"
    assert all(u.startswith("gcs://") for u in (sent["py_modules"][0], sent["py_modules"][2]))
    assert sent["env_vars"] == {"A": "1"} and env["working_dir"] == str(tmp_path / "wd")  # input untouched
    puts = [r for r in ray_requests(gateway) if r.method == "PUT"]
    assert len(puts) == 3 and all(r.headers["content-type"] == "application/octet-stream" for r in puts)
    assert all(r.headers["ray-token"] == TOKEN and "transfer-encoding" not in r.headers for r in puts)
    # the same code again: every package is present, nothing is uploaded
    hook.ray_submit_job(target, entrypoint="python main.py", submission_id="u-2", runtime_env=env)
    assert len([r for r in ray_requests(gateway) if r.method == "PUT"]) == 3
    assert hook.ray_upload_package(target, str(tmp_path / "wd")) == sent["working_dir"]


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_refused_upload_says_to_use_oss(monkeypatch, gateway, sleeps, tmp_path, status):
    hook = make_hook(monkeypatch, gateway)
    gateway.refuse_packages = status
    (tmp_path / "main.py").write_text("print(1)\n")
    with pytest.raises(EmrRayPackageUploadRefusedError, match='working_dir="oss://'):
        hook.ray_submit_job(RayJobsTarget(BASE, TOKEN, CLUSTER), entrypoint="python main.py",
                            runtime_env={"working_dir": str(tmp_path)})  # fmt: skip
    assert not any(r.method == "POST" for r in ray_requests(gateway))


def test_validation_before_any_request(monkeypatch, gateway, sleeps, tmp_path):
    hook = make_hook(monkeypatch, gateway)
    with pytest.raises(EmrRayValidationError, match=r"runtime_env.py_modules\[1\]"):
        hook.ray_submit_job(CLUSTER, entrypoint="x", runtime_env={"py_modules": ["oss://a/b.zip", str(tmp_path / "missing")]})
    with pytest.raises(EmrRayValidationError, match="runtime_env.working_dir"):
        hook.ray_submit_job(CLUSTER, entrypoint="x", runtime_env={"working_dir": str(tmp_path / "missing")})
    with pytest.raises(EmrRayValidationError, match="entrypoint"):
        hook.ray_submit_job(CLUSTER, entrypoint=" ")
    with pytest.raises(EmrRayValidationError, match="cluster_id"):
        hook.ray_get_job("a/b", "s")
    assert gateway.requests == []


def test_a_package_above_rays_limit_fails_before_any_upload(monkeypatch, gateway, sleeps, tmp_path):
    monkeypatch.setattr("airflow_provider_emr_ray.client.packaging.GCS_STORAGE_MAX_SIZE", 1000)
    hook = make_hook(monkeypatch, gateway)
    (tmp_path / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(EmrRayValidationError, match=r"runtime_env.working_dir: .* packs to 0.00 MiB, at or above"):
        hook.ray_submit_job(RayJobsTarget(BASE, TOKEN, CLUSTER), entrypoint="x", runtime_env={"working_dir": str(tmp_path)})
    assert [r.method for r in ray_requests(gateway)] == ["GET"]  # looked up, never uploaded


async def test_async_twins(monkeypatch, gateway, sleeps, tmp_path):
    hook = make_hook(monkeypatch, gateway)
    (tmp_path / "main.py").write_text("print(1)\n")
    sid = await hook.aray_submit_job(CLUSTER, entrypoint="python main.py", submission_id="a-1",
                                     runtime_env={"working_dir": str(tmp_path)})  # fmt: skip
    assert sid == "a-1"
    assert (await hook.aray_get_job(CLUSTER, "a-1")).status == "PENDING"
    assert len(await hook.aray_list_jobs(CLUSTER)) == 1
    assert await hook.aray_stop_job(CLUSTER, "a-1") is True
    assert await hook.aray_get_job_logs(CLUSTER, "a-1") == "hello\n"
    assert await hook.aray_delete_job(CLUSTER, "a-1") is True
    assert (await hook.aray_upload_package(CLUSTER, str(tmp_path))).startswith("gcs://_ray_pkg_")
    puts = [r for r in ray_requests(gateway) if r.method == "PUT"]
    assert len(puts) == 1 and gateway.packages  # streamed from the temporary zip
    with pytest.raises(EmrRayJobAlreadyExistsError):
        await hook.aray_submit_job(CLUSTER, entrypoint="python main.py", submission_id="a-1")
