"""The one retry policy of the provider, shared by the sync and the async call paths.

It decides, for one attempt's outcome, whether to return, retry after a delay, or raise, and
which exception to raise. It performs no I/O, so it is tested without a network.

Rules:

* HTTP 429 or an error code starting with ``Throttling``: retried with exponential backoff and
  jitter, honouring ``Retry-After``. A throttled request was not executed, so this is safe for
  every call, even CreateRayCluster and SubmitRayJob.
* Connect errors (the request never left): retried for every call.
* HTTP 5xx, read timeouts, dropped connections and unparseable answers: retried for idempotent
  calls. For non-idempotent calls (create, submit, update) the request may have taken effect,
  so :class:`~airflow_provider_emr_ray.exceptions.EmrRayOutcomeUnknownError` is raised at once
  and the caller reconciles.
* Any other 4xx: raised at once, never retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayConnectionError,
    EmrRayError,
    EmrRayNotFoundError,
    EmrRayOutcomeUnknownError,
    EmrRayServerError,
    EmrRayThrottlingError,
)

_AUTH_CODE_PREFIXES = (
    "Signature",
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "IncompleteSignature",
    "InvalidTimeStamp",
    "Forbidden",
    "NoPermission",
    "InvalidCredentials",
    "SignatureNonceUsed",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt produced: an HTTP answer or a transport failure.

    :param status: HTTP status, ``None`` for a transport failure.
    :param payload: the decoded JSON body (``None`` when it was not JSON).
    :param retry_after: seconds from a ``Retry-After`` header, if any.
    :param transport_error: the transport exception's class name, if any.
    :param sent: whether the request may have reached the service (False only for connect errors).
    """

    status: int | None
    payload: Any = None
    retry_after: float | None = None
    transport_error: str | None = None
    transport_detail: str = ""
    sent: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    """Return ``result``, or sleep ``delay`` seconds and retry, or raise ``error``."""

    result: Any = None
    delay: float | None = None
    error: EmrRayError | None = None
    reason: str = ""


def throttle_wait(headers: Any) -> float | None:
    """Seconds a throttled answer asks to wait: ``x-acs-retry-after`` (milliseconds, a positive
    integer: the header Alibaba Cloud's own SDK reads), else the standard ``Retry-After``."""
    acs = headers.get("x-acs-retry-after")
    if acs:
        try:
            millis = int(str(acs).strip())
        except ValueError:
            millis = 0
        if millis > 0:
            return millis / 1000.0
    return parse_retry_after(headers.get("retry-after"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def error_fields(payload: Any) -> tuple[str | None, str | None, str | None]:
    """``(code, message, requestId)`` from an error body; the service uses either casing."""
    if not isinstance(payload, dict):
        return None, None, None
    code = payload.get("code") or payload.get("Code")
    message = payload.get("message") or payload.get("Message")
    request_id = payload.get("requestId") or payload.get("RequestId")
    return (str(code) if code is not None else None, message, request_id)


#: ``code`` values a successful answer may carry (the log APIs answer ``{"code": "OK", ...}``).
_SUCCESS_CODES = frozenset({"OK", "Ok", "ok", "Success", "success", "SUCCESS", "200", "0"})


def answers_error(payload: dict[str, Any]) -> bool:
    """Whether a 2xx body is an error answer: it carries a ``code`` that is not a success code
    (``{"code": "Forbidden.RAM", "message": ...}``); the error is then raised as for a 4xx/5xx."""
    code = error_fields(payload)[0]
    return bool(code) and code not in _SUCCESS_CODES


def _classify_http_error(action: str, status: int, payload: Any) -> EmrRayError:
    code, message, request_id = error_fields(payload)
    message = message or f"HTTP {status} without an error message"
    kwargs = {"action": action, "status": status, "code": code, "request_id": request_id}
    if status == 429 or (code or "").startswith("Throttling"):
        return EmrRayThrottlingError(message, **kwargs)
    if status >= 500:
        return EmrRayServerError(message, **kwargs)
    if status in (401, 403) or (code or "").startswith(_AUTH_CODE_PREFIXES):
        return EmrRayAuthError(message, **kwargs)
    if status == 404 or "NotFound" in (code or ""):
        return EmrRayNotFoundError(message, **kwargs)
    return EmrRayError(message, **kwargs)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    The delay before retry ``n`` (0-based) is drawn from
    ``[d/2, d]`` with ``d = min(max_delay, base_delay * 2**n)``; a ``Retry-After`` from the
    service replaces it (capped at ``max_retry_after``).

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param base_delay: the first backoff step, in seconds.
    :param max_delay: the largest backoff step, in seconds.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def backoff(self, retry_number: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2**retry_number))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def decide(
        self, action: str, idempotent: bool, outcome: Outcome, retry_number: int, *, api_answer: bool = True
    ) -> Decision:
        """Decide what to do after attempt ``retry_number`` (0 = the first attempt).

        ``api_answer``: a 2xx answer of the EMR Serverless Spark API must be a JSON object, and
        one carrying an error ``code`` is that error (:func:`answers_error`); False (Ray's Jobs
        API, whose lists are JSON arrays): any JSON body is the result."""
        status = outcome.status
        answered_error = False
        if status is not None and 200 <= status < 300:
            payload = outcome.payload
            if not api_answer and payload is not None:
                return Decision(result=payload)
            if isinstance(payload, dict) and not answers_error(payload):
                return Decision(result=payload)
            answered_error = isinstance(payload, dict)  # a 2xx whose body is an error: honoured
        if answered_error or (status is not None and not 200 <= status < 300):
            error: EmrRayError = _classify_http_error(action, status, outcome.payload)
            reason = f"HTTP {status} {error.code or ''}".strip()
            throttled = isinstance(error, EmrRayThrottlingError)
            if throttled:  # what the service asked for, for callers that pace themselves (shared watchers)
                error.retry_after = outcome.retry_after
            if not (throttled or isinstance(error, EmrRayServerError)):
                return Decision(error=error)
            retryable = throttled or idempotent
        elif status is not None:  # a 2xx whose body is not a JSON object
            shape = "not valid JSON" if outcome.payload is None else f"a JSON {type(outcome.payload).__name__}, not an object"
            error = EmrRayServerError(f"unexpected answer: the body is {shape}", action=action, status=status)
            reason = f"HTTP {status} with an unexpected body"
            retryable = idempotent
        else:
            reason = f"{outcome.transport_error}: {outcome.transport_detail}".rstrip(": ")
            error = EmrRayConnectionError(
                f"could not complete the request ({reason})", action=action
            )
            retryable = idempotent or not outcome.sent
        if not retryable:
            return Decision(
                error=EmrRayOutcomeUnknownError(
                    f"{action} may or may not have taken effect ({reason}); it is not re-sent "
                    "because it is not idempotent: look the resource up before trying again",
                    action=action,
                    status=status,
                    code=error.code,
                    request_id=error.request_id,
                ),
                reason=reason,
            )
        if retry_number >= self.max_retries:
            return Decision(error=error, reason=reason)
        return Decision(delay=self.backoff(retry_number, outcome.retry_after), reason=reason)
