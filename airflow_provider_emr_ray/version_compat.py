"""What differs between Airflow 3 releases: the one module that knows.

Every other module asks here instead of probing Airflow with ``try/except ImportError`` or
``getattr`` itself, so supporting another release line means changing this file alone. Names that
only moved between releases (``BaseHook``, ``conf``, the exceptions, ``mask_secret`` ...) are
imported from ``airflow.providers.common.compat.sdk``, which resolves them for the running Airflow;
what that package does not cover (a behaviour, a name it does not map) is answered here.

Supported: Airflow 3.0 to 3.3. What differs (each checked against the release itself):

- 3.0: ``airflow.sdk`` has no ``BaseHook``/``conf``; exceptions live in ``airflow.exceptions``;
  ``BaseHook`` has no ``aget_connection``; the task-state query takes no ``map_index``.
- 3.1: ``BaseHook.aget_connection``; ``get_task_states(map_index=...)``.
- 3.2: ``airflow.sdk.exceptions`` holds every task exception (``TaskDeferralTimeout`` too); the
  UI builds the connection form from provider info's ``conn-fields``.
- 3.3: the triggerer calls a trigger's ``on_kill`` when a user kills a deferred task;
  ``amask_secret``; connection tests run with preset connections.
Nothing is imported from Airflow when this module is imported (DAG files import the operators,
and so this module, on every parse): each helper imports what it needs on first call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = [
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "NO_STATE",
    "aget_connection",
    "amask_secret",
    "atask_instance_state",
    "mask_secret",
    "preset_connections",
    "sensor_never_fails",
    "task_deferral_timeout",
    "triggerer_calls_on_kill",
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


#: Airflow 3.1 and newer (``BaseHook.aget_connection``, task states per map index).
AIRFLOW_V_3_1_PLUS: Callable[[], bool] = functools.partial(_at_least, 3, 1)
#: Airflow 3.2 and newer (``conn-fields`` connection forms, ``airflow.sdk.exceptions`` complete).
AIRFLOW_V_3_2_PLUS: Callable[[], bool] = functools.partial(_at_least, 3, 2)
#: Airflow 3.3 and newer: the triggerer calls a trigger's ``on_kill`` when a user kills a
#: deferred task; ``amask_secret`` exists.
AIRFLOW_V_3_3_PLUS: Callable[[], bool] = functools.partial(_at_least, 3, 3)


def _blocking(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking Task SDK call from a coroutine, as Airflow requires in a triggerer: through
    asgiref's ``sync_to_async``, whose thread hands the call's own I/O back to the event loop
    (a bare ``asyncio.to_thread`` makes the trigger runner's 3.0.3+ comms read replies out of
    order: "Response read out of order", and the triggerer exits)."""
    from asgiref.sync import sync_to_async

    return sync_to_async(func)(*args, **kwargs)


def triggerer_calls_on_kill() -> bool:
    """Whether this Airflow's triggerer calls ``BaseTrigger.on_kill`` when a user marks a deferred
    task failed/success or clears it (3.3 and newer). Before that, a trigger only sees its
    ``run()`` cancelled, and must ask for its task's state itself (:func:`atask_instance_state`)."""
    return AIRFLOW_V_3_3_PLUS()


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker (blocking)."""
    from airflow.providers.common.compat.sdk import mask_secret as _mask_secret

    _mask_secret(secret)


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker without blocking the event loop
    (``amask_secret`` where Airflow has it, 3.3 and newer, else the sync call in a worker thread)."""
    import airflow.sdk.log as sdk_log

    native = getattr(sdk_log, "amask_secret", None)
    if native is not None:
        await native(secret)
    else:
        await _blocking(mask_secret, secret)


def task_deferral_timeout() -> type[BaseException]:
    """The exception a deferred task's resume raises when Airflow's own trigger timeout fired
    (``airflow.sdk.exceptions`` from 3.2, ``airflow.exceptions`` before)."""
    if AIRFLOW_V_3_2_PLUS():
        from airflow.sdk.exceptions import TaskDeferralTimeout
    else:
        from airflow.exceptions import TaskDeferralTimeout
    return TaskDeferralTimeout


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
    if AIRFLOW_V_3_1_PLUS():
        from airflow.providers.common.compat.sdk import BaseHook

        return BaseHook.aget_connection(conn_id)
    return _blocking(get_connection, conn_id)


#: What :func:`atask_instance_state` answers for a task instance without a state (cleared).
NO_STATE = "none"


async def atask_instance_state(task_instance: Any) -> str | None:
    """The current state of the task instance a trigger serves, asked of the Airflow API from the
    triggerer: :data:`NO_STATE` for a task instance that has none (a cleared one), ``None`` when
    it cannot be told (no task instance, not in the answer, or a mapped task on 3.0, whose query
    cannot name the map index)."""
    if task_instance is None:
        return None
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    map_index = getattr(task_instance, "map_index", -1)
    if map_index is None:
        map_index = -1
    query: dict[str, Any] = {
        "dag_id": task_instance.dag_id,
        "task_ids": [task_instance.task_id],
        "run_ids": [task_instance.run_id],
    }
    if AIRFLOW_V_3_1_PLUS():
        query["map_index"] = map_index
        key = task_instance.task_id if map_index < 0 else f"{task_instance.task_id}_{map_index}"
    elif map_index >= 0:
        return None
    else:
        key = task_instance.task_id
    states = await _blocking(RuntimeTaskInstance.get_task_states, **query)
    of_run = (states or {}).get(task_instance.run_id, {})
    if key not in of_run:
        return None
    state = of_run[key]
    return NO_STATE if state is None else str(getattr(state, "value", state))


def sensor_never_fails(sensor: Any) -> bool:
    """A sensor's ``never_fail`` (skip on any failure); False where this Airflow's
    ``BaseSensorOperator`` has no such argument."""
    return bool(getattr(sensor, "never_fail", False))
