"""Answers of the wrong shape (issue 13, item 9): a 2xx body that is not a JSON object, lacks
the id it must carry or carries an error code is one clear error, never a bare ``KeyError`` /
``TypeError`` or a ``None`` id. For CreateRayCluster / SubmitRayJob it is outcome-unknown (the
call may have taken effect: the operators reconcile); error codes in 2xx bodies are honoured."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayError,
    EmrRayOutcomeUnknownError,
    EmrRayServerError,
    EmrRayThrottlingError,
)
from tests.hooks.test_emr_ray import Recorder, make_hook

HEAD = {"cpu": 2, "memory": "8Gi"}
MISSING_ID = [{}, {"requestId": "R"}, {"clusterId": None}, {"clusterId": ""}, {"clusterId": 7}, {"submissionId": None}]


@pytest.mark.parametrize("body", [*MISSING_ID, [], "rc-1", 3], ids=repr)
def test_a_create_answer_without_its_id_is_outcome_unknown(monkeypatch, body) -> None:
    rec = Recorder(default=httpx.Response(200, json=body))
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayOutcomeUnknownError, match=r"CreateRayCluster.*(unexpected answer|may or may not)") as raised:
        hook.create_ray_cluster(name="c", head_spec=HEAD)
    assert raised.value.action == "CreateRayCluster"
    assert len(rec.requests) == 1  # never re-sent


@pytest.mark.parametrize("body", [{}, {"submissionId": None}, []], ids=repr)
async def test_a_submit_answer_without_its_id_is_outcome_unknown(monkeypatch, body) -> None:
    rec = Recorder(default=httpx.Response(200, json=body))
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayOutcomeUnknownError):
        hook.submit_ray_job(entrypoint="python x.py", cluster_id="rc-1")
    with pytest.raises(EmrRayOutcomeUnknownError):  # the async twin: the same steps
        await hook.asubmit_ray_job(entrypoint="python x.py", cluster_id="rc-1")
    assert len(rec.requests) == 2


def test_an_error_code_in_a_2xx_body_is_that_error(monkeypatch) -> None:
    quota = {"requestId": "R9", "code": "QuotaExceeded", "message": "CU quota exceeded"}
    rec = Recorder(default=httpx.Response(200, json=quota))
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayError) as raised:
        hook.create_ray_cluster(name="c", head_spec=HEAD)
    assert raised.value.code == "QuotaExceeded" and raised.value.request_id == "R9"
    assert not isinstance(raised.value, EmrRayOutcomeUnknownError) and len(rec.requests) == 1


def test_a_forbidden_code_in_a_2xx_get_fails_at_once(monkeypatch) -> None:
    """A sensor used to wait out its timeout on this answer; now its first poke fails (no retry)."""
    body = {"requestId": "R", "code": "Forbidden.RAM", "message": "not authorized to GetRayCluster"}
    rec = Recorder(default=httpx.Response(200, json=body))
    hook = make_hook(monkeypatch, rec)
    with pytest.raises(EmrRayAuthError, match="Forbidden.RAM"):
        hook.get_ray_cluster("rc-1")
    assert len(rec.requests) == 1


def test_a_throttling_code_in_a_2xx_body_is_retried(monkeypatch) -> None:
    cluster = {"requestId": "R", "clusterId": "rc-1", "name": "c", "state": "Running"}
    rec = Recorder(answers=[httpx.Response(200, json={"code": "Throttling.User", "message": "slow down"})],
                   default=httpx.Response(200, json=cluster))  # fmt: skip
    hook = make_hook(monkeypatch, rec)
    assert hook.get_ray_cluster("rc-1").cluster_id == "rc-1" and len(rec.requests) == 2
    rec = Recorder(default=httpx.Response(200, json={"code": "Throttling.User", "message": "slow down"}))
    with pytest.raises(EmrRayThrottlingError):
        make_hook(monkeypatch, rec, retries=1).get_ray_cluster("rc-1")


def test_success_codes_are_not_errors(monkeypatch) -> None:
    for code in ("OK", "200", "Success"):
        rec = Recorder(default=httpx.Response(200, json={"code": code, "requestId": "R", "clusterId": "rc-9"}))
        assert make_hook(monkeypatch, rec).create_ray_cluster(name="c", head_spec=HEAD) == "rc-9"


@pytest.mark.parametrize("body", [[], "text", 1], ids=repr)
def test_a_read_answered_with_a_non_object_is_a_retried_server_error(monkeypatch, body) -> None:
    rec = Recorder(default=httpx.Response(200, json=body))
    hook = make_hook(monkeypatch, rec, retries=2)
    with pytest.raises(EmrRayServerError, match="unexpected answer"):
        hook.get_ray_job("rj-1")
    assert len(rec.requests) == 3  # a read is idempotent: retried like a 5xx


# ---- the create operator: the cluster was made, the answer lost its id --------------------------


@pytest.mark.integration
@pytest.mark.emr_ray_emulator(cluster_start_delay=0.1)
def test_the_create_operator_reconciles_an_answer_without_clusterid(emr_ray_emulator, monkeypatch) -> None:
    """The emulator creates the cluster; a transport in front of it blanks the answer's
    ``clusterId``. The operator finds the cluster it made (one cluster, its real id pushed)."""
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator
    from tests.operators.fakes import ctx

    real = httpx.HTTPTransport()

    class Blanking(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = real.handle_request(request)
            if request.method == "POST" and request.url.path.endswith("/rayCluster"):
                response.read()
                return httpx.Response(200, json={"requestId": "R", "clusterId": None})
            return response

    op = EmrRayClusterCreateOperator(task_id="create", name="blanked-answer", head_spec=HEAD, poll_interval=0.05)
    op.__dict__["hook"] = EmrRayHook("emr_ray_default", transport=Blanking())
    context = ctx()
    cluster_id = op.execute(context)
    clusters = [c for c in emr_ray_emulator.emulator.store.clusters.values() if c["name"] == "blanked-answer"]
    assert [c["clusterId"] for c in clusters] == [cluster_id]
    assert context["ti"].xcoms["clusterId"] == cluster_id and None not in context["ti"].xcoms.values()
    assert emr_ray_emulator.calls["CreateRayCluster"] == 1
