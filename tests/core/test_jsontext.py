"""jsontext: the one "dict or JSON string -> JSON text" rule, as the models and operators apply it."""

from __future__ import annotations

import pytest

from airflow_provider_emr_ray import jsontext, models
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.utils.validation import json_object


def test_dicts_become_compact_text_and_object_strings_are_kept() -> None:
    assert jsontext.json_object_text({"pip": ["x"], "é": 1}) == '{"pip":["x"],"é":1}'
    assert jsontext.json_object_text('{ "a" : 1 }') == '{ "a" : 1 }'
    assert jsontext.json_object_text(None) is None
    assert jsontext.lenient_text([1, 2]) == "[1,2]" and jsontext.lenient_text("x") == "x"


@pytest.mark.parametrize(("value", "rule"), [("[1]", "got list"), ("{", "must be a JSON object:"), (3, "got int")])
def test_the_same_rule_in_the_models_and_the_operators(value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        jsontext.json_object_text(value)
    with pytest.raises(EmrRayValidationError) as at_start:
        models.to_wire({"entrypoint": "x", "runtime_env_json": value}, models.RayJobConfig, field="")
    assert at_start.value.field == "runtime_env_json" and rule in at_start.value.rule
    with pytest.raises(EmrRayValidationError) as at_parse:
        json_object("runtime_env", value)
    assert at_parse.value.field == "runtime_env" and rule in at_parse.value.rule
