"""What differs between Airflow 3 releases: the one module that knows.

Every other module asks here instead of probing Airflow with ``try/except ImportError`` or
``getattr`` itself, so supporting another release line means changing this file alone.
Nothing is imported from Airflow when this module is imported (DAG files import the operators,
and so this module, on every parse): each helper imports what it needs on first call.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

__all__ = [
    "AIRFLOW_V_3_3_PLUS",
    "aget_connection",
    "amask_secret",
    "mask_secret",
    "preset_connections",
    "sensor_never_fails",
]


@functools.cache
def airflow_version() -> tuple[int, int, int]:
    """The running Airflow's ``(major, minor, micro)``."""
    from importlib.metadata import version

    parts: list[int] = []
    for piece in version("apache-airflow").split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _at_least(major: int, minor: int) -> bool:
    return airflow_version() >= (major, minor, 0)


#: Airflow 3.3 and newer: the triggerer calls a trigger's ``on_kill`` when a user kills a
#: deferred task; ``amask_secret`` and ``BaseHook.aget_connection`` exist.
AIRFLOW_V_3_3_PLUS: Callable[[], bool] = functools.partial(_at_least, 3, 3)


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker (blocking)."""
    from airflow.sdk.log import mask_secret as _mask_secret

    _mask_secret(secret)


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker without blocking the event loop
    (``amask_secret`` where Airflow has it, else the sync call in a worker thread)."""
    import airflow.sdk.log as sdk_log

    native = getattr(sdk_log, "amask_secret", None)
    if native is not None:
        await native(secret)
    else:
        await asyncio.to_thread(sdk_log.mask_secret, secret)


def preset_connections() -> Any:
    """The connections Airflow holds in memory for the current context (set by
    ``Connection.test_connection``), or None where this Airflow has no such context."""
    try:
        from airflow.sdk.execution_time.context import _preset_connections
    except ImportError:
        return None
    return _preset_connections.get()


def aget_connection(conn_id: str, get_connection: Callable[[str], Any]) -> Any:
    """An awaitable reading connection ``conn_id`` without blocking the event loop
    (``BaseHook.aget_connection`` where Airflow has it, else ``get_connection`` in a thread)."""
    from airflow.sdk import BaseHook

    native = getattr(BaseHook, "aget_connection", None)
    if native is not None:
        return native(conn_id)
    return asyncio.to_thread(get_connection, conn_id)


def sensor_never_fails(sensor: Any) -> bool:
    """A sensor's ``never_fail`` (skip on any failure); False where this Airflow's
    ``BaseSensorOperator`` has no such argument."""
    return bool(getattr(sensor, "never_fail", False))
