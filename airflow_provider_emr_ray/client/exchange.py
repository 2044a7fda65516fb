"""One API call on the wire, free of I/O: the steps a driver performs, and the httpx glue.

A hook's plan (one per public method) yields :class:`Call` objects and gets back the decoded
JSON answers. :func:`steps` turns a plan into the low-level steps of every call it makes: each
call's request is built once (:func:`~airflow_provider_emr_ray.client.actions.build_request`),
signed anew on every attempt (:func:`~airflow_provider_emr_ray.client.signing.sign_headers`) and
retried by the one :class:`~airflow_provider_emr_ray.client.retry.RetryPolicy`. The steps are

* :data:`CRED` — send back a :class:`~airflow_provider_emr_ray.client.credentials.Credential`;
* a ``float`` — sleep that many seconds, send back ``None``;
* a ``(method, target, headers, body)`` tuple — send it (:func:`http_request`,
  :func:`transmit`/:func:`atransmit`), send back the :class:`~airflow_provider_emr_ray.client.retry.Outcome`.

A sync driver and an async driver (the hook) perform that I/O, so the retry loop, the signing
and the never-resend rule of non-idempotent calls are written once for both.

No Airflow import; ``httpx`` and ``pydantic_core`` are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_emr_ray import __version__
from airflow_provider_emr_ray.client.actions import build_request
from airflow_provider_emr_ray.client.retry import Outcome, RetryPolicy, throttle_wait
from airflow_provider_emr_ray.client.signing import sign_headers

if TYPE_CHECKING:
    import httpx

    from airflow_provider_emr_ray.client.credentials import Credential, CredentialProvider

__all__ = [
    "CRED",
    "TRANSPORT_LOOKUP",
    "USER_AGENT",
    "Call",
    "Settings",
    "answered_id",
    "atransmit",
    "http_request",
    "outcome_from_error",
    "outcome_from_response",
    "sender",
    "steps",
    "transmit",
]

USER_AGENT = f"airflow-provider-emr-ray/{__version__}"
#: The ``httpx`` client method that picks the transport (proxy mount or default) for a URL.
TRANSPORT_LOOKUP = "_transport_for_url"
#: What :func:`steps` yields when it needs a credential.
CRED = object()

Plan = Generator["Call", Any, Any]


@dataclass(frozen=True)
class Settings:
    """Everything a call needs: where to send it, how long to wait, how to retry, who signs."""

    endpoint: str
    host: str
    region_id: str | None
    workspace_id: str | None
    timeout: float
    retry: RetryPolicy
    credentials: CredentialProvider = field(repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call a plan asks for; the driver sends back the decoded JSON answer."""

    action: str
    path_params: Mapping[str, str] | None = None
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None


def steps(
    s: Settings, workspace_id: str, plan: Plan, first: Call, warn: Callable[..., Any]
) -> Generator[Any, Any, Any]:
    """The steps of every call of ``plan`` (whose first call, ``first``, was already taken from
    it); returns the plan's result. ``warn`` logs one line per retry (a logger's ``warning``)."""
    call: Call = first
    while True:
        path_params = {"workspaceId": workspace_id, **(call.path_params or {})}
        prepared = build_request(call.action, path_params, call.query, call.body)
        action = prepared.action
        retry_number = 0
        while True:
            cred: Credential = yield CRED
            headers = sign_headers(
                method=action.method, host=s.host, path=prepared.path, query=prepared.query, body=prepared.body,
                action=action.name, access_key_id=cred.access_key_id, access_key_secret=cred.access_key_secret,
                security_token=cred.security_token,
            )  # fmt: skip
            outcome: Outcome = yield (action.method, prepared.target, headers, prepared.body)
            decision = s.retry.decide(action.name, action.idempotent, outcome, retry_number)
            if decision.error is not None:
                raise decision.error
            if decision.delay is None:
                break
            retry_number += 1
            warn(
                "%s failed (%s); retry %d of %d in %.2f s",
                action.name,
                decision.reason,
                retry_number,
                s.retry.max_retries,
                decision.delay,
            )
            yield float(decision.delay)
        try:
            call = plan.send(decision.result)
        except StopIteration as done:
            return done.value
        except (KeyError, TypeError, ValueError) as exc:  # the plan could not read the answer
            from airflow_provider_emr_ray.exceptions import EmrRayValidationError

            if isinstance(exc, EmrRayValidationError):
                raise
            raise unexpected_answer(action.name, action.idempotent, exc) from None


def answered_id(answer: Mapping[str, Any], key: str) -> str:
    """The id an answer must carry (``clusterId`` of CreateRayCluster, ``submissionId`` of
    SubmitRayJob): a non-empty string, else ``ValueError`` (read by :func:`steps` as an
    unexpected answer)."""
    value = answer.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no {key} in it (got {value!r})")
    return value


def unexpected_answer(action: str, idempotent: bool, exc: BaseException) -> Exception:
    """The error of a 2xx answer a plan could not read (a missing or null field, a wrong type):
    outcome-unknown for a call that is not idempotent (the caller reconciles: the resource may
    exist), a server error otherwise (transient: waits tolerate it)."""
    from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError, EmrRayServerError
    from airflow_provider_emr_ray.redaction import redact_text

    detail = redact_text(f"{type(exc).__name__}: {exc}", limit=300)
    if not idempotent:
        return EmrRayOutcomeUnknownError(
            f"{action} gave an unexpected answer ({detail}): it may or may not have taken effect; "
            "look the resource up before trying again",
            action=action,
        )
    return EmrRayServerError(f"unexpected answer ({detail})", action=action)


def outcome_from_response(response: httpx.Response) -> Outcome:
    """The :class:`Outcome` of an answer whose body was read."""
    from pydantic_core import from_json

    content, status = response.content, response.status_code
    try:
        payload = from_json(content) if content else {}
    except ValueError:
        payload = None
    if 200 <= status < 300:
        return Outcome(status=status, payload=payload)
    return Outcome(status=status, payload=payload, retry_after=throttle_wait(response.headers))


def outcome_from_error(error: Exception) -> Outcome:
    """The :class:`Outcome` of a transport failure; only a connect failure was surely never sent."""
    import httpx

    never_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    return Outcome(
        status=None, transport_error=type(error).__name__, transport_detail=str(error)[:200], sent=not never_sent
    )


def sender(client: Any) -> Callable[[httpx.Request], Any]:
    """How requests reach the wire: the transport ``client`` uses for its endpoint (proxy
    mounts from the environment included), resolved once per client. Signed calls need none
    of the client's auth, redirect, cookie or event-hook layers, and skipping them is a third
    of the client-side CPU of a call. ``client.send`` where httpx lacks the lookup."""
    found = client.__dict__.get("_emr_ray_sender")
    if found is None:
        import httpx

        pick = getattr(client, TRANSPORT_LOOKUP, None)
        if pick is None:
            found = client.send
        elif isinstance(client, httpx.AsyncClient):
            found = pick(client.base_url).handle_async_request
        else:
            found = pick(client.base_url).handle_request
        client.__dict__["_emr_ray_sender"] = found
    return found


def http_request(s: Settings, step: tuple) -> httpx.Request:
    """The ``httpx.Request`` of one signed send (the timeout and user agent set here, as
    ``client.send`` would)."""
    import httpx

    method, target, headers, content = step
    headers["user-agent"] = USER_AGENT
    timeout = {"connect": s.timeout, "read": s.timeout, "write": s.timeout, "pool": s.timeout}
    return httpx.Request(method, s.endpoint + target, headers=headers, content=content, extensions={"timeout": timeout})


def transmit(send: Callable[[httpx.Request], httpx.Response], request: httpx.Request) -> Outcome:
    """Send ``request``, read the whole answer and close it."""
    import httpx

    try:
        response = send(request)
        try:
            response.read()
        finally:
            response.close()
    except httpx.TransportError as err:
        return outcome_from_error(err)
    return outcome_from_response(response)


async def atransmit(send: Callable[[httpx.Request], Any], request: httpx.Request) -> Outcome:
    """Async :func:`transmit`."""
    import httpx

    try:
        response = await send(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
    except httpx.TransportError as err:
        return outcome_from_error(err)
    return outcome_from_response(response)
