"""Bad input named and refused before any call; good input not refused (issue 13, item 8).

Each case: an ``EmrRayValidationError`` naming the field and the rule, and no request sent.
Bounds the API pages do not give are this provider's, in ``limits.py``.
"""

from __future__ import annotations

import datetime
import json

import httpx
import pytest

from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from airflow_provider_emr_ray.limits import MAX_REPLICA, MAX_RETRIES, MAX_SECONDS
from tests.hooks.test_emr_ray import Recorder

HEAD = {"cpu": 2, "memory": "8Gi"}


def _group(**fields):
    return [{"group_name": "g", "worker_type": "CPU", "replica": 1, "cpu": 2, "memory": "8Gi", **fields}]


@pytest.fixture
def hook(monkeypatch):
    rec = Recorder(default=lambda r: httpx.Response(200, json={"requestId": "R", "clusterId": "rc-1", "submissionId": "rj-1"}))
    monkeypatch.setenv("AIRFLOW_CONN_BAD_INPUT", conn_json("http://emr.test"))
    hook = EmrRayHook("bad_input", transport=httpx.MockTransport(rec))
    hook.requests = rec.requests
    return hook


BAD_CALLS = [
    ("replica 2,000,000", lambda h: h.create_ray_cluster(name="n", head_spec=HEAD, worker_spec=_group(replica=2_000_000)),
     "worker_spec[0].replica", f"must be <= {MAX_REPLICA}"),
    ("max_replica too big", lambda h: h.create_ray_cluster(name="n", head_spec=HEAD, worker_spec=_group(min_replica=1, max_replica=10**7)),
     "worker_spec[0].max_replica", "must be <="),
    ("cpu 1e400", lambda h: h.create_ray_cluster(name="n", head_spec={"cpu": 1e400, "memory": "8Gi"}), "head_spec.cpu", "positive number"),
    ("cpu nan", lambda h: h.create_ray_cluster(name="n", head_spec={"cpu": float("nan"), "memory": "8Gi"}), "head_spec.cpu", "positive number"),
    ("memory 0Gi", lambda h: h.create_ray_cluster(name="n", head_spec={"cpu": 2, "memory": "0Gi"}), "head_spec.memory", "size > 0"),
    ("name with a newline", lambda h: h.create_ray_cluster(name="a\nb", head_spec=HEAD), "name", "control characters"),
    ("job name with a tab", lambda h: h.submit_ray_job(entrypoint="x", cluster_id="rc-1", name="a\tb"), "name", "control characters"),
    ("volume_ids '../x'", lambda h: h.create_ray_cluster(name="n", head_spec=HEAD, volume_ids=["../x"]), "volume_ids", "volume_ids[0] must be an id"),
    ("volume_ids ''", lambda h: h.create_ray_cluster(name="n", head_spec=HEAD, volume_ids=["v-1", ""]), "volume_ids", "volume_ids[1] must be"),
    ("active_deadline_seconds 1e30", lambda h: h.submit_ray_job(entrypoint="x", cluster_id="rc-1", active_deadline_seconds=10**30),
     "active_deadline_seconds", f"must be <= {MAX_SECONDS}"),
    ("idle_timeout_seconds 2**40", lambda h: h.create_ray_cluster(name="n", head_spec={**HEAD, "idle_timeout_seconds": 2**40}),
     "head_spec.idle_timeout_seconds", "must be <="),
    ("a datetime in runtime_env", lambda h: h.submit_ray_job(entrypoint="x", cluster_id="rc-1",
                                                            runtime_env_json={"env_vars": {"WHEN": datetime.datetime(2026, 1, 1)}}),
     "runtime_env_json", "at env_vars.WHEN: a datetime"),
    ("NaN in runtime_env", lambda h: h.submit_ray_job(entrypoint="x", cluster_id="rc-1", runtime_env_json={"x": float("nan")}),
     "runtime_env_json", "at x: nan"),
    ("head_spec a string", lambda h: h.create_ray_cluster(name="n", head_spec="cpu=2"), "head_spec", ""),
]  # fmt: skip


@pytest.mark.parametrize(("what", "call", "field", "rule"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_is_named_before_any_call(hook, what, call, field, rule) -> None:
    with pytest.raises(EmrRayValidationError) as raised:
        call(hook)
    assert raised.value.field == field, str(raised.value)
    assert rule in raised.value.rule and len(str(raised.value)) < 500
    assert hook.requests == []


@pytest.mark.parametrize("memory", ["0.5Gi", "512Mi", "8Gi", "1.5Gi"])
def test_fractional_memory_is_accepted(hook, memory) -> None:
    assert hook.create_ray_cluster(name="n", head_spec={"cpu": 2, "memory": memory}) == "rc-1"
    assert json.loads(hook.requests[-1].content)["headSpec"]["memory"] == memory


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"max_retries": 10**9}, "max_retries"),
        ({"max_retries": str(MAX_RETRIES + 1)}, "max_retries"),
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"security_token": "CAIS-token\r\nX-Injected: 1"}, "security_token"),
        ({"security_token": "CAIS-token\x00"}, "security_token"),
    ],
)
def test_bad_connection_settings_are_named_before_any_call(monkeypatch, extra, field) -> None:
    rec = Recorder()
    monkeypatch.setenv("AIRFLOW_CONN_BAD_CONN", conn_json("http://emr.test", **extra))
    with pytest.raises(EmrRayValidationError) as raised:
        EmrRayHook("bad_conn", transport=httpx.MockTransport(rec)).get_ray_job("rj-1")
    assert raised.value.field == field and rec.requests == []
    for value in extra.values():  # a token is never echoed
        if field == "security_token":
            assert str(value) not in str(raised.value)


def test_a_non_ascii_login_is_named_not_a_unicode_error(monkeypatch) -> None:
    rec = Recorder()
    monkeypatch.setenv("AIRFLOW_CONN_BAD_CONN", conn_json("http://emr.test", login="LTAI5tçaké"))
    with pytest.raises(EmrRayValidationError) as raised:
        EmrRayHook("bad_conn", transport=httpx.MockTransport(rec)).get_ray_job("rj-1")
    assert raised.value.field == "access_key_id" and rec.requests == []


# ---- at parse (literals): the operators ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"head_spec": "cpu=2"}, "head_spec"),
        ({"head_spec": HEAD, "worker_spec": ["cpu"]}, "worker_spec[0]"),
        ({"head_spec": HEAD, "max_transient_errors": "x"}, "max_transient_errors"),
        ({"head_spec": HEAD, "poll_interval": float("nan")}, "poll_interval"),
        ({"head_spec": HEAD, "max_wait": True}, "max_wait"),
    ],
)
def test_bad_literals_fail_at_parse(kwargs, field) -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

    with pytest.raises(EmrRayValidationError) as raised:
        EmrRayClusterCreateOperator(task_id="c", name="n", **kwargs)
    assert raised.value.field == field


def test_spec_models_are_still_accepted_at_parse() -> None:
    from airflow_provider_emr_ray.hooks.specs import ClusterSpec  # noqa: F401 - the public names
    from airflow_provider_emr_ray.models import HeadSpec, WorkerSpec
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator

    op = EmrRayClusterCreateOperator(
        task_id="c", name="n", head_spec=HeadSpec(cpu=2, memory="8Gi"),
        worker_spec=[WorkerSpec(group_name="g", worker_type="CPU", replica=1, cpu=2, memory="8Gi")],
    )  # fmt: skip
    assert op.head_spec.memory == "8Gi"
