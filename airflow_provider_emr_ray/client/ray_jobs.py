"""Ray's own Jobs REST API at a cluster's ``jobUrl``, free of I/O: the second path of a job.

The hook's Ray Jobs plans yield :class:`RayCall` objects (and :class:`Work` for blocking local
work: hashing and zipping code) and get back the decoded answers. :func:`steps` turns a plan
into the low-level steps of every call: each request is built once (:func:`build_request`:
``ray-token`` header, the path joined to the ``jobUrl``'s own path prefix) and retried by the
one :class:`~airflow_provider_emr_ray.client.retry.RetryPolicy`, under the rules of the signed
API (``POST /api/jobs/`` is not idempotent: a lost answer raises
:class:`~airflow_provider_emr_ray.exceptions.EmrRayOutcomeUnknownError`; throttling and connect
errors are retried for every call). The steps are

* a ``float`` — sleep that many seconds, send back ``None``;
* a :class:`Work` — run it (the async driver in a worker thread), send back its result;
* a :class:`RayRequest` — send it (:func:`transmit`/:func:`atransmit`), send back the
  :class:`~airflow_provider_emr_ray.client.retry.Outcome`.

Ray answers errors with plain text (often a traceback); it is kept, redacted and cut, as the
error's message. The ``ray-token`` is never placed in a message, a repr or a log line.

No Airflow import, no ``ray`` import; ``httpx`` and ``pydantic_core`` are imported on first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_emr_ray.client.actions import ApiAction
from airflow_provider_emr_ray.client.exchange import USER_AGENT, outcome_from_error, outcome_from_response
from airflow_provider_emr_ray.client.packaging import LocalPackage
from airflow_provider_emr_ray.client.retry import Outcome, RetryPolicy
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayError,
    EmrRayJobAlreadyExistsError,
    EmrRayNotFoundError,
    EmrRayPackageUploadRefusedError,
    EmrRayValidationError,
)
from airflow_provider_emr_ray.redaction import redact_text

if TYPE_CHECKING:
    import httpx

__all__ = [
    "RAY_ACTIONS",
    "RayCall",
    "RayJobsTarget",
    "RayRequest",
    "Work",
    "atransmit",
    "build_request",
    "http_request",
    "steps",
    "target_from_cluster",
    "transmit",
    "upload_packages",
]

TOKEN_HEADER = "ray-token"
#: Longest error text kept from an answer (its end).
MAX_ERROR_TEXT = 600
_CHUNK = 1024 * 1024
_J = "/api/jobs/{jobId}"

#: The Ray Jobs API calls (Ray 2.60 ``job_head.py``). ``{jobId}`` is a submission id or a job id.
RAY_ACTIONS: dict[str, ApiAction] = {
    a.name: a
    for a in (
        ApiAction("RayGetVersion", "GET", "/api/version"),
        ApiAction("RayGetPackage", "GET", "/api/packages/{protocol}/{packageName}"),
        # content-addressed: sending the same bytes twice stores the same package
        ApiAction("RayUploadPackage", "PUT", "/api/packages/{protocol}/{packageName}"),
        ApiAction("RaySubmitJob", "POST", "/api/jobs/", idempotent=False),
        ApiAction("RayGetJob", "GET", _J),
        ApiAction("RayListJobs", "GET", "/api/jobs/"),
        ApiAction("RayStopJob", "POST", f"{_J}/stop"),
        ApiAction("RayDeleteJob", "DELETE", _J),
        ApiAction("RayGetJobLogs", "GET", f"{_J}/logs"),
    )
}
_PACKAGE_ACTIONS = ("RayGetPackage", "RayUploadPackage")
_JOB_ACTIONS = ("RayGetJob", "RayStopJob", "RayDeleteJob", "RayGetJobLogs")


@dataclass(frozen=True)
class RayJobsTarget:
    """Where a cluster's Ray Jobs API answers and the token it wants.

    :param url: the ``jobUrl`` (or ``jobUrlInner``), path prefix included.
    :param token: the cluster's ``submitToken`` (never shown by ``repr()``).
    :param cluster_id: the cluster, named in errors.
    """

    url: str
    token: str | None = field(repr=False)
    cluster_id: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EmrRayValidationError("job_url", f"must be an http(s) URL, got {self.url!r}")


def target_from_cluster(cluster: Any, cluster_id: str, internal: bool) -> RayJobsTarget:
    """The :class:`RayJobsTarget` of a :class:`~airflow_provider_emr_ray.models.RayCluster`."""
    url = cluster.job_url_inner if internal else cluster.job_url
    name = "jobUrlInner" if internal else "jobUrl"
    state = getattr(cluster, "state", None)
    if not url:
        raise EmrRayError(
            f"cluster {cluster_id} has no {name} (state {state}): its Ray Jobs API is not available; "
            "is the cluster running?" + ("" if internal else " (ray_jobs_endpoint 'internal' uses jobUrlInner)"),
            action="GetRayCluster",
        )
    if not cluster.submit_token:
        raise EmrRayError(f"cluster {cluster_id} has no submitToken (state {state})", action="GetRayCluster")
    return RayJobsTarget(url=str(url), token=cluster.submit_token, cluster_id=cluster_id)


@dataclass(frozen=True, slots=True)
class RayCall:
    """One Ray Jobs API call a plan asks for.

    :param action: a key of :data:`RAY_ACTIONS`.
    :param path_params: the ``{param}`` values.
    :param body: a JSON body (``None`` fields are left out).
    :param file: ``(path, size)`` of a file sent as the body (a package upload).
    """

    action: str
    path_params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    file: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """Blocking local work a plan needs done (hashing, zipping): the async driver runs it in a thread."""

    fn: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class RayRequest:
    """One request on the wire (rebuilt by :func:`http_request` on every attempt)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    content: bytes | None = None
    file: tuple[str, int] | None = None


def _join(base: str, path: str) -> str:
    """``path`` under ``base``'s own path (``http://h/ray-gateway`` + ``/api/jobs/``)."""
    return base.rstrip("/") + path


def build_request(target: RayJobsTarget, call: RayCall) -> tuple[ApiAction, RayRequest]:
    """The request of one call (built once, sent on every attempt)."""
    action = RAY_ACTIONS[call.action]
    path = action.render_path(call.path_params or {})
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    if target.token:
        headers[TOKEN_HEADER] = target.token
    content = None
    if call.body is not None:
        clean = {k: v for k, v in call.body.items() if v is not None}
        content = json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers["content-type"] = "application/json"
    elif call.file is not None:
        headers["content-type"] = "application/octet-stream"
        headers["content-length"] = str(call.file[1])
    return action, RayRequest(action.method, _join(target.url, path), headers, content, call.file)


def _file_chunks(path: str) -> Generator[bytes, None, None]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


async def _afile_chunks(path: str):
    import asyncio

    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, _CHUNK):
            yield chunk


def http_request(req: RayRequest, timeout: float, *, asynchronous: bool = False) -> httpx.Request:
    """The ``httpx.Request`` of one attempt; a file body is streamed from disk, never read whole."""
    import httpx

    content: Any = req.content
    if req.file is not None:
        content = _afile_chunks(req.file[0]) if asynchronous else _file_chunks(req.file[0])
    t = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    return httpx.Request(req.method, req.url, headers=dict(req.headers), content=content, extensions={"timeout": t})


def sender(client: Any, url: str) -> Callable[[httpx.Request], Any]:
    """The transport ``client`` uses for ``url`` (proxy mounts included), without the client's
    cookie jar: a gateway cookie never travels to another cluster. ``client.send`` where httpx
    lacks the lookup."""
    import httpx

    from airflow_provider_emr_ray.client.exchange import TRANSPORT_LOOKUP

    pick = getattr(client, TRANSPORT_LOOKUP, None)
    if pick is None:
        return client.send
    transport = pick(httpx.URL(url))
    return transport.handle_async_request if isinstance(client, httpx.AsyncClient) else transport.handle_request


def _outcome(response: httpx.Response, token: str | None) -> Outcome:
    """:func:`~airflow_provider_emr_ray.client.exchange.outcome_from_response`, with an error's
    text (Ray answers plain text or ``{"message": ...}``) as ``payload["message"]``, scrubbed."""
    import dataclasses

    outcome = outcome_from_response(response)
    if outcome.status is not None and 200 <= outcome.status < 300:
        return outcome
    payload = outcome.payload
    if not isinstance(payload, dict) or not (payload.get("message") or payload.get("Message")):
        content = response.content
        text = content.decode("utf-8", "replace").strip() if content else ""
        payload = {"message": _clean(text, token)} if text else None
    else:
        payload = {**payload, "message": _clean(str(payload.get("message") or payload.get("Message")), token)}
    return dataclasses.replace(outcome, payload=payload)


def _clean(text: str, token: str | None) -> str:
    """An error text without the token, redacted, and cut to its end (a traceback's last lines
    say what went wrong)."""
    if token:
        text = text.replace(token, "***")
    if len(text) > MAX_ERROR_TEXT:
        text = "..." + text[-(MAX_ERROR_TEXT - 3) :]
    return redact_text(text, [token] if token else [], limit=MAX_ERROR_TEXT)


def transmit(send: Callable[[httpx.Request], httpx.Response], request: httpx.Request, token: str | None) -> Outcome:
    """Send ``request``, read the whole answer and close it."""
    import httpx

    try:
        response = send(request)
        try:
            response.read()
        finally:
            response.close()
    except httpx.TransportError as err:
        return _scrub(outcome_from_error(err), token)
    return _outcome(response, token)


async def atransmit(send: Callable[[httpx.Request], Any], request: httpx.Request, token: str | None) -> Outcome:
    """Async :func:`transmit`."""
    import httpx

    try:
        response = await send(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
    except httpx.TransportError as err:
        return _scrub(outcome_from_error(err), token)
    return _outcome(response, token)


def _scrub(outcome: Outcome, token: str | None) -> Outcome:
    if token and token in outcome.transport_detail:
        from dataclasses import replace

        return replace(outcome, transport_detail=outcome.transport_detail.replace(token, "***"))
    return outcome


def _message(outcome: Outcome) -> str:
    payload = outcome.payload
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])
    return f"HTTP {outcome.status} without an error message"


def _refused(target: RayJobsTarget, status: int) -> EmrRayPackageUploadRefusedError:
    return EmrRayPackageUploadRefusedError(
        f"the Ray Jobs endpoint of cluster {target.cluster_id} refused the local package upload "
        f"(/api/packages answered HTTP {status}; the gateway may not forward it): upload the code to OSS "
        'and pass working_dir="oss://bucket/path/code.zip" (py_modules likewise) instead of a local path',
        action="RayUploadPackage",
        status=status,
    )


def _interpret(target: RayJobsTarget, action: ApiAction, call: RayCall, outcome: Outcome) -> tuple[bool, Any]:
    """``(True, result)`` for an answer decided here (errors are raised), ``(False, None)`` to
    leave it to the retry policy (throttling, 5xx, transport failures)."""
    status = outcome.status
    name = action.name
    if status is None:
        return False, None
    if name == "RayGetPackage" and status == 404:
        return True, False
    if name == "RayGetPackage" and 200 <= status < 300:
        return True, True
    if 200 <= status < 300:
        return False, None
    text = _message(outcome)
    if status in (401, 403):
        raise EmrRayAuthError(
            f"the Ray Jobs endpoint of cluster {target.cluster_id} rejected its ray-token (HTTP {status}): "
            "the cluster's submitToken may have changed (the cluster restarted?) or the endpoint "
            f"is not this cluster's ({urlsplit(target.url).netloc})",
            action=name,
            status=status,
        )
    if name in _PACKAGE_ACTIONS and (status in (405, 501) or (name == "RayUploadPackage" and status == 404)):
        raise _refused(target, status)
    if name == "RaySubmitJob" and status in (400, 500) and "already exists" in text:
        submission_id = (call.body or {}).get("submission_id")
        raise EmrRayJobAlreadyExistsError(
            f"cluster {target.cluster_id} already has a Ray job with submission_id {submission_id!r}: "
            "reattach to it instead of submitting again",
            submission_id=submission_id,
            action=name,
            status=status,
        )
    if status == 404:
        job = (call.path_params or {}).get("jobId")
        what = f"Ray job {job!r}" if job else "the Ray Jobs API path"
        raise EmrRayNotFoundError(
            f"{what} not found on cluster {target.cluster_id}: {text}", action=name, status=status
        )
    if status == 429 or status >= 500:
        return False, None
    raise EmrRayError(f"cluster {target.cluster_id}: {text}", action=name, status=status)


Plan = Generator[Any, Any, Any]


def steps(
    target: RayJobsTarget, retry: RetryPolicy, plan: Plan, first: Any, warn: Callable[..., Any]
) -> Generator[Any, Any, Any]:
    """The steps of every call of ``plan`` (whose first item, ``first``, was already taken from
    it); returns the plan's result. ``warn`` logs one line per retry."""
    item = first
    while True:
        if isinstance(item, Work):
            result = yield item
        else:
            call: RayCall = item
            action, request = build_request(target, call)
            retry_number = 0
            while True:
                outcome: Outcome = yield request
                decided, result = _interpret(target, action, call, outcome)
                if decided:
                    break
                decision = retry.decide(action.name, action.idempotent, outcome, retry_number, api_answer=False)
                if decision.error is not None:
                    raise decision.error
                if decision.delay is None:
                    result = decision.result
                    break
                retry_number += 1
                warn(
                    "%s on cluster %s failed (%s); retry %d of %d in %.2f s",
                    action.name, target.cluster_id, decision.reason, retry_number, retry.max_retries, decision.delay,
                )  # fmt: skip
                yield float(decision.delay)
        try:
            item = plan.send(result)
        except StopIteration as done:
            return done.value


def upload_packages(packages: list[LocalPackage]) -> Plan:
    """The plan of uploading ``packages`` that the cluster lacks (``GET /api/packages`` 404):
    every missing one is built (and its size checked) before the first upload; temporary zips
    are deleted afterwards. Returns the URIs uploaded."""
    missing: list[LocalPackage] = []
    seen: set[str] = set()
    for pkg in packages:
        if pkg.uri in seen:
            continue
        seen.add(pkg.uri)
        exists = yield RayCall("RayGetPackage", {"protocol": "gcs", "packageName": pkg.name})
        if not exists:
            missing.append(pkg)
    if not missing:
        return []
    built: list[tuple[str, int, bool]] = []

    def build_all() -> list[tuple[str, int, bool]]:
        try:
            for pkg in missing:
                built.append(pkg.build())
        except BaseException:
            _remove(built)
            raise
        return built

    yield Work(build_all)
    try:
        for pkg, (path, size, _temporary) in zip(missing, built):
            yield RayCall("RayUploadPackage", {"protocol": "gcs", "packageName": pkg.name}, file=(path, size))
    finally:
        _remove(built)
    return [pkg.uri for pkg in missing]


def _remove(built: list[tuple[str, int, bool]]) -> None:
    for path, _size, temporary in built:
        if temporary:
            try:
                os.unlink(path)
            except OSError:
                pass
