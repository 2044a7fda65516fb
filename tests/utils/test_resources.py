"""``cluster_info`` / ``job_info`` read a response model's attributes (triggers call them on every
poll): the same fields as the model's wire dict, never a secret; the XCom pushes and the event shape."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest

from airflow_provider_emr_ray.models import RayCluster, RayJob
from airflow_provider_emr_ray.utils.resources import (
    CLUSTER,
    CLUSTER_XCOM_KEYS,
    JOB,
    JOB_SENSOR_XCOM_KEYS,
    cluster_info,
    job_info,
    push_cluster_xcoms,
    push_job_xcoms,
    read_event,
    wait_event,
)
from tests.operators.fakes import FakeTI, ctx

DATA = Path(__file__).resolve().parent.parent / "data"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _variants(base: dict) -> list[dict]:
    unknown = dict(base)
    unknown.update({"state": "Frozen-wf", "status": "Suspended-wf", "clusterState": "Asleep-wf"})
    bad = dict(base)
    bad.update({"duration": "long", "startTime": "yesterday", "tags": [{"key": "k", "value": None}]})
    return [base, unknown, bad, {}, {"clusterId": "c-1", "submissionId": "rj-1"}]


def _model(cls, data: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.model_validate(data)


def _read(cls, fixture: str, variant: int, info_of) -> tuple[dict, dict, dict]:
    """(fixture data, what ``info_of`` read from its model, the model's full wire dict)."""
    data = _variants(_load(fixture))[variant]
    model = _model(cls, data)
    return data, info_of(model), model.model_dump(by_alias=True, mode="json")


@pytest.mark.parametrize("variant", range(5))
def test_cluster_info_reads_the_wire_fields(variant: int) -> None:
    data, info, wire = _read(RayCluster, "get_ray_cluster.json", variant, cluster_info)
    assert set(info) == {*CLUSTER_XCOM_KEYS, "state", "message", "name"}
    for key in info:
        expected = wire.get(key)
        assert info[key] == (expected.split("?")[0] if key == "dashboardUrl" and expected else expected), key
        assert info[key] is None or type(info[key]) in (str, int, float), key
    assert "submitToken" not in json.dumps(info) and "token=" not in json.dumps(info)
    if variant == 0:
        assert info["clusterId"] == data["clusterId"] and info["state"] == data["state"]


@pytest.mark.parametrize("variant", range(5))
def test_job_info_reads_the_wire_fields(variant: int) -> None:
    data, info, wire = _read(RayJob, "get_ray_job.json", variant, job_info)
    for key in set(info) - {"tags", "dashboardUrl"}:
        assert info[key] == wire.get(key), key
    assert info["tags"] == {t["key"]: t["value"] or "" for t in wire.get("tags") or []}
    if variant == 0:
        assert info["tags"] == {"workflowId": "wf-123test"}
        assert info["status"] == "Running" and type(info["status"]) is str
        assert info["cuHours"] == data["cuHours"] and info["submitTime"] == data["submitTime"]
        assert info["dashboardUrl"] and "token" not in info["dashboardUrl"]


def test_event_round_trip() -> None:
    event = wait_event(JOB, "rj-1", "failure", state="Failed", message="exit 1", elapsed=1.23456, resource={"status": "Failed"})
    assert event == {
        "outcome": "failure",
        "state": "Failed",
        "message": "exit 1",
        "elapsed": 1.235,
        "submission_id": "rj-1",
        "job": {"status": "Failed"},
    }
    assert read_event(JOB, event) == ("failure", "Failed", "exit 1", {"status": "Failed"})
    assert read_event(CLUSTER, {"outcome": "error"}) == ("error", None, None, {})


def test_pushes_never_store_a_dashboard_token(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test-pushes")
    caplog.set_level(logging.INFO)
    ti = FakeTI()
    push_cluster_xcoms(ctx(ti), "c-1", {"jobUrl": "j", "dashboardUrl": "https://d/?token=SECRET1&x=1"}, log)
    # The unknown values (jobUrlInner, grpcEndpoint) are not pushed: Airflow 3.0 refuses None.
    assert set(ti.xcoms) == {"clusterId", "jobUrl", "dashboardUrl"} and ti.xcoms["clusterId"] == "c-1"
    assert ti.xcoms["dashboardUrl"] == "https://d/?x=1"
    ti = FakeTI()
    push_job_xcoms(ctx(ti), "rj-1", {"status": "Succeeded", "dashboardUrl": "https://d/?token=SECRET2"}, log, keys=JOB_SENSOR_XCOM_KEYS)
    assert ti.xcoms == {"status": "Succeeded", "tags": {}, "dashboardUrl": "https://d/"}
    ti = FakeTI()
    push_job_xcoms(ctx(ti), "rj-1", {"tags": {}, "dashboardUrl": None}, log, keys=("dashboardUrl", "tags"), only_present=True)
    assert ti.xcoms == {}
    assert "SECRET" not in caplog.text
