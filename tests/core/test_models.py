"""Tests of the API data models (airflow_provider_emr_ray.models).

The JSON in tests/data/ is the example responses copied verbatim from the five seed API pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError

from airflow_provider_emr_ray import limits, redaction, states
from airflow_provider_emr_ray import tags as tag_rules
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.models import (
    CLUSTER_FAILURE_STATES,
    CLUSTER_TERMINAL_STATES,
    RAY_JOB_FAILURE_STATES,
    RAY_JOB_TERMINAL_STATES,
    ClusterState,
    GftConfig,
    HeadSpec,
    HeadSpecInfo,
    JobClusterState,
    RayCluster,
    RayClusterConfig,
    RayClusterInstance,
    RayJob,
    RayJobConfig,
    RayJobStatus,
    Tag,
    TagInfo,
    UnknownStateWarning,
    WorkerSpec,
    WorkerSpecInfo,
    cpu_to_wire,
    mask_url_token,
    memory_to_wire,
    tags_to_dict,
    tags_to_wire,
    to_validation_error,
    to_wire,
    to_wire_list,
)

DATA = Path(__file__).parents[1] / "data"


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


# ------------------------------------------------------------------------------------------
# The seed pages' example responses
# ------------------------------------------------------------------------------------------


def test_get_ray_cluster_example_parses_and_round_trips():
    body = load("get_ray_cluster")
    cluster = RayCluster.model_validate(body)
    assert cluster.cluster_id == "ray-k7nm8ahl5te4tg91"
    assert cluster.state is ClusterState.Running
    assert cluster.submit_token == "1d06484d3b424f7fa4ab7082a4076da2"
    assert cluster.dashboard_url.endswith("dashboard?token=xxxxxx")
    assert cluster.create_time == 1750327083303 and isinstance(cluster.create_time, int)
    assert cluster.modified_time == 1754274541693
    assert cluster.modified is False
    assert cluster.volume_ids == ["vol-123456789"]
    assert cluster.head_spec.cpu == "2" and cluster.head_spec.memory == "8Gi"
    assert cluster.head_spec.idle_timeout_seconds == 60
    assert cluster.head_spec.enable_auto_scaling is False
    (worker,) = cluster.worker_spec
    assert isinstance(worker, WorkerSpecInfo)
    assert (worker.group_name, worker.min_replica, worker.max_replica) == ("WorkerGroup1", 1, 10)
    (instance,) = cluster.instances
    assert isinstance(instance, RayClusterInstance)
    assert instance.container_exit_code == 137 and instance.reason == "OOMKilled"
    assert instance.instance_id == "ray-uiulpgow9xljim10-head-7cgta"
    # The wire form of a response is exactly what the service sent (secrets included).
    assert cluster.model_dump(by_alias=True, exclude_none=True, mode="json") == body


def test_list_ray_cluster_example_parses():
    body = load("list_ray_cluster")
    clusters = [RayCluster.model_validate(item) for item in body["rayClusters"]]
    assert len(clusters) == 1
    (cluster,) = clusters
    assert cluster.cluster_id == "ray-uiulpgow9xljimm1"
    assert cluster.state == "Running" and cluster.state is ClusterState.Running
    assert cluster.worker_spec[0].group_name == "Group1"
    assert cluster.submit_token is None and cluster.instances is None
    assert cluster.model_dump(by_alias=True, exclude_none=True, mode="json") == body["rayClusters"][0]


def test_get_ray_job_example_parses_and_round_trips():
    body = load("get_ray_job")
    job = RayJob.model_validate(body)
    assert job.submission_id == "rj-xxxxxxxxxx"
    assert job.status is RayJobStatus.Running
    assert job.cluster_state is JobClusterState.Running
    assert job.tags == [TagInfo(key="workflowId", value="wf-123test")]
    assert job.tags_dict == {"workflowId": "wf-123test"}
    assert job.submit_time == 1750327082303 and job.end_time == 1762949372000
    assert job.duration == 2459764
    assert job.entrypoint_num_cpus == "1" and job.entrypoint_memory == "4Gi"
    assert json.loads(job.runtime_env_json)["env_vars"] == {"KEY": "VALUE"}
    assert job.shutdown_after_job_finishes is True and job.backoff_limit == 2
    assert job.head_spec.enable_auto_scaling is True
    # workerSpecs (plural) in job responses -> worker_specs.
    assert [w.group_name for w in job.worker_specs] == ["WorkerGroup1"]
    assert job.cu_hours == 1899
    assert job.gu_hours.gpu_spec == "ecs.gn6i-c4g1.xlarge" and job.gu_hours.gpu_hours == 2.6
    assert job.dashboard_url_extra == ["-"]
    assert job.task_biz_id == "TSK-682e0112f6f24d9f9305b92174846985"
    assert job.is_terminal is False
    assert job.model_dump(by_alias=True, exclude_none=True, mode="json") == body


@pytest.mark.parametrize("name", ["create_ray_cluster", "update_ray_cluster"])
def test_create_and_update_examples_parse(name):
    body = load(name)
    cluster = RayCluster.model_validate(body)
    assert cluster.cluster_id == body["clusterId"]
    assert cluster.request_id == "DD6B1B2A-5837-5237-ABE4-FF0C8944"
    assert cluster.state is None


def test_list_ray_job_item_parses_with_everything_optional():
    item = {
        "submissionId": "rj-1",
        "name": "n",
        "status": "Succeeded",
        "clusterState": "Deleted",
        "creatorName": "Alice",
        "cuHours": 1.5,
        "duration": 12,
        "submitTime": 1,
        "resourceQueue": "root_queue",
    }
    job = RayJob.model_validate(item)
    assert job.status is RayJobStatus.Succeeded and job.cluster_state is JobClusterState.Deleted
    assert job.resource_queue == "root_queue"
    assert job.is_terminal and not job.is_failed


# ------------------------------------------------------------------------------------------
# Names, extras, enums, leniency of responses
# ------------------------------------------------------------------------------------------


def test_camel_and_snake_case_both_accepted():
    camel = WorkerSpec.model_validate({"groupName": "g", "minReplica": 1, "maxReplica": 2})
    snake = WorkerSpec.model_validate({"group_name": "g", "min_replica": 1, "max_replica": 2})
    kwargs = WorkerSpec(group_name="g", minReplica=1, max_replica=2)
    assert camel == snake == kwargs
    assert camel.model_dump(by_alias=True, exclude_none=True) == {
        "groupName": "g",
        "minReplica": 1,
        "maxReplica": 2,
    }
    assert RayCluster(cluster_id="a").cluster_id == RayCluster(clusterId="a").cluster_id == "a"


def test_unknown_fields_are_kept():
    cluster = RayCluster.model_validate(
        {"clusterId": "c", "brandNewField": {"x": 1}, "headSpec": {"cpu": "2", "newHeadKnob": True}}
    )
    assert cluster.model_extra == {"brandNewField": {"x": 1}}
    assert cluster.head_spec.model_extra == {"newHeadKnob": True}
    dumped = cluster.model_dump(by_alias=True, exclude_none=True)
    assert dumped["brandNewField"] == {"x": 1} and dumped["headSpec"]["newHeadKnob"] is True


def test_unknown_request_keys_are_rejected_not_sent():
    """Bug 1 of issue 11: an unknown key was sent as an extra (``memroy`` ignored by the service,
    the cluster created with its default memory). Now it fails; ``extra_fields`` sends on purpose."""
    err = _wire_error({"cpu": 1, "new_knob": 3}, HeadSpec)
    assert str(err) == "head_spec.new_knob: unknown field"
    assert to_wire({"cpu": 1, "extra_fields": {"newKnob": 3, "other_knob": 4}}, HeadSpec) == {
        "cpu": "1",
        "newKnob": 3,
        "other_knob": 4,
    }


def test_unknown_cluster_state_kept_as_string_with_one_warning():
    with pytest.warns(UnknownStateWarning, match="Hibernating-test-1"):
        cluster = RayCluster.model_validate({"state": "Hibernating-test-1"})
    assert cluster.state == "Hibernating-test-1"
    assert not isinstance(cluster.state, ClusterState)
    assert not cluster.is_terminal and not cluster.is_failed
    # Reported once per value: polling the same state again stays quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RayCluster.model_validate({"state": "Hibernating-test-1"}).state == "Hibernating-test-1"


def test_unknown_job_status_and_cluster_state_kept_as_strings():
    with pytest.warns(UnknownStateWarning) as record:
        job = RayJob.model_validate({"status": "Suspended-test-2", "clusterState": "Frozen-test-2"})
    assert job.status == "Suspended-test-2" and job.cluster_state == "Frozen-test-2"
    messages = " ".join(str(w.message) for w in record)
    assert "Suspended-test-2" in messages and "Frozen-test-2" in messages
    assert not job.is_terminal


def test_responses_never_fail_on_odd_values():
    cluster = RayCluster.model_validate(
        {
            "clusterId": "c",
            "createTime": "not-a-number",
            "headSpec": {"replica": "many", "cpu": 4, "memory": "lots", "idleTimeoutSeconds": -5},
            "workerSpec": [{"replica": 0, "minReplica": 5, "maxReplica": 1, "cpu": "-1"}, "junk"],
            "instances": "junk",
        }
    )
    assert cluster.cluster_id == "c"
    assert cluster.create_time is None  # dropped, not fatal
    assert cluster.head_spec.replica is None
    assert cluster.head_spec.cpu == "4"  # number -> wire string
    assert cluster.head_spec.memory == "lots"  # strict rules do not apply to output
    assert cluster.head_spec.idle_timeout_seconds == -5
    assert cluster.worker_spec is None  # a non-object item drops the list
    assert cluster.instances is None
    worker = WorkerSpecInfo.model_validate({"replica": 0, "minReplica": 5, "maxReplica": 1})
    assert (worker.replica, worker.min_replica, worker.max_replica) == (0, 5, 1)


def test_state_constants_and_str_enum_behaviour():
    assert CLUSTER_TERMINAL_STATES == CLUSTER_FAILURE_STATES == {ClusterState.Error}
    assert RAY_JOB_TERMINAL_STATES == {"Succeeded", "Failed", "Cancelled", "Timeout"}
    assert RAY_JOB_FAILURE_STATES == {"Failed", "Cancelled", "Timeout"}
    # Plain strings are found in the sets (members hash like their values).
    assert "Error" in CLUSTER_FAILURE_STATES and "Running" not in CLUSTER_TERMINAL_STATES
    assert "Timeout" in RAY_JOB_FAILURE_STATES and "Cancelling" not in RAY_JOB_TERMINAL_STATES
    assert str(RayJobStatus.Cancelled) == "Cancelled" and f"{ClusterState.Running}" == "Running"
    assert [s.value for s in JobClusterState] == ["Submitted", "Pending", "Running", "Deleted"]
    assert RayCluster(state="Error").is_failed and RayJob(status="Failed").is_failed


# ------------------------------------------------------------------------------------------
# Validation rules of request specs
# ------------------------------------------------------------------------------------------


def _wire_error(value, model_cls, **kwargs) -> EmrRayValidationError:
    with pytest.raises(EmrRayValidationError) as info:
        to_wire(value, model_cls, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"replica": 0}, "worker_spec.replica", ">= 1"),
        ({"minReplica": 0}, "worker_spec.min_replica", ">= 1"),
        ({"max_replica": 0}, "worker_spec.max_replica", ">= 1"),
        ({"min_replica": 3, "max_replica": 2}, "worker_spec.max_replica", "min_replica"),
        ({"memory": "8G"}, "worker_spec.memory", "8Gi"),
        ({"memory": "0Gi"}, "worker_spec.memory", "8Gi"),
        ({"memory": 8}, "worker_spec.memory", "8Gi"),
        ({"cpu": 0}, "worker_spec.cpu", "positive number"),
        ({"cpu": -1.5}, "worker_spec.cpu", "positive number"),
        ({"cpu": "two"}, "worker_spec.cpu", "positive number"),
        ({"cpu": "nan"}, "worker_spec.cpu", "positive number"),
        ({"cpu": True}, "worker_spec.cpu", "positive number"),
    ],
)
def test_worker_spec_rules_name_the_field(spec, field, words):
    err = _wire_error(spec, WorkerSpec)
    assert err.field == field
    assert words in err.rule
    assert str(err).startswith(f"{field}: ")


def test_head_spec_rules_name_the_field():
    err = _wire_error({"idleTimeoutSeconds": -1}, HeadSpec)
    assert err.field == "head_spec.idle_timeout_seconds" and ">= 0" in err.rule
    err = _wire_error({"replica": 0}, HeadSpec)
    assert err.field == "head_spec.replica"
    assert to_wire({"idleTimeoutSeconds": 0}, HeadSpec) == {"idleTimeoutSeconds": 0}


def test_pydantic_error_message_names_field_and_rule():
    with pytest.raises(ValidationError) as info:
        WorkerSpec(min_replica=4, max_replica=3)
    text = str(info.value)
    assert "max_replica" in text and "must be >= min_replica" in text


def test_worker_list_path_has_index_and_all_errors_are_listed():
    specs = [{"groupName": "a"}, {"groupName": "b"}, {"groupName": "c", "minReplica": 2, "maxReplica": 1, "cpu": 0}]
    with pytest.raises(EmrRayValidationError) as info:
        to_wire_list(specs, WorkerSpec)
    err = info.value
    assert err.field == "worker_spec[2].cpu"
    assert "worker_spec[2].max_replica" in str(err)


def test_worker_group_count_and_unique_names():
    ok = [{"groupName": f"g{i}"} for i in range(50)]
    assert len(to_wire_list(ok, WorkerSpec)) == 50
    with pytest.raises(EmrRayValidationError, match="at most 50") as info:
        to_wire_list(ok + [{"groupName": "g50"}], WorkerSpec)
    assert info.value.field == "worker_spec"
    with pytest.raises(EmrRayValidationError, match="unique.*'dup'"):
        to_wire_list([{"groupName": "dup"}, {"group_name": "dup"}], WorkerSpec)


def test_cluster_config_rules():
    assert RayClusterConfig(name="x" * 64).name == "x" * 64
    for bad in ("", "x" * 65):
        err = _wire_error({"name": bad}, RayClusterConfig)
        assert err.field == "name" and "1 to 64" in err.rule
    err = _wire_error(
        {"name": "c", "workerSpec": [{"groupName": "a"}, {"groupName": "a"}]}, RayClusterConfig
    )
    assert err.field == "worker_spec" and "unique" in err.rule
    err = _wire_error({"workerSpec": [{}, {"replica": 0}]}, RayClusterConfig)
    assert err.field == "worker_spec[1].replica"
    err = _wire_error({"headSpec": {"memory": "8GB"}}, RayClusterConfig)
    assert err.field == "head_spec.memory"


def test_validation_error_helper_with_prefix_and_no_input_leak():
    with pytest.raises(ValidationError) as info:
        RayClusterConfig.model_validate(
            {"headSpec": {"cpu": "s3cr3t-cpu-value", "gftConfig": {"redisPassword": "pw-LEAK-1"}}}
        )
    converted = to_validation_error(info.value, prefix="cluster")
    assert isinstance(converted, EmrRayValidationError) and isinstance(converted, ValueError)
    assert converted.field == "cluster.head_spec.cpu"
    assert "s3cr3t-cpu-value" not in str(converted)
    assert "s3cr3t-cpu-value" not in str(info.value)  # hide_input_in_errors


def test_request_specs_validate_on_assignment():
    spec = WorkerSpec(cpu=1)
    with pytest.raises(ValidationError, match="cpu"):
        spec.cpu = 0


# ------------------------------------------------------------------------------------------
# Wire helpers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "wire"),
    [(2, "2"), (0.5, "0.5"), (2.0, "2"), ("2", "2"), (" 4 ", "4"), ("0.25", "0.25"), ("2.50", "2.5"), (100, "100")],
)
def test_to_wire_cpu_as_string(cpu, wire):
    assert to_wire({"cpu": cpu}, HeadSpec) == {"cpu": wire}


def test_to_wire_drops_none_and_uses_aliases():
    wire = to_wire(
        {
            "queue_name": "root_queue",
            "cpu": 2,
            "memory": "8Gi",
            "gpu_spec": None,
            "enable_auto_scaling": True,
            "idle_timeout_seconds": 60,
            "gft_config": {"redis_url": "redis://h:6379", "redis_password": "pw"},
            "env": {"A": "1"},
        },
        HeadSpec,
    )
    assert wire == {
        "queueName": "root_queue",
        "cpu": "2",
        "memory": "8Gi",
        "enableAutoScaling": True,
        "idleTimeoutSeconds": 60,
        "gftConfig": {"redisUrl": "redis://h:6379", "redisPassword": "pw"},
        "env": '{"A":"1"}',
    }


def test_to_wire_accepts_models_including_response_specs():
    assert to_wire(WorkerSpec(group_name="g", cpu=1), WorkerSpec) == {"groupName": "g", "cpu": "1"}
    # A lenient spec from a response is re-validated strictly when sent back.
    cluster = RayCluster.model_validate(load("get_ray_cluster"))
    assert isinstance(cluster.head_spec, HeadSpecInfo) and not isinstance(cluster.head_spec, HeadSpec)
    assert to_wire(cluster.head_spec, HeadSpec)["cpu"] == "2"
    assert to_wire_list(cluster.worker_spec, WorkerSpec)[0]["maxReplica"] == 10
    bad = WorkerSpecInfo(replica=0)
    with pytest.raises(EmrRayValidationError) as info:
        to_wire_list([bad], WorkerSpec)
    assert info.value.field == "worker_spec[0].replica"
    with pytest.raises(EmrRayValidationError, match="expected a dict"):
        to_wire("cpu=2", HeadSpec)


def test_to_wire_list_empty_and_none():
    assert to_wire_list(None, WorkerSpec) == []
    assert to_wire_list([], WorkerSpec) == []


def test_job_config_wire():
    wire = to_wire(
        {
            "entrypoint": "python main.py",
            "cluster_id": "ray-1",
            "tags": {"team": "ml"},
            "runtime_env_json": {"pip": ["requests"]},
            "entrypoint_num_cpus": 1,
            "entrypoint_num_gpus": 0,
            "entrypoint_memory": "4Gi",
            "worker_spec": [{"group_name": "g", "cpu": 2}],
            "shutdown_after_job_finishes": False,
        },
        RayJobConfig,
    )
    assert wire == {
        "entrypoint": "python main.py",
        "clusterId": "ray-1",
        "tags": [{"key": "team", "value": "ml"}],
        "runtimeEnvJson": '{"pip":["requests"]}',
        "entrypointNumCpus": "1",
        "entrypointNumGpus": "0",
        "entrypointMemory": "4Gi",
        "workerSpec": [{"groupName": "g", "cpu": "2"}],
        "shutdownAfterJobFinishes": False,
    }
    assert _wire_error({"entrypointMemory": "4G"}, RayJobConfig).field == "entrypoint_memory"
    assert _wire_error({"ttlSecondsAfterFinished": -1}, RayJobConfig).field == "ttl_seconds_after_finished"
    assert _wire_error({"tags": [{"key": ""}]}, RayJobConfig).field == "tags[0].key"
    assert _wire_error({"tags": {"k": 1}}, RayJobConfig, field="job").field == "job.tags['k'].value"


def test_tags_to_wire_accepts_all_forms():
    expected = [{"key": "a", "value": "1"}, {"key": "b", "value": ""}]
    assert tags_to_wire({"a": "1", "b": ""}) == expected
    assert tags_to_wire([{"key": "a", "value": "1"}, {"key": "b", "value": ""}]) == expected
    assert tags_to_wire([Tag(key="a", value="1"), Tag(key="b", value="")]) == expected
    assert tags_to_wire(None) == []
    assert tags_to_wire({}) == []


@pytest.mark.parametrize(
    ("tags", "field", "words"),
    [
        ({"": "v"}, "tags[''].key", "non-empty"),
        ({"k" * (limits.MAX_TAG_KEY_LENGTH + 1): "v"}, "tags['" + "k" * 129 + "'].key", "128"),
        ({"k": "v" * (limits.MAX_TAG_VALUE_LENGTH + 1)}, "tags['k'].value", "128"),
        ([{"key": "k", "valu": "v"}], "tags[0].valu", "did you mean 'value'"),
        ({"k": 5}, "tags['k'].value", "string"),
        ([{"key": "k", "value": None}], "tags[0].value", "string"),
        ([{"value": "v"}], "tags[0].key", "key"),
        ([{"key": 1, "value": "v"}], "tags[0].key", "non-empty string"),
        ([{"key": "k", "value": "a"}, {"key": "k", "value": "b"}], "tags[1].key", "duplicate"),
        ([Tag(key=" ", value="v")], "tags[0].key", "non-empty"),
        (["k=v"], "tags[0]", "key, value"),
        ("k=v", "tags", "expected a dict"),
    ],
)
def test_tags_to_wire_rules(tags, field, words):
    with pytest.raises(EmrRayValidationError) as info:
        tags_to_wire(tags)
    assert info.value.field == field
    assert words in info.value.rule


def test_tags_limits_are_inclusive():
    key, value = "k" * limits.MAX_TAG_KEY_LENGTH, "v" * limits.MAX_TAG_VALUE_LENGTH
    assert tags_to_wire({key: value}) == [{"key": key, "value": value}]


def test_tags_to_dict():
    assert tags_to_dict([{"key": "a", "value": "1"}, Tag(key="b", value="2"), {"value": "x"}]) == {
        "a": "1",
        "b": "2",
    }
    assert tags_to_dict({"a": "1"}) == {"a": "1"}
    assert tags_to_dict(None) == {}
    assert tags_to_dict(tags_to_wire({"x": "y"})) == {"x": "y"}
    assert tags_to_dict is tag_rules.from_wire


def test_models_hold_no_second_copy_of_shared_rules():
    """States, limits, tag rules and URL redaction have one home each; models re-export them."""
    import airflow_provider_emr_ray.models as models

    assert models.ClusterState is states.ClusterState and models.RayJobStatus is states.RayJobStatus
    assert models.JobClusterState is states.JobClusterState
    assert models.CLUSTER_TERMINAL_STATES is states.CLUSTER_TERMINAL_STATES
    assert models.CLUSTER_FAILURE_STATES is states.CLUSTER_FAILURE_STATES
    assert models.RAY_JOB_TERMINAL_STATES is states.JOB_TERMINAL_STATUSES
    assert models.RAY_JOB_FAILURE_STATES is states.JOB_FAILURE_STATUSES
    assert models.MAX_WORKER_GROUPS is limits.MAX_WORKER_GROUPS
    assert models.mask_url_token is redaction.mask_url
    for gone in ("MAX_NAME_LENGTH", "MAX_TAG_KEY_LENGTH", "MAX_TAG_VALUE_LENGTH", "_SECRET_KEY_RE", "_URL_TOKEN_RE"):
        assert not hasattr(models, gone), gone
    # The bounds the models enforce are the ones limits.py states.
    assert RayClusterConfig(name="x" * limits.MAX_CLUSTER_NAME_LENGTH).name
    assert _wire_error({"name": "x" * (limits.MAX_CLUSTER_NAME_LENGTH + 1)}, RayClusterConfig).field == "name"
    assert RayJobConfig(name="x" * limits.MAX_JOB_NAME_LENGTH).name
    assert _wire_error({"name": "x" * (limits.MAX_JOB_NAME_LENGTH + 1)}, RayJobConfig).field == "name"


# ------------------------------------------------------------------------------------------
# Secrets
# ------------------------------------------------------------------------------------------

SUBMIT_TOKEN = "SUBMIT-tok-8f3a1c"
DASH_TOKEN = "DASH-tok-77e0b2"
REDIS_PW = "REDIS-pw-41d9aa"


def _secret_cluster() -> RayCluster:
    return RayCluster.model_validate(
        {
            "clusterId": "ray-1",
            "submitToken": SUBMIT_TOKEN,
            "dashboardUrl": f"https://gw.example.com/ws/w-1/raycluster/ray-1/dashboard?token={DASH_TOKEN}&x=1",
            "headSpec": {"cpu": "2", "gftEnabled": True, "gftConfig": {"redisUrl": "redis://r", "redisPassword": REDIS_PW}},
            "futureAccessToken": "FUTURE-tok-1",
        }
    )


def test_secrets_absent_from_repr_and_str_but_readable():
    cluster = _secret_cluster()
    for text in (repr(cluster), str(cluster), repr(cluster.head_spec), str(cluster.head_spec.gft_config)):
        for secret in (SUBMIT_TOKEN, DASH_TOKEN, REDIS_PW, "FUTURE-tok-1"):
            assert secret not in text
    assert "token=***&x=1" in repr(cluster)
    assert "ray-1" in repr(cluster)
    # Raw values stay easy to reach.
    assert cluster.submit_token == SUBMIT_TOKEN
    assert DASH_TOKEN in cluster.dashboard_url
    assert cluster.head_spec.gft_config.redis_password == REDIS_PW
    # The wire dump keeps everything.
    dumped = cluster.model_dump(by_alias=True, exclude_none=True)
    assert dumped["submitToken"] == SUBMIT_TOKEN
    assert dumped["headSpec"]["gftConfig"]["redisPassword"] == REDIS_PW


def test_secrets_absent_from_repr_of_request_specs_and_jobs():
    spec = HeadSpec(gft_config=GftConfig(redis_password=REDIS_PW))
    assert REDIS_PW not in repr(spec) and REDIS_PW not in str(spec)
    job = RayJob.model_validate(
        {"dashboardUrl": f"https://gw/x?token={DASH_TOKEN}", "dashboardUrlExtra": [f"https://gw/y?a=1&token={DASH_TOKEN}"]}
    )
    assert DASH_TOKEN not in repr(job) and DASH_TOKEN not in str(job)
    assert job.dashboard_url.endswith(DASH_TOKEN)


def test_public_dict_carries_no_secret():
    """Bug 2 of issue 11: ``public_dict()``/``to_xcom()`` kept the dashboard URL's token."""
    public = _secret_cluster().public_dict()
    text = json.dumps(public)
    for secret in (SUBMIT_TOKEN, DASH_TOKEN, REDIS_PW, "FUTURE-tok-1"):
        assert secret not in text
    assert "submitToken" not in public and "futureAccessToken" not in public
    assert public["headSpec"]["gftConfig"] == {"redisUrl": "redis://r"}
    assert public["dashboardUrl"] == "https://gw.example.com/ws/w-1/raycluster/ray-1/dashboard?x=1"
    assert public["clusterId"] == "ray-1"
    assert _secret_cluster().to_xcom() == public
    # The model itself still holds the working link (the hook's caller may need it).
    assert DASH_TOKEN in _secret_cluster().dashboard_url


def test_job_public_dict_carries_no_secret():
    job = RayJob.model_validate(
        {
            **load("get_ray_job"),
            "dashboardUrl": f"https://gw/ws/w-1/ray/rj-1/dashboard?token={DASH_TOKEN}",
            "dashboardUrlExtra": [f"https://gw/y?a=1&token={DASH_TOKEN}", "-"],
            "headSpec": {"cpu": "2", "gftConfig": {"redisUrl": "redis://r", "redisPassword": REDIS_PW}},
            "submitToken": SUBMIT_TOKEN,
            "newSessionSecret": "FUTURE-secret-2",
            "workerSpecs": [{"groupName": "g", "joinToken": "FUTURE-tok-3"}],
            "consoleLink": f"https://console.example.com/x?signature={DASH_TOKEN}",
        }
    )
    public = job.public_dict()
    text = json.dumps(public)  # XCom-serialisable
    for secret in (SUBMIT_TOKEN, DASH_TOKEN, REDIS_PW, "FUTURE-secret-2", "FUTURE-tok-3"):
        assert secret not in text
    assert public["dashboardUrl"] == "https://gw/ws/w-1/ray/rj-1/dashboard"
    assert public["dashboardUrlExtra"] == ["https://gw/y?a=1", "-"]
    assert public["consoleLink"] == "https://console.example.com/x"
    assert public["headSpec"]["gftConfig"] == {"redisUrl": "redis://r"}
    assert public["workerSpecs"] == [{"groupName": "g"}]
    assert public["submissionId"] == "rj-xxxxxxxxxx" and public["tags"] == [{"key": "workflowId", "value": "wf-123test"}]
    assert job.to_xcom() == public


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://h/p?token=abc", "https://h/p?token=***"),
        ("https://h/p?a=1&token=abc&b=2", "https://h/p?a=1&token=***&b=2"),
        ("https://h/p?TOKEN=abc#frag", "https://h/p?TOKEN=***#frag"),
        ("https://h/p?mytoken=abc", "https://h/p?mytoken=abc"),
        ("https://h/p", "https://h/p"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_url_token(url, masked):
    assert mask_url_token(url) == masked


def test_models_import_only_pydantic_and_stdlib():
    code = (
        "import sys; import airflow_provider_emr_ray.models; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('airflow', 'httpx', 'alibabacloud_credentials', 'pendulum')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_and_memory_helpers_name_the_given_field():
    assert cpu_to_wire(1, "entrypoint_num_cpus") == "1"
    assert cpu_to_wire("0.50") == "0.5"
    assert memory_to_wire(" 4Gi ", "entrypoint_memory") == "4Gi"
    assert memory_to_wire("512Mi") == "512Mi"
    for bad in (0, "x", None, -2):
        with pytest.raises(EmrRayValidationError) as info:
            cpu_to_wire(bad, "entrypoint_num_cpus")
        assert info.value.field == "entrypoint_num_cpus"
    for bad in ("4G", "4", 4, None, "04Gi", "1.Gi"):
        with pytest.raises(EmrRayValidationError) as info:
            memory_to_wire(bad, "entrypoint_memory")
        assert info.value.field == "entrypoint_memory" and "8Gi" in info.value.rule


def test_to_wire_list_accepts_a_single_spec():
    assert to_wire_list({"groupName": "g", "cpu": 2}, WorkerSpec) == [{"groupName": "g", "cpu": "2"}]
