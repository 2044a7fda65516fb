"""The hook over the signed EMR Serverless Spark Ray API.

Every call, sync or async, goes through one request builder (:func:`~airflow_provider_emr_ray.client.actions.build_request`),
one signer (:mod:`~airflow_provider_emr_ray.client.signing`) and one retry policy
(:class:`~airflow_provider_emr_ray.client.retry.RetryPolicy`). The retry loop itself is written once, as
a generator that yields what it needs (a credential, a request to send, a pause); a short sync
driver and a short async driver perform that I/O.

httpx, the credentials SDK and the pydantic models are imported on first use, not when this
module is imported: DAG files import the operators (and so this module) on every parse.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from airflow_provider_emr_ray import __version__
from airflow_provider_emr_ray.client.actions import PreparedRequest, build_request, regional_endpoint
from airflow_provider_emr_ray.exceptions import EmrRayError, EmrRayValidationError
from airflow_provider_emr_ray.redaction import mask
from airflow_provider_emr_ray.client.retry import Outcome, RetryPolicy, parse_retry_after
from airflow_provider_emr_ray.client.signing import sign_headers

if TYPE_CHECKING:
    import httpx

    from airflow_provider_emr_ray.client.credentials import Credential, CredentialProvider
    from airflow_provider_emr_ray.models import RayCluster, RayJob

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
MAX_PAGES = 10_000
USER_AGENT = f"airflow-provider-emr-ray/{__version__}"
#: The ``httpx`` client method that picks the transport (proxy mount or default) for a URL.
_TRANSPORT_LOOKUP = "_transport_for_url"

_CRED = object()  # what the call generator yields when it needs a credential
_sleep = time.sleep  # module-level so tests can replace the hook's pauses alone
_asleep = asyncio.sleep


@dataclass(frozen=True)
class _Settings:
    """Everything a call needs, read once from the connection (and the hook's arguments)."""

    endpoint: str
    host: str
    region_id: str | None
    workspace_id: str | None
    timeout: float
    retry: RetryPolicy
    credentials: CredentialProvider = field(repr=False)


def _positive_number(field_name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EmrRayValidationError(field_name, f"must be a positive number of seconds, got {value!r}") from None
    if number <= 0:
        raise EmrRayValidationError(field_name, f"must be a positive number of seconds, got {value!r}")
    return number


def _non_negative_int(field_name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise EmrRayValidationError(field_name, f"must be an integer ≥ 0, got {value!r}")
    try:
        number = int(str(value))
    except ValueError:
        raise EmrRayValidationError(field_name, f"must be an integer ≥ 0, got {value!r}") from None
    if number < 0:
        raise EmrRayValidationError(field_name, f"must be an integer ≥ 0, got {value!r}")
    return number


def _require_id(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EmrRayValidationError(field_name, f"must be a non-empty string, got {value!r}")
    if value != value.strip() or "/" in value:
        raise EmrRayValidationError(field_name, f"must not contain '/' or surrounding spaces, got {value!r}")
    return value


def _epoch_ms(field_name: str, value: datetime | int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EmrRayValidationError(field_name, "a datetime must be timezone-aware")
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise EmrRayValidationError(field_name, f"must be a timezone-aware datetime or epoch milliseconds, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Call:
    """One API call a plan asks for; the driver sends back the decoded JSON answer."""

    action: str
    path_params: Mapping[str, str] | None = None
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None


def _preset_connections() -> Any:
    """The connections Airflow holds in memory for the current context (``Connection.test_connection``
    sets them), or None."""
    try:
        from airflow.sdk.execution_time.context import _preset_connections as preset
    except ImportError:
        return None
    return preset.get()


#: Connection reads in flight, per event loop and connection id.
_READS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task]] = weakref.WeakKeyDictionary()


async def _aread_connection(conn_id: str, get_connection: Callable[[str], Any]) -> Any:
    """Read connection ``conn_id`` without blocking the event loop. Reads of one connection
    that overlap in one event loop share a single read: a triggerer starting thousands of
    triggers of one connection reads it once for all those starting together, not once each
    (each read costs Airflow a secrets-backend lookup, and in a triggerer a round trip to its
    supervisor). Nothing is kept: a read that starts after the previous one ended reads again."""
    loop = asyncio.get_running_loop()
    reads = _READS.setdefault(loop, {})
    key = f"{conn_id}\x00{id(_preset_connections())}"  # a preset (in-memory) connection is not shared
    task = reads.get(key)
    if task is None:
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            task = loop.create_task(aget(conn_id))
        else:  # Airflow versions without an async connection getter
            task = loop.create_task(asyncio.to_thread(get_connection, conn_id))
        reads[key] = task

        def _done(done: asyncio.Task, reads: dict[str, asyncio.Task] = reads) -> None:
            if reads.get(key) is done:
                del reads[key]
            if not done.cancelled():
                done.exception()  # retrieved: the waiters get it (no "never retrieved" warning)

        task.add_done_callback(_done)
    return await asyncio.shield(task)


def _twins(plan: Callable[..., Generator[_Call, Any, Any]]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The sync method and its async twin of one plan (same signature and docstring)."""

    @functools.wraps(plan)
    def sync(self: EmrRayHook, *args: Any, **kwargs: Any) -> Any:
        return self._drive(plan(self, *args, **kwargs))

    @functools.wraps(plan)
    async def async_(self: EmrRayHook, *args: Any, **kwargs: Any) -> Any:
        return await self._adrive(plan(self, *args, **kwargs))

    # Show what the call returns, not the plan's generator type (``Generator[_Call, Any, X]`` → X).
    returns = str(plan.__annotations__.get("return", ""))
    if returns.startswith("Generator[_Call, Any, "):
        signature = inspect.signature(plan)
        returns = returns[len("Generator[_Call, Any, ") : -1]
        for method in (sync, async_):
            method.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
            method.__annotations__ = {**plan.__annotations__, "return": returns}
    name = plan.__name__.removeprefix("_plan_")
    sync.__name__, async_.__name__ = name, f"a{name}"
    sync.__qualname__, async_.__qualname__ = f"EmrRayHook.{name}", f"EmrRayHook.a{name}"
    async_.__doc__ = f"Async twin of :meth:`{name}`.\n\n{plan.__doc__ or ''}"
    return sync, async_


def _cluster_body(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateRayCluster/UpdateRayCluster body from a plan's arguments, validated by
    :class:`~airflow_provider_emr_ray.models.RayClusterConfig`."""
    from airflow_provider_emr_ray import models

    fields = {k: v for k, v in arguments.items() if k not in ("self", "cluster_id")}
    return models.to_wire(fields, models.RayClusterConfig, field="")


_PROVIDERS: dict[str, CredentialProvider] = {}
_PROVIDERS_LOCK = threading.Lock()
_MAX_PROVIDERS = 256


def _shared_provider(login: str | None, password: str | None, extra: Mapping[str, Any]) -> CredentialProvider:
    """One credential provider per distinct credential configuration in this process.

    Hooks built from the same connection (thousands of triggers in one triggerer) share one
    provider, so a RAM-role or OIDC credential is assumed once and refreshed once, not per hook.
    The cache key is a digest: no secret is kept in it.
    """
    from airflow_provider_emr_ray.client.credentials import provider_from_connection

    material = json.dumps([login, password, extra], sort_keys=True, default=str).encode()
    key = hashlib.sha256(material).hexdigest()
    with _PROVIDERS_LOCK:
        provider = _PROVIDERS.get(key)
        if provider is None:
            if len(_PROVIDERS) >= _MAX_PROVIDERS:
                _PROVIDERS.pop(next(iter(_PROVIDERS)))
            provider = _PROVIDERS[key] = provider_from_connection(
                login=login, password=password, extra=extra, on_secret=mask
            )
        return provider


# One httpx.AsyncClient per event loop (and endpoint settings), shared by every hook in that
# loop: thousands of triggers in one triggerer share a connection pool instead of each opening
# their own.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, _AsyncLane]] = (
    weakref.WeakKeyDictionary()
)
#: Requests in flight at once per event loop and endpoint. httpcore's pool assigns queued requests
#: to connections in O(queued × connections) on every request and release, which stalls the loop
#: for seconds when thousands of triggers poll at once; queueing on a semaphore instead costs O(1).
MAX_IN_FLIGHT = 16


@dataclass
class _AsyncLane:
    """The shared ``httpx.AsyncClient`` of one event loop and endpoint, and its in-flight gate."""

    client: httpx.AsyncClient
    gate: asyncio.Semaphore


class EmrRayHook(BaseHook):
    """Interact with the Ray API of Alibaba Cloud EMR Serverless Spark.

    The connection (type ``emr_ray``) holds the AccessKey ID as login and the AccessKey secret as
    password; extras give ``region_id``, ``workspace_id``, an optional ``endpoint`` (full URL, for
    a VPC endpoint or the local emulator) and the credential mode (``credential_type`` with
    ``security_token``, ``role_arn``, ``oidc_provider_arn``, ...). The connection is read on the
    first call, not when the hook is created.

    Every method has an async twin prefixed with ``a`` (``aget_ray_job``, ...).

    :param emr_ray_conn_id: the Airflow connection to use.
    :param region_id: overrides the connection's ``region_id`` extra.
    :param workspace_id: overrides the connection's ``workspace_id`` extra.
    :param timeout: per-request timeout in seconds (default: the ``timeout`` extra, else 30).
    :param max_retries: retries of transient failures (default: the ``max_retries`` extra, else 5).
    :param retry_policy: a complete :class:`~airflow_provider_emr_ray.client.retry.RetryPolicy` (tests, tuning).
    :param transport: an ``httpx`` transport for the sync client (tests: ``httpx.MockTransport``,
        ``httpx.ASGITransport`` does not support sync use, so use ``httpx.WSGITransport`` or a served emulator).
    :param async_transport: an ``httpx`` async transport (tests: ``httpx.ASGITransport(app)``).
    :param credential_provider: a ready credential provider, bypassing the connection's credentials.
    """

    conn_name_attr = "emr_ray_conn_id"
    default_conn_name = "emr_ray_default"
    conn_type = "emr_ray"
    hook_name = "Alibaba Cloud EMR Serverless Ray"

    def __init__(
        self,
        emr_ray_conn_id: str = default_conn_name,
        region_id: str | None = None,
        workspace_id: str | None = None,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        credential_provider: CredentialProvider | None = None,
    ) -> None:
        super().__init__()
        self.emr_ray_conn_id = emr_ray_conn_id
        self.region_id = region_id
        self.workspace_id = workspace_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_policy = retry_policy
        self._transport = transport
        self._async_transport = async_transport
        self._credential_provider = credential_provider
        self._settings_cache: _Settings | None = None
        self._client_cache: httpx.Client | None = None

    # ------------------------------------------------------------------ connection & settings

    def _settings_from_connection(self, conn: Any) -> _Settings:
        extra = conn.extra_dejson if conn is not None else {}
        login = conn.login if conn is not None else None
        password = conn.password if conn is not None else None
        # Register secrets with the masker the moment they are read.
        for secret in (password, extra.get("security_token")):
            if secret:
                mask(secret)

        region_id = self.region_id or extra.get("region_id") or None
        workspace_id = self.workspace_id or extra.get("workspace_id") or None
        endpoint = extra.get("endpoint") or None
        if endpoint:
            parts = urlsplit(str(endpoint))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise EmrRayValidationError(
                    "endpoint", f"must be a full URL with scheme http or https, got {endpoint!r}"
                )
            endpoint = f"{parts.scheme}://{parts.netloc}"
        elif region_id:
            endpoint = regional_endpoint(region_id)
        else:
            raise EmrRayValidationError(
                "region_id", f"is required (connection {self.emr_ray_conn_id!r} has neither region_id nor endpoint)"
            )
        # The UI form saves empty extras as null: null means "the default".
        timeout = self._timeout if self._timeout is not None else extra.get("timeout")
        timeout = DEFAULT_TIMEOUT if timeout is None else _positive_number("timeout", timeout)
        if self._retry_policy is not None:
            policy = self._retry_policy
        else:
            retries = self._max_retries if self._max_retries is not None else extra.get("max_retries")
            policy = RetryPolicy(
                max_retries=DEFAULT_MAX_RETRIES if retries is None else _non_negative_int("max_retries", retries)
            )
        provider = self._credential_provider or _shared_provider(login, password, extra)
        return _Settings(
            endpoint=endpoint,
            host=urlsplit(endpoint).netloc,
            region_id=region_id,
            workspace_id=workspace_id,
            timeout=timeout,
            retry=policy,
            credentials=provider,
        )

    @property
    def settings(self) -> _Settings:
        """The resolved settings (reads the connection on first access)."""
        if self._settings_cache is None:
            self._settings_cache = self._settings_from_connection(self.get_connection(self.emr_ray_conn_id))
        return self._settings_cache

    async def asettings(self) -> _Settings:
        """Async :attr:`settings`: reads the connection without blocking the event loop."""
        if self._settings_cache is None:
            conn = await _aread_connection(self.emr_ray_conn_id, self.get_connection)
            self._settings_cache = self._settings_from_connection(conn)
        return self._settings_cache

    def get_conn(self) -> httpx.Client:
        """The hook's ``httpx.Client`` (one per hook, reused across calls)."""
        if self._client_cache is None:
            import httpx

            s = self.settings
            self._client_cache = httpx.Client(
                base_url=s.endpoint, timeout=s.timeout, transport=self._transport, headers={"user-agent": USER_AGENT}
            )
        return self._client_cache

    async def _alane(self) -> _AsyncLane:
        import httpx

        s = await self.asettings()
        per_loop = _ASYNC_CLIENTS.setdefault(asyncio.get_running_loop(), {})
        key = (s.endpoint, s.timeout, id(self._async_transport) if self._async_transport else None)
        lane = per_loop.get(key)
        if lane is None or lane.client.is_closed:
            client = httpx.AsyncClient(
                base_url=s.endpoint,
                timeout=s.timeout,
                transport=self._async_transport,
                headers={"user-agent": USER_AGENT},
                limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT),
            )
            lane = per_loop[key] = _AsyncLane(client, asyncio.Semaphore(MAX_IN_FLIGHT))
        return lane

    async def aget_conn(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` of the running event loop (shared by hooks with the same endpoint)."""
        return (await self._alane()).client

    def close(self) -> None:
        """Close the hook's sync client (async clients belong to their event loop)."""
        if self._client_cache is not None:
            self._client_cache.close()
            self._client_cache = None

    # ------------------------------------------------------------------ the one call path

    def _workspace(self, s: _Settings) -> str:
        if not s.workspace_id:
            raise EmrRayValidationError(
                "workspace_id",
                f"is required: give it to the hook or as the workspace_id extra of connection {self.emr_ray_conn_id!r}",
            )
        return s.workspace_id

    def _exchange(self, s: _Settings, prepared: PreparedRequest) -> Generator[Any, Any, Any]:
        """The retry loop of one call, free of I/O.

        Yields ``_CRED`` (send back a :class:`Credential`), a ``float`` (sleep that long, send
        back ``None``) or a ``(method, target, headers, body)`` tuple (send back the
        :class:`Outcome`). Returns the decoded JSON of the successful answer.
        """
        action = prepared.action
        retry_number = 0
        while True:
            cred: Credential = yield _CRED
            headers = sign_headers(
                method=action.method,
                host=s.host,
                path=prepared.path,
                query=prepared.query,
                body=prepared.body,
                action=action.name,
                access_key_id=cred.access_key_id,
                access_key_secret=cred.access_key_secret,
                security_token=cred.security_token,
            )
            outcome: Outcome = yield (action.method, prepared.target, headers, prepared.body)
            decision = s.retry.decide(action.name, action.idempotent, outcome, retry_number)
            if decision.error is not None:
                raise decision.error
            if decision.delay is None:
                return decision.result
            retry_number += 1
            self.log.warning(
                "%s failed (%s); retry %d of %d in %.2f s",
                action.name,
                decision.reason,
                retry_number,
                s.retry.max_retries,
                decision.delay,
            )
            yield decision.delay

    @staticmethod
    def _outcome_from_response(response: httpx.Response) -> Outcome:
        from pydantic_core import from_json

        content, status = response.content, response.status_code
        try:
            payload = from_json(content) if content else {}
        except ValueError:
            payload = None
        if 200 <= status < 300:
            return Outcome(status=status, payload=payload)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return Outcome(status=status, payload=payload, retry_after=retry_after)

    @staticmethod
    def _sender(client: Any) -> Callable[[httpx.Request], Any]:
        """How requests reach the wire: the transport ``client`` uses for its endpoint (proxy
        mounts from the environment included), resolved once per client. Signed calls need none
        of the client's auth, redirect, cookie or event-hook layers, and skipping them is a third
        of the client-side CPU of a call. ``client.send`` where httpx lacks the lookup."""
        sender = client.__dict__.get("_emr_ray_sender")
        if sender is None:
            import httpx

            pick = getattr(client, _TRANSPORT_LOOKUP, None)
            if pick is None:
                sender = client.send
            elif isinstance(client, httpx.AsyncClient):
                sender = pick(client.base_url).handle_async_request
            else:
                sender = pick(client.base_url).handle_request
            client.__dict__["_emr_ray_sender"] = sender
        return sender

    @staticmethod
    def _request(s: _Settings, step: tuple) -> httpx.Request:
        """The ``httpx.Request`` of one signed send (the client's timeout and user agent set here,
        as ``client.send`` would)."""
        import httpx

        method, target, headers, content = step
        headers["user-agent"] = USER_AGENT
        timeout = {"connect": s.timeout, "read": s.timeout, "write": s.timeout, "pool": s.timeout}
        return httpx.Request(
            method, s.endpoint + target, headers=headers, content=content, extensions={"timeout": timeout}
        )

    @staticmethod
    def _outcome_from_error(error: Exception) -> Outcome:
        import httpx

        never_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        return Outcome(
            status=None,
            transport_error=type(error).__name__,
            transport_detail=str(error)[:200],
            sent=not never_sent,
        )

    def _call(self, name: str, path_params: Mapping[str, str] | None = None, query=None, body=None) -> Any:
        import httpx

        s = self.settings
        prepared = build_request(name, {"workspaceId": self._workspace(s), **(path_params or {})}, query, body)
        send = self._sender(self.get_conn())
        steps = self._exchange(s, prepared)
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if step is _CRED:
                    reply = s.credentials.get()
                elif isinstance(step, float):
                    _sleep(step)
                    reply = None
                else:
                    try:
                        response = send(self._request(s, step))
                        try:
                            response.read()
                        finally:
                            response.close()
                        reply = self._outcome_from_response(response)
                    except httpx.TransportError as err:
                        reply = self._outcome_from_error(err)
        except StopIteration as done:
            return done.value

    async def _acall(self, name: str, path_params: Mapping[str, str] | None = None, query=None, body=None) -> Any:
        import httpx

        s = await self.asettings()
        prepared = build_request(name, {"workspaceId": self._workspace(s), **(path_params or {})}, query, body)
        lane = await self._alane()
        send = self._sender(lane.client)
        steps = self._exchange(s, prepared)
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if step is _CRED:
                    reply = await s.credentials.aget()
                elif isinstance(step, float):
                    await _asleep(step)
                    reply = None
                else:
                    try:
                        async with lane.gate:
                            response = await send(self._request(s, step))
                            try:
                                await response.aread()
                            finally:
                                await response.aclose()
                        reply = self._outcome_from_response(response)
                    except httpx.TransportError as err:
                        reply = self._outcome_from_error(err)
        except StopIteration as done:
            return done.value

    # ------------------------------------------------------------------ plans → sync and async methods

    def _drive(self, plan: Generator[_Call, Any, Any]) -> Any:
        """Run a plan with the sync call path."""
        answer: Any = None
        try:
            while True:
                call = plan.send(answer)
                answer = self._call(call.action, call.path_params, call.query, call.body)
        except StopIteration as done:
            return done.value

    async def _adrive(self, plan: Generator[_Call, Any, Any]) -> Any:
        """Run a plan with the async call path."""
        answer: Any = None
        try:
            while True:
                call = plan.send(answer)
                answer = await self._acall(call.action, call.path_params, call.query, call.body)
        except StopIteration as done:
            return done.value

    def _paged(self, action: str, items_key: str, model: Any, page_size: int, base_query: Mapping[str, Any]):
        """Walk every page of a List call; yields the calls, returns the parsed items."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise EmrRayValidationError("page_size", f"must be an integer from 1 to 100, got {page_size!r}")
        found: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            answer = yield _Call(action, query={**base_query, "pageNum": page, "pageSize": page_size})
            items = answer.get(items_key) or []
            found.extend(model.model_validate(item) for item in items)
            total = answer.get("totalCount")
            if len(items) < page_size or (isinstance(total, int) and len(found) >= total):
                break
        return found

    # ------------------------------------------------------------------ clusters

    def _plan_create_ray_cluster(
        self,
        *,
        name: str,
        head_spec: Any = None,
        worker_spec: Sequence[Any] | None = None,
        display_release_version: str | None = None,
        description: str | None = None,
        network_service_name: str | None = None,
        volume_ids: Sequence[str] | None = None,
        extra_param: str | Mapping[str, Any] | None = None,
    ) -> Generator[_Call, Any, str]:
        """Create a Ray cluster (CreateRayCluster) and return its ``clusterId``.

        Never re-sent once it may have reached the service: a read timeout or 5xx raises
        :class:`~airflow_provider_emr_ray.exceptions.EmrRayOutcomeUnknownError`.

        :param name: the cluster name, 1 to 64 characters.
        :param head_spec: the head node (dict in snake_case or camelCase, or ``HeadSpec``).
        :param worker_spec: worker groups (up to 50; dicts or ``WorkerSpec``).
        :param display_release_version: the engine version, e.g. ``ray-1.0.0 (Ray 2.47.1, Python 3.12)``.
        :param description: free text.
        :param network_service_name: the network connection to use (VPC access).
        :param volume_ids: volumes to mount.
        :param extra_param: extra parameters (dict or JSON string).
        """
        if name is None:
            raise EmrRayValidationError("name", "is required: a string of 1 to 64 characters")
        body = _cluster_body(locals())
        answer = yield _Call("CreateRayCluster", body=body)
        return answer["clusterId"]

    def _plan_update_ray_cluster(
        self,
        cluster_id: str,
        *,
        name: str | None = None,
        head_spec: Any = None,
        worker_spec: Sequence[Any] | None = None,
        display_release_version: str | None = None,
        description: str | None = None,
        network_service_name: str | None = None,
        volume_ids: Sequence[str] | None = None,
        extra_param: str | Mapping[str, Any] | None = None,
    ) -> Generator[_Call, Any, str]:
        """Update a Ray cluster (UpdateRayCluster); the parameters are those of :meth:`create_ray_cluster`.

        Not re-sent once it may have reached the service (see :meth:`create_ray_cluster`).
        """
        body = _cluster_body(locals())
        answer = yield _Call("UpdateRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)}, body=body)
        return answer.get("clusterId") or cluster_id

    def _plan_get_ray_cluster(self, cluster_id: str) -> Generator[_Call, Any, RayCluster]:
        """Describe a Ray cluster (GetRayCluster)."""
        from airflow_provider_emr_ray.models import RayCluster

        data = yield _Call("GetRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)})
        return RayCluster.model_validate(data)

    def _plan_list_ray_clusters(self, *, page_size: int = 100) -> Generator[_Call, Any, list[RayCluster]]:
        """List every Ray cluster of the workspace (ListRayCluster, all pages)."""
        from airflow_provider_emr_ray.models import RayCluster

        return (yield from self._paged("ListRayCluster", "rayClusters", RayCluster, page_size, {}))

    def _plan_start_ray_cluster(self, cluster_id: str, *, client_token: str | None = None) -> Generator[_Call, Any, None]:
        """Start a stopped Ray cluster (StartRayCluster)."""
        yield _Call("StartRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)}, body={"clientToken": client_token})

    def _plan_stop_ray_cluster(self, cluster_id: str, *, instance_id: str | None = None) -> Generator[_Call, Any, None]:
        """Stop a Ray cluster (StopRayCluster)."""
        yield _Call("StopRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)}, body={"instanceId": instance_id})

    def _plan_delete_ray_cluster(self, cluster_id: str) -> Generator[_Call, Any, None]:
        """Delete a Ray cluster (DeleteRayCluster)."""
        yield _Call("DeleteRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)})

    # ------------------------------------------------------------------ jobs

    def _plan_submit_ray_job(
        self,
        *,
        entrypoint: str,
        name: str | None = None,
        cluster_id: str | None = None,
        display_release_version: str | None = None,
        network_service_name: str | None = None,
        tags: Mapping[str, str] | Sequence[Any] | None = None,
        runtime_env_json: str | Mapping[str, Any] | None = None,
        working_dir: str | None = None,
        metadata_json: str | Mapping[str, Any] | None = None,
        submission_mode: str | None = None,
        entrypoint_num_cpus: str | float | None = None,
        entrypoint_num_gpus: str | float | None = None,
        entrypoint_memory: str | None = None,
        entrypoint_resources: str | Mapping[str, Any] | None = None,
        shutdown_after_job_finishes: bool | None = None,
        ttl_seconds_after_finished: int | None = None,
        active_deadline_seconds: int | None = None,
        head_spec: Any = None,
        worker_spec: Sequence[Any] | None = None,
        volume_ids: Sequence[str] | None = None,
        extra_param: str | Mapping[str, Any] | None = None,
    ) -> Generator[_Call, Any, str]:
        """Submit a Ray job (SubmitRayJob) and return its ``submissionId``.

        Give ``cluster_id`` to run on an existing cluster, or ``head_spec``/``worker_spec`` for
        a cluster that lives only for this job. Never re-sent once it may have reached the
        service (see :meth:`create_ray_cluster`).

        :param entrypoint: the command line, e.g. ``python main.py``.
        :param name: the job name (1 to 64 characters).
        :param tags: a ``{key: value}`` dict or a list of ``{"key": ..., "value": ...}``.
        :param runtime_env_json: the Ray runtime environment (dict or JSON string).
        :param metadata_json: job metadata (dict or JSON string).
        :param entrypoint_resources: custom resources of the entrypoint (dict or JSON string).
        """
        from airflow_provider_emr_ray import models

        fields = {k: v for k, v in locals().items() if k not in ("self", "models")}
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise EmrRayValidationError("entrypoint", f"must be a non-empty command line, got {entrypoint!r}")
        if cluster_id is not None:
            _require_id("cluster_id", cluster_id)
            if head_spec is not None or worker_spec is not None:
                raise EmrRayValidationError("head_spec", "cannot be combined with cluster_id")
        elif head_spec is None:
            raise EmrRayValidationError(
                "cluster_id", "give cluster_id (run on an existing cluster) or head_spec (a job-scoped cluster)"
            )
        answer = yield _Call("SubmitRayJob", body=models.to_wire(fields, models.RayJobConfig, field=""))
        return answer["submissionId"]

    def _plan_get_ray_job(self, submission_id: str) -> Generator[_Call, Any, RayJob]:
        """Describe a Ray job (GetRayJob)."""
        from airflow_provider_emr_ray.models import RayJob

        data = yield _Call("GetRayJob", {"submissionId": _require_id("submission_id", submission_id)})
        return RayJob.model_validate(data)

    def _plan_list_ray_jobs(
        self,
        *,
        name: str | None = None,
        submission_id: str | None = None,
        task_biz_id: str | None = None,
        submit_time_start: datetime | int | None = None,
        submit_time_end: datetime | int | None = None,
        page_size: int = 100,
    ) -> Generator[_Call, Any, list[RayJob]]:
        """List the Ray jobs of the workspace matching the filters (ListRayJob, all pages).

        :param submit_time_start: only jobs submitted at or after (aware datetime or epoch ms).
        :param submit_time_end: only jobs submitted at or before (aware datetime or epoch ms).
        """
        from airflow_provider_emr_ray.models import RayJob

        start = _epoch_ms("submit_time_start", submit_time_start)
        end = _epoch_ms("submit_time_end", submit_time_end)
        if start is not None and end is not None and start > end:
            raise EmrRayValidationError("submit_time_start", "must not be after submit_time_end")
        window = {k: v for k, v in (("startTime", start), ("endTime", end)) if v is not None} or None
        query = {"name": name, "submissionId": submission_id, "taskBizId": task_biz_id, "submitTime": window}
        return (yield from self._paged("ListRayJob", "rayJobs", RayJob, page_size, query))

    def _plan_cancel_ray_job(self, submission_id: str) -> Generator[_Call, Any, bool]:
        """Cancel a Ray job (CancelRayJob); returns the service's ``success`` flag."""
        answer = yield _Call("CancelRayJob", {"submissionId": _require_id("submission_id", submission_id)})
        return bool(answer.get("success", True))

    def _plan_list_ray_logs(
        self,
        instance_id: str,
        *,
        bucket_name: str | None = None,
        prefix: str | None = None,
        marker: str | None = None,
        max_keys: int | None = None,
        delimiter: str | None = None,
    ) -> Generator[_Call, Any, dict[str, Any]]:
        """List log files of a Ray instance (ListRayLogs); returns the answer's ``data``."""
        query = {"bucketName": bucket_name, "prefix": prefix, "marker": marker, "maxKeys": max_keys, "delimiter": delimiter}
        answer = yield _Call("ListRayLogs", {"instanceId": _require_id("instance_id", instance_id)}, query=query)
        return answer.get("data") or {}

    def _plan_get_ray_log(self, instance_id: str, *, path: str, bucket_name: str | None = None) -> Generator[_Call, Any, str]:
        """The download URL of one log file (GetRayLog ``data.accessUrl``)."""
        if not isinstance(path, str) or not path:
            raise EmrRayValidationError("path", "must be a non-empty string")
        path_params = {"instanceId": _require_id("instance_id", instance_id)}
        answer = yield _Call("GetRayLog", path_params, query={"bucketName": bucket_name, "path": path})
        return (answer.get("data") or {}).get("accessUrl", "")

    # Each call once, as a plan; its sync method and its async twin ("a" + name) run that plan.
    create_ray_cluster, acreate_ray_cluster = _twins(_plan_create_ray_cluster)
    update_ray_cluster, aupdate_ray_cluster = _twins(_plan_update_ray_cluster)
    get_ray_cluster, aget_ray_cluster = _twins(_plan_get_ray_cluster)
    list_ray_clusters, alist_ray_clusters = _twins(_plan_list_ray_clusters)
    start_ray_cluster, astart_ray_cluster = _twins(_plan_start_ray_cluster)
    stop_ray_cluster, astop_ray_cluster = _twins(_plan_stop_ray_cluster)
    delete_ray_cluster, adelete_ray_cluster = _twins(_plan_delete_ray_cluster)
    submit_ray_job, asubmit_ray_job = _twins(_plan_submit_ray_job)
    get_ray_job, aget_ray_job = _twins(_plan_get_ray_job)
    list_ray_jobs, alist_ray_jobs = _twins(_plan_list_ray_jobs)
    cancel_ray_job, acancel_ray_job = _twins(_plan_cancel_ray_job)
    list_ray_logs, alist_ray_logs = _twins(_plan_list_ray_logs)
    get_ray_log, aget_ray_log = _twins(_plan_get_ray_log)

    # ------------------------------------------------------------------ connection test & UI

    def test_connection(self) -> tuple[bool, str]:
        """Call ListRayCluster with pageSize 1; return ``(ok, readable reason)``."""
        try:
            s = self.settings
            answer = self._call("ListRayCluster", query={"pageNum": 1, "pageSize": 1})
        except EmrRayValidationError as err:
            return False, f"Connection settings are invalid: {err}"
        except EmrRayError as err:
            hint = ""
            if err.code and (err.code.startswith("Signature") or err.code.startswith("InvalidAccessKeyId")):
                hint = " Check the AccessKey ID (login) and secret (password)."
            elif err.status == 404:
                hint = " Check workspace_id and region_id."
            return False, f"{err}{hint}"
        except Exception as err:  # surface anything else readably in the UI
            return False, f"{type(err).__name__}: {err}"
        count = answer.get("totalCount", len(answer.get("rayClusters") or []))
        return True, f"Connected to {s.endpoint}, workspace {s.workspace_id} ({count} Ray cluster(s) visible)."
