"""Registering secrets with Airflow's secrets masker, from sync code and from event loops.

The sync ``mask_secret`` tells the supervisor with a blocking call; inside a running event loop
(a trigger in the triggerer) the async variant is used instead (Airflow ≥ 3.3 has
``amask_secret``; on older versions the sync call runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

_PENDING: set[asyncio.Task] = set()
#: SHA-256 digests of the secrets this process registered already. Airflow's masker is
#: process-wide, and in a triggerer each registration is also a message to the supervisor: the
#: thousands of triggers of one connection register its secret once, not once each.
_REGISTERED: set[bytes] = set()


def _digest(secret: Any) -> bytes | None:
    if not isinstance(secret, str):
        return None
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def mask(secret: Any) -> None:
    """Mask ``secret`` now (sync code) or as soon as the running loop gets control (async code)."""
    digest = _digest(secret)
    if not secret or digest in _REGISTERED:
        return
    from airflow.sdk.log import mask_secret

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        mask_secret(secret)
        if digest is not None:
            _REGISTERED.add(digest)
        return
    task = loop.create_task(_aregister(secret, digest))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


async def amask(secret: Any) -> None:
    """Mask ``secret`` from async code without blocking the event loop."""
    digest = _digest(secret)
    if not secret or digest in _REGISTERED:
        return
    await _aregister(secret, digest)


async def _aregister(secret: Any, digest: bytes | None) -> None:
    import airflow.sdk.log as sdk_log

    amask_secret = getattr(sdk_log, "amask_secret", None)
    if amask_secret is not None:
        await amask_secret(secret)
    else:  # Airflow < 3.3
        await asyncio.to_thread(sdk_log.mask_secret, secret)
    if digest is not None:
        _REGISTERED.add(digest)
