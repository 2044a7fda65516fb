"""Validation and authentication errors fail the task without retry (issue 13, item 11):
they are ``AirflowFailException``s, raised as they are on the synchronous paths and rebuilt from
a trigger's event (``"fatal": True``) on the deferred ones; transient errors stay retryable."""

from __future__ import annotations

import logging
import pickle

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayError,
    EmrRayNotFoundError,
    EmrRayServerError,
    EmrRayThrottlingError,
    EmrRayValidationError,
)
from airflow_provider_emr_ray.states import WaitOutcome
from airflow_provider_emr_ray.utils.resources import JOB, wait_error, wait_event
from airflow_provider_emr_ray.utils.waiting import Wait


def test_validation_and_auth_errors_are_fail_exceptions() -> None:
    validation = EmrRayValidationError("head_spec.memory", "must be like 8Gi")
    assert isinstance(validation, AirflowFailException) and isinstance(validation, ValueError)
    back = pickle.loads(pickle.dumps(validation))  # Airflow ships errors across processes
    assert (back.field, back.rule, str(back)) == ("head_spec.memory", "must be like 8Gi", "head_spec.memory: must be like 8Gi")
    auth = EmrRayAuthError("bad signature", action="GetRayJob", status=400, code="SignatureDoesNotMatch")
    assert isinstance(auth, AirflowFailException) and isinstance(auth, EmrRayError)
    assert pickle.loads(pickle.dumps(auth)).code == "SignatureDoesNotMatch"
    for transient in (EmrRayThrottlingError("slow"), EmrRayServerError("5xx"), EmrRayNotFoundError("gone")):
        assert isinstance(transient, AirflowException) and not isinstance(transient, AirflowFailException)


def _ended(error: BaseException) -> dict:
    wait = Wait(JOB, "rj-1", log=logging.getLogger("test"), targets=["Succeeded"], failures=["Failed"],
                poll_interval=1.0, max_transient_errors=0)
    assert wait.step(error=error) is WaitOutcome.error
    return wait.event(WaitOutcome.error)


@pytest.mark.parametrize("error", [EmrRayAuthError("rotated key", code="InvalidAccessKeyId.NotFound"),
                                   EmrRayValidationError("workspace_id", "must be an id")])  # fmt: skip
def test_a_wait_ended_by_a_fatal_error_fails_without_retry_after_a_deferral(error) -> None:
    event = _ended(error)
    assert event["fatal"] is True and event["outcome"] == "error"
    raised = wait_error(event, "Waiting for Ray job rj-1 failed: x")
    assert isinstance(raised, AirflowFailException)


def test_a_wait_ended_by_a_transient_error_stays_retryable() -> None:
    event = _ended(EmrRayServerError("502 from the gateway"))
    assert "fatal" not in event
    raised = wait_error(event, "Waiting for Ray job rj-1 failed: x")
    assert type(raised) is AirflowException
    plain = wait_event(JOB, "rj-1", "error", state=None, message="m", elapsed=1.0, resource=None)
    assert "fatal" not in plain  # the event's shape is unchanged unless fatal


def test_the_job_operator_fails_without_retry_on_a_fatal_event() -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
    from tests.operators.fakes import ctx

    op = EmrRayJobSubmitOperator(task_id="j", entrypoint="python x.py", cluster_id="rc-1", show_logs=False,
                                 openlineage_inject_transport_info=False)  # fmt: skip
    with pytest.raises(AirflowFailException, match="Waiting for Ray job rj-1 failed"):
        op.execute_complete(ctx(), _ended(EmrRayAuthError("denied", code="Forbidden.RAM")))
    with pytest.raises(AirflowException) as raised:
        op.execute_complete(ctx(), _ended(EmrRayServerError("502")))
    assert not isinstance(raised.value, AirflowFailException)
