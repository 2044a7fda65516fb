"""Keys of request bodies: unknown keys, keys given under two names, and the ``extra_fields``
escape hatch (issue 11 bug 1, issue 13 item 7).

A request model accepts exactly its fields, in snake_case or camelCase, each once. Anything
else fails before a request is built, naming the full path and the nearest valid key.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.models import (
    GftConfig,
    GftConfigInfo,
    HeadSpec,
    HeadSpecInfo,
    RayCluster,
    RayClusterConfig,
    RayJob,
    RayJobConfig,
    Tag,
    WorkerSpec,
    to_wire,
    to_wire_list,
)

HEAD = {"cpu": 2, "memory": "8Gi"}
WORKER = {"group_name": "g", "replica": 1, "cpu": 2, "memory": "8Gi"}


def _error(value, model_cls, **kwargs) -> EmrRayValidationError:
    with pytest.raises(EmrRayValidationError) as info:
        to_wire(value, model_cls, **kwargs)
    return info.value


def _list_error(values, model_cls, **kwargs) -> EmrRayValidationError:
    with pytest.raises(EmrRayValidationError) as info:
        to_wire_list(values, model_cls, **kwargs)
    return info.value


# ------------------------------------------------------------------------------ unknown keys


@pytest.mark.parametrize(
    ("value", "model_cls", "kwargs", "text"),
    [
        # The two examples: the misspelled size was sent as an extra and ignored.
        ({"cpu": 2, "memroy": "8Gi"}, HeadSpec, {}, "head_spec.memroy: unknown field; did you mean 'memory'?"),
        (
            {"name": "c", "head_spec": HEAD, "worker_spec": [WORKER, {**WORKER, "group_name": "h", "replicas": 3}]},
            RayClusterConfig,
            {"field": ""},
            "worker_spec[1].replicas: unknown field; did you mean 'replica'?",
        ),
        ({"nmae": "c", "head_spec": HEAD}, RayClusterConfig, {"field": ""}, "nmae: unknown field; did you mean 'name'?"),
        (
            {"name": "c", "head_spec": {**HEAD, "memroy": "8Gi"}},
            RayClusterConfig,
            {"field": ""},
            "head_spec.memroy: unknown field; did you mean 'memory'?",
        ),
        (
            {"head_spec": {**HEAD, "gft_config": {"redis_url": "redis://r", "redis_pasword": "pw"}}},
            RayClusterConfig,
            {"field": ""},
            "head_spec.gft_config.redis_pasword: unknown field; did you mean 'redis_password'?",
        ),
        (
            {"entrypoint": "python x.py", "cluster_id": "ray-1", "tags": [{"key": "team", "valu": "ml"}]},
            RayJobConfig,
            {"field": ""},
            "tags[0].valu: unknown field; did you mean 'value'?",
        ),
        (
            {"entrypoint": "python x.py", "entrypiont_num_cpus": 1},
            RayJobConfig,
            {"field": ""},
            "entrypiont_num_cpus: unknown field; did you mean 'entrypoint_num_cpus'?",
        ),
        # A camelCase key gets a camelCase suggestion (the spelling the user writes in).
        ({"maxReplicas": 3}, WorkerSpec, {}, "worker_spec.maxReplicas: unknown field; did you mean 'maxReplica'?"),
        # Nothing close: no guess.
        ({"cpu": 2, "zzzzzz": 1}, HeadSpec, {}, "head_spec.zzzzzz: unknown field"),
    ],
)
def test_unknown_key_fails_naming_path_and_nearest_key(value, model_cls, kwargs, text) -> None:
    err = _error(value, model_cls, **kwargs)
    assert str(err) == text
    assert err.field == text.split(": ", 1)[0]


def test_unknown_key_in_a_worker_list_and_in_tags_via_to_wire_list() -> None:
    err = _list_error([WORKER, {**WORKER, "group_name": "h", "replicas": 3}], WorkerSpec)
    assert err.field == "worker_spec[1].replicas" and "did you mean 'replica'" in err.rule
    err = _list_error([{"key": "a", "value": "1"}, {"key": "b", "valeu": "2"}], Tag)
    assert err.field == "tags[1].valeu" and "did you mean 'value'" in err.rule


def test_request_models_reject_unknown_keys_when_built_directly() -> None:
    with pytest.raises(ValidationError, match="memroy"):
        HeadSpec(cpu=2, memroy="8Gi")
    with pytest.raises(ValidationError, match="valu"):
        Tag(key="k", valu="v")
    with pytest.raises(ValidationError, match="redis_pasword"):
        GftConfig(redis_pasword="pw")
    spec = WorkerSpec(cpu=1)
    with pytest.raises(ValidationError):
        spec.replicas = 3  # no such field
    assert WorkerSpec.model_config["extra"] == "forbid" and HeadSpec.model_config["extra"] == "forbid"


def test_only_string_keys() -> None:
    err = _error({"cpu": 2, 7: "x"}, HeadSpec)
    assert err.field == "head_spec" and "keys must be strings" in err.rule


def test_responses_stay_lenient() -> None:
    cluster = RayCluster.model_validate(
        {
            "clusterId": "c",
            "newTopKnob": 1,
            "headSpec": {"cpu": "2", "newHeadKnob": True, "gftConfig": {"redisUrl": "r", "newGft": 2}},
            "workerSpec": [{"groupName": "g", "replicas": 3}],
        }
    )
    assert cluster.model_extra == {"newTopKnob": 1}
    assert cluster.head_spec.model_extra == {"newHeadKnob": True}
    assert isinstance(cluster.head_spec.gft_config, GftConfigInfo)
    assert cluster.head_spec.gft_config.model_extra == {"newGft": 2}
    assert cluster.worker_spec[0].model_extra == {"replicas": 3}
    job = RayJob.model_validate({"submissionId": "rj", "tags": [{"key": "a", "value": "1", "kind": "user"}]})
    assert job.tags_dict == {"a": "1"} and job.tags[0].model_extra == {"kind": "user"}
    # Both spellings in a response: tolerated (the service is not a user to correct).
    assert HeadSpecInfo.model_validate({"idleTimeoutSeconds": 1, "idle_timeout_seconds": 2}) is not None


def test_a_response_spec_sent_back_is_checked_strictly() -> None:
    info = HeadSpecInfo.model_validate({"cpu": "2", "memory": "8Gi", "newHeadKnob": True})
    err = _error(info, HeadSpec)
    assert err.field == "head_spec.newHeadKnob"
    assert to_wire(HeadSpecInfo.model_validate({"cpu": "2", "gftConfig": {"redisUrl": "r"}}), HeadSpec) == {
        "cpu": "2",
        "gftConfig": {"redisUrl": "r"},
    }
    # A lenient GftConfigInfo given to a strict spec is taken field by field.
    assert HeadSpec(gft_config=GftConfigInfo(redis_url="r")).gft_config == GftConfig(redis_url="r")


# ------------------------------------------------------------------------ one key, two names


@pytest.mark.parametrize(
    ("value", "model_cls", "field", "names"),
    [
        ({"idleTimeoutSeconds": -1, "idle_timeout_seconds": 5}, HeadSpec, "head_spec.idle_timeout_seconds",
         ("'idleTimeoutSeconds'", "'idle_timeout_seconds'")),
        # The camelCase value was validated and the snake_case one sent: an invalid value reached the service.
        ({"idleTimeoutSeconds": 5, "idle_timeout_seconds": -1}, HeadSpec, "head_spec.idle_timeout_seconds",
         ("'idleTimeoutSeconds'", "'idle_timeout_seconds'")),
        ({"name": "c", "head_spec": HEAD, "worker_spec": [{"minReplica": 9, "min_replica": 1, "max_replica": 1}]},
         RayClusterConfig, "worker_spec[0].min_replica", ("'minReplica'", "'min_replica'")),
        ({"name": "c", "headSpec": {"cpu": "x"}, "head_spec": HEAD}, RayClusterConfig, "head_spec",
         ("'headSpec'", "'head_spec'")),
        ({"head_spec": {**HEAD, "gft_config": {"redisUrl": "a", "redis_url": "b"}}}, RayClusterConfig,
         "head_spec.gft_config.redis_url", ("'redisUrl'", "'redis_url'")),
        ({"entrypoint": "python x.py", "clusterId": "a", "cluster_id": "b"}, RayJobConfig, "cluster_id",
         ("'clusterId'", "'cluster_id'")),
    ],
)  # fmt: skip
def test_a_key_given_under_both_names_is_an_error(value, model_cls, field, names) -> None:
    kwargs = {"field": ""} if model_cls in (RayClusterConfig, RayJobConfig) else {}
    err = _error(value, model_cls, **kwargs)
    assert err.field == field
    assert all(n in err.rule for n in names), err.rule
    assert "keep one" in err.rule


# ------------------------------------------------------------------------------ extra_fields


def test_extra_fields_are_sent_verbatim_at_their_level() -> None:
    wire = to_wire(
        {
            "name": "c",
            "extra_fields": {"brandNewTopField": {"a": 1}},
            "head_spec": {**HEAD, "extra_fields": {"newHeadKnob": True, "snake_as_given": None}},
            "worker_spec": [{**WORKER, "extraFields": {"newWorkerKnob": "x"}}],
        },
        RayClusterConfig,
        field="",
    )
    assert wire == {
        "name": "c",
        "brandNewTopField": {"a": 1},
        "headSpec": {"cpu": "2", "memory": "8Gi", "newHeadKnob": True, "snake_as_given": None},
        "workerSpec": [{"groupName": "g", "replica": 1, "cpu": "2", "memory": "8Gi", "newWorkerKnob": "x"}],
    }
    job = to_wire({"entrypoint": "python x.py", "cluster_id": "ray-1", "extra_fields": {"priority": 5}}, RayJobConfig)
    assert job == {"entrypoint": "python x.py", "clusterId": "ray-1", "priority": 5}


def test_extra_fields_survive_a_python_round_trip() -> None:
    spec = HeadSpec(cpu=2, extra_fields={"newHeadKnob": 1})
    assert spec.model_dump(exclude_none=True) == {"cpu": "2", "extra_fields": {"newHeadKnob": 1}}
    assert to_wire(spec.model_dump(), HeadSpec) == {"cpu": "2", "newHeadKnob": 1}
    assert to_wire({"extra_fields": {}}, HeadSpec) == {}


@pytest.mark.parametrize(
    ("value", "model_cls", "field", "words"),
    [
        ({"cpu": 2, "extra_fields": {"memory": "8Gi"}}, HeadSpec, "head_spec.extra_fields.memory",
         "'memory' is a known field: set it directly"),
        ({"cpu": 2, "extra_fields": {"idleTimeoutSeconds": 5}}, HeadSpec, "head_spec.extra_fields.idleTimeoutSeconds",
         "known field (idle_timeout_seconds): set it directly"),
        ({"groupName": "g", "extraFields": {"maxReplica": 5}}, WorkerSpec, "worker_spec.extra_fields.maxReplica",
         "known field"),
        ({"extra_fields": {"extraFields": {}}}, HeadSpec, "head_spec.extra_fields.extraFields", "known field"),
        ({"entrypoint": "e", "extra_fields": {"tags": []}}, RayJobConfig, "extra_fields.tags", "known field"),
        ({"cpu": 2, "extra_fields": {1: "x"}}, HeadSpec, "head_spec.extra_fields", "keys must be strings"),
        ({"cpu": 2, "extra_fields": "newKnob=1"}, HeadSpec, "head_spec.extra_fields", "dict"),
    ],
)  # fmt: skip
def test_extra_fields_rules(value, model_cls, field, words) -> None:
    kwargs = {"field": ""} if model_cls is RayJobConfig else {}
    err = _error(value, model_cls, **kwargs)
    assert err.field == field
    assert words in err.rule, err.rule


def test_only_the_four_request_bodies_take_extra_fields() -> None:
    for cls in (RayClusterConfig, RayJobConfig, HeadSpec, WorkerSpec):
        assert "extra_fields" in cls.model_fields
    for cls in (GftConfig, Tag, RayCluster, RayJob, HeadSpecInfo):
        assert "extra_fields" not in cls.model_fields
    err = _error({"redis_url": "r", "extra_fields": {"x": 1}}, GftConfig)
    assert err.field == "gft_config.extra_fields" and "unknown field" in err.rule
