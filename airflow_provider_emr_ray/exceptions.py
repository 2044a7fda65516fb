"""The provider's exception family.

Every error raised by a call carries the HTTP status, the service's error code, its message and
the request id, so a task log says exactly what the service answered. No secret is ever placed
in these messages.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class EmrRayError(AirflowException):
    """An error answered by (or on the way to) the EMR Serverless Spark API."""

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.action = action
        self.status = status
        self.code = code
        self.request_id = request_id
        self.message = message
        parts = [p for p in (action, f"HTTP {status}" if status else None, code) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (requestId {request_id})" if request_id else ""
        super().__init__(f"{prefix}{message}{suffix}")

    def __reduce__(self):  # keep the keyword fields when pickled (Airflow ships exceptions across processes)
        return (
            _rebuild,
            (type(self), self.message, self.action, self.status, self.code, self.request_id),
        )


def _rebuild(cls, message, action, status, code, request_id):
    return cls(message, action=action, status=status, code=code, request_id=request_id)


class EmrRayNotFoundError(EmrRayError):
    """The cluster, job or workspace does not exist."""


class EmrRayThrottlingError(EmrRayError):
    """The service throttled the call (HTTP 429 or a ``Throttling*`` code) and retries ran out.

    :attr:`retry_after`: the seconds of the last answer's ``Retry-After`` header, if it had one.
    """

    retry_after: float | None = None


class EmrRayAuthError(EmrRayError, AirflowFailException):
    """The credentials or the signature were rejected (or the permission is missing).

    An ``AirflowFailException``: Airflow fails the task without retrying it, as every try would
    be rejected the same way."""


class EmrRayServerError(EmrRayError):
    """The service answered 5xx and retries ran out."""


class EmrRayConnectionError(EmrRayError):
    """The service could not be reached (connect error) and retries ran out."""


class EmrRayOutcomeUnknownError(EmrRayError):
    """A non-idempotent call may or may not have taken effect.

    Raised for CreateRayCluster, SubmitRayJob and UpdateRayCluster when the request may have
    reached the service (read timeout, dropped connection, 5xx after sending). The caller must
    reconcile (look the resource up) instead of sending the call again.
    """


class EmrRayJobAlreadyExistsError(EmrRayError):
    """Ray's Jobs API already has a job with this ``submission_id`` (a duplicate submission):
    reattach to :attr:`submission_id` instead of submitting again."""

    def __init__(self, message: str, *, submission_id: str | None = None, **kwargs) -> None:
        self.submission_id = submission_id
        super().__init__(message, **kwargs)

    def __reduce__(self):
        return (_rebuild_exists, (self.message, self.submission_id, self.action, self.status, self.code))


def _rebuild_exists(message, submission_id, action, status, code):
    return EmrRayJobAlreadyExistsError(message, submission_id=submission_id, action=action, status=status, code=code)


class EmrRayPackageUploadRefusedError(EmrRayError):
    """The Ray Jobs endpoint (the EMR gateway) refused a local package upload
    (``/api/packages``): upload the code to OSS and pass ``working_dir="oss://…"``."""


class EmrRayValidationError(AirflowFailException, ValueError):
    """A bad argument, detected before any request is sent. The message names the field.

    A ``ValueError``, and an ``AirflowFailException``: Airflow fails the task without retrying
    it (the same arguments cannot pass on another try)."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self):  # keep field and rule when pickled
        return (type(self), (self.field, self.rule))
