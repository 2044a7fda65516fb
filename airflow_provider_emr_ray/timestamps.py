"""The API's times: epoch milliseconds on the wire, pendulum ``DateTime`` objects in Python.

The one home of that conversion, both ways: :func:`to_epoch_ms` for what the provider sends
(ListRayJob's ``submitTime`` window) and :func:`from_epoch_ms` for what the service returns
(``createTime``, ``submitTime``, ``startTime``, ``endTime``, ... read through the models'
``*_at`` properties). pendulum is Airflow's own datetime library; it is imported on first use.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_emr_ray.checks import validation_error

if TYPE_CHECKING:
    import pendulum

__all__ = ["from_epoch_ms", "to_epoch_ms"]


def to_epoch_ms(field: str, value: Any) -> int | None:
    """Epoch milliseconds of an aware ``datetime`` (a pendulum ``DateTime`` included), or of
    epoch milliseconds given as a number (``None`` stays ``None``). A naive datetime, a negative
    or non-finite number and anything else are refused, naming ``field``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise validation_error(
                field, "a naive datetime is ambiguous: give a timezone-aware datetime or epoch milliseconds"
            )
        import pendulum

        moment = pendulum.instance(value)
        if moment.int_timestamp >= 0:
            return moment.int_timestamp * 1000 + moment.microsecond // 1000
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf"):
        return int(value)
    raise validation_error(field, f"must be a timezone-aware datetime or epoch milliseconds (from 1970 on), got {value!r}")


def from_epoch_ms(value: Any) -> pendulum.DateTime | None:
    """The UTC ``DateTime`` of epoch milliseconds the service returned (None when absent or
    not a number: response fields are never fatal)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    import pendulum

    try:
        return pendulum.from_timestamp(value / 1000, tz="UTC")
    except (OverflowError, OSError, ValueError):
        return None
