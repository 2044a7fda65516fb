"""checks: the number rules every layer applies (hook extras as text, operator arguments)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_emr_ray.checks import non_negative_int, positive_seconds
from airflow_provider_emr_ray.exceptions import EmrRayValidationError


@pytest.mark.parametrize(("value", "text", "expected"), [(2, False, 2.0), (0.5, False, 0.5), (timedelta(minutes=1), False, 60.0), (" 30 ", True, 30.0), (None, False, None)])
def test_positive_seconds_accepts(value: object, text: bool, expected: float | None) -> None:
    assert positive_seconds("timeout", value, text=text) == expected


@pytest.mark.parametrize(("value", "text"), [(0, False), (-1, False), (True, False), (float("nan"), False), (float("inf"), False), ("30", False), ("nan", True), ("inf", True), ("abc", True), (timedelta(0), False)])
def test_positive_seconds_refuses_naming_the_field(value: object, text: bool) -> None:
    with pytest.raises(EmrRayValidationError) as info:
        positive_seconds("poll_interval", value, text=text)
    assert info.value.field == "poll_interval" and "finite number of seconds > 0" in info.value.rule


@pytest.mark.parametrize(("value", "text", "expected"), [(0, False, 0), (5, False, 5), ("7", True, 7)])
def test_non_negative_int_accepts(value: object, text: bool, expected: int) -> None:
    assert non_negative_int("max_retries", value, text=text) == expected


@pytest.mark.parametrize(("value", "text"), [(-1, False), (True, False), (1.5, False), ("7", False), ("-1", True), ("x", True)])
def test_non_negative_int_refuses(value: object, text: bool) -> None:
    with pytest.raises(EmrRayValidationError) as info:
        non_negative_int("max_retries", value, text=text)
    assert info.value.field == "max_retries"


# ---- timestamps: epoch milliseconds <-> pendulum, both ways in one module ---------------------


def test_epoch_ms_round_trip_through_pendulum() -> None:
    from datetime import datetime, timezone

    import pendulum

    from airflow_provider_emr_ray.timestamps import from_epoch_ms, to_epoch_ms

    moment = pendulum.datetime(2026, 12, 2, 8, 30, 15, 123000, tz="Asia/Shanghai")
    ms = to_epoch_ms("submit_time_start", moment)
    assert ms == round(datetime(2026, 12, 2, 0, 30, 15, 123000, tzinfo=timezone.utc).timestamp() * 1000)  # UTC+8
    assert from_epoch_ms(ms) == moment and from_epoch_ms(ms).timezone_name == "UTC"
    assert to_epoch_ms("x", datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)) == 1000
    assert to_epoch_ms("x", 5) == 5 and to_epoch_ms("x", None) is None
    for bad in (datetime(2026, 1, 1), -1, float("inf"), True, "2026-01-01"):
        with pytest.raises(EmrRayValidationError) as info:
            to_epoch_ms("submit_time_end", bad)
        assert info.value.field == "submit_time_end"
    assert [from_epoch_ms(v) for v in (None, "x", True, float("nan"), 10**30)] == [None] * 5


def test_models_expose_times_as_datetimes() -> None:
    from airflow_provider_emr_ray.models import RayCluster, RayJob

    job = RayJob.model_validate({"submitTime": 1_700_000_000_123, "startTime": 1_700_000_001_000})
    assert job.submitted_at.int_timestamp == 1_700_000_000 and job.submitted_at.microsecond == 123_000
    assert job.started_at.int_timestamp == 1_700_000_001
    assert job.ended_at is None
    cluster = RayCluster.model_validate({"createTime": 0, "startTime": 1000})
    assert cluster.created_at.year == 1970 and cluster.started_at.second == 1 and cluster.modified_at is None
