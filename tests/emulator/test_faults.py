"""Fault injection: every kind, before/after the action, counts and seeded probability, control routes."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_emr_ray.emulator import ConnectionDropped, EmulatorConfig, FaultRule, serve_in_thread
from airflow_provider_emr_ray.emulator.faults import ANSWER, DELAY, FAULT_KINDS
from tests.emulator.helpers import FAST_DELAYS, SyncCaller


async def _clusters(call):
    return (await call("ListRayCluster"))["rayClusters"]


@pytest.mark.parametrize(("kind", "status", "code"), [("500", 500, "InternalError"), ("503", 503, "ServiceUnavailable")])
async def test_server_errors_before_the_action(make_app, connect, kind, status, code):
    app = make_app(faults=[FaultRule(kind=kind, action="CreateRayCluster", times=1)])
    call = await connect(app)
    resp = await call.raw("CreateRayCluster", body={"name": "a"})
    assert resp.status_code == status and resp.json()["code"] == code and resp.json()["requestId"]
    assert await _clusters(call) == []  # nothing was created
    assert (await call.raw("CreateRayCluster", body={"name": "a"})).status_code == 200  # only the next 1 call
    assert app.emulator.stats.faults["CreateRayCluster"] == 1 and app.emulator.stats.calls["CreateRayCluster"] == 2


async def test_after_effect_fault_creates_but_answers_500(make_app, connect):
    app = make_app()
    app.emulator.add_fault(kind="500", action="CreateRayCluster", times=1, after=True)
    call = await connect(app)
    resp = await call.raw("CreateRayCluster", body={"name": "ghost"})
    assert resp.status_code == 500
    assert [c["name"] for c in await _clusters(call)] == ["ghost"]  # the create happened


async def test_after_effect_submit(make_app, connect):
    app = make_app(faults=[FaultRule(kind="503", action="SubmitRayJob", times=1, after=True)])
    call = await connect(app)
    assert (await call.raw("SubmitRayJob", body={"entrypoint": "x", "name": "n"})).status_code == 503
    assert (await call("ListRayJob", query={"name": "n"}))["totalCount"] == 1


async def test_throttling_with_retry_after(make_app, connect):
    app = make_app(faults=[FaultRule(kind="429", action="GetRayCluster", retry_after=7, times=2)])
    call = await connect(app)
    for _ in range(2):
        resp = await call.raw("GetRayCluster", {"clusterId": "ray-x"})
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
        assert resp.json()["code"] == "Throttling.User"
    assert (await call.raw("GetRayCluster", {"clusterId": "ray-x"})).status_code == 404


async def test_latency(make_app, connect):
    app = make_app(faults=[FaultRule(kind="latency", latency=0.3, action="ListRayCluster", times=1)])
    call = await connect(app)
    start = time.monotonic()
    assert (await call.raw("ListRayCluster")).status_code == 200
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    await call.raw("ListRayCluster")
    assert time.monotonic() - start < 0.3


async def test_latency_combines_with_a_failure(make_app, connect):
    app = make_app(faults=[FaultRule(kind="latency", latency=0.05), FaultRule(kind="500", times=1)])
    call = await connect(app)
    assert (await call.raw("ListRayCluster")).status_code == 500


async def test_malformed_json(make_app, connect):
    call = await connect(make_app(faults=[FaultRule(kind="malformed", action="GetRayJob", times=1)]))
    sid = (await call("SubmitRayJob", body={"entrypoint": "x"}))["submissionId"]
    resp = await call.raw("GetRayJob", {"submissionId": sid})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        resp.json()


async def test_dropped_connection_in_process(make_app, connect):
    call = await connect(make_app(faults=[FaultRule(kind="drop", action="ListRayCluster", times=1)]))
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await call.raw("ListRayCluster")
    assert isinstance(info.value, ConnectionDropped)
    assert (await call.raw("ListRayCluster")).status_code == 200


async def test_dropped_after_effect_in_process(make_app, connect):
    app = make_app(faults=[FaultRule(kind="drop", action="CreateRayCluster", times=1, after=True)])
    call = await connect(app)
    with pytest.raises(httpx.TransportError):
        await call.raw("CreateRayCluster", body={"name": "dropped"})
    assert [c["name"] for c in await _clusters(call)] == ["dropped"]


async def test_seeded_probability_is_reproducible(make_app, connect):
    async def pattern():
        app = make_app(faults=[FaultRule(kind="500", probability=0.3, seed=42, action="ListRayCluster")])
        call = await connect(app)
        return [(await call.raw("ListRayCluster")).status_code for _ in range(60)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 5 <= first.count(500) <= 35 and first.count(200) > 0


async def test_rule_scoped_to_its_action(make_app, connect):
    call = await connect(make_app(faults=[FaultRule(kind="500", action="GetRayJob")]))
    assert (await call.raw("ListRayCluster")).status_code == 200


async def test_control_routes(make_app, connect):
    app = make_app(enable_control=True)
    call = await connect(app)
    client = call.client
    resp = await client.post("http://emulator.local/__emulator__/faults", json=[{"kind": "503", "action": "ListRayJob", "times": 1}])
    assert resp.status_code == 200 and resp.json()["rules"][0]["remaining"] == 1
    assert (await call.raw("ListRayJob")).status_code == 503
    assert (await call.raw("ListRayJob")).status_code == 200
    await client.post("http://emulator.local/__emulator__/faults", json={"kind": "500"})
    assert (await call.raw("ListRayCluster")).status_code == 500
    assert (await client.delete("http://emulator.local/__emulator__/faults")).json() == {"rules": []}
    assert (await call.raw("ListRayCluster")).status_code == 200
    stats = (await client.get("http://emulator.local/__emulator__/stats")).json()
    assert stats["calls"] == {"ListRayJob": 2, "ListRayCluster": 2}
    assert stats["faults"] == {"ListRayJob": 1, "ListRayCluster": 1} and stats["totalFaults"] == 2
    bad = await client.post("http://emulator.local/__emulator__/faults", json={"kind": "nope"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter"
    message = bad.json()["message"]
    assert "unknown fault kind 'nope'" in message and all(kind in message for kind in FAULT_KINDS)
    assert (await client.get("http://emulator.local/__emulator__/faults")).json() == {"rules": []}  # nothing added


async def test_control_routes_disabled_by_default(make_app, connect):
    call = await connect(make_app())
    for method in ("GET", "POST", "DELETE"):
        resp = await call.client.request(method, "http://emulator.local/__emulator__/faults")
        assert resp.status_code in (404, 405)
    assert (await call.client.get("http://emulator.local/__emulator__/stats")).status_code == 404


@pytest.mark.parametrize("build", [lambda: FaultRule(kind="teapot"), lambda: FaultRule.parse("kind=teapot"),
                                   lambda: FaultRule.from_dict({"kind": "teapot"})])
def test_unknown_kind_names_the_kind_and_the_known_ones(build):
    with pytest.raises(ValueError) as info:
        build()
    message = str(info.value)
    assert "unknown fault kind 'teapot'" in message
    assert all(kind in message for kind in FAULT_KINDS) and "throttle" in message  # kinds and aliases


def test_misspelled_kind_gets_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'malformed'"):
        FaultRule(kind="malfromed")


def test_every_kind_and_alias_of_the_table_builds_a_rule():
    for kind in FAULT_KINDS.values():
        extra = {"latency": 0.1} if kind.effect == DELAY else {}
        assert FaultRule(kind=kind.name, **extra).kind == kind.name
        for alias in kind.aliases:
            assert FaultRule(kind=alias.upper(), **extra).kind == kind.name
        assert (kind.answer is not None) == (kind.effect == ANSWER)  # only answer kinds replace the answer


async def test_every_answer_kind_replaces_the_answer(make_app, connect):
    """Each kind that answers does so as its table entry says; none falls through to another."""
    expected = {"500": 500, "503": 503, "429": 429, "malformed": 200}
    answering = [k.name for k in FAULT_KINDS.values() if k.effect == ANSWER]
    assert set(answering) == set(expected) | {"drop"}
    for name, status in expected.items():
        call = await connect(make_app(faults=[FaultRule(kind=name, action="ListRayCluster", times=1)]))
        resp = await call.raw("ListRayCluster")
        assert resp.status_code == status, name
        if name == "malformed":
            with pytest.raises(json.JSONDecodeError):
                resp.json()
        else:
            assert "rayClusters" not in resp.json()


def test_fault_rule_parsing():
    rule = FaultRule.parse("kind=throttle,action=GetRayJob,times=3,after=true,retry_after=2")
    assert (rule.kind, rule.action, rule.times, rule.after, rule.retry_after) == ("429", "GetRayJob", 3, True, 2)
    assert FaultRule.parse('{"kind": "latency", "latency": 0.5}').latency == 0.5
    for bad in ("kind=teapot", "kind=500,unknown=1", "kind=500,probability=2", "kind=latency", "nonsense", "kind=500,action=GetRayJobs"):
        with pytest.raises(ValueError):
            FaultRule.parse(bad)


@pytest.mark.integration
def test_dropped_connection_over_a_real_socket(tmp_path):
    cfg = EmulatorConfig(**FAST_DELAYS, execute_jobs=False, data_dir=str(tmp_path), faults=[FaultRule(kind="drop", action="ListRayCluster", times=1)])
    with serve_in_thread(cfg) as server, httpx.Client(timeout=10) as client:
        call = SyncCaller(client, server.endpoint)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            call.raw("ListRayCluster")
        assert call.raw("ListRayCluster").status_code == 200  # the server is fine afterwards
        server.emulator.add_fault(kind="drop", action="CreateRayCluster", times=1, after=True)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            call.raw("CreateRayCluster", body={"name": "half"})
        assert [c["name"] for c in call("ListRayCluster")["rayClusters"]] == ["half"]
        assert server.emulator.stats.faults["ListRayCluster"] == 1


@pytest.mark.integration
def test_faults_over_a_real_socket(tmp_path):
    cfg = EmulatorConfig(**FAST_DELAYS, execute_jobs=False, data_dir=str(tmp_path), enable_control=True)
    with serve_in_thread(cfg) as server, httpx.Client(timeout=10) as client:
        call = SyncCaller(client, server.endpoint)
        client.post(f"{server.endpoint}/__emulator__/faults", json={"kind": "429", "times": 1, "retry_after": 3})
        resp = call.raw("ListRayCluster")
        assert resp.status_code == 429 and resp.headers["retry-after"] == "3"
        client.post(f"{server.endpoint}/__emulator__/faults", json={"kind": "malformed", "times": 1})
        with pytest.raises(json.JSONDecodeError):
            call.raw("ListRayCluster").json()
        assert client.get(f"{server.endpoint}/__emulator__/stats").json()["totalFaults"] == 2
