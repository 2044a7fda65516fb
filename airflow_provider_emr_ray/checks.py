"""Argument checks shared by every layer: the validation error itself, and the number rules.

A bad argument is an :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming
the field and the rule, raised before any API call. The hook (connection extras, which the UI
form saves as text), the operators and sensors (``poll_interval``, ``max_wait``,
``max_transient_errors``, ...) and the tag rules all check through here. Standard library only
(the exception class is imported on first use).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

__all__ = ["non_negative_int", "positive_seconds", "validation_error"]


def validation_error(field: str, rule: str) -> Exception:
    """The error for argument ``field`` breaking ``rule``."""
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    return EmrRayValidationError(field, rule)


def positive_seconds(field: str, value: Any, *, text: bool = False) -> float | None:
    """Seconds (a number or a timedelta; with ``text``, also a numeric string) as a finite
    float > 0. ``None`` stays ``None``; ``NaN``, infinities and booleans are refused."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if text and isinstance(seconds, str):
        try:
            seconds = float(seconds.strip())
        except ValueError:
            seconds = None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise validation_error(field, f"must be a finite number of seconds > 0 (or a timedelta), got {value!r}")
    return float(seconds)


def non_negative_int(field: str, value: Any, *, text: bool = False) -> int:
    """An integer ≥ 0 (with ``text``, also a string of digits); booleans are refused."""
    number = value
    if text and isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise validation_error(field, f"must be an integer >= 0, got {value!r}")
    return number
