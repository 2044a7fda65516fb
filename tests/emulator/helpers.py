"""Shared helpers of the emulator tests: the fast delays (``FAST_DELAYS``, from devtools.emulator),
a tiny signed client (built on signing.sign_headers and actions.build_request) and condition waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_emr_ray.client import actions as api, signing
from airflow_provider_emr_ray.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_WORKSPACE
from devtools.emulator import FAST_DELAYS

#: The name these tests used for the fast delays (every transition immediate), the one set in
#: devtools.emulator (also the fault campaign's and the benchmarks' home of delay sets).
FAST = FAST_DELAYS


def signed(
    action: str,
    path_params: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    *,
    base: str = "http://emulator.local",
    workspace: str = DEFAULT_WORKSPACE,
    ak: str = DEFAULT_ACCESS_KEY_ID,
    secret: str = DEFAULT_ACCESS_KEY_SECRET,
    token: str | None = None,
    **overrides: Any,
) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, url, headers, body) of one signed call; ``overrides`` go to sign_headers."""
    params = {"workspaceId": workspace, **(path_params or {})}
    prepared = api.build_request(action, params, query, body)
    host = urlsplit(base).netloc
    headers = signing.sign_headers(
        method=prepared.action.method,
        host=host,
        path=prepared.path,
        query=prepared.query,
        body=prepared.body,
        action=overrides.pop("header_action", action),
        access_key_id=ak,
        access_key_secret=secret,
        security_token=token,
        **overrides,
    )
    return prepared.action.method, base + prepared.target, headers, prepared.body


class AsyncCaller:
    """Signed calls against an httpx.AsyncClient (ASGITransport or a real socket)."""

    def __init__(self, client: httpx.AsyncClient, base: str = "http://emulator.local", **defaults: Any) -> None:
        self.client = client
        self.base = base
        self.defaults = defaults

    async def raw(self, action: str, path_params=None, query=None, body=None, **kw: Any) -> httpx.Response:
        method, url, headers, content = signed(action, path_params, query, body, base=self.base, **{**self.defaults, **kw})
        return await self.client.request(method, url, headers=headers, content=content)

    async def __call__(self, action: str, path_params=None, query=None, body=None, **kw: Any) -> dict[str, Any]:
        resp = await self.raw(action, path_params, query, body, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()


class SyncCaller:
    """Signed calls with a blocking httpx.Client against a served emulator."""

    def __init__(self, client: httpx.Client, base: str, **defaults: Any) -> None:
        self.client = client
        self.base = base
        self.defaults = defaults

    def raw(self, action: str, path_params=None, query=None, body=None, **kw: Any) -> httpx.Response:
        method, url, headers, content = signed(action, path_params, query, body, base=self.base, **{**self.defaults, **kw})
        return self.client.request(method, url, headers=headers, content=content)

    def __call__(self, action: str, path_params=None, query=None, body=None, **kw: Any) -> dict[str, Any]:
        resp = self.raw(action, path_params, query, body, **kw)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


async def async_wait_for(predicate, timeout: float = 15.0, interval: float = 0.02, what: str = "condition") -> Any:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
