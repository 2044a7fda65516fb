"""EmrRayHook against mocked transports: requests, signing, errors, retries, credentials, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.client import signing
from airflow_provider_emr_ray.client.credentials import Credential
from airflow_provider_emr_ray.exceptions import (EmrRayAuthError, EmrRayConnectionError, EmrRayError, EmrRayNotFoundError,
                                                 EmrRayOutcomeUnknownError, EmrRayServerError, EmrRayThrottlingError,
                                                 EmrRayValidationError)  # fmt: skip
from airflow_provider_emr_ray.client.retry import Outcome, RetryPolicy
from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from tests.conftest import TEST_AK, TEST_REGION, TEST_SECRET, TEST_WORKSPACE

WS = f"/api/v1/workspaces/{TEST_WORKSPACE}"
STS_TOKEN = "CAISsts-token-value-should-never-be-logged"


def conn_env(monkeypatch, conn_id="emr_ray_test", *, endpoint="http://emr.test", **extra):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(endpoint, **extra))
    return conn_id


class Recorder:
    """A transport handler that records requests and answers from a queue or a default."""

    def __init__(self, answers=None, default=None):
        self.requests: list[httpx.Request] = []
        self.answers = list(answers or [])
        self.default = default or (lambda request: httpx.Response(200, json={"requestId": "R1"}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):  # a fresh copy: a response object serves one request
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
        return answer(request)


def make_hook(monkeypatch, recorder, *, retries=3, **extra):
    conn_id = conn_env(monkeypatch, **extra)
    sleeps: list[float] = []
    monkeypatch.setattr("airflow_provider_emr_ray.hooks.emr_ray._sleep", sleeps.append)

    async def fake_async_sleep(delay):
        sleeps.append(delay)

    monkeypatch.setattr("airflow_provider_emr_ray.hooks.emr_ray._asleep", fake_async_sleep)
    transport = httpx.MockTransport(recorder)
    hook = EmrRayHook(
        conn_id,
        retry_policy=RetryPolicy(max_retries=retries, base_delay=0.5, max_delay=4.0),
        transport=transport,
        async_transport=transport,
    )
    hook.sleeps = sleeps
    return hook


def verify_signature(request: httpx.Request, secret: str = TEST_SECRET) -> dict[str, str]:
    """Recompute the V3 signature of a request as received; return the Authorization parts."""
    parts = signing.parse_authorization(request.headers["authorization"])
    names = parts["SignedHeaders"].split(";")
    headers = [(n, request.headers[n]) for n in names]
    query = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
    expected, _ = signing.signature(
        method=request.method,
        path=request.url.raw_path.split(b"?")[0].decode(),
        query=query,
        headers=headers,
        payload_hash=signing.hash_payload(request.content),
        secret=secret,
    )
    assert parts["Signature"] == expected
    assert request.headers["x-acs-content-sha256"] == signing.hash_payload(request.content)
    return parts


CLUSTER = {
    "requestId": "R",
    "clusterId": "ray-abc",
    "name": "c1",
    "state": "Running",
    "submitToken": "tok-secret-123",
    "dashboardUrl": "https://gw/dashboard?token=dash-secret-456",
    "headSpec": {"cpu": "2", "memory": "8Gi"},
}
JOB = {"requestId": "R", "submissionId": "rj-1", "status": "Running", "tags": [{"key": "workflowId", "value": "wf"}]}

# (method name, args, kwargs, expected HTTP method, expected path, expected query, expected body, response)
CALLS = [
    ("create_ray_cluster", (), {"name": "c1", "head_spec": {"cpu": 2, "memory": "8Gi"},
     "worker_spec": [{"group_name": "g1", "replica": 2, "cpu": "4", "memory": "16Gi"}], "volume_ids": ["v-1"],
     "extra_param": {"k": "v"}},
     "POST", f"{WS}/rayCluster", {}, {"name": "c1", "headSpec": {"cpu": "2", "memory": "8Gi"},
     "workerSpec": [{"groupName": "g1", "replica": 2, "cpu": "4", "memory": "16Gi"}], "volumeIds": ["v-1"],
     "extraParam": '{"k":"v"}'}, {"requestId": "R", "clusterId": "ray-abc"}),
    ("update_ray_cluster", ("ray-abc",), {"description": "d2"}, "POST", f"{WS}/rayCluster/ray-abc", {},
     {"description": "d2"}, {"requestId": "R", "clusterId": "ray-abc"}),
    ("get_ray_cluster", ("ray-abc",), {}, "GET", f"{WS}/rayCluster/ray-abc", {}, None, CLUSTER),
    ("list_ray_clusters", (), {"page_size": 10}, "GET", f"{WS}/rayCluster", {"pageNum": "1", "pageSize": "10"}, None,
     {"requestId": "R", "rayClusters": [CLUSTER], "totalCount": 1}),
    ("start_ray_cluster", ("ray-abc",), {}, "POST", f"{WS}/rayCluster/ray-abc/start", {}, {}, {"requestId": "R"}),
    ("stop_ray_cluster", ("ray-abc",), {"instance_id": "i-1"}, "POST", f"{WS}/rayCluster/ray-abc/stop", {},
     {"instanceId": "i-1"}, {"requestId": "R"}),
    ("delete_ray_cluster", ("ray-abc",), {}, "DELETE", f"{WS}/rayCluster/ray-abc", {}, None, {"requestId": "R"}),
    ("submit_ray_job", (), {"entrypoint": "python main.py", "cluster_id": "ray-abc", "tags": {"workflowId": "wf"},
     "runtime_env_json": {"env_vars": {"A": "1"}}, "entrypoint_num_cpus": 1, "active_deadline_seconds": 60},
     "POST", f"{WS}/rayJob", {}, {"entrypoint": "python main.py", "clusterId": "ray-abc",
     "tags": [{"key": "workflowId", "value": "wf"}], "runtimeEnvJson": '{"env_vars":{"A":"1"}}',
     "entrypointNumCpus": "1", "activeDeadlineSeconds": 60}, {"requestId": "R", "submissionId": "rj-1"}),
    ("get_ray_job", ("rj-1",), {}, "GET", f"{WS}/rayJob/rj-1", {}, None, JOB),
    ("list_ray_jobs", (), {"name": "my job", "task_biz_id": "t+1", "submit_time_start": 1000, "submit_time_end": 2000},
     "GET", f"{WS}/rayJob", {"name": "my job", "taskBizId": "t+1", "submitTime": '{"startTime":1000,"endTime":2000}',
     "pageNum": "1", "pageSize": "100"}, None, {"requestId": "R", "rayJobs": [JOB], "totalCount": 1}),
    ("cancel_ray_job", ("rj-1",), {}, "POST", f"{WS}/rayJob/rj-1/cancel", {}, None, {"requestId": "R", "success": True}),
    ("list_ray_logs", ("ray-abc-head-1",), {"prefix": "logs/", "max_keys": 10},
     "GET", f"/api/interactive/v1/workspace/{TEST_WORKSPACE}/ray/ray-abc-head-1/logs", {"prefix": "logs/", "maxKeys": "10"},
     None, {"requestId": "R", "code": "200", "data": {"objectList": [{"name": "job.log", "path": "logs/job.log"}]}}),
    ("get_ray_log", ("ray-abc-head-1",), {"path": "logs/job.log"},
     "GET", f"/api/interactive/v1/workspace/{TEST_WORKSPACE}/ray/ray-abc-head-1/log", {"path": "logs/job.log"},
     None, {"requestId": "R", "data": {"accessUrl": "http://emr.test/file"}}),
]  # fmt: skip
ACTIONS = {
    "create_ray_cluster": "CreateRayCluster", "update_ray_cluster": "UpdateRayCluster", "get_ray_cluster": "GetRayCluster",
    "list_ray_clusters": "ListRayCluster", "start_ray_cluster": "StartRayCluster", "stop_ray_cluster": "StopRayCluster",
    "delete_ray_cluster": "DeleteRayCluster", "submit_ray_job": "SubmitRayJob", "get_ray_job": "GetRayJob",
    "list_ray_jobs": "ListRayJob", "cancel_ray_job": "CancelRayJob", "list_ray_logs": "ListRayLogs", "get_ray_log": "GetRayLog",
}  # fmt: skip


def test_all_thirteen_calls_are_covered():
    assert {c[0] for c in CALLS} == set(ACTIONS) and len(ACTIONS) == 13


def _check_request(request, method, path, query, body, action):
    assert request.method == method
    assert request.url.raw_path.split(b"?")[0].decode() == path
    assert dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True)) == query
    if body is None:
        assert request.content == b""
        assert "content-type" not in request.headers
    else:
        assert json.loads(request.content) == body
        assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["x-acs-action"] == action
    assert request.headers["x-acs-version"] == "2023-08-08"
    assert request.headers["host"] == "emr.test"
    parts = verify_signature(request)
    assert parts["Credential"] == TEST_AK
    assert {"host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} <= set(
        parts["SignedHeaders"].split(";")
    )


@pytest.mark.parametrize("call", CALLS, ids=[c[0] for c in CALLS])
def test_sync_call_request_shape(monkeypatch, call):
    name, args, kwargs, method, path, query, body, response = call
    rec = Recorder(default=httpx.Response(200, json=response))
    hook = make_hook(monkeypatch, rec)
    result = getattr(hook, name)(*args, **kwargs)
    assert len(rec.requests) == 1
    _check_request(rec.requests[0], method, path, query, body, ACTIONS[name])
    if name in ("create_ray_cluster", "update_ray_cluster"):
        assert result == "ray-abc"
    elif name == "submit_ray_job":
        assert result == "rj-1"
    elif name == "get_ray_cluster":
        assert result.cluster_id == "ray-abc" and result.state == "Running"
    elif name == "get_ray_job":
        assert result.submission_id == "rj-1" and result.status == "Running"
    elif name == "get_ray_log":
        assert result == "http://emr.test/file"
    elif name == "list_ray_logs":
        assert result["objectList"][0]["name"] == "job.log"
    elif name == "cancel_ray_job":
        assert result is True


@pytest.mark.parametrize("call", CALLS, ids=[c[0] for c in CALLS])
async def test_async_twin_sends_the_same_request(monkeypatch, call):
    name, args, kwargs, method, path, query, body, response = call
    rec = Recorder(default=httpx.Response(200, json=response))
    hook = make_hook(monkeypatch, rec)
    sync_result = getattr(hook, name)(*args, **kwargs)
    async_result = await getattr(hook, "a" + name)(*args, **kwargs)
    assert len(rec.requests) == 2
    _check_request(rec.requests[1], method, path, query, body, ACTIONS[name])
    assert rec.requests[0].content == rec.requests[1].content
    assert rec.requests[0].headers["x-acs-signature-nonce"] != rec.requests[1].headers["x-acs-signature-nonce"]
    if hasattr(sync_result, "model_dump"):
        assert sync_result.model_dump() == async_result.model_dump()
    elif isinstance(sync_result, list):
        assert [r.model_dump() for r in sync_result] == [r.model_dump() for r in async_result]
    else:
        assert sync_result == async_result


def test_list_walks_all_pages(monkeypatch):
    pages = {1: [dict(CLUSTER, clusterId=f"ray-{i}") for i in range(2)], 2: [dict(CLUSTER, clusterId="ray-2")]}

    def answer(request):
        q = dict(parse_qsl(request.url.query.decode()))
        return httpx.Response(200, json={"requestId": "R", "rayClusters": pages.get(int(q["pageNum"]), [])})

    rec = Recorder(default=answer)
    hook = make_hook(monkeypatch, rec)
    clusters = hook.list_ray_clusters(page_size=2)
    assert [c.cluster_id for c in clusters] == ["ray-0", "ray-1", "ray-2"]
    assert len(rec.requests) == 2


def test_list_jobs_stops_at_total_count(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "rayJobs": [JOB, JOB], "totalCount": 2}))
    hook = make_hook(monkeypatch, rec)
    assert len(hook.list_ray_jobs(page_size=2)) == 2
    assert len(rec.requests) == 1


# ------------------------------------------------------------------ errors and retries


def _err(status, code, message="m", headers=None, casing="lower"):
    body = {"requestId": "RID-1", "code": code, "message": message}
    if casing == "upper":
        body = {"RequestId": "RID-1", "Code": code, "Message": message}
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "error_cls"),
    [
        (_err(404, "RayCluster.NotFound"), EmrRayNotFoundError),
        (_err(400, "SignatureDoesNotMatch", casing="upper"), EmrRayAuthError),
        (_err(404, "InvalidAccessKeyId.NotFound"), EmrRayAuthError),
        (_err(403, "Forbidden.RAM"), EmrRayAuthError),
        (_err(400, "InvalidParameter"), EmrRayError),
    ],
)
def test_client_errors_are_mapped_and_never_retried(monkeypatch, response, error_cls):
    rec = Recorder(default=response)
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(error_cls) as info:
        hook.get_ray_cluster("ray-abc")
    assert type(info.value) is error_cls
    assert len(rec.requests) == 1
    assert info.value.request_id == "RID-1" and info.value.status == response.status_code
    assert info.value.code in str(info.value) and "RID-1" in str(info.value)


@pytest.mark.parametrize(
    ("failure", "error_cls"),
    [
        (_err(500, "InternalError"), EmrRayServerError),
        (_err(503, "ServiceUnavailable"), EmrRayServerError),
        (_err(429, "Throttling.User"), EmrRayThrottlingError),
        (_err(400, "Throttling.Api"), EmrRayThrottlingError),
        (httpx.ConnectError("refused"), EmrRayConnectionError),
        (httpx.ReadTimeout("slow"), EmrRayConnectionError),
        (httpx.RemoteProtocolError("dropped"), EmrRayConnectionError),
        (httpx.Response(200, content=b"{not json"), EmrRayServerError),
    ],
)
def test_transient_failures_are_retried_then_raised(monkeypatch, failure, error_cls):
    rec = Recorder(default=failure)
    hook = make_hook(monkeypatch, rec, retries=3)
    with pytest.raises(error_cls):
        hook.get_ray_cluster("ray-abc")
    assert len(rec.requests) == 4  # first try + 3 retries
    assert len(hook.sleeps) == 3


def test_transient_failure_then_success(monkeypatch):
    rec = Recorder(answers=[_err(503, "ServiceUnavailable"), httpx.ConnectError("x")], default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec)
    assert hook.get_ray_cluster("ray-abc").cluster_id == "ray-abc"
    assert len(rec.requests) == 3
    nonces = {r.headers["x-acs-signature-nonce"] for r in rec.requests}
    assert len(nonces) == 3  # every attempt is signed anew


def test_backoff_is_exponential_with_jitter_and_bounded():
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=4.0)
    for n in range(10):
        ceiling = min(4.0, 0.5 * 2**n)
        delays = [policy.backoff(n) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter


def test_retry_after_is_honoured(monkeypatch):
    rec = Recorder(answers=[_err(429, "Throttling.User", headers={"Retry-After": "7"})], default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec)
    hook.get_ray_cluster("ray-abc")
    assert hook.sleeps == [7.0]


@pytest.mark.parametrize(
    ("headers", "slept"),
    [
        ({"x-acs-retry-after": "1500"}, 1.5),  # milliseconds, as Alibaba Cloud's SDK reads it
        ({"x-acs-retry-after": "2500", "Retry-After": "9"}, 2.5),  # the service's own header first
        ({"x-acs-retry-after": "0", "Retry-After": "3"}, 3.0),  # not a usable wait: the standard one
        ({"x-acs-retry-after": "soon", "Retry-After": "4"}, 4.0),
    ],
)
def test_x_acs_retry_after_is_honoured(monkeypatch, headers, slept):
    rec = Recorder(answers=[_err(429, "Throttling.User", headers=headers)], default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec)
    hook.get_ray_cluster("ray-abc")
    assert hook.sleeps == [slept]


def test_a_throttling_error_carries_the_last_retry_after():
    """What a caller pacing itself (the shared watchers) reads once the hook's retries ran out."""
    from airflow_provider_emr_ray.exceptions import EmrRayThrottlingError

    policy = RetryPolicy(max_retries=0)
    error = policy.decide("ListRayJob", True, Outcome(status=429, payload={"code": "Throttling.User"}, retry_after=12.0), 0).error
    assert isinstance(error, EmrRayThrottlingError) and error.retry_after == 12.0
    bare = policy.decide("ListRayJob", True, Outcome(status=429, payload={}), 0).error
    assert isinstance(bare, EmrRayThrottlingError) and bare.retry_after is None


def test_retry_after_is_capped():
    policy = RetryPolicy(max_retry_after=30)
    decision = policy.decide("GetRayJob", True, Outcome(status=429, payload={}, retry_after=9999), 0)
    assert decision.delay == 30


@pytest.mark.parametrize("method", ["create_ray_cluster", "submit_ray_job", "update_ray_cluster"])
@pytest.mark.parametrize(
    "failure", [_err(500, "InternalError"), _err(503, "ServiceUnavailable"), httpx.ReadTimeout("t"),
                httpx.RemoteProtocolError("dropped"), httpx.Response(200, content=b"<html>")],
)  # fmt: skip
def test_non_idempotent_calls_are_never_resent_after_they_may_have_arrived(monkeypatch, method, failure):
    rec = Recorder(default=failure)
    hook = make_hook(monkeypatch, rec)
    kwargs = {
        "create_ray_cluster": {"name": "c1"},
        "submit_ray_job": {"entrypoint": "python x.py", "cluster_id": "ray-abc"},
        "update_ray_cluster": {"cluster_id": "ray-abc", "description": "d"},
    }[method]
    with pytest.raises(EmrRayOutcomeUnknownError, match="may or may not"):
        getattr(hook, method)(**kwargs)
    assert len(rec.requests) == 1
    assert hook.sleeps == []


@pytest.mark.parametrize("failure", [_err(429, "Throttling.User"), httpx.ConnectError("refused")])
def test_non_idempotent_calls_retry_when_the_request_was_not_executed(monkeypatch, failure):
    rec = Recorder(answers=[failure], default=httpx.Response(200, json={"requestId": "R", "clusterId": "ray-new"}))
    hook = make_hook(monkeypatch, rec)
    assert hook.create_ray_cluster(name="c1") == "ray-new"
    assert len(rec.requests) == 2


async def test_async_retries_use_the_same_policy(monkeypatch):
    rec = Recorder(answers=[_err(503, "ServiceUnavailable"), _err(429, "Throttling.User", headers={"Retry-After": "2"})],
                   default=httpx.Response(200, json=JOB))  # fmt: skip
    hook = make_hook(monkeypatch, rec)
    job = await hook.aget_ray_job("rj-1")
    assert job.status == "Running"
    assert len(rec.requests) == 3
    assert 0.25 <= hook.sleeps[0] <= 0.5 and hook.sleeps[1] == 2.0
    with pytest.raises(EmrRayOutcomeUnknownError):
        rec.default = _err(500, "InternalError")
        await hook.asubmit_ray_job(entrypoint="python x.py", cluster_id="ray-abc")


def captured_log(capfd, caplog) -> str:
    """Airflow 3 logs through structlog to the process's stdout/stderr; read both and caplog."""
    out, err = capfd.readouterr()
    return out + err + caplog.text


def test_one_log_line_per_retry_with_reason_and_delay(monkeypatch, caplog, capfd):
    rec = Recorder(answers=[_err(503, "ServiceUnavailable"), _err(429, "Throttling.User", headers={"Retry-After": "3"})],
                   default=httpx.Response(200, json=CLUSTER))  # fmt: skip
    hook = make_hook(monkeypatch, rec)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        hook.get_ray_cluster("ray-abc")
    # one channel: the records when there are any (Airflow 3.0 also echoes them to stdout)
    lines = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    lines = lines or [line for line in captured_log(capfd, caplog).splitlines() if "retry" in line]
    assert len(lines) == 2
    assert "HTTP 503 ServiceUnavailable" in lines[0] and "retry 1 of 3" in lines[0]
    assert "HTTP 429 Throttling.User" in lines[1] and "in 3.00 s" in lines[1]


# ------------------------------------------------------------------ connection, credentials, secrets


def test_connection_is_read_lazily(monkeypatch):
    hook = EmrRayHook("no_such_connection_anywhere")
    assert hook.emr_ray_conn_id == "no_such_connection_anywhere"  # creating the hook did not read it
    with pytest.raises(Exception, match="no_such_connection_anywhere"):
        hook.get_ray_cluster("ray-abc")


def test_constructor_overrides_region_and_workspace(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    conn_id = conn_env(monkeypatch)
    hook = EmrRayHook(conn_id, region_id="cn-beijing", workspace_id="w-other", transport=httpx.MockTransport(rec))
    hook.get_ray_cluster("ray-abc")
    assert rec.requests[0].url.path == "/api/v1/workspaces/w-other/rayCluster/ray-abc"
    assert hook.settings.region_id == "cn-beijing"


def test_regional_endpoint_when_no_endpoint_given(monkeypatch):
    conn_id = conn_env(monkeypatch, endpoint=None)
    assert EmrRayHook(conn_id).settings.endpoint == f"https://emr-serverless-spark.{TEST_REGION}.aliyuncs.com"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"endpoint": "emr.test:8080"}, "endpoint"),
        ({"endpoint": "ftp://emr.test"}, "endpoint"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -2}, "max_retries"),
        ({"max_retries": "many"}, "max_retries"),
        ({"region_id": None, "endpoint": None}, "region_id"),
        ({"workspace_id": None}, "workspace_id"),
    ],
)
def test_bad_connection_extras_name_the_field_before_any_request(monkeypatch, extra, field):
    rec = Recorder()
    conn_id = conn_env(monkeypatch, **extra)
    hook = EmrRayHook(conn_id, transport=httpx.MockTransport(rec))
    with pytest.raises(EmrRayValidationError) as info:
        hook.get_ray_cluster("ray-abc")
    assert info.value.field == field
    assert rec.requests == []


@pytest.mark.parametrize(
    ("method", "kwargs", "field"),
    [
        ("create_ray_cluster", {"name": ""}, "name"),
        ("create_ray_cluster", {"name": "x" * 65}, "name"),
        ("create_ray_cluster", {"name": "ok", "volume_ids": "v-1"}, "volume_ids"),
        ("create_ray_cluster", {"name": "ok", "extra_param": "{not json"}, "extra_param"),
        ("get_ray_cluster", {"cluster_id": ""}, "cluster_id"),
        ("get_ray_cluster", {"cluster_id": "a/b"}, "cluster_id"),
        ("submit_ray_job", {"entrypoint": "  ", "cluster_id": "ray-abc"}, "entrypoint"),
        ("submit_ray_job", {"entrypoint": "python x.py"}, "cluster_id"),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc", "head_spec": {"cpu": 1, "memory": "4Gi"}}, "head_spec"),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc", "runtime_env_json": "[1]"}, "runtime_env_json"),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc", "entrypoint_num_cpus": 0}, "entrypoint_num_cpus"),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc", "active_deadline_seconds": -5}, "active_deadline_seconds"),
        ("list_ray_jobs", {"submit_time_start": 10, "submit_time_end": 5}, "submit_time_start"),
        ("list_ray_clusters", {"page_size": 0}, "page_size"),
        ("list_ray_clusters", {"page_size": 101}, "page_size"),
        ("get_ray_log", {"instance_id": "i-1", "path": ""}, "path"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_field_before_any_request(monkeypatch, method, kwargs, field):
    rec = Recorder()
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayValidationError) as info:
        getattr(hook, method)(**kwargs)
    assert info.value.field == field, str(info.value)
    assert rec.requests == []


class RotatingProvider:
    """Hands out a new credential on every request, like an expiring STS credential would."""

    secrets = ()

    def __init__(self):
        self.n = 0

    def _next(self):
        self.n += 1
        return Credential(f"STS.AK{self.n}", f"sts-secret-{self.n}", f"token-{self.n}")

    def get(self):
        return self._next()

    async def aget(self):
        return self._next()


async def test_credentials_are_fetched_on_every_request(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    conn_id = conn_env(monkeypatch)
    provider = RotatingProvider()
    transport = httpx.MockTransport(rec)
    hook = EmrRayHook(conn_id, credential_provider=provider, transport=transport, async_transport=transport)
    hook.get_ray_cluster("ray-abc")
    hook.get_ray_cluster("ray-abc")
    await hook.aget_ray_cluster("ray-abc")
    for n, request in enumerate(rec.requests, start=1):
        parts = verify_signature(request, secret=f"sts-secret-{n}")
        assert parts["Credential"] == f"STS.AK{n}"
        assert request.headers["x-acs-security-token"] == f"token-{n}"
        assert "x-acs-security-token" in parts["SignedHeaders"]


def test_sts_connection_sends_signed_token(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec, security_token=STS_TOKEN)
    hook.get_ray_cluster("ray-abc")
    assert rec.requests[0].headers["x-acs-security-token"] == STS_TOKEN
    verify_signature(rec.requests[0])


def test_secrets_never_reach_logs_or_errors(monkeypatch, caplog, capfd):
    """The AccessKey secret and STS token are masked, and never written by the hook at all."""
    rec = Recorder(answers=[_err(503, "x"), httpx.ConnectError("boom")], default=_err(403, "SignatureDoesNotMatch"))
    hook = make_hook(monkeypatch, rec, security_token=STS_TOKEN)
    with caplog.at_level(logging.DEBUG), pytest.raises(EmrRayAuthError) as info:
        hook.get_ray_cluster("ray-abc")
    logged = captured_log(capfd, caplog)
    assert "retry 2 of 3" in logged  # the capture works: the retry lines are there
    text = logged + str(info.value) + repr(info.value) + repr(hook.settings)
    assert TEST_SECRET not in text and STS_TOKEN not in text
    from airflow.providers.common.compat.sdk import redact

    assert TEST_SECRET not in str(redact(f"leak {TEST_SECRET}"))
    assert STS_TOKEN not in str(redact(f"leak {STS_TOKEN}"))


def test_model_repr_hides_cluster_secrets(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    cluster = make_hook(monkeypatch, rec).get_ray_cluster("ray-abc")
    assert "tok-secret-123" not in repr(cluster) and "dash-secret-456" not in str(cluster)


def test_test_connection_ok_and_readable_failure(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "rayClusters": [CLUSTER], "totalCount": 3}))
    hook = make_hook(monkeypatch, rec)
    ok, message = hook.test_connection()
    assert ok and "3 Ray cluster" in message and TEST_WORKSPACE in message
    assert dict(parse_qsl(rec.requests[0].url.query.decode())) == {"pageNum": "1", "pageSize": "1"}
    rec.default = _err(400, "SignatureDoesNotMatch", "The request signature does not conform")
    ok, message = hook.test_connection()
    assert not ok and "SignatureDoesNotMatch" in message and "AccessKey" in message and TEST_SECRET not in message


def test_sync_client_is_reused(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec)
    assert hook.get_conn() is hook.get_conn()


async def test_one_async_client_per_event_loop(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    a, b = make_hook(monkeypatch, rec), make_hook(monkeypatch, rec)
    b._async_transport = a._async_transport
    assert await a.aget_conn() is await b.aget_conn()

    other_loop_client = await asyncio.to_thread(lambda: asyncio.run(a.aget_conn()))
    assert other_loop_client is not await a.aget_conn()


def test_exceptions_survive_pickling():
    import pickle

    err = EmrRayNotFoundError("gone", action="GetRayJob", status=404, code="X.NotFound", request_id="RID")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is EmrRayNotFoundError and back.code == "X.NotFound" and str(back) == str(err)


async def test_secrets_read_in_an_event_loop_are_masked_without_blocking(monkeypatch):
    """In a trigger (a running loop) secrets go through the async masker, not the blocking one."""
    import airflow.sdk.log as sdk_log

    from airflow_provider_emr_ray import redaction as masking
    from airflow_provider_emr_ray.redaction import mask as _mask_secret

    seen_async: list[str] = []
    seen_sync: list[str] = []

    async def fake_amask(secret, name=None):
        seen_async.append(secret)

    monkeypatch.setattr(sdk_log, "amask_secret", fake_amask, raising=False)
    monkeypatch.setattr(version_compat, "mask_secret", lambda secret, name=None: seen_sync.append(secret))
    _mask_secret("in-loop-secret")
    await asyncio.gather(*masking._PENDING)  # the scheduled masking task ran
    assert seen_async == ["in-loop-secret"] and seen_sync == []
    await asyncio.to_thread(_mask_secret, "no-loop-secret")
    assert seen_sync == ["no-loop-secret"]


async def test_a_secret_is_registered_once_per_process(monkeypatch):
    """Thousands of triggers of one connection register its secret once (in a triggerer each
    registration is a message to the supervisor); a failed registration is tried again."""
    import airflow.sdk.log as sdk_log

    from airflow_provider_emr_ray import redaction as masking

    seen: list[str] = []
    fail = [True]

    async def fake_amask(secret, name=None):
        seen.append(secret)
        if fail[0]:
            fail[0] = False
            raise RuntimeError("supervisor went away")

    monkeypatch.setattr(sdk_log, "amask_secret", fake_amask, raising=False)
    monkeypatch.setattr(masking, "_REGISTERED", set())
    with pytest.raises(RuntimeError):
        await masking.amask("once-only-secret")
    for _ in range(3):
        await masking.amask("once-only-secret")
        masking.mask("once-only-secret")
    await asyncio.gather(*masking._PENDING)  # a registration mask() scheduled would have run
    assert seen == ["once-only-secret", "once-only-secret"]
    await masking.amask("another-secret")
    assert seen[-1] == "another-secret"


async def test_overlapping_connection_reads_share_one_read(monkeypatch):
    """Hooks of one connection starting together in one loop read it once; later hooks read it
    again (nothing is cached); other connections are read apart; a failed read fails them all."""
    from airflow.providers.common.compat.sdk import BaseHook

    reads: list[str] = []
    gate = asyncio.Event()

    async def slow_read(conn_id):
        reads.append(conn_id)
        await gate.wait()
        if conn_id == "missing":
            raise EmrRayError("no such connection")
        return await original(conn_id)

    conn_id = conn_env(monkeypatch)
    if version_compat.AIRFLOW_V_3_1_PLUS():
        original = BaseHook.aget_connection
        monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(slow_read))
    else:  # Airflow 3.0: no aget_connection, the blocking read runs in a thread

        async def original(conn_id):
            return await asyncio.to_thread(BaseHook.get_connection, conn_id)

        monkeypatch.setattr(version_compat, "aget_connection", lambda conn_id, _get: slow_read(conn_id))
    hooks = [EmrRayHook(conn_id) for _ in range(50)]
    pending = [asyncio.ensure_future(h.asettings()) for h in hooks]
    missing = [asyncio.ensure_future(EmrRayHook("missing").asettings()) for _ in range(3)]
    while len(reads) < 2:  # both shared reads started: every hook task ran before them (FIFO)
        await asyncio.sleep(0)
    gate.set()
    settings = await asyncio.gather(*pending)
    assert reads == [conn_id, "missing"]
    assert {s.workspace_id for s in settings} == {TEST_WORKSPACE}
    for task in missing:
        with pytest.raises(EmrRayError, match="no such connection"):
            await task
    await EmrRayHook(conn_id).asettings()
    assert reads == [conn_id, "missing", conn_id]


def test_hooks_of_one_connection_share_one_credential_provider(monkeypatch):
    """Thousands of triggers on one connection must not each assume the role: one provider per config."""
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    conn_id = conn_env(monkeypatch)
    first = EmrRayHook(conn_id, transport=httpx.MockTransport(rec)).settings.credentials
    assert EmrRayHook(conn_id).settings.credentials is first
    other = conn_env(monkeypatch, conn_id="emr_ray_other", workspace_id="w-other", security_token=STS_TOKEN)
    assert EmrRayHook(other).settings.credentials is not first


def test_null_extras_saved_by_the_ui_form_mean_defaults(monkeypatch):
    """Airflow's connection form saves empty extras as JSON null."""
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    conn = json.loads(conn_json("http://emr.test"))
    nulls = ("timeout", "max_retries", "security_token", "role_arn", "credential_type", "oidc_provider_arn", "duration_seconds")
    conn["extra"].update(dict.fromkeys(nulls))
    conn_id = "emr_ray_nulls"
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_NULLS", json.dumps(conn))
    hook = EmrRayHook(conn_id, transport=httpx.MockTransport(rec))
    assert hook.settings.timeout == 30.0 and hook.settings.retry.max_retries == 5
    assert hook.get_ray_cluster("ray-abc").cluster_id == "ray-abc"


async def test_async_requests_in_flight_are_bounded_per_loop(monkeypatch):
    """Thousands of concurrent polls queue on the hook's gate, not inside httpcore's pool."""
    from airflow_provider_emr_ray.hooks import emr_ray

    in_flight = peak = 0

    async def slow(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # let the other requests pile up
        await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json=JOB)

    conn_id = conn_env(monkeypatch)
    transport = httpx.MockTransport(slow)
    hooks = [EmrRayHook(conn_id, async_transport=transport) for _ in range(200)]
    jobs = await asyncio.gather(*(h.aget_ray_job("rj-1") for h in hooks))
    assert len(jobs) == 200 and all(j.status == "Running" for j in jobs)
    assert 1 < peak <= emr_ray.MAX_IN_FLIGHT


# ------------------------------------------------------------------------------------------
# The send path: straight to the client's transport for the endpoint


def test_requests_carry_user_agent_and_the_hook_timeout(monkeypatch):
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    conn_id = conn_env(monkeypatch)
    hook = EmrRayHook(conn_id, timeout=7.5, transport=httpx.MockTransport(rec))
    hook.get_ray_cluster("ray-abc")
    (request,) = rec.requests
    assert request.headers["user-agent"].startswith("airflow-provider-emr-ray/")
    assert request.extensions["timeout"] == {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}
    verify_signature(request)


def test_send_falls_back_to_client_send_without_the_transport_lookup(monkeypatch):
    monkeypatch.setattr("airflow_provider_emr_ray.client.exchange.TRANSPORT_LOOKUP", "_gone_in_this_httpx")
    rec = Recorder(default=httpx.Response(200, json=CLUSTER))
    hook = make_hook(monkeypatch, rec)
    assert hook.get_ray_cluster("ray-abc").cluster_id == "ray-abc"
    (request,) = rec.requests
    assert request.headers["user-agent"].startswith("airflow-provider-emr-ray/")
    verify_signature(request)


def test_requests_go_through_the_proxy_named_by_the_environment(monkeypatch):
    """Bypassing the client's layers must keep its proxy mounts (``HTTP_PROXY``): a loopback
    forward proxy receives the absolute-form request."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = json.dumps(CLUSTER).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        hook = EmrRayHook(conn_env(monkeypatch), retry_policy=RetryPolicy(max_retries=0))
        assert hook.get_ray_cluster("ray-abc").cluster_id == "ray-abc"
        hook.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [f"http://emr.test{WS}/rayCluster/ray-abc"]


# ------------------------------------------------------------------------------------------
# Keywords: what the spec declares, nothing else; extra_fields on purpose


@pytest.mark.parametrize(
    ("method", "kwargs", "key", "hint"),
    [
        ("create_ray_cluster", {"name": "c1", "head_sepc": {"cpu": 2}}, "head_sepc", "head_spec"),
        ("update_ray_cluster", {"cluster_id": "ray-abc", "workerSpec": []}, "workerSpec", "worker_spec"),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc", "runtime_env": {}}, "runtime_env",
         "runtime_env_json"),
    ],
)  # fmt: skip
async def test_unknown_keywords_are_rejected_naming_the_key_before_any_request(monkeypatch, method, kwargs, key, hint):
    rec = Recorder()
    hook = make_hook(monkeypatch, rec)
    message = rf"{method}\(\) got an unexpected keyword argument '{key}'; did you mean '{hint}'\?"
    with pytest.raises(TypeError, match=message):
        getattr(hook, method)(**kwargs)
    with pytest.raises(TypeError, match=f"'{key}'"):
        await getattr(hook, "a" + method)(**kwargs)
    assert rec.requests == []


@pytest.mark.parametrize(
    ("method", "kwargs", "base"),
    [
        ("create_ray_cluster", {"name": "c1"}, {"name": "c1"}),
        ("update_ray_cluster", {"cluster_id": "ray-abc"}, {}),
        ("submit_ray_job", {"entrypoint": "python x.py", "cluster_id": "ray-abc"},
         {"entrypoint": "python x.py", "clusterId": "ray-abc"}),
    ],
)  # fmt: skip
def test_extra_fields_are_sent_verbatim(monkeypatch, method, kwargs, base):
    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "clusterId": "ray-abc", "submissionId": "rj-1"}))
    hook = make_hook(monkeypatch, rec)
    getattr(hook, method)(**kwargs, extra_fields={"newServiceField": {"a": 1}, "flag": True})
    (request,) = rec.requests
    assert json.loads(request.content) == {**base, "newServiceField": {"a": 1}, "flag": True}


def test_extra_fields_naming_a_modelled_field_is_an_error(monkeypatch):
    rec = Recorder()
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayValidationError, match="extra_fields"):
        hook.create_ray_cluster(name="c1", extra_fields={"headSpec": {}})
    assert rec.requests == []


def test_only_the_given_fields_are_sent(monkeypatch):
    """The body is the spec the caller gave (validated), not the plan's local variables."""
    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "submissionId": "rj-1"}))
    hook = make_hook(monkeypatch, rec)
    hook.submit_ray_job(entrypoint="python x.py", cluster_id="ray-abc", name="n")
    assert json.loads(rec.requests[0].content) == {"entrypoint": "python x.py", "clusterId": "ray-abc", "name": "n"}


# ------------------------------------------------------------------------------------------
# Submit-time windows: aware datetimes (stdlib or pendulum) or epoch milliseconds


def _submit_time(request):
    return json.loads(dict(parse_qsl(request.url.query.decode()))["submitTime"])


def test_submit_time_window_from_aware_datetimes_and_epoch_ms(monkeypatch):
    import pendulum

    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "rayJobs": [], "totalCount": 0}))
    hook = make_hook(monkeypatch, rec)
    start = datetime(2025, 3, 1, 8, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=8)))  # 00:00:00.250 UTC
    end = pendulum.datetime(2025, 3, 1, 1, 0, 0, tz="UTC")
    hook.list_ray_jobs(submit_time_start=start, submit_time_end=end)
    expected_start = int(pendulum.datetime(2025, 3, 1, tz="UTC").timestamp()) * 1000 + 250
    assert _submit_time(rec.requests[0]) == {"startTime": expected_start, "endTime": expected_start - 250 + 3_600_000}
    hook.list_ray_jobs(submit_time_end=1_700_000_000_123)
    assert _submit_time(rec.requests[1]) == {"endTime": 1_700_000_000_123}


@pytest.mark.parametrize("value", [datetime(2025, 3, 1), "2025-03-01", -1, True], ids=["naive", "str", "negative", "bool"])
def test_bad_submit_times_name_the_field(monkeypatch, value):
    rec = Recorder()
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayValidationError) as info:
        hook.list_ray_jobs(submit_time_end=value)
    assert info.value.field == "submit_time_end"
    assert rec.requests == []


def test_naive_datetime_is_rejected_as_ambiguous(monkeypatch):
    hook = make_hook(monkeypatch, Recorder())
    with pytest.raises(EmrRayValidationError, match="submit_time_start: a naive datetime is ambiguous"):
        hook.list_ray_jobs(submit_time_start=datetime(2025, 3, 1))


def test_page_size_bound_is_the_service_limit(monkeypatch):
    from airflow_provider_emr_ray.limits import MAX_PAGE_SIZE

    rec = Recorder(default=httpx.Response(200, json={"requestId": "R", "rayClusters": [], "totalCount": 0}))
    hook = make_hook(monkeypatch, rec)
    hook.list_ray_clusters(page_size=MAX_PAGE_SIZE)
    with pytest.raises(EmrRayValidationError, match=f"from 1 to {MAX_PAGE_SIZE}"):
        hook.list_ray_clusters(page_size=MAX_PAGE_SIZE + 1)
    assert len(rec.requests) == 1
