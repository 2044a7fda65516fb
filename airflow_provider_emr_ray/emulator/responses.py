"""The answer envelope: request ids and the JSON responses every route returns.

Every API answer carries ``requestId`` in its body and the ``x-acs-request-id`` header; an error
is ``{"requestId", "code", "message"}`` with the status of its :class:`~.errors.ApiError`.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from starlette.responses import Response

from airflow_provider_emr_ray.emulator.errors import ApiError

JSON_TYPE = "application/json;charset=utf-8"
#: Scope key under which :class:`~.app.EmulatorApp` keeps the server's own ``send`` (a dropped
#: connection needs the server's transport behind it).
SEND_KEY = "emr_ray_emulator.send"

_RID_PREFIX = str(uuid.uuid4()).upper()[:24]
_RID_COUNTER = itertools.count(1)


def request_id() -> str:
    """A UUID-shaped, unique request id (a random prefix plus a counter: cheap on the hot path)."""
    return f"{_RID_PREFIX}{next(_RID_COUNTER) & 0xFFFFFFFFFFFF:012X}"


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as the service sends it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def raw_response(content: bytes, rid: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON-typed response with ``content`` as is (which need not even be valid JSON)."""
    hdrs = {"x-acs-request-id": rid}
    if headers:
        hdrs.update(headers)
    return Response(content, status_code=status, headers=hdrs, media_type=JSON_TYPE)


def json_response(status: int, payload: dict[str, Any], rid: str, headers: dict[str, str] | None = None) -> Response:
    return raw_response(dumps(payload), rid, status, headers)


def ok_response(payload: dict[str, Any] | bytes, rid: str) -> Response:
    """HTTP 200 with ``requestId`` first, for a payload given as a dict or as serialised JSON bytes."""
    if isinstance(payload, bytes):
        rid_field = b'{"requestId":"' + rid.encode()
        return raw_response(rid_field + (b'",' + payload[1:] if len(payload) > 2 else b'"}'), rid)
    return json_response(200, {"requestId": rid, **payload}, rid)


def error_response(exc: ApiError, rid: str | None = None) -> Response:
    rid = rid or request_id()
    return json_response(exc.status, {"requestId": rid, "code": exc.code, "message": exc.message}, rid, exc.headers)
