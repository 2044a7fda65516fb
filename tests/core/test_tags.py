"""tags: one shape (a dict), validated once, converted to the wire once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_emr_ray import tags
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.limits import MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH


@pytest.mark.parametrize(
    "given",
    [{"a": "1", "b": "2"}, [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}], [("a", "1"), ["b", "2"]]],
)
def test_normalize_accepts_every_form(given: object) -> None:
    assert tags.normalize(given) == {"a": "1", "b": "2"}
    assert tags.to_wire(tags.normalize(given)) == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]


@pytest.mark.parametrize(
    ("given", "field", "rule"),
    [
        ([{"key": "a", "valu": "1"}], "tags[0].valu", "did you mean 'value'?"),
        ([{"value": "1"}], "tags[0].key", "needs a 'key'"),
        ({"": "1"}, "tags[''].key", "non-empty"),
        ({"k" * (MAX_TAG_KEY_LENGTH + 1): "v"}, "key", f"at most {MAX_TAG_KEY_LENGTH}"),
        ({"k": "v" * (MAX_TAG_VALUE_LENGTH + 1)}, "tags['k'].value", f"at most {MAX_TAG_VALUE_LENGTH}"),
        ({"k": 1}, "tags['k'].value", "must be a string"),
        ([("a", "1"), ("a", "2")], "tags[1].key", "duplicate"),
        ("a=1", "tags", "expected a dict"),
        ([3], "tags[0]", "expected {key, value}"),
    ],
)
def test_normalize_rejects_naming_the_path(given: object, field: str, rule: str) -> None:
    with pytest.raises(EmrRayValidationError) as info:
        tags.normalize(given)
    assert field in info.value.field and rule in info.value.rule


def test_limits_are_inclusive() -> None:
    ok = {"k" * MAX_TAG_KEY_LENGTH: "v" * MAX_TAG_VALUE_LENGTH}
    assert tags.normalize(ok) == ok


def test_from_wire_is_lenient() -> None:
    items = [{"key": "a", "value": 1}, {"value": "orphan"}, {"key": "b"}, SimpleNamespace(key="c", value="3")]
    assert tags.from_wire(items) == {"a": "1", "b": "", "c": "3"}
    assert tags.from_wire(None) == {}


def test_fit_is_deterministic_and_distinct() -> None:
    a, b = "x" * 200 + "a", "x" * 200 + "b"
    assert tags.fit("short") == "short"
    assert len(tags.fit(a)) == MAX_TAG_VALUE_LENGTH and tags.fit(a) == tags.fit(a) != tags.fit(b)
    assert len(tags.fit(a, 20)) == 20


def test_airflow_tags_name_the_task_instance() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r" * 300, task_id="t", map_index=3)
    got = tags.airflow_tags(ti)
    assert got["airflow_dag_id"] == "d" and got["airflow_task_id"] == "t" and got["airflow_map_index"] == "3"
    assert len(got["airflow_run_id"]) == MAX_TAG_VALUE_LENGTH
    assert got[tags.WORKFLOW_ID] == tags.workflow_id("d", "r" * 300) != tags.workflow_id("d", "other")
    assert "airflow_map_index" not in tags.airflow_tags(SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1))
    assert tags.normalize(got) == got  # what the provider adds passes its own rules
