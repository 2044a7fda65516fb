"""``cluster_info`` / ``job_info`` read a response model's attributes (triggers call them on every
poll) and must give exactly what the model's ``public_dict()`` gives."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from airflow_provider_emr_ray._waiting import _wire_fields, cluster_info, job_info
from airflow_provider_emr_ray.models import RayCluster, RayJob

DATA = Path(__file__).parent / "data"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _variants(base: dict) -> list[dict]:
    unknown = dict(base)
    unknown.update({"state": "Frozen-wf", "status": "Suspended-wf", "clusterState": "Asleep-wf"})
    bad = dict(base)
    bad.update({"duration": "long", "startTime": "yesterday", "tags": [{"key": "k", "value": None}]})
    return [base, unknown, bad, {}, {"clusterId": "c-1", "submissionId": "rj-1"}]


@pytest.mark.parametrize("variant", range(5))
def test_cluster_info_from_model_equals_from_public_dict(variant: int) -> None:
    data = _variants(_load("get_ray_cluster.json"))[variant]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = RayCluster.model_validate(data)
    assert cluster_info(cluster) == cluster_info(cluster.public_dict())
    if variant == 0:
        assert cluster_info(cluster)["clusterId"] == data["clusterId"]
        assert "token=" not in (cluster_info(cluster)["dashboardUrl"] or "")


@pytest.mark.parametrize("variant", range(5))
def test_job_info_from_model_equals_from_public_dict(variant: int) -> None:
    data = _variants(_load("get_ray_job.json"))[variant]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = RayJob.model_validate(data)
    assert job_info(job) == job_info(job.public_dict())
    if variant == 0:
        info = job_info(job)
        assert info["tags"] == {"workflowId": "wf-123test"}
        assert info["status"] == "Running" and type(info["status"]) is str
        assert info["cuHours"] == data["cuHours"] and info["submitTime"] == data["submitTime"]


def test_wire_fields_reads_unmodelled_fields_from_the_extras() -> None:
    job = RayJob.model_validate({"submissionId": "rj-1", "futureField": {"a": 1}})
    assert _wire_fields(job, ["submissionId", "futureField", "absent"]) == {
        "submissionId": "rj-1",
        "futureField": {"a": 1},
        "absent": None,
    }
