"""Argument checks: templates, JSON objects, lists, numbers, the request models."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.utils.validation import (
    check_list,
    check_mapping,
    checkable,
    is_templated,
    json_object,
    non_negative_int,
    positive_seconds,
    required,
    validate_request,
)


def test_is_templated() -> None:
    assert is_templated("{{ ds }}") and is_templated({"a": ["{% if x %}"]}) and is_templated(object())
    assert not is_templated({"a": [1, "b", None, True]})
    assert checkable("x", rendered=False) and not checkable("{{ x }}", rendered=False)
    assert checkable("{{ x }}", rendered=True) and not checkable(None, rendered=True)


def test_json_object() -> None:
    assert json_object("f", {"a": "é"}) == '{"a":"é"}'
    assert json_object("f", '{"a": 1}') == '{"a": 1}' and json_object("f", None) is None
    for bad in ("[1]", "{nope", 3):
        with pytest.raises(EmrRayValidationError) as err:
            json_object("runtime_env", bad)
        assert err.value.field == "runtime_env"


@pytest.mark.parametrize(
    ("check", "args"),
    [
        (required, ("name", "  ")),
        (required, ("name", None)),
        (check_list, ("volume_ids", "v-1", "volume ids")),
        (check_list, ("worker_spec", {"a": 1}, "specs")),
        (check_mapping, ("extra_fields", ["a"])),
        (positive_seconds, ("max_wait", 0)),
        (positive_seconds, ("max_wait", timedelta(seconds=-1))),
        (positive_seconds, ("max_wait", True)),
        (non_negative_int, ("n", -1)),
        (non_negative_int, ("n", 1.5)),
    ],
)
def test_checks_name_the_argument(check, args) -> None:
    with pytest.raises(EmrRayValidationError) as err:
        check(*args)
    assert err.value.field == args[0]


def test_good_values_pass() -> None:
    required("name", "x")
    check_list("volume_ids", ["v-1"], "volume ids")
    check_mapping("extra_fields", {"a": 1})
    assert positive_seconds("max_wait", timedelta(minutes=1)) == 60.0 and positive_seconds("max_wait", None) is None
    assert non_negative_int("n", 0) == 0


def test_validate_request_uses_the_model_path() -> None:
    validate_request("RayJobConfig", {"entrypoint": "e", "name": None})
    with pytest.raises(EmrRayValidationError) as err:
        validate_request("RayJobConfig", {"entrypoint": "e", "head_spec": {"cpu": "2", "memory": "8GB"}})
    assert err.value.field == "head_spec.memory"
