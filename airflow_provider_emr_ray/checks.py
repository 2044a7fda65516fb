"""Argument checks shared by every layer: the validation error itself, and the number rules.

A bad argument is an :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming
the field and the rule, raised before any API call. The hook (connection extras, which the UI
form saves as text), the operators and sensors (``poll_interval``, ``max_wait``,
``max_transient_errors``, ...) and the tag rules all check through here. Standard library only
(the exception class is imported on first use).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

__all__ = ["non_negative_int", "positive_seconds", "region_id", "resource_id", "validation_error"]

#: A region id: lowercase words joined by ``-``, as in the service's host names
#: (``cn-hangzhou``, ``ap-southeast-1``, ``cn-shanghai-finance-1``). It becomes part of the
#: endpoint's host name, so nothing else (``.``, ``@``, ``:``, ``/``, ``?``) may be in it.
_REGION_ID = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+){1,4}")
#: A workspace, cluster, job or log id: what the service's ids look like (``w-d2d82aa09155``,
#: ``rc-...``, ``rj-...``; Ray's ``raysubmit_...``): letters, digits, ``-``, ``_`` and inner
#: ``.``, beginning with a letter or digit (so never ``.`` or ``..``), at most 128 characters.
#: Ids become URL path segments: no ``/``, spaces or control characters.
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_ID_LENGTH = 128


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


def non_negative_int(field: str, value: Any, *, text: bool = False, maximum: int | None = None) -> int:
    """An integer ≥ 0 (with ``text``, also a string of digits), at most ``maximum`` when given;
    booleans are refused."""
    number = value
    if text and isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise validation_error(field, f"must be an integer >= 0, got {_shown(value)}")
    if maximum is not None and number > maximum:
        raise validation_error(field, f"must be at most {maximum}, got {number}")
    return number


def _shown(value: Any) -> str:
    """``value`` for an error message: short, control characters escaped."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def region_id(field: str, value: Any) -> str:
    """A region id such as ``cn-hangzhou`` (:data:`_REGION_ID`); it is put in a host name."""
    if not isinstance(value, str) or len(value) > 64 or not _REGION_ID.fullmatch(value):
        raise validation_error(field, f"must be a region id such as cn-hangzhou (lowercase words joined by '-'), got {_shown(value)}")
    return value


def resource_id(field: str, value: Any) -> str:
    """A workspace, cluster, job or log id (:data:`_RESOURCE_ID`); it is put in a URL path."""
    if not isinstance(value, str) or not value.strip():
        raise validation_error(field, f"must be a non-empty string, got {_shown(value)}")
    if len(value) > MAX_ID_LENGTH or not _RESOURCE_ID.fullmatch(value):
        raise validation_error(
            field,
            f"must be an id of letters, digits, '-', '_' and '.', starting with a letter or digit, at most "
            f"{MAX_ID_LENGTH} characters (no '/', spaces or control characters), got {_shown(value)}",
        )
    return value
