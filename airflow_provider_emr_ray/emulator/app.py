"""The Starlette application: routing from ``client.actions.ACTIONS``, authentication, faults,
dispatch through :data:`.handlers.HANDLERS` (checked at start-up), and the emulator's own routes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from airflow_provider_emr_ray.client.actions import ACTIONS
from airflow_provider_emr_ray.emulator import errors, handlers
from airflow_provider_emr_ray.emulator.auth import Verifier, parse_query
from airflow_provider_emr_ray.emulator.config import EmulatorConfig
from airflow_provider_emr_ray.emulator.errors import ApiError
from airflow_provider_emr_ray.emulator.faults import FaultInjector, FaultRule, Stats
from airflow_provider_emr_ray.emulator.handlers import CONTROL_PREFIX, Call
from airflow_provider_emr_ray.emulator.ray_jobs import RayJobsApi, gateway_mount
from airflow_provider_emr_ray.emulator.responses import SEND_KEY, error_response, json_response, ok_response, request_id
from airflow_provider_emr_ray.emulator.store import Store

_log = logging.getLogger("airflow_provider_emr_ray.emulator")


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
        #: Ray's own Jobs API at the clusters' ``jobUrl`` (see :mod:`.ray_jobs`).
        self.ray_jobs = RayJobsApi(self.store, self.stats, self.faults)
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


def _make_handler(emu: Emulator, action: str, handle: handlers.Handler) -> Callable:
    """The route of one action: count, authenticate, check the workspace, apply faults, dispatch."""

    async def route(request: Request) -> Response:
        rid = request_id()
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
            return error_response(exc, rid)

        decision = emu.faults.decide(action, emu.stats)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        failure = decision.failure
        if failure is not None and not failure.after:
            return failure.answer(request, action, rid)
        try:
            payload = handle(Call(emu, request, ws, query, body, decision.cluster_error))
        except ApiError as exc:
            return error_response(exc, rid)
        except Exception:  # an emulator bug: answer like the service would, and keep serving
            _log.exception("unexpected error in %s", action)
            return error_response(errors.internal_error(), rid)
        if failure is not None:
            return failure.answer(request, action, rid)
        return ok_response(payload, rid)

    route.__name__ = f"handle_{action}"
    return route


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
        try:
            size = path.stat().st_size  # once: a growing log is served up to this size
        except OSError:
            return error_response(errors.log_not_found(p["name"]))
        headers = {"Accept-Ranges": "bytes"}
        try:
            span = byte_range(request.headers.get("range"), size)
        except ValueError:
            headers["Content-Range"] = f"bytes */{size}"
            return error_response(ApiError(416, "InvalidRange", "The requested range cannot be satisfied.", headers))
        start, end = span or (0, size - 1)
        headers["Content-Length"] = str(end + 1 - start)
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(
            _read_span(path, start, end + 1 - start),
            status_code=206 if span is not None else 200,
            headers=headers,
            media_type="text/plain; charset=utf-8",
        )

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
        return json_response(200, {"added": [r.to_dict() for r in rules], "rules": emu.faults.rules()}, request_id())

    async def clear_faults(request: Request) -> Response:
        emu.clear_faults()
        return json_response(200, {"rules": []}, request_id())

    async def list_faults(request: Request) -> Response:
        return json_response(200, {"rules": emu.faults.rules()}, request_id())

    async def stats(request: Request) -> Response:
        return json_response(200, emu.stats.snapshot(), request_id())

    async def reset_stats(request: Request) -> Response:
        emu.stats.reset()
        return json_response(200, emu.stats.snapshot(), request_id())

    routes += [
        Route(f"{CONTROL_PREFIX}/faults", add_faults, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{CONTROL_PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/stats", reset_stats, methods=["DELETE"]),
    ]
    return routes


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 64 * 1024


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The span (first, last byte, inclusive) a ``Range`` header asks of a ``size``-byte object, as OSS
    GetObject reads it: ``bytes=a-b``, ``bytes=a-``, ``bytes=-n`` (the last n); an end past the
    object is clipped. None: no header, or one OSS ignores (malformed, several ranges, ``b < a``),
    so the whole object is sent (200). Raises ValueError when unsatisfiable (416): a start at or past
    the end, or a suffix of an empty object or of 0 bytes."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise ValueError("unsatisfiable range")
        return max(size - suffix, 0), size - 1
    start, end = int(first), int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise ValueError("unsatisfiable range")
    return start, min(end, size - 1)


def _read_span(path: Path, start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, in chunks of at most 64 KiB (never the whole file)."""
    with path.open("rb") as fh:
        fh.seek(start)
        while length > 0:
            chunk = fh.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


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
            scope[SEND_KEY] = send
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
    every job process group. Raises ``RuntimeError`` when the dispatch table does not match
    ``client.actions.ACTIONS`` one to one. In-process users (``httpx.ASGITransport``) should call
    ``app.emulator.close()`` when done.
    """
    table = handlers.HANDLERS
    handlers.check_handlers(table, ACTIONS)  # before anything is started
    config = config or EmulatorConfig()
    emu = Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def tick() -> None:
            while True:
                await asyncio.sleep(ticker_interval)
                try:
                    emu.store.tick()
                    emu.ray_jobs.tick()
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
        handler = _make_handler(emu, action.name, table[action.name])
        routes.append(Route(action.path, handler, methods=[action.method], name=action.name))
        fast.append((action.method, _path_regex(action.path), handler))
    routes += _control_routes(emu)
    routes.append(gateway_mount(emu.ray_jobs))
    app = EmulatorApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _not_found})
    app.state.emulator = emu
    app.emulator = emu
    app._fast_routes = fast
    return app
