"""Fault injection on the emulator's Ray Jobs API gateway (``Ray.<action>`` rules): answers as
Ray's own server gives them, ``after=True`` (the call took effect, its answer was lost), the
websocket tail refused, ``*`` leaving the gateway alone, and the hook's retry rules under them
(a lost submit answer is looked up, never sent twice)."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_emr_ray.emulator.faults import FaultRule
from tests.emulator.test_ray_jobs_api import _py, gw  # noqa: F401  (the served gateway fixture)

pytestmark = pytest.mark.integration


def test_rules_name_gateway_actions_and_refuse_unknown_ones() -> None:
    assert FaultRule(kind="500", action="Ray.SubmitJob").action == "Ray.SubmitJob"
    assert FaultRule(kind="drop", action="Ray.*").action == "Ray.*"
    with pytest.raises(ValueError, match=r"unknown Ray Jobs API action 'Ray.Submit'.*Ray.SubmitJob"):
        FaultRule(kind="500", action="Ray.Submit")


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("429", 429)])
def test_an_error_answer_is_plain_text_as_ray_gives_it(gw, kind: str, status: int) -> None:  # noqa: F811
    c = gw.cluster()
    gw.emulator.add_fault(kind=kind, action="Ray.GetJob", times=1, retry_after=3)
    r = gw.ray("GET", "/api/jobs/nope", c.token)
    assert r.status_code == status and r.headers["content-type"].startswith("text/plain")
    if kind == "429":
        assert r.headers["retry-after"] == "3"
    assert gw.ray("GET", "/api/jobs/nope", c.token).status_code == 404  # times=1: the next call is real
    assert gw.emulator.stats.faults["Ray.GetJob"] == 1


def test_star_is_the_signed_api_only_and_ray_star_the_gateway(gw) -> None:  # noqa: F811
    c = gw.cluster()
    gw.emulator.add_fault(kind="500", action="*")
    assert gw.ray("GET", "/api/version", c.token).status_code == 200
    gw.emulator.clear_faults()
    gw.emulator.add_fault(kind="503", action="Ray.*", times=2)
    assert [gw.ray("GET", "/api/version", c.token).status_code for _ in range(3)] == [503, 503, 200]


def test_a_lost_submit_answer_leaves_the_job_submitted(gw) -> None:  # noqa: F811
    c = gw.cluster()
    gw.emulator.add_fault(kind="drop", action="Ray.SubmitJob", times=1, after=True)
    with pytest.raises(httpx.TransportError):
        gw.ray("POST", "/api/jobs/", c.token, json={"entrypoint": _py("print(1)"), "submission_id": "lost-1"})
    assert gw.job(c, "lost-1")["submission_id"] == "lost-1"  # it took effect
    again = gw.ray("POST", "/api/jobs/", c.token, json={"entrypoint": _py("print(1)"), "submission_id": "lost-1"})
    assert again.status_code in (400, 500) and "already exists" in again.text  # Ray refuses the duplicate


def test_the_websocket_tail_refused_or_dropped(gw) -> None:  # noqa: F811
    from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
    from airflow_provider_emr_ray.client.ray_log_tail import LogTailUnavailable, open_log_tail

    c = gw.cluster()
    sid = gw.submit(c, entrypoint=_py("print('x')"))
    target = RayJobsTarget(c.job_url, c.token, c.cid)
    for kind in ("503", "drop"):  # the tail breaks (closed with 1011): never read as a job that ended
        gw.emulator.add_fault(kind=kind, action="Ray.TailJobLogs", times=1)
        with open_log_tail(gw.http, target, sid, timeout=5) as tail, pytest.raises(LogTailUnavailable) as info:
            while tail.recv(5) is not None:
                pass
        assert c.token not in str(info.value)
    with open_log_tail(gw.http, target, sid, timeout=5) as tail:  # the rule is spent: the tail works
        text = ""
        while (chunk := tail.recv(5)) is not None:
            text += chunk
    assert "x" in text.splitlines()


def test_the_hook_never_sends_a_submit_twice_after_a_lost_answer(gw, monkeypatch) -> None:  # noqa: F811
    from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
    from airflow_provider_emr_ray.emulator.config import conn_json
    from airflow_provider_emr_ray.exceptions import EmrRayJobAlreadyExistsError, EmrRayOutcomeUnknownError
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    c = gw.cluster()
    target = RayJobsTarget(c.job_url, c.token, c.cid)
    monkeypatch.setattr("airflow_provider_emr_ray.hooks.emr_ray._sleep", lambda s: None)  # retry pauses
    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_GATEWAY_FAULTS", conn_json(gw.server.endpoint))
    hook = EmrRayHook("emr_ray_gateway_faults")
    gw.emulator.add_fault(kind="drop", action="Ray.SubmitJob", times=1, after=True)
    before = gw.emulator.stats.ray_jobs_calls["SubmitJob"]
    with pytest.raises(EmrRayOutcomeUnknownError):
        hook.ray_submit_job(target, entrypoint=_py("print(2)"), submission_id="once-1")
    assert gw.emulator.stats.ray_jobs_calls["SubmitJob"] == before + 1  # not resent
    assert hook.ray_get_job(target, "once-1").submission_id == "once-1"
    with pytest.raises(EmrRayJobAlreadyExistsError):
        hook.ray_submit_job(target, entrypoint=_py("print(2)"), submission_id="once-1")
    # 503 on reads: retried by the hook's policy and answered
    gw.emulator.add_fault(kind="503", action="Ray.GetJob", times=1)
    assert hook.ray_get_job(target, "once-1").submission_id == "once-1"
    assert gw.emulator.stats.faults["Ray.GetJob"] == 1
