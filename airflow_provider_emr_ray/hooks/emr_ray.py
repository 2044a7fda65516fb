"""The hook over the signed EMR Serverless Spark Ray API: the Airflow-facing shell of the wire.

Every public call is written out with its real signature and return type, and has an async twin
prefixed with ``a`` with the very same signature. Both run one *plan* per API call: a generator
that checks the arguments, yields the :class:`~airflow_provider_emr_ray.client.exchange.Call`
it needs and turns the answer into the result. The retry loop, the request builder and the
signer live in :mod:`airflow_provider_emr_ray.client.exchange` (no Airflow there); a short sync
driver and a short async driver here perform its I/O. This module adds what comes from Airflow:
the connection, secret registration with the masker, logging, and the shared async lanes.

Beyond the API calls, :meth:`EmrRayHook.wait_for_cluster` and :meth:`EmrRayHook.wait_for_job`
poll until a state, on the operators' poll step
(:class:`~airflow_provider_emr_ray.utils.waiting.Wait`). Their async twins follow the one rule,
``a`` + the name: ``await_for_cluster`` and ``await_for_job`` (read "a-wait for"), so that every
sync method's twin is found, and checked for the same signature, the same way.

httpx, the credentials SDK and the pydantic models are imported on first use, not when this
module is imported: DAG files import the operators (and so this module) on every parse.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_emr_ray import CONN_TYPE, DEFAULT_CONN_ID, version_compat
from airflow_provider_emr_ray.checks import non_negative_int, positive_seconds
from airflow_provider_emr_ray.client.actions import regional_endpoint
from airflow_provider_emr_ray.client.exchange import (
    CRED,
    USER_AGENT,
    Call,
    Plan,
    Settings,
    answered_id,
    atransmit,
    http_request,
    sender,
    steps,
    transmit,
)
from airflow_provider_emr_ray.client.retry import RetryPolicy
from airflow_provider_emr_ray.exceptions import EmrRayError, EmrRayValidationError
from airflow_provider_emr_ray.hooks.specs import ClusterSpec, JobSpec, check_keywords
from airflow_provider_emr_ray.limits import MAX_CLUSTER_NAME_LENGTH, MAX_PAGE_SIZE, MAX_RETRIES
from airflow_provider_emr_ray.redaction import mask
from airflow_provider_emr_ray.timestamps import to_epoch_ms
from airflow_provider_emr_ray.utils.waiting_args import DEFAULT_MAX_TRANSIENT_ERRORS, DEFAULT_POLL_INTERVAL

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Unpack

    from airflow_provider_emr_ray.client.credentials import CredentialProvider
    from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
    from airflow_provider_emr_ray.client.ray_log_tail import RayLogTail
    from airflow_provider_emr_ray.models import RayCluster, RayJob, RayJobDetails
    from airflow_provider_emr_ray.utils.waiting import Wait

__all__ = ["ClusterSpec", "EmrRayHook", "JobSpec"]

#: Values of the ``ray_jobs_endpoint`` extra: ``jobUrl`` (public, default) or ``jobUrlInner`` (VPC).
RAY_JOBS_ENDPOINTS = ("public", "internal")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
MAX_PAGES = 10_000

_sleep = time.sleep  # module-level so tests can replace the hook's pauses alone
_asleep = asyncio.sleep


def _require_id(field_name: str, value: Any) -> str:
    from airflow_provider_emr_ray.checks import resource_id

    return resource_id(field_name, value)


def _checked_endpoint(endpoint: str) -> str:
    """The connection's ``endpoint`` extra as ``scheme://host[:port]``: http or https, a host,
    no user-info (the error never shows the URL's password)."""
    from airflow_provider_emr_ray.redaction import mask_url

    try:
        parts = urlsplit(endpoint)
        port = parts.port  # a port that is not a number raises here
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise EmrRayValidationError("endpoint", f"must be a full URL with scheme http or https, got {mask_url(endpoint)!r}")
    if "@" in parts.netloc:
        raise EmrRayValidationError("endpoint", "must not contain user-info ('user:password@'): give credentials as the connection's login and password")
    if any(c.isspace() or ord(c) < 32 for c in parts.netloc):
        raise EmrRayValidationError("endpoint", "must not contain spaces or control characters in its host")
    del port  # checked only
    return f"{parts.scheme}://{parts.netloc}"


def _page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise EmrRayValidationError("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}, got {value!r}")
    return value


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
    # a preset (in-memory) connection is not shared
    key = f"{conn_id}\x00{id(version_compat.preset_connections())}"
    task = reads.get(key)
    if task is None:
        task = reads[key] = loop.create_task(version_compat.aget_connection(conn_id, get_connection))

        def _done(done: asyncio.Task, reads: dict[str, asyncio.Task] = reads) -> None:
            if reads.get(key) is done:
                del reads[key]
            if not done.cancelled():
                done.exception()  # retrieved: the waiters get it (no "never retrieved" warning)

        task.add_done_callback(_done)
    return await asyncio.shield(task)


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

    Every method has an async twin prefixed with ``a`` (``aget_ray_job``, ...; the waits
    :meth:`wait_for_cluster` and :meth:`wait_for_job`: ``await_for_cluster``,
    ``await_for_job``) with the same signature. Arguments are checked before anything is sent (a bad one raises
    :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming it, an unknown
    keyword ``TypeError``).

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
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Alibaba Cloud EMR Serverless Ray"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields for Airflow 3.0/3.1 (3.2+ read ``conn-fields``); see
        :mod:`airflow_provider_emr_ray.hooks.form`."""
        from airflow_provider_emr_ray.hooks.form import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields for Airflow 3.0/3.1 (3.2+ read ``ui-field-behaviour``)."""
        from airflow_provider_emr_ray.hooks.form import ui_field_behaviour

        return ui_field_behaviour()

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
        self._settings_cache: Settings | None = None
        self._ray_jobs_internal = False
        self._client_cache: httpx.Client | None = None

    # ------------------------------------------------------------------ connection & settings

    def _settings_from_connection(self, conn: Any) -> Settings:
        extra = conn.extra_dejson if conn is not None else {}
        login = conn.login if conn is not None else None
        password = conn.password if conn is not None else None
        # Register secrets with the masker the moment they are read.
        from airflow_provider_emr_ray.client.credentials import known_secrets

        for secret in known_secrets(login, password, extra):
            mask(secret)

        ray_jobs_endpoint = extra.get("ray_jobs_endpoint") or None
        if ray_jobs_endpoint not in (None, *RAY_JOBS_ENDPOINTS):
            raise EmrRayValidationError(
                "ray_jobs_endpoint", f"must be one of {', '.join(RAY_JOBS_ENDPOINTS)}, got {ray_jobs_endpoint!r}"
            )
        self._ray_jobs_internal = ray_jobs_endpoint == "internal"

        from airflow_provider_emr_ray.checks import region_id as check_region, resource_id

        region_id = self.region_id or extra.get("region_id") or None
        workspace_id = self.workspace_id or extra.get("workspace_id") or None
        if region_id is not None:
            check_region("region_id", region_id)
        if workspace_id is not None:
            resource_id("workspace_id", workspace_id)
        endpoint = extra.get("endpoint") or None
        if endpoint:
            endpoint = _checked_endpoint(str(endpoint))
        elif region_id:
            endpoint = regional_endpoint(region_id)
        else:
            raise EmrRayValidationError(
                "region_id", f"is required (connection {self.emr_ray_conn_id!r} has neither region_id nor endpoint)"
            )
        # The UI form saves empty extras as null: null means "the default".
        timeout = self._timeout if self._timeout is not None else extra.get("timeout")
        timeout = DEFAULT_TIMEOUT if timeout is None else positive_seconds("timeout", timeout, text=True)
        if self._retry_policy is not None:
            policy = self._retry_policy
        else:
            retries = self._max_retries if self._max_retries is not None else extra.get("max_retries")
            policy = RetryPolicy(
                max_retries=DEFAULT_MAX_RETRIES
                if retries is None
                else non_negative_int("max_retries", retries, text=True, maximum=MAX_RETRIES)
            )
        provider = self._credential_provider or _shared_provider(login, password, extra)
        return Settings(
            endpoint=endpoint,
            host=urlsplit(endpoint).netloc,
            region_id=region_id,
            workspace_id=workspace_id,
            timeout=timeout,
            retry=policy,
            credentials=provider,
        )

    @property
    def settings(self) -> Settings:
        """The resolved settings (reads the connection on first access)."""
        if self._settings_cache is None:
            self._settings_cache = self._settings_from_connection(self.get_connection(self.emr_ray_conn_id))
        return self._settings_cache

    async def asettings(self) -> Settings:
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

    # ------------------------------------------------------------------ the two drivers of a plan

    def _steps(self, s: Settings, plan: Plan, first: Call) -> Any:
        """The wire steps of ``plan``, whose first call ``first`` the driver took already
        (:func:`~airflow_provider_emr_ray.client.exchange.steps`)."""
        if not s.workspace_id:
            raise EmrRayValidationError(
                "workspace_id",
                f"is required: give it to the hook or as the workspace_id extra of connection {self.emr_ray_conn_id!r}",
            )
        return steps(s, s.workspace_id, plan, first, self._warn)

    def _warn(self, *args: Any) -> None:
        self.log.warning(*args)

    def _drive(self, plan: Plan) -> Any:
        """Run a plan with the sync call path."""
        first = next(plan)  # the arguments are checked before the connection is read
        s = self.settings
        work = self._steps(s, plan, first)
        send = sender(self.get_conn())
        reply: Any = None
        try:
            while True:
                step = work.send(reply)
                if step is CRED:
                    reply = s.credentials.get()
                elif step.__class__ is float:
                    _sleep(step)
                    reply = None
                else:
                    reply = transmit(send, http_request(s, step))
        except StopIteration as done:
            return done.value

    async def _adrive(self, plan: Plan) -> Any:
        """Run a plan with the async call path (requests in flight bounded per event loop)."""
        first = next(plan)  # the arguments are checked before the connection is read
        s = await self.asettings()
        work = self._steps(s, plan, first)
        lane = await self._alane()
        send = sender(lane.client)
        reply: Any = None
        try:
            while True:
                step = work.send(reply)
                if step is CRED:
                    reply = await s.credentials.aget()
                elif step.__class__ is float:
                    await _asleep(step)
                    reply = None
                else:
                    async with lane.gate:
                        reply = await atransmit(send, http_request(s, step))
        except StopIteration as done:
            return done.value

    # ------------------------------------------------------------------ plans: one per API call

    def _paged(self, action: str, items_key: str, model: Any, page_size: int, base_query: Mapping[str, Any]) -> Plan:
        """Walk every page of a List call; yields the calls, returns the parsed items."""
        _page_size(page_size)
        found: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            answer = yield Call(action, query={**base_query, "pageNum": page, "pageSize": page_size})
            items = answer.get(items_key) or []
            found.extend(model.model_validate(item) for item in items)
            total = answer.get("totalCount")
            if len(items) < page_size or (isinstance(total, int) and len(found) >= total):
                break
        return found

    def _plan_create_ray_cluster(self, name: str, spec: ClusterSpec) -> Plan:
        from airflow_provider_emr_ray import models

        check_keywords("create_ray_cluster", spec, ClusterSpec)
        if name is None:
            raise EmrRayValidationError("name", f"is required: a string of 1 to {MAX_CLUSTER_NAME_LENGTH} characters")
        body = models.to_wire({"name": name, **spec}, models.RayClusterConfig, field="")
        answer = yield Call("CreateRayCluster", body=body)
        return answered_id(answer, "clusterId")

    def _plan_update_ray_cluster(self, cluster_id: str, name: str | None, spec: ClusterSpec) -> Plan:
        from airflow_provider_emr_ray import models

        check_keywords("update_ray_cluster", spec, ClusterSpec)
        path_params = {"clusterId": _require_id("cluster_id", cluster_id)}
        body = models.to_wire({"name": name, **spec}, models.RayClusterConfig, field="")
        answer = yield Call("UpdateRayCluster", path_params, body=body)
        return answer.get("clusterId") or cluster_id

    def _plan_get_ray_cluster(self, cluster_id: str) -> Plan:
        from airflow_provider_emr_ray.models import RayCluster

        data = yield Call("GetRayCluster", {"clusterId": _require_id("cluster_id", cluster_id)})
        return RayCluster.model_validate(data)

    def _plan_list_ray_clusters(self, page_size: int) -> Plan:
        from airflow_provider_emr_ray.models import RayCluster

        return (yield from self._paged("ListRayCluster", "rayClusters", RayCluster, page_size, {}))

    def _plan_cluster_action(self, action: str, cluster_id: str, body: Mapping[str, Any] | None = None) -> Plan:
        """StartRayCluster, StopRayCluster, DeleteRayCluster: no answer to read."""
        yield Call(action, {"clusterId": _require_id("cluster_id", cluster_id)}, body=body)

    def _plan_submit_ray_job(self, entrypoint: str, spec: JobSpec) -> Plan:
        from airflow_provider_emr_ray import models

        check_keywords("submit_ray_job", spec, JobSpec)
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise EmrRayValidationError("entrypoint", f"must be a non-empty command line, got {entrypoint!r}")
        if spec.get("cluster_id") is not None:
            _require_id("cluster_id", spec["cluster_id"])
            if spec.get("head_spec") is not None or spec.get("worker_spec") is not None:
                raise EmrRayValidationError("head_spec", "cannot be combined with cluster_id")
        elif spec.get("head_spec") is None:
            raise EmrRayValidationError(
                "cluster_id", "give cluster_id (run on an existing cluster) or head_spec (a job-scoped cluster)"
            )
        body = models.to_wire({"entrypoint": entrypoint, **spec}, models.RayJobConfig, field="")
        answer = yield Call("SubmitRayJob", body=body)
        return answered_id(answer, "submissionId")

    def _plan_get_ray_job(self, submission_id: str) -> Plan:
        from airflow_provider_emr_ray.models import RayJob

        data = yield Call("GetRayJob", {"submissionId": _require_id("submission_id", submission_id)})
        return RayJob.model_validate(data)

    def _plan_list_ray_jobs(
        self, name: str | None, submission_id: str | None, task_biz_id: str | None,
        submit_time_start: datetime | int | None, submit_time_end: datetime | int | None, page_size: int,
    ) -> Plan:  # fmt: skip
        from airflow_provider_emr_ray.models import RayJob

        start = to_epoch_ms("submit_time_start", submit_time_start)
        end = to_epoch_ms("submit_time_end", submit_time_end)
        if start is not None and end is not None and start > end:
            raise EmrRayValidationError("submit_time_start", "must not be after submit_time_end")
        window = {k: v for k, v in (("startTime", start), ("endTime", end)) if v is not None} or None
        query = {"name": name, "submissionId": submission_id, "taskBizId": task_biz_id, "submitTime": window}
        return (yield from self._paged("ListRayJob", "rayJobs", RayJob, page_size, query))

    def _plan_cancel_ray_job(self, submission_id: str) -> Plan:
        answer = yield Call("CancelRayJob", {"submissionId": _require_id("submission_id", submission_id)})
        return bool(answer.get("success", True))

    def _plan_list_ray_logs(
        self, instance_id: str, bucket_name: str | None, prefix: str | None, marker: str | None,
        max_keys: int | None, delimiter: str | None,
    ) -> Plan:  # fmt: skip
        query = {"bucketName": bucket_name, "prefix": prefix, "marker": marker, "maxKeys": max_keys, "delimiter": delimiter}
        answer = yield Call("ListRayLogs", {"instanceId": _require_id("instance_id", instance_id)}, query=query)
        return answer.get("data") or {}

    def _plan_get_ray_log(self, instance_id: str, path: str, bucket_name: str | None) -> Plan:
        if not isinstance(path, str) or not path:
            raise EmrRayValidationError("path", "must be a non-empty string")
        path_params = {"instanceId": _require_id("instance_id", instance_id)}
        answer = yield Call("GetRayLog", path_params, query={"bucketName": bucket_name, "path": path})
        return (answer.get("data") or {}).get("accessUrl", "")

    # ------------------------------------------------------------------ clusters

    def create_ray_cluster(self, *, name: str, **spec: Unpack[ClusterSpec]) -> str:
        """Create a Ray cluster (CreateRayCluster) and return its ``clusterId``.

        Never re-sent once it may have reached the service: a read timeout or 5xx raises
        :class:`~airflow_provider_emr_ray.exceptions.EmrRayOutcomeUnknownError` (look the
        cluster up before trying again).

        :param name: the cluster name, 1 to :data:`~airflow_provider_emr_ray.limits.MAX_CLUSTER_NAME_LENGTH`
            characters.
        :param spec: the optional fields of :class:`~airflow_provider_emr_ray.hooks.specs.ClusterSpec`:
            ``head_spec``, ``worker_spec``, ``display_release_version``, ``description``,
            ``network_service_name``, ``volume_ids``, ``extra_param`` and ``extra_fields``
            (wire-named fields sent verbatim).
        """
        return self._drive(self._plan_create_ray_cluster(name, spec))

    async def acreate_ray_cluster(self, *, name: str, **spec: Unpack[ClusterSpec]) -> str:
        """Async twin of :meth:`create_ray_cluster`."""
        return await self._adrive(self._plan_create_ray_cluster(name, spec))

    def update_ray_cluster(self, cluster_id: str, *, name: str | None = None, **spec: Unpack[ClusterSpec]) -> str:
        """Update a Ray cluster (UpdateRayCluster); return its ``clusterId``.

        Not re-sent once it may have reached the service (see :meth:`create_ray_cluster`).

        :param cluster_id: the cluster to update.
        :param name: a new name (see :meth:`create_ray_cluster`).
        :param spec: the fields to change, as in :meth:`create_ray_cluster`.
        """
        return self._drive(self._plan_update_ray_cluster(cluster_id, name, spec))

    async def aupdate_ray_cluster(self, cluster_id: str, *, name: str | None = None, **spec: Unpack[ClusterSpec]) -> str:
        """Async twin of :meth:`update_ray_cluster`."""
        return await self._adrive(self._plan_update_ray_cluster(cluster_id, name, spec))

    def get_ray_cluster(self, cluster_id: str) -> RayCluster:
        """Describe a Ray cluster (GetRayCluster).

        :param cluster_id: the cluster's ``clusterId``.
        """
        return self._drive(self._plan_get_ray_cluster(cluster_id))

    async def aget_ray_cluster(self, cluster_id: str) -> RayCluster:
        """Async twin of :meth:`get_ray_cluster`."""
        return await self._adrive(self._plan_get_ray_cluster(cluster_id))

    def list_ray_clusters(self, *, page_size: int = MAX_PAGE_SIZE) -> list[RayCluster]:
        """List every Ray cluster of the workspace (ListRayCluster, all pages).

        :param page_size: clusters per request, 1 to :data:`~airflow_provider_emr_ray.limits.MAX_PAGE_SIZE`.
        """
        return self._drive(self._plan_list_ray_clusters(page_size))

    async def alist_ray_clusters(self, *, page_size: int = MAX_PAGE_SIZE) -> list[RayCluster]:
        """Async twin of :meth:`list_ray_clusters`."""
        return await self._adrive(self._plan_list_ray_clusters(page_size))

    def start_ray_cluster(self, cluster_id: str, *, client_token: str | None = None) -> None:
        """Start a stopped Ray cluster (StartRayCluster).

        :param cluster_id: the cluster to start.
        :param client_token: the service's idempotency token, if any.
        """
        return self._drive(self._plan_cluster_action("StartRayCluster", cluster_id, {"clientToken": client_token}))

    async def astart_ray_cluster(self, cluster_id: str, *, client_token: str | None = None) -> None:
        """Async twin of :meth:`start_ray_cluster`."""
        return await self._adrive(self._plan_cluster_action("StartRayCluster", cluster_id, {"clientToken": client_token}))

    def stop_ray_cluster(self, cluster_id: str, *, instance_id: str | None = None) -> None:
        """Stop a Ray cluster (StopRayCluster).

        :param cluster_id: the cluster to stop.
        :param instance_id: one instance of it to stop, if not the whole cluster.
        """
        return self._drive(self._plan_cluster_action("StopRayCluster", cluster_id, {"instanceId": instance_id}))

    async def astop_ray_cluster(self, cluster_id: str, *, instance_id: str | None = None) -> None:
        """Async twin of :meth:`stop_ray_cluster`."""
        return await self._adrive(self._plan_cluster_action("StopRayCluster", cluster_id, {"instanceId": instance_id}))

    def delete_ray_cluster(self, cluster_id: str) -> None:
        """Delete a Ray cluster (DeleteRayCluster).

        :param cluster_id: the cluster to delete.
        """
        return self._drive(self._plan_cluster_action("DeleteRayCluster", cluster_id))

    async def adelete_ray_cluster(self, cluster_id: str) -> None:
        """Async twin of :meth:`delete_ray_cluster`."""
        return await self._adrive(self._plan_cluster_action("DeleteRayCluster", cluster_id))

    # ------------------------------------------------------------------ jobs

    def submit_ray_job(self, *, entrypoint: str, **spec: Unpack[JobSpec]) -> str:
        """Submit a Ray job (SubmitRayJob) and return its ``submissionId``.

        Give ``cluster_id`` to run on an existing cluster, or ``head_spec``/``worker_spec`` for
        a cluster that lives only for this job. Never re-sent once it may have reached the
        service (see :meth:`create_ray_cluster`).

        :param entrypoint: the command line, e.g. ``python main.py``.
        :param spec: the optional fields of :class:`~airflow_provider_emr_ray.hooks.specs.JobSpec`,
            among them ``name`` (1 to :data:`~airflow_provider_emr_ray.limits.MAX_JOB_NAME_LENGTH`
            characters), ``cluster_id``, ``tags`` (a ``{key: value}`` dict or a list of
            ``{"key": ..., "value": ...}``), ``runtime_env_json``/``metadata_json``/``entrypoint_resources``
            (dicts or JSON strings), ``head_spec``/``worker_spec`` and ``extra_fields``.
        """
        return self._drive(self._plan_submit_ray_job(entrypoint, spec))

    async def asubmit_ray_job(self, *, entrypoint: str, **spec: Unpack[JobSpec]) -> str:
        """Async twin of :meth:`submit_ray_job`."""
        return await self._adrive(self._plan_submit_ray_job(entrypoint, spec))

    def get_ray_job(self, submission_id: str) -> RayJob:
        """Describe a Ray job (GetRayJob).

        :param submission_id: the job's ``submissionId``.
        """
        return self._drive(self._plan_get_ray_job(submission_id))

    async def aget_ray_job(self, submission_id: str) -> RayJob:
        """Async twin of :meth:`get_ray_job`."""
        return await self._adrive(self._plan_get_ray_job(submission_id))

    def list_ray_jobs(
        self, *, name: str | None = None, submission_id: str | None = None, task_biz_id: str | None = None,
        submit_time_start: datetime | int | None = None, submit_time_end: datetime | int | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[RayJob]:  # fmt: skip
        """List the Ray jobs of the workspace matching the filters (ListRayJob, all pages).

        :param name: only jobs of this name.
        :param submission_id: only the job with this ``submissionId``.
        :param task_biz_id: only jobs of this task.
        :param submit_time_start: only jobs submitted at or after: a timezone-aware ``datetime``
            (a pendulum ``DateTime`` included) or epoch milliseconds; a naive datetime is rejected.
        :param submit_time_end: only jobs submitted at or before (as ``submit_time_start``).
        :param page_size: jobs per request, 1 to :data:`~airflow_provider_emr_ray.limits.MAX_PAGE_SIZE`.
        """
        return self._drive(
            self._plan_list_ray_jobs(name, submission_id, task_biz_id, submit_time_start, submit_time_end, page_size)
        )

    async def alist_ray_jobs(
        self, *, name: str | None = None, submission_id: str | None = None, task_biz_id: str | None = None,
        submit_time_start: datetime | int | None = None, submit_time_end: datetime | int | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[RayJob]:  # fmt: skip
        """Async twin of :meth:`list_ray_jobs`."""
        return await self._adrive(
            self._plan_list_ray_jobs(name, submission_id, task_biz_id, submit_time_start, submit_time_end, page_size)
        )

    def cancel_ray_job(self, submission_id: str) -> bool:
        """Cancel a Ray job (CancelRayJob); return the service's ``success`` flag.

        :param submission_id: the job to cancel.
        """
        return self._drive(self._plan_cancel_ray_job(submission_id))

    async def acancel_ray_job(self, submission_id: str) -> bool:
        """Async twin of :meth:`cancel_ray_job`."""
        return await self._adrive(self._plan_cancel_ray_job(submission_id))

    def list_ray_logs(
        self, instance_id: str, *, bucket_name: str | None = None, prefix: str | None = None,
        marker: str | None = None, max_keys: int | None = None, delimiter: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """List log files of a Ray instance (ListRayLogs); return the answer's ``data``.

        :param instance_id: the instance (a cluster node, or a job's ``submissionId``).
        :param bucket_name: the OSS bucket of the logs, if not the default.
        :param prefix: only files under this prefix.
        :param marker: list from after this key (paging).
        :param max_keys: at most this many files.
        :param delimiter: group keys by this character (folders).
        """
        return self._drive(self._plan_list_ray_logs(instance_id, bucket_name, prefix, marker, max_keys, delimiter))

    async def alist_ray_logs(
        self, instance_id: str, *, bucket_name: str | None = None, prefix: str | None = None,
        marker: str | None = None, max_keys: int | None = None, delimiter: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Async twin of :meth:`list_ray_logs`."""
        return await self._adrive(self._plan_list_ray_logs(instance_id, bucket_name, prefix, marker, max_keys, delimiter))

    def get_ray_log(self, instance_id: str, *, path: str, bucket_name: str | None = None) -> str:
        """The download URL of one log file (GetRayLog ``data.accessUrl``).

        :param instance_id: the instance, as in :meth:`list_ray_logs`.
        :param path: the file's ``path`` from :meth:`list_ray_logs`.
        :param bucket_name: the OSS bucket of the logs, if not the default.
        """
        return self._drive(self._plan_get_ray_log(instance_id, path, bucket_name))

    async def aget_ray_log(self, instance_id: str, *, path: str, bucket_name: str | None = None) -> str:
        """Async twin of :meth:`get_ray_log`."""
        return await self._adrive(self._plan_get_ray_log(instance_id, path, bucket_name))

    # ------------------------------------------------------------------ Ray's own Jobs API at jobUrl

    def _ray_internal(self, internal: bool | None) -> bool:
        if internal is not None and not isinstance(internal, bool):
            raise EmrRayValidationError("internal", f"must be True, False or None, got {internal!r}")
        return self._ray_jobs_internal if internal is None else internal

    def _ray_target(self, cluster_id: str | RayJobsTarget, internal: bool | None) -> RayJobsTarget:
        """Where ``cluster_id``'s Ray Jobs API answers (GetRayCluster: ``jobUrl`` or
        ``jobUrlInner``, and ``submitToken``, masked as it is parsed). A ready
        :class:`~airflow_provider_emr_ray.client.ray_jobs.RayJobsTarget` is used as it is (tests,
        a Ray head reached directly). The token lives in the returned object only."""
        from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget, target_from_cluster

        if isinstance(cluster_id, RayJobsTarget):
            return cluster_id
        cluster = self.get_ray_cluster(cluster_id)  # reads the connection (its ray_jobs_endpoint) first
        return target_from_cluster(cluster, cluster_id, self._ray_internal(internal))

    async def _aray_target(self, cluster_id: str | RayJobsTarget, internal: bool | None) -> RayJobsTarget:
        """Async :meth:`_ray_target`."""
        from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget, target_from_cluster

        if isinstance(cluster_id, RayJobsTarget):
            return cluster_id
        cluster = await self.aget_ray_cluster(cluster_id)
        return target_from_cluster(cluster, cluster_id, self._ray_internal(internal))

    def _ray_drive(self, cluster_id: str | RayJobsTarget, internal: bool | None, plan: Plan) -> Any:
        """Run a Ray Jobs plan with the sync call path
        (:func:`~airflow_provider_emr_ray.client.ray_jobs.steps`)."""
        from airflow_provider_emr_ray.client import ray_jobs

        if not isinstance(cluster_id, ray_jobs.RayJobsTarget):
            _require_id("cluster_id", cluster_id)
        self._ray_internal(internal)
        first = next(plan)  # the arguments are checked before the connection is read
        target = self._ray_target(cluster_id, internal)
        s = self.settings
        work = ray_jobs.steps(target, s.retry, plan, first, self._warn)
        client = self.get_conn()
        reply: Any = None
        try:
            while True:
                step = work.send(reply)
                if step.__class__ is float:
                    _sleep(step)
                    reply = None
                elif isinstance(step, ray_jobs.Work):
                    reply = step.fn()
                else:
                    send = ray_jobs.sender(client, step.url)
                    reply = ray_jobs.transmit(send, ray_jobs.http_request(step, s.timeout), target.token)
        except StopIteration as done:
            return done.value

    async def _aray_drive(self, cluster_id: str | RayJobsTarget, internal: bool | None, plan: Plan) -> Any:
        """Run a Ray Jobs plan with the async call path (blocking local work in a worker thread)."""
        from airflow_provider_emr_ray.client import ray_jobs

        if not isinstance(cluster_id, ray_jobs.RayJobsTarget):
            _require_id("cluster_id", cluster_id)
        self._ray_internal(internal)
        first = next(plan)
        target = await self._aray_target(cluster_id, internal)
        s = await self.asettings()
        work = ray_jobs.steps(target, s.retry, plan, first, self._warn)
        lane = await self._alane()
        reply: Any = None
        try:
            while True:
                step = work.send(reply)
                if step.__class__ is float:
                    await _asleep(step)
                    reply = None
                elif isinstance(step, ray_jobs.Work):
                    reply = await asyncio.to_thread(step.fn)
                else:
                    send = ray_jobs.sender(lane.client, step.url)
                    request = ray_jobs.http_request(step, s.timeout, asynchronous=True)
                    async with lane.gate:
                        reply = await ray_jobs.atransmit(send, request, target.token)
        except StopIteration as done:
            return done.value

    @staticmethod
    def _plan_ray_submit_job(
        entrypoint: str, submission_id: str | None, runtime_env: Mapping[str, Any] | None,
        metadata: Mapping[str, str] | None, entrypoint_num_cpus: float | None, entrypoint_num_gpus: float | None,
        entrypoint_memory: int | None, entrypoint_resources: Mapping[str, float] | None,
    ) -> Plan:  # fmt: skip
        from airflow_provider_emr_ray.client import packaging, ray_jobs

        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise EmrRayValidationError("entrypoint", f"must be a non-empty command line, got {entrypoint!r}")
        if submission_id is not None:
            _require_id("submission_id", submission_id)
        if metadata is not None and (
            not isinstance(metadata, Mapping) or not all(isinstance(v, str) for v in metadata.values())
        ):
            raise EmrRayValidationError("metadata", "must be a dict of strings")
        for name, value in (("entrypoint_num_cpus", entrypoint_num_cpus), ("entrypoint_num_gpus", entrypoint_num_gpus),
                            ("entrypoint_memory", entrypoint_memory)):  # fmt: skip
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise EmrRayValidationError(name, f"must be a non-negative number, got {value!r}")
        if entrypoint_resources is not None and not isinstance(entrypoint_resources, Mapping):
            raise EmrRayValidationError("entrypoint_resources", "must be a dict of resource name to quantity")
        packaging.check_runtime_env(runtime_env)
        env, packages = yield ray_jobs.Work(lambda: packaging.prepare_runtime_env(runtime_env))
        yield from ray_jobs.upload_packages(packages)
        body = {
            "entrypoint": entrypoint, "submission_id": submission_id, "runtime_env": env,
            "metadata": dict(metadata) if metadata is not None else None,
            "entrypoint_num_cpus": entrypoint_num_cpus, "entrypoint_num_gpus": entrypoint_num_gpus,
            "entrypoint_memory": entrypoint_memory,
            "entrypoint_resources": dict(entrypoint_resources) if entrypoint_resources is not None else None,
        }  # fmt: skip
        answer = yield ray_jobs.RayCall("RaySubmitJob", body=body)
        return (answer or {}).get("submission_id") or submission_id or (answer or {}).get("job_id")

    @staticmethod
    def _plan_ray_job_call(action: str, submission_id: str) -> Plan:
        from airflow_provider_emr_ray.client.ray_jobs import RayCall

        return (yield RayCall(action, {"jobId": _require_id("submission_id", submission_id)}))

    @staticmethod
    def _plan_ray_get_job(submission_id: str) -> Plan:
        from airflow_provider_emr_ray.models import RayJobDetails

        data = yield from EmrRayHook._plan_ray_job_call("RayGetJob", submission_id)
        return RayJobDetails.model_validate(data)

    @staticmethod
    def _plan_ray_list_jobs() -> Plan:
        from airflow_provider_emr_ray.client.ray_jobs import RayCall
        from airflow_provider_emr_ray.models import RayJobDetails

        data = yield RayCall("RayListJobs")
        return [RayJobDetails.model_validate(item) for item in (data if isinstance(data, list) else [])]

    @staticmethod
    def _plan_ray_flag(action: str, submission_id: str, key: str) -> Plan:
        answer = yield from EmrRayHook._plan_ray_job_call(action, submission_id)
        return bool((answer or {}).get(key, False))

    @staticmethod
    def _plan_ray_logs(submission_id: str) -> Plan:
        answer = yield from EmrRayHook._plan_ray_job_call("RayGetJobLogs", submission_id)
        return str((answer or {}).get("logs") or "")

    @staticmethod
    def _plan_ray_upload_package(path: str, excludes: list[str] | None) -> Plan:
        from airflow_provider_emr_ray.client import packaging, ray_jobs

        if not isinstance(path, str) or not path or packaging.is_uri(path) or not os.path.exists(path):
            raise EmrRayValidationError("path", f"must be an existing local path, got {path!r}")
        pkg = yield ray_jobs.Work(lambda: packaging.package_for_path(path, excludes))
        yield from ray_jobs.upload_packages([pkg])
        return pkg.uri

    def ray_submit_job(
        self, cluster_id: str, *, entrypoint: str, submission_id: str | None = None,
        runtime_env: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None,
        entrypoint_num_cpus: float | None = None, entrypoint_num_gpus: float | None = None,
        entrypoint_memory: int | None = None, entrypoint_resources: Mapping[str, float] | None = None,
        internal: bool | None = None,
    ) -> str:  # fmt: skip
        """Submit a job through Ray's own Jobs API at the cluster's ``jobUrl`` (``POST /api/jobs/``)
        and return its ``submission_id``.

        A local ``runtime_env["working_dir"]`` (a directory or an archive) and local
        ``runtime_env["py_modules"]`` entries (directories, ``.py`` and ``.whl`` files) are
        packaged and named as Ray's own client does (:mod:`~airflow_provider_emr_ray.client.packaging`)
        and uploaded first, each only if the cluster lacks it. Never re-sent once it may have
        reached the cluster (a lost answer raises
        :class:`~airflow_provider_emr_ray.exceptions.EmrRayOutcomeUnknownError`: look the job up).

        :param cluster_id: the cluster (its ``jobUrl`` and ``submitToken`` come from GetRayCluster).
        :param entrypoint: the command line, e.g. ``python main.py``.
        :param submission_id: the job's id (Ray generates one when None); give one to make a
            retry detectable.
        :param runtime_env: Ray's runtime_env dict (``working_dir``, ``py_modules``, ``pip``,
            ``env_vars``, ``excludes``, …).
        :param metadata: string key/value pairs stored with the job.
        :param entrypoint_num_cpus: CPUs reserved for the entrypoint.
        :param entrypoint_num_gpus: GPUs reserved for the entrypoint.
        :param entrypoint_memory: memory (bytes) reserved for the entrypoint.
        :param entrypoint_resources: custom resources reserved for the entrypoint.
        :param internal: True for ``jobUrlInner`` (VPC), False for ``jobUrl``; None: the
            connection's ``ray_jobs_endpoint`` extra (default public).
        :raises ~airflow_provider_emr_ray.exceptions.EmrRayJobAlreadyExistsError: the cluster
            already has a job with ``submission_id``.
        :raises ~airflow_provider_emr_ray.exceptions.EmrRayPackageUploadRefusedError: the
            endpoint does not take local packages (upload to OSS instead).
        """
        plan = self._plan_ray_submit_job(entrypoint, submission_id, runtime_env, metadata, entrypoint_num_cpus,
                                         entrypoint_num_gpus, entrypoint_memory, entrypoint_resources)  # fmt: skip
        return self._ray_drive(cluster_id, internal, plan)

    async def aray_submit_job(
        self, cluster_id: str, *, entrypoint: str, submission_id: str | None = None,
        runtime_env: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None,
        entrypoint_num_cpus: float | None = None, entrypoint_num_gpus: float | None = None,
        entrypoint_memory: int | None = None, entrypoint_resources: Mapping[str, float] | None = None,
        internal: bool | None = None,
    ) -> str:  # fmt: skip
        """Async twin of :meth:`ray_submit_job`."""
        plan = self._plan_ray_submit_job(entrypoint, submission_id, runtime_env, metadata, entrypoint_num_cpus,
                                         entrypoint_num_gpus, entrypoint_memory, entrypoint_resources)  # fmt: skip
        return await self._aray_drive(cluster_id, internal, plan)

    def ray_get_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> RayJobDetails:
        """Describe a job through Ray's Jobs API (``GET /api/jobs/{id}``).

        :param cluster_id: the cluster.
        :param submission_id: the job's ``submission_id`` (or Ray ``job_id``).
        :param internal: as in :meth:`ray_submit_job`.
        :raises ~airflow_provider_emr_ray.exceptions.EmrRayNotFoundError: no such job.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_get_job(submission_id))

    async def aray_get_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> RayJobDetails:
        """Async twin of :meth:`ray_get_job`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_get_job(submission_id))

    def ray_list_jobs(self, cluster_id: str, *, internal: bool | None = None) -> list[RayJobDetails]:
        """Every job of the cluster as Ray's Jobs API lists them (``GET /api/jobs/``).

        :param cluster_id: the cluster.
        :param internal: as in :meth:`ray_submit_job`.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_list_jobs())

    async def aray_list_jobs(self, cluster_id: str, *, internal: bool | None = None) -> list[RayJobDetails]:
        """Async twin of :meth:`ray_list_jobs`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_list_jobs())

    def ray_stop_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> bool:
        """Stop a job (``POST /api/jobs/{id}/stop``); return Ray's ``stopped`` (False: it had ended).

        :param cluster_id: the cluster.
        :param submission_id: the job.
        :param internal: as in :meth:`ray_submit_job`.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_flag("RayStopJob", submission_id, "stopped"))

    async def aray_stop_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> bool:
        """Async twin of :meth:`ray_stop_job`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_flag("RayStopJob", submission_id, "stopped"))

    def ray_delete_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> bool:
        """Delete a terminal job's record and logs (``DELETE /api/jobs/{id}``); return Ray's ``deleted``.

        :param cluster_id: the cluster.
        :param submission_id: the job (it must have ended: Ray refuses to delete a live job).
        :param internal: as in :meth:`ray_submit_job`.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_flag("RayDeleteJob", submission_id, "deleted"))

    async def aray_delete_job(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> bool:
        """Async twin of :meth:`ray_delete_job`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_flag("RayDeleteJob", submission_id, "deleted"))

    def ray_get_job_logs(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> str:
        """The job's driver log so far (``GET /api/jobs/{id}/logs``).

        :param cluster_id: the cluster.
        :param submission_id: the job.
        :param internal: as in :meth:`ray_submit_job`.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_logs(submission_id))

    async def aray_get_job_logs(self, cluster_id: str, submission_id: str, *, internal: bool | None = None) -> str:
        """Async twin of :meth:`ray_get_job_logs`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_logs(submission_id))

    def ray_open_log_tail(
        self, cluster_id: str | RayJobsTarget, submission_id: str, *, internal: bool | None = None
    ) -> RayLogTail:
        """Open the websocket tail of the job's driver log (``GET /api/jobs/{id}/logs/tail``):
        the log from its start, then its new output as it comes, closed once the job ended
        (:class:`~airflow_provider_emr_ray.client.ray_log_tail.RayLogTail`; close it). Sync
        only: a worker following a job it waits on.

        :param cluster_id: the cluster.
        :param submission_id: the job.
        :param internal: as in :meth:`ray_submit_job`.
        :raises ~airflow_provider_emr_ray.client.ray_log_tail.LogTailUnavailable: the endpoint
            takes no websocket (read :meth:`ray_get_job_logs` instead).
        """
        from airflow_provider_emr_ray.client import ray_jobs
        from airflow_provider_emr_ray.client.ray_log_tail import open_log_tail

        if not isinstance(cluster_id, ray_jobs.RayJobsTarget):
            _require_id("cluster_id", cluster_id)
        _require_id("submission_id", submission_id)
        target = self._ray_target(cluster_id, internal)
        return open_log_tail(self.get_conn(), target, submission_id, timeout=self.settings.timeout)

    def ray_upload_package(
        self, cluster_id: str, path: str, *, excludes: list[str] | None = None, internal: bool | None = None
    ) -> str:
        """Upload a local directory (packaged as a ``working_dir``), archive, wheel or ``.py``
        file, unless the cluster has it already; return its ``gcs://`` URI (for ``working_dir``
        or ``py_modules`` of later jobs).

        :param cluster_id: the cluster.
        :param path: the local path.
        :param excludes: gitwildmatch patterns left out (besides Ray's defaults, ``.gitignore``
            and ``.rayignore``).
        :param internal: as in :meth:`ray_submit_job`.
        """
        return self._ray_drive(cluster_id, internal, self._plan_ray_upload_package(path, excludes))

    async def aray_upload_package(
        self, cluster_id: str, path: str, *, excludes: list[str] | None = None, internal: bool | None = None
    ) -> str:
        """Async twin of :meth:`ray_upload_package`."""
        return await self._aray_drive(cluster_id, internal, self._plan_ray_upload_package(path, excludes))

    # ------------------------------------------------------------------ waits: poll until a state

    def _new_wait(
        self, what: str, resource_id: Any, cluster_id: str | None, internal: bool | None,
        target_states: str | Sequence[str] | None, failure_states: str | Sequence[str] | None,
        poll_interval: float | timedelta, timeout: float | timedelta | None, max_transient_errors: int,
    ) -> Wait:  # fmt: skip
        """Check a wait's arguments (before any API call) and build it on the one poll step,
        :class:`~airflow_provider_emr_ray.utils.waiting.Wait`."""
        from airflow_provider_emr_ray.states import RAY_JOBS_STATUSES, ray_job_states
        from airflow_provider_emr_ray.utils.clock import deadline_after
        from airflow_provider_emr_ray.utils.resources import CLUSTER, JOB
        from airflow_provider_emr_ray.utils.waiting import Wait, ray_job_kind
        from airflow_provider_emr_ray.utils.waiting_args import wait_states

        _require_id(what, resource_id)
        if what == "cluster_id":
            kind, known, normal = CLUSTER, tuple(CLUSTER.known), tuple
        else:  # a job's statuses in either vocabulary (as the job sensor takes them)
            kind, known, normal = JOB, (*JOB.known, *RAY_JOBS_STATUSES), ray_job_states
            if cluster_id is not None:
                _require_id("cluster_id", cluster_id)
                if internal is not None and not isinstance(internal, bool):
                    raise EmrRayValidationError("internal", f"must be True, False or None, got {internal!r}")
                kind = ray_job_kind(cluster_id, internal)

        targets, failures = wait_states(target_states, failure_states, targets=kind.targets,
                                        failures=kind.failures, known=known, normal=normal)  # fmt: skip
        interval = positive_seconds("poll_interval", poll_interval)
        if interval is None:
            raise EmrRayValidationError("poll_interval", "is required")
        return Wait(
            kind,
            resource_id,
            log=self.log,
            targets=targets,
            failures=failures,
            poll_interval=interval,
            deadline=deadline_after(positive_seconds("timeout", timeout)),
            max_transient_errors=non_negative_int("max_transient_errors", max_transient_errors),
        )

    @staticmethod
    def _waited(wait: Wait, outcome: str) -> Any:
        """The model a wait ended on, or the error of a failure state or a timeout (as the
        operators' synchronous waits raise them)."""
        from airflow.providers.common.compat.sdk import AirflowException

        from airflow_provider_emr_ray.states import WaitOutcome

        if outcome == WaitOutcome.success:
            return wait.model
        text = wait.message(outcome)  # the service's message, or the deadline's
        if outcome == WaitOutcome.failure:
            wanted = "/".join(wait.targets)
            raise AirflowException(f"{wait.what} is {wait.state} instead of {wanted}" + (f": {text}" if text else ""))
        raise AirflowException(f"{wait.what} is still {wait.state}: {text}")

    def wait_for_cluster(
        self, cluster_id: str, *, target_states: str | Sequence[str] | None = None,
        failure_states: str | Sequence[str] | None = None, poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = None, max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> RayCluster:  # fmt: skip
        """Poll GetRayCluster until the cluster is in one of ``target_states``; return it.

        The wait of the operators' ``deferrable=False`` path
        (:class:`~airflow_provider_emr_ray.utils.waiting.Wait`): one log line per state change
        with the time elapsed, transient errors (throttling, 5xx, connection) tolerated
        ``max_transient_errors`` times in a row on top of the hook's retries. The arguments are
        checked before the first call.

        :param cluster_id: the cluster's ``clusterId``.
        :param target_states: a state or states that end the wait (default ``Running``); one of
            :data:`~airflow_provider_emr_ray.states.CLUSTER_STATES`.
        :param failure_states: states that fail it (default ``Error``, less the targets).
        :param poll_interval: seconds (or a timedelta) between two polls, > 0 (default 30).
        :param timeout: longest wait in seconds (or a timedelta), > 0; None: no limit.
        :param max_transient_errors: transient errors tolerated in a row (default 5).
        :raises ~airflow.exceptions.AirflowException: the cluster reached a failure state
            (the message names it and the service's message), or ``timeout`` passed.
        :raises ~airflow_provider_emr_ray.exceptions.EmrRayError: a call failed (not found,
            auth, transient errors beyond the limit).
        """
        wait = self._new_wait("cluster_id", cluster_id, None, None, target_states, failure_states,
                              poll_interval, timeout, max_transient_errors)  # fmt: skip
        return self._waited(wait, wait.run(self))

    async def await_for_cluster(
        self, cluster_id: str, *, target_states: str | Sequence[str] | None = None,
        failure_states: str | Sequence[str] | None = None, poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = None, max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> RayCluster:  # fmt: skip
        """Async twin of :meth:`wait_for_cluster`."""
        wait = self._new_wait("cluster_id", cluster_id, None, None, target_states, failure_states,
                              poll_interval, timeout, max_transient_errors)  # fmt: skip
        return self._waited(wait, await wait.arun(self))

    def wait_for_job(
        self, submission_id: str, *, cluster_id: str | None = None, internal: bool | None = None,
        target_states: str | Sequence[str] | None = None, failure_states: str | Sequence[str] | None = None,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL, timeout: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> RayJob | RayJobDetails:  # fmt: skip
        """Poll a job until its status is one of ``target_states``; return it.

        A SubmitRayJob job (no ``cluster_id``) is polled with GetRayJob and returned as a
        ``RayJob``; a job submitted through Ray's Jobs API (:meth:`ray_submit_job`; give its
        ``cluster_id``) with ``GET /api/jobs/{id}`` at the cluster's ``jobUrl`` and returned as
        a ``RayJobDetails``. Its Ray statuses read as the provider's (``SUCCEEDED`` ->
        ``Succeeded``, ``STOPPED`` -> ``Cancelled``, ...), and states may be given in either
        vocabulary. Same wait as :meth:`wait_for_cluster`.

        :param submission_id: the job's ``submissionId``.
        :param cluster_id: the cluster of a Ray Jobs API job; None: a SubmitRayJob job.
        :param internal: as in :meth:`ray_submit_job` (Ray Jobs API jobs only).
        :param target_states: a status or statuses that end the wait (default ``Succeeded``);
            of :data:`~airflow_provider_emr_ray.states.JOB_STATUSES`.
        :param failure_states: statuses that fail it (default ``Failed``, ``Cancelled`` and
            ``Timeout``, less the targets).
        :param poll_interval: seconds (or a timedelta) between two polls, > 0 (default 30).
        :param timeout: longest wait in seconds (or a timedelta), > 0; None: no limit.
        :param max_transient_errors: transient errors tolerated in a row (default 5).
        :raises ~airflow.exceptions.AirflowException: the job ended in a failure status (the
            message names it and the service's message), or ``timeout`` passed.
        :raises ~airflow_provider_emr_ray.exceptions.EmrRayError: a call failed.
        """
        wait = self._new_wait("submission_id", submission_id, cluster_id, internal, target_states, failure_states,
                              poll_interval, timeout, max_transient_errors)  # fmt: skip
        return self._waited(wait, wait.run(self))

    async def await_for_job(
        self, submission_id: str, *, cluster_id: str | None = None, internal: bool | None = None,
        target_states: str | Sequence[str] | None = None, failure_states: str | Sequence[str] | None = None,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL, timeout: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> RayJob | RayJobDetails:  # fmt: skip
        """Async twin of :meth:`wait_for_job`."""
        wait = self._new_wait("submission_id", submission_id, cluster_id, internal, target_states, failure_states,
                              poll_interval, timeout, max_transient_errors)  # fmt: skip
        return self._waited(wait, await wait.arun(self))

    # ------------------------------------------------------------------ connection test & UI

    @staticmethod
    def _plan_probe() -> Plan:
        return (yield Call("ListRayCluster", query={"pageNum": 1, "pageSize": 1}))

    def test_connection(self) -> tuple[bool, str]:
        """Call ListRayCluster with pageSize 1; return ``(ok, readable reason)``."""
        try:
            s = self.settings
            answer = self._drive(self._plan_probe())
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
