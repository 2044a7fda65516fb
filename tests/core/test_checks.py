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
