"""The Starlette application: routing from ``api.ACTIONS``, authentication, faults and the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_emr_ray.client.actions import ACTIONS
from airflow_provider_emr_ray.emulator import errors
from airflow_provider_emr_ray.emulator.auth import Verifier, parse_query
from airflow_provider_emr_ray.emulator.config import EmulatorConfig, FaultRule
from airflow_provider_emr_ray.emulator.errors import ApiError
from airflow_provider_emr_ray.emulator.faults import ConnectionDropped, FaultInjector, Stats
from airflow_provider_emr_ray.emulator.store import Store

_log = logging.getLogger("airflow_provider_emr_ray.emulator")

JSON_TYPE = "application/json;charset=utf-8"
CONTROL_PREFIX = "/__emulator__"
_SEND_KEY = "emr_ray_emulator.send"


_RID_PREFIX = str(uuid.uuid4()).upper()[:24]
_RID_COUNTER = itertools.count(1)


def _request_id() -> str:
    """A UUID-shaped, unique request id (a random prefix plus a counter: cheap on the hot path)."""
    return f"{_RID_PREFIX}{next(_RID_COUNTER) & 0xFFFFFFFFFFFF:012X}"


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(status: int, payload: dict[str, Any], request_id: str, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"x-acs-request-id": request_id}
    if headers:
        hdrs.update(headers)
    return Response(_dumps(payload), status_code=status, headers=hdrs, media_type=JSON_TYPE)


def error_response(exc: ApiError, request_id: str | None = None) -> Response:
    rid = request_id or _request_id()
    body = {"requestId": rid, "code": exc.code, "message": exc.message}
    return json_response(exc.status, body, rid, exc.headers)


class Emulator:
    """The emulator's Python-side handle: state, counters and fault rules.

    Available as ``app.state.emulator`` (and as ``handle.emulator`` from :func:`serve_in_thread`).
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store(config)
        tokens = {config.access_key_id: config.security_token} if config.security_token else {}
        self.verifier = Verifier(config.access_keys(), security_tokens=tokens)
        self.faults = FaultInjector(config.faults)
        self.stats = Stats()
        self.workspaces = config.workspaces()
        self._log_key = os.urandom(32)

    # fault control ------------------------------------------------------
    def add_fault(self, rule: FaultRule | dict[str, Any] | None = None, **kwargs: Any) -> FaultRule:
        """Add a rule: ``add_fault(kind="500", action="GetRayJob", times=2)``."""
        return self.faults.add(rule if rule is not None else FaultRule.from_dict(kwargs))

    def clear_faults(self) -> None:
        self.faults.clear()

    def close(self) -> None:
        """Kill every job process group; safe to call twice."""
        self.store.close()

    # signed log links -----------------------------------------------------
    def sign_log_link(self, path: str, expires: int) -> str:
        return hmac.new(self._log_key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- helpers
def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise errors.invalid_parameter("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise errors.invalid_parameter("The request body must be a JSON object.")
    return data


def _int_query(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_parameter(f"{name} must be an integer.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise errors.invalid_parameter(f"{name} must be {bound}.")
    return value


def _page(query: dict[str, str], items: list[Any]) -> tuple[list[Any], int]:
    page_num = _int_query(query, "pageNum", 1, 1, None)
    page_size = _int_query(query, "pageSize", 20, 1, 100)
    start = (page_num - 1) * page_size
    return items[start : start + page_size], len(items)


def _submit_time_range(raw: str | None) -> tuple[int | None, int | None]:
    if not raw:
        return None, None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        start = data.get("startTime")
        end = data.get("endTime")
        return (int(start) if start is not None else None, int(end) if end is not None else None)
    except (ValueError, TypeError):
        raise errors.invalid_parameter('submitTime must be a JSON object {"startTime": ms, "endTime": ms}.') from None


def _base_url(emu: Emulator, request: Request) -> str:
    if emu.config.public_endpoint:
        return emu.config.public_endpoint.rstrip("/")
    host = request.headers.get("host") or "127.0.0.1"
    return f"{request.url.scheme}://{host}"


# --------------------------------------------------------------------------- actions
def _do_action(
    emu: Emulator, action: str, request: Request, ws: str, query: dict[str, str], body: bytes, cluster_error: bool
) -> dict[str, Any] | bytes:
    """Perform one action; returns the payload (without requestId), as a dict or pre-serialised JSON."""
    store = emu.store
    params = request.path_params
    if action == "GetRayJob":
        with store.lock:
            job = store.get_job(ws, params["submissionId"])
            return store.job_json(job)
    if action == "GetRayCluster":
        with store.lock:
            return store.cluster_view(store.get_cluster(ws, params["clusterId"]), full=True)
    if action == "CreateRayCluster":
        return {"clusterId": store.create_cluster(ws, _json_body(body), fail=cluster_error)}
    if action == "UpdateRayCluster":
        store.update_cluster(ws, params["clusterId"], _json_body(body))
        return {"clusterId": params["clusterId"]}
    if action == "ListRayCluster":
        items = store.list_clusters(ws, name=query.get("name") or None)
        page, total = _page(query, items)
        with store.lock:
            return {"rayClusters": [store.cluster_view(c, full=False) for c in page], "totalCount": total}
    if action == "StartRayCluster":
        _json_body(body)
        store.start_cluster(ws, params["clusterId"], fail=cluster_error)
        return {}
    if action == "StopRayCluster":
        _json_body(body)
        store.stop_cluster(ws, params["clusterId"])
        return {}
    if action == "DeleteRayCluster":
        store.delete_cluster(ws, params["clusterId"])
        return {}
    if action == "SubmitRayJob":
        return {"submissionId": store.submit_job(ws, _json_body(body), fail_cluster=cluster_error)}
    if action == "ListRayJob":
        start, end = _submit_time_range(query.get("submitTime"))
        name, sid, biz = query.get("name"), query.get("submissionId"), query.get("taskBizId")
        jobs = store.list_jobs(ws)
        selected = [
            j
            for j in jobs
            if (not name or name in j["name"])
            and (not sid or j["submissionId"] == sid)
            and (not biz or j["taskBizId"] == biz)
            and (start is None or j["submitTime"] >= start)
            and (end is None or j["submitTime"] <= end)
        ]
        page, total = _page(query, selected)
        with store.lock:
            return {"totalCount": total, "rayJobs": [store.job_view(j, full=False) for j in page]}
    if action == "CancelRayJob":
        return {"success": store.cancel_job(ws, params["submissionId"])}
    if action == "ListRayLogs":
        return _list_logs(emu, ws, params["instanceId"], query)
    if action == "GetRayLog":
        return _get_log(emu, request, ws, params["instanceId"], query)
    raise errors.action_not_found()  # pragma: no cover - every action is routed above


def _log_objects(emu: Emulator, ws: str, instance_id: str) -> list[dict[str, Any]]:
    base = f"{ws}/ray/logs/{instance_id}/"
    out = []
    for path in emu.store.log_files(ws, instance_id):
        st = path.stat()
        out.append(
            {
                "name": path.name,
                "path": base + path.name,
                "size": st.st_size,
                "isDir": False,
                "timeModified": int(st.st_mtime * 1000),
            }
        )
    return out


def _list_logs(emu: Emulator, ws: str, instance_id: str, query: dict[str, str]) -> dict[str, Any]:
    objects = _log_objects(emu, ws, instance_id)
    base = f"{ws}/ray/logs/{instance_id}/"
    prefix = query.get("prefix") or ""
    marker = query.get("marker") or ""
    max_keys = _int_query(query, "maxKeys", 100, 1, 1000)
    if prefix:
        full = prefix if prefix.startswith(f"{ws}/") else base + prefix
        objects = [o for o in objects if o["path"].startswith(full)]
    if marker:
        objects = [o for o in objects if o["path"] > marker]
    truncated = len(objects) > max_keys
    objects = objects[:max_keys]
    return {
        "code": "OK",
        "message": "success",
        "data": {
            "bucketName": query.get("bucketName") or f"ss-ray-{emu.config.region_id}",
            "prefix": prefix or base,
            "marker": marker,
            "nextMarker": objects[-1]["path"] if truncated and objects else "",
            "maxKeys": max_keys,
            "delimiter": query.get("delimiter") or "",
            "isTruncated": truncated,
            "objectList": objects,
        },
    }


def _get_log(emu: Emulator, request: Request, ws: str, instance_id: str, query: dict[str, str]) -> dict[str, Any]:
    wanted = query.get("path")
    if not wanted:
        raise errors.invalid_parameter("path is required.")
    for obj in _log_objects(emu, ws, instance_id):
        if wanted in (obj["path"], obj["name"]):
            expires = int(time.time() + emu.config.log_url_ttl)
            link = f"{quote(ws)}/{quote(instance_id)}/{quote(obj['name'])}"
            sig = emu.sign_log_link(link, expires)
            url = f"{_base_url(emu, request)}{CONTROL_PREFIX}/logs/{link}?Expires={expires}&Signature={sig}"
            return {"code": "OK", "message": "success", "data": {"accessUrl": url}}
    raise errors.log_not_found(wanted)


def _drop_connection(request: Request, action: str) -> Response:
    """Close the socket without answering (uvicorn), or raise where no socket exists (ASGITransport)."""
    raw_send = request.scope.get(_SEND_KEY)
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True  # uvicorn then neither answers nor complains
        with contextlib.suppress(Exception):
            transport.abort()
        return Response(b"", status_code=500)
    raise ConnectionDropped(action)


def _failure_response(rule: FaultRule, request: Request, action: str, request_id: str) -> Response:
    if rule.kind == "500":
        return error_response(errors.internal_error(), request_id)
    if rule.kind == "503":
        return error_response(errors.service_unavailable(), request_id)
    if rule.kind == "429":
        return error_response(errors.throttled(rule.retry_after), request_id)
    if rule.kind == "malformed":
        body = f'{{"requestId":"{request_id}","code":'.encode()
        return Response(body, status_code=200, headers={"x-acs-request-id": request_id}, media_type=JSON_TYPE)
    return _drop_connection(request, action)


def _make_handler(emu: Emulator, action: str) -> Callable:
    async def handler(request: Request) -> Response:
        request_id = _request_id()
        emu.stats.calls[action] += 1
        scope = request.scope
        body = await request.body()
        raw_path = scope.get("raw_path")
        raw_path = raw_path.split(b"?", 1)[0].decode("latin-1") if raw_path else quote(scope["path"], safe="/~")
        query = parse_query(scope.get("query_string", b""))
        try:
            emu.verifier.verify(
                method=scope["method"],
                raw_path=raw_path,
                query=query,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
                body=body,
                action=action,
            )
            ws = request.path_params["workspaceId"]
            if ws not in emu.workspaces:
                raise errors.workspace_not_found(ws)
        except ApiError as exc:
            emu.stats.rejections[exc.code] += 1
            return error_response(exc, request_id)

        decision = emu.faults.decide(action, emu.stats)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        failure = decision.failure
        if failure is not None and not failure.after:
            return _failure_response(failure, request, action, request_id)
        try:
            payload = _do_action(emu, action, request, ws, query, body, decision.cluster_error)
        except ApiError as exc:
            return error_response(exc, request_id)
        except Exception:  # an emulator bug: answer like the service would, and keep serving
            _log.exception("unexpected error in %s", action)
            return error_response(errors.internal_error(), request_id)
        if failure is not None:
            return _failure_response(failure, request, action, request_id)
        if isinstance(payload, bytes):
            content = b'{"requestId":"' + request_id.encode() + (b'",' + payload[1:] if len(payload) > 2 else b'"}')
            return Response(content, status_code=200, headers={"x-acs-request-id": request_id}, media_type=JSON_TYPE)
        return json_response(200, {"requestId": request_id, **payload}, request_id)

    handler.__name__ = f"handle_{action}"
    return handler


# --------------------------------------------------------------------------- emulator routes
def _control_routes(emu: Emulator) -> list[Route]:
    async def serve_log(request: Request) -> Response:
        p = request.path_params
        link = f"{quote(p['ws'])}/{quote(p['instance'])}/{quote(p['name'])}"
        try:
            expires = int(request.query_params.get("Expires", "0"))
        except ValueError:
            expires = 0
        sig = request.query_params.get("Signature", "")
        if expires < time.time() or not hmac.compare_digest(sig, emu.sign_log_link(link, expires)):
            return error_response(ApiError(403, "AccessDenied", "The log link is invalid or has expired."))
        path = emu.store.log_dir(p["ws"], p["instance"]) / p["name"]
        if "/" in p["name"] or not path.is_file():
            return error_response(errors.log_not_found(p["name"]))
        return Response(path.read_bytes(), media_type="text/plain; charset=utf-8")

    routes = [Route(f"{CONTROL_PREFIX}/logs/{{ws}}/{{instance}}/{{name}}", serve_log, methods=["GET"])]
    if not emu.config.enable_control:
        return routes

    async def add_faults(request: Request) -> Response:
        try:
            data = json.loads(await request.body() or b"null")
            items = data if isinstance(data, list) else [data]
            rules = [emu.add_fault(FaultRule.from_dict(item)) for item in items]
        except (ValueError, TypeError) as exc:
            return error_response(errors.invalid_parameter(f"Invalid fault rule: {exc}"))
        return json_response(200, {"added": [r.to_dict() for r in rules], "rules": emu.faults.rules()}, _request_id())

    async def clear_faults(request: Request) -> Response:
        emu.clear_faults()
        return json_response(200, {"rules": []}, _request_id())

    async def list_faults(request: Request) -> Response:
        return json_response(200, {"rules": emu.faults.rules()}, _request_id())

    async def stats(request: Request) -> Response:
        return json_response(200, emu.stats.snapshot(), _request_id())

    async def reset_stats(request: Request) -> Response:
        emu.stats.reset()
        return json_response(200, emu.stats.snapshot(), _request_id())

    routes += [
        Route(f"{CONTROL_PREFIX}/faults", add_faults, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{CONTROL_PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/stats", reset_stats, methods=["DELETE"]),
    ]
    return routes


def _path_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"{(\w+)}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


class EmulatorApp(Starlette):
    """A Starlette app with a direct dispatch of the thirteen API routes (built from ``api.ACTIONS``).

    The API routes are also registered as Starlette routes; the direct table only skips the
    generic middleware on the hot path. It also keeps the server's own ``send`` (needed to drop
    a connection).
    """

    emulator: Emulator
    _fast_routes: list[tuple[str, re.Pattern[str], Callable]]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope[_SEND_KEY] = send
            path = scope["path"]
            if path.startswith("/api/"):
                method = scope["method"]
                for route_method, regex, handler in self._fast_routes:
                    if route_method != method:
                        continue
                    match = regex.match(path)
                    if match is not None:
                        scope["path_params"] = match.groupdict()
                        scope["app"] = self
                        response = await handler(Request(scope, receive))
                        await response(scope, receive, send)
                        return
        await super().__call__(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    if status == 405:
        return error_response(ApiError(405, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
    return error_response(errors.action_not_found())


def create_app(config: EmulatorConfig | None = None, *, ticker_interval: float = 0.25) -> EmulatorApp:
    """Build the ASGI app. ``app.state.emulator`` (also ``app.emulator``) is the :class:`Emulator`.

    Under a server (lifespan), a light ticker settles running jobs every ``ticker_interval``
    seconds so processes start and finish on time even when nobody polls; the shutdown kills
    every job process group. In-process users (``httpx.ASGITransport``) should call
    ``app.emulator.close()`` when done.
    """
    config = config or EmulatorConfig()
    emu = Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def tick() -> None:
            while True:
                await asyncio.sleep(ticker_interval)
                try:
                    emu.store.tick()
                except Exception:  # pragma: no cover - never let the ticker die
                    pass

        task = asyncio.create_task(tick()) if ticker_interval and ticker_interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            emu.close()

    routes = []
    fast = []
    for action in ACTIONS.values():
        handler = _make_handler(emu, action.name)
        routes.append(Route(action.path, handler, methods=[action.method], name=action.name))
        fast.append((action.method, _path_regex(action.path), handler))
    routes += _control_routes(emu)
    app = EmulatorApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _not_found})
    app.state.emulator = emu
    app.emulator = emu
    app._fast_routes = fast
    return app
