"""Time in a wait: deadlines, the backstop timeout of a deferral, and durations in messages.

Deadlines are epoch seconds (floats): that is how triggers carry them through the database.
They are computed with pendulum (Airflow's own datetime library, already loaded by
``airflow.sdk``); a poll loop compares them with :func:`now`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pendulum

#: Airflow's own trigger timeout comes this long (at least) after a wait's deadline, so the
#: trigger's own ending (with its event and its cancel) always wins.
DEFER_TIMEOUT_MARGIN = 60.0


def now() -> float:
    """Epoch seconds now."""
    return time.time()


def deadline_after(seconds: float | None, *, start: float | None = None) -> float | None:
    """Epoch seconds at which a wait of ``seconds`` started at ``start`` (default now) ends
    (None: never)."""
    if seconds is None:
        return None
    begin = pendulum.from_timestamp(start) if start is not None else pendulum.now("UTC")
    return begin.add(seconds=float(seconds)).timestamp()


def execution_deadline(context: Mapping[str, Any], execution_timeout: timedelta | None) -> float | None:
    """Epoch seconds at which the task's ``execution_timeout`` runs out (None without one).

    Airflow 3.3 does not apply ``execution_timeout`` to a task deferred from ``execute`` (only
    to tasks that start in the triggerer), so the operators carry this deadline into their
    triggers themselves.
    """
    if execution_timeout is None:
        return None
    ti = context.get("ti") if context else None
    start = getattr(ti, "start_date", None)
    begin = pendulum.instance(start) if start is not None else pendulum.now("UTC")
    return (begin + execution_timeout).timestamp()


def earliest(*deadlines: float | None) -> float | None:
    """The earliest of the deadlines given (None if there is none)."""
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None


def defer_timeout(deadline: float | None, poll_interval: float) -> timedelta | None:
    """Airflow's timeout of a deferral: a backstop after the trigger's own ``deadline``."""
    if deadline is None:
        return None
    margin = max(DEFER_TIMEOUT_MARGIN, 3 * poll_interval)
    return timedelta(seconds=max(1.0, deadline - now()) + margin)


def format_duration(seconds: float | None) -> str:
    """A duration for a log line or a message: ``45s``, ``3m05s``, ``2h03m05s``, ``1d02h03m05s``."""
    d = pendulum.duration(seconds=max(0, round(float(seconds or 0))))
    if d.in_seconds() < 60:
        return f"{d.in_seconds()}s"
    text = f"{d.minutes:d}m{d.remaining_seconds:02d}s"
    if d.in_hours():
        text = f"{d.hours:d}h" + text.zfill(6)
    if d.in_days():
        text = f"{d.in_days():d}d" + text.zfill(9)
    return text


def ago(seconds: float) -> pendulum.DateTime:
    """The aware datetime ``seconds`` ago (a submit-time window's start)."""
    return pendulum.now("UTC").subtract(seconds=seconds)
