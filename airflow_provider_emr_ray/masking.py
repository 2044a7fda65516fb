"""Registering secrets with Airflow's secrets masker, from sync code and from event loops.

The sync ``mask_secret`` tells the supervisor with a blocking call; inside a running event loop
(a trigger in the triggerer) the async variant is used instead (Airflow ≥ 3.3 has
``amask_secret``; on older versions the sync call runs in a worker thread).
"""

from __future__ import annotations

import asyncio
from typing import Any

_PENDING: set[asyncio.Task] = set()


def mask(secret: Any) -> None:
    """Mask ``secret`` now (sync code) or as soon as the running loop gets control (async code)."""
    if not secret:
        return
    from airflow.sdk.log import mask_secret

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        mask_secret(secret)
        return
    task = loop.create_task(amask(secret))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


async def amask(secret: Any) -> None:
    """Mask ``secret`` from async code without blocking the event loop."""
    if not secret:
        return
    import airflow.sdk.log as sdk_log

    amask_secret = getattr(sdk_log, "amask_secret", None)
    if amask_secret is not None:
        await amask_secret(secret)
    else:  # Airflow < 3.3
        await asyncio.to_thread(sdk_log.mask_secret, secret)
