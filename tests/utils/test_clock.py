"""Deadlines (epoch seconds) and durations in messages."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_emr_ray.utils.clock import (
    DEFER_TIMEOUT_MARGIN,
    ago,
    deadline_after,
    defer_timeout,
    earliest,
    execution_deadline,
    format_duration,
)
from tests.operators.fakes import FakeTI


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "0s"), (0.4, "0s"), (59.4, "59s"), (75, "1m15s"), (3725, "1h02m05s"), (90061, "1d01h01m01s")],
)
def test_format_duration(seconds, text: str) -> None:
    assert format_duration(seconds) == text


def test_deadlines() -> None:
    assert deadline_after(None) is None
    assert deadline_after(10, start=100.0) == 110.0
    assert 9 < deadline_after(10) - time.time() <= 10
    assert earliest(None, 5.0, 3.0) == 3.0 and earliest(None) is None
    ti = FakeTI()
    ti.start_date = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert execution_deadline({"ti": ti}, timedelta(minutes=1)) == ti.start_date.timestamp() + 60
    assert execution_deadline({"ti": ti}, None) is None
    assert abs(ago(300).timestamp() - (time.time() - 300)) < 2 and ago(300).tzinfo is not None


def test_defer_timeout_is_a_backstop_after_the_deadline() -> None:
    assert defer_timeout(None, 5) is None
    timeout = defer_timeout(time.time() + 100, 5)
    assert type(timeout) is timedelta
    assert 100 + DEFER_TIMEOUT_MARGIN - 2 < timeout.total_seconds() <= 100 + DEFER_TIMEOUT_MARGIN
    assert defer_timeout(time.time() + 100, 60).total_seconds() > 100 + 3 * 60 - 2
