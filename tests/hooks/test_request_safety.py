"""Signed requests go to the service's host and paths only (issue 13, item 2).

``region_id`` becomes part of the endpoint's host name and the ids become URL path segments:
each is checked against the service's shape before a URL is built, so no value can move a
signed request (its ``x-acs-security-token`` header, its body) to another host or path. An
``endpoint`` with user-info is refused without echoing it. Every case: the field named, no
request sent.
"""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from tests.hooks.test_emr_ray import Recorder

FORGED_REGIONS = [
    "x@127.0.0.1:8765/",  # https://emr-serverless-spark.x@127.0.0.1:8765/.aliyuncs.com: host 127.0.0.1
    "evil.example?",  # the rest of the host becomes a query string
    "cn-hangzhou.evil.com",  # ...aliyuncs.com still, but a sub-domain of someone's zone in between
    "evil.example#",
    "cn-hangzhou/../x",
    "cn-hangzhou\n",
    "CN-HANGZHOU",
    "",  # given but empty: the connection's (absent) one is used -> "required"
]


def _hook(monkeypatch, recorder, *, endpoint=None, **extra) -> EmrRayHook:
    monkeypatch.setenv("AIRFLOW_CONN_SAFETY", conn_json(endpoint, **extra))
    return EmrRayHook("safety", transport=httpx.MockTransport(recorder), async_transport=httpx.MockTransport(recorder))


@pytest.mark.parametrize("region", FORGED_REGIONS)
def test_a_forged_region_id_sends_nothing(monkeypatch, region) -> None:
    rec = Recorder()
    hook = _hook(monkeypatch, rec, region_id=region or None, security_token="CAIS-token-never-sent-elsewhere")
    with pytest.raises(EmrRayValidationError) as raised:
        hook.create_ray_cluster(name="c", head_spec={"cpu": 2, "memory": "8Gi"})
    assert raised.value.field == "region_id"
    assert rec.requests == []


@pytest.mark.parametrize("region", [r for r in FORGED_REGIONS if r])
def test_a_forged_region_id_given_to_the_hook_sends_nothing(monkeypatch, region) -> None:
    rec = Recorder()
    monkeypatch.setenv("AIRFLOW_CONN_SAFETY", conn_json(None))
    hook = EmrRayHook("safety", region_id=region, transport=httpx.MockTransport(rec))
    with pytest.raises(EmrRayValidationError, match=r"^region_id: must be a region id such as cn-hangzhou"):
        hook.get_ray_cluster("rc-1")
    assert rec.requests == []


@pytest.mark.parametrize("region", ["cn-hangzhou", "ap-southeast-1", "cn-shanghai-finance-1", "us-east-1"])
def test_real_region_ids_build_the_regional_host(monkeypatch, region) -> None:
    rec = Recorder(default=lambda r: httpx.Response(200, json={"requestId": "R", "clusters": [], "totalCount": 0}))
    hook = _hook(monkeypatch, rec, region_id=region)
    hook.list_ray_clusters()
    assert [r.url.host for r in rec.requests] == [f"emr-serverless-spark.{region}.aliyuncs.com"]


BAD_IDS = [".", "..", "a/b", "../w-other", "rc-1\n", "rc-1\x00", "rc 1", " rc-1", "rc-1?x=1", "rc-1#", "x" * 129, "é"]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_ids_send_nothing(monkeypatch, bad) -> None:
    rec = Recorder()
    hook = _hook(monkeypatch, rec, endpoint="http://emr.test")
    for call in (lambda: hook.delete_ray_cluster(bad), lambda: hook.get_ray_job(bad), lambda: hook.cancel_ray_job(bad)):
        with pytest.raises(EmrRayValidationError) as raised:
            call()
        assert raised.value.field in ("cluster_id", "submission_id") and len(str(raised.value)) < 400
    with pytest.raises(EmrRayValidationError):
        await hook.adelete_ray_cluster(bad)
    assert rec.requests == []


@pytest.mark.parametrize("bad", ["..", "w-1/../w-2", "w 1", "w-1\r\n"], ids=repr)
def test_a_bad_workspace_id_sends_nothing(monkeypatch, bad) -> None:
    rec = Recorder()
    hook = _hook(monkeypatch, rec, endpoint="http://emr.test", workspace_id=bad)
    with pytest.raises(EmrRayValidationError) as raised:
        hook.get_ray_cluster("rc-1")
    assert raised.value.field == "workspace_id" and rec.requests == []


def test_ids_the_service_and_ray_use_pass(monkeypatch) -> None:
    rec = Recorder(default=lambda r: httpx.Response(200, json={"requestId": "R"}))
    hook = _hook(monkeypatch, rec, endpoint="http://emr.test")
    for good in ("rc-abc123", "ray-xxxxxx", "rj-xxxxxxxxxx", "raysubmit_AbC123", "af-my.dag-train-1f2e", "x" * 128):
        hook.cancel_ray_job(good)
    assert [r.url.path.split("/")[-2] for r in rec.requests][-1] == "x" * 128


@pytest.mark.parametrize(
    "endpoint", ["http://user:s3cr3t-pw@127.0.0.1:9", "https://s3cr3t-pw@emr.test", "http://a:s3cr3t-pw@[::1]:9/x"]
)
def test_an_endpoint_with_user_info_is_refused_without_echoing_it(monkeypatch, endpoint) -> None:
    rec = Recorder()
    hook = _hook(monkeypatch, rec, endpoint=endpoint)
    with pytest.raises(EmrRayValidationError) as raised:
        hook.get_ray_cluster("rc-1")
    assert raised.value.field == "endpoint" and "s3cr3t-pw" not in str(raised.value)
    ok, message = hook.test_connection()
    assert not ok and "s3cr3t-pw" not in message and "endpoint" in message
    assert rec.requests == []


@pytest.mark.parametrize("endpoint", ["ftp://emr.test", "emr.test", "http://", "http://emr.test:port"])
def test_a_malformed_endpoint_is_refused(monkeypatch, endpoint) -> None:
    rec = Recorder()
    with pytest.raises(EmrRayValidationError) as raised:
        _hook(monkeypatch, rec, endpoint=endpoint).get_ray_cluster("rc-1")
    assert raised.value.field == "endpoint" and rec.requests == []


# ---- the operators: a literal at parse, a template once rendered ------------------------------


def test_an_operator_with_a_forged_literal_region_fails_at_parse() -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator
    from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

    with pytest.raises(EmrRayValidationError, match="^region_id: "):
        EmrRayClusterCreateOperator(task_id="c", name="x", head_spec={"cpu": 2, "memory": "8Gi"}, region_id="evil.example?")
    with pytest.raises(EmrRayValidationError, match="^workspace_id: "):
        RayJobSensor(task_id="s", submission_id="rj-1", workspace_id="../w")
    # templates are checked once rendered (by the hook, before any call)
    op = EmrRayClusterCreateOperator(task_id="t", name="x", head_spec={"cpu": 2, "memory": "8Gi"}, region_id="{{ params.r }}")
    assert op.region_id == "{{ params.r }}"


def test_a_rendered_forged_region_fails_before_any_call_and_pushes_nothing(monkeypatch) -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator
    from tests.operators.fakes import ctx

    rec = Recorder()
    monkeypatch.setenv("AIRFLOW_CONN_SAFETY", conn_json(None))
    op = EmrRayClusterCreateOperator(
        task_id="t", name="x", head_spec={"cpu": 2, "memory": "8Gi"}, region_id="{{ params.r }}", emr_ray_conn_id="safety"
    )
    op.region_id = "x@127.0.0.1:8765/"  # as rendered from a param
    op.__dict__["hook"] = EmrRayHook("safety", region_id=op.region_id, transport=httpx.MockTransport(rec))
    context = ctx()
    with pytest.raises(EmrRayValidationError, match="^region_id: "):
        op.execute(context)
    assert rec.requests == [] and context["ti"].xcoms == {}
