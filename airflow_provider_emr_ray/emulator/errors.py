"""The service's error answers, as the emulator returns them.

Every rejection is JSON ``{"requestId", "code", "message"}`` with a 4xx/5xx status. Codes of the
API gateway (signature, timestamp, nonce, STS, throttling) are Alibaba Cloud's common OpenAPI codes;
resource codes (``RayCluster.NotFound`` ...) are the emulator's choice, as the service does not
publish its Ray error table. Messages never contain a secret, a token or a signature.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP status, service code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# --- gateway / authentication (Alibaba Cloud common codes) -------------------------------------
def incomplete_signature(detail: str) -> ApiError:
    return ApiError(400, "IncompleteSignature", f"The request signature does not conform to Aliyun standards. {detail}")


def access_key_not_found() -> ApiError:
    return ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")


def signature_mismatch(detail: str = "") -> ApiError:
    msg = "Specified signature is not matched with our calculation."
    return ApiError(400, "SignatureDoesNotMatch", f"{msg} {detail}".strip())


def timestamp_format() -> ApiError:
    return ApiError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")


def timestamp_expired() -> ApiError:
    return ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")


def nonce_used() -> ApiError:
    return ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def missing_security_token() -> ApiError:
    return ApiError(400, "MissingSecurityToken", "SecurityToken is mandatory for this access key.")


def invalid_security_token() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")


def security_token_mismatch() -> ApiError:
    return ApiError(
        400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey."
    )


def action_not_found() -> ApiError:
    return ApiError(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")


def invalid_version() -> ApiError:
    return ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")


# --- resources / validation (emulator's choice, documented in the package docstring) ------------
def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def workspace_not_found(workspace_id: str) -> ApiError:
    return ApiError(404, "Workspace.NotFound", f"The workspace {workspace_id} does not exist.")


def cluster_not_found(cluster_id: str) -> ApiError:
    return ApiError(404, "RayCluster.NotFound", f"The Ray cluster {cluster_id} does not exist.")


def job_not_found(submission_id: str) -> ApiError:
    return ApiError(404, "RayJob.NotFound", f"The Ray job {submission_id} does not exist.")


def instance_not_found(instance_id: str) -> ApiError:
    return ApiError(404, "RayInstance.NotFound", f"The Ray instance {instance_id} does not exist.")


def log_not_found(path: str) -> ApiError:
    return ApiError(404, "RayLog.NotFound", f"The log file {path} does not exist.")


def cluster_state_conflict(cluster_id: str, state: str, operation: str) -> ApiError:
    return ApiError(
        400,
        "IncorrectRayClusterStatus",
        f"The Ray cluster {cluster_id} is {state}; {operation} is not allowed in this state.",
    )


# --- injected faults -----------------------------------------------------------------------------
def internal_error() -> ApiError:
    return ApiError(500, "InternalError", "The request processing has failed due to some unknown error.")


def service_unavailable() -> ApiError:
    return ApiError(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")


def throttled(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "Throttling.User",
        "Request was denied due to user flow control.",
        # both headers, as the service: Alibaba Cloud's SDK reads x-acs-retry-after (milliseconds)
        headers={"Retry-After": str(int(retry_after)), "x-acs-retry-after": str(int(retry_after * 1000))},
    )
