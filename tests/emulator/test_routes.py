"""Every route in-process (httpx.ASGITransport): shapes, validation, not-found, pagination, filters."""

from __future__ import annotations

import json

import pytest

from airflow_provider_emr_ray import limits
from airflow_provider_emr_ray.client.actions import ACTIONS
from airflow_provider_emr_ray.emulator import (
    DEFAULT_REGION,
    DEFAULT_WORKSPACE,
    EmulatorConfig,
    FakeClock,
    create_app,
    handlers,
)

CLUSTER_FIELDS = {
    "clusterId", "name", "description", "displayReleaseVersion", "networkServiceName", "state", "message",
    "creator", "creatorName", "modifier", "modifierName", "userId", "instanceId", "createTime", "startTime",
    "modifiedTime", "modified", "extraParam", "volumeIds", "dashboardUrl", "jobUrl", "jobUrlInner",
    "grpcEndpoint", "submitToken", "headSpec", "workerSpec", "instances",
}
JOB_FIELDS = {
    "submissionId", "name", "status", "message", "entrypoint", "tags", "displayReleaseVersion", "submitTime",
    "startTime", "endTime", "duration", "networkServiceName", "runtimeEnvJson", "workingDir", "submissionMode",
    "metadataJson", "entrypointNumCpus", "entrypointNumGpus", "entrypointMemory", "entrypointResources",
    "shutdownAfterJobFinishes", "ttlSecondsAfterFinished", "activeDeadlineSeconds", "volumeIds", "backoffLimit",
    "headSpec", "workerSpecs", "extraParam", "creatorName", "dashboardUrl", "logBucketName", "logPath", "cuHours",
    "guHours", "dashboardUrlExtra", "clusterState", "taskBizId",
}
LIST_JOB_FIELDS = {
    "submissionId", "name", "status", "clusterState", "creatorName", "cuHours", "dashboardUrl", "duration",
    "startTime", "endTime", "submitTime", "resourceQueue",
}

CLUSTER_BODY = {
    "name": "dev cluster",
    "description": "Ray Cluster for dev.",
    "networkServiceName": "vpc",
    "headSpec": {"queueName": "root_queue", "cpu": "2", "memory": "8Gi", "gftConfig": {"redisPassword": "pw"}},
    "workerSpec": [
        {"groupName": "G1", "workerType": "CPU", "replica": 2, "cpu": "4", "memory": "16Gi", "minReplica": 1, "maxReplica": 4},
        {"groupName": "G2", "workerType": "GPU", "replica": 1, "gpuSpec": "ecs.gn6i-c4g1.xlarge"},
    ],
    "volumeIds": ["vol-123"],
    "extraParam": "{}",
}


async def test_all_thirteen_routes_and_shapes(make_app, connect):
    app = make_app()
    call = await connect(app)
    seen = set()

    created = await call("CreateRayCluster", body=CLUSTER_BODY)
    seen.add("CreateRayCluster")
    cid = created["clusterId"]
    assert set(created) == {"requestId", "clusterId"}

    got = await call("GetRayCluster", {"clusterId": cid})
    seen.add("GetRayCluster")
    assert CLUSTER_FIELDS <= set(got)
    assert got["state"] == "Running" and got["headSpec"]["gftConfig"]["redisPassword"] == "pw"
    assert [i["type"] for i in got["instances"]] == ["Head", "Worker", "Worker", "Worker"]
    assert all(i["phase"] == "Running" and i["containerState"] == "Running" for i in got["instances"])
    assert "?token=" in got["dashboardUrl"] and got["grpcEndpoint"].startswith("ray://")
    # The emulator's own Ray Jobs API gateway, at the address the caller used (one for both).
    assert got["jobUrl"] == got["jobUrlInner"] == "http://emulator.local/ray-gateway"
    assert len(got["submitToken"]) == 32 and got["userId"] and got["creator"] and got["instanceId"].startswith(cid)
    assert isinstance(got["createTime"], int) and got["createTime"] > 1_600_000_000_000

    listed = await call("ListRayCluster", query={"pageNum": 1, "pageSize": 10})
    seen.add("ListRayCluster")
    assert [c["clusterId"] for c in listed["rayClusters"]] == [cid]
    assert "submitToken" not in listed["rayClusters"][0] and "instances" not in listed["rayClusters"][0]

    updated = await call("UpdateRayCluster", {"clusterId": cid}, body={**CLUSTER_BODY, "description": "changed"})
    seen.add("UpdateRayCluster")
    assert updated["clusterId"] == cid
    assert set(await call("StopRayCluster", {"clusterId": cid}, body={"instanceId": got["instanceId"]})) == {"requestId"}
    seen.add("StopRayCluster")
    await call("StartRayCluster", {"clusterId": cid}, body={"clientToken": "t"})
    seen.add("StartRayCluster")

    sub = await call("SubmitRayJob", body={"entrypoint": "python main.py", "clusterId": cid, "name": "j"})
    seen.add("SubmitRayJob")
    sid = sub["submissionId"]
    job = await call("GetRayJob", {"submissionId": sid})
    seen.add("GetRayJob")
    assert JOB_FIELDS <= set(job) and job["status"] == "Succeeded"
    jobs = await call("ListRayJob", query={"pageSize": 5})
    seen.add("ListRayJob")
    assert set(jobs["rayJobs"][0]) == LIST_JOB_FIELDS and jobs["totalCount"] == 1
    cancel = await call("CancelRayJob", {"submissionId": sid})
    seen.add("CancelRayJob")
    assert cancel["success"] is False  # already finished

    got = await call("GetRayCluster", {"clusterId": cid})  # a restart creates new pods
    logs = await call("ListRayLogs", {"instanceId": got["instances"][0]["instanceId"]})
    seen.add("ListRayLogs")
    assert {o["name"] for o in logs["data"]["objectList"]} == {"gcs_server.out", "raylet.out"}
    link = await call("GetRayLog", {"instanceId": got["instances"][0]["instanceId"]}, query={"path": "raylet.out"})
    seen.add("GetRayLog")
    assert "/__emulator__/logs/" in link["data"]["accessUrl"]

    await call("DeleteRayCluster", {"clusterId": cid})
    seen.add("DeleteRayCluster")
    assert seen == set(ACTIONS)
    assert app.emulator.stats.calls.keys() >= set(ACTIONS)


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("GetRayCluster", {"clusterId": "ray-doesnotexist"}, "RayCluster.NotFound"),
        ("UpdateRayCluster", {"clusterId": "ray-doesnotexist"}, "RayCluster.NotFound"),
        ("StartRayCluster", {"clusterId": "ray-doesnotexist"}, "RayCluster.NotFound"),
        ("StopRayCluster", {"clusterId": "ray-doesnotexist"}, "RayCluster.NotFound"),
        ("DeleteRayCluster", {"clusterId": "ray-doesnotexist"}, "RayCluster.NotFound"),
        ("GetRayJob", {"submissionId": "rj-doesnotexist"}, "RayJob.NotFound"),
        ("CancelRayJob", {"submissionId": "rj-doesnotexist"}, "RayJob.NotFound"),
        ("ListRayLogs", {"instanceId": "rj-doesnotexist"}, "RayInstance.NotFound"),
    ],
)
async def test_unknown_ids_are_not_found(make_app, connect, action, params, code):
    call = await connect(make_app())
    resp = await call.raw(action, params, body={} if ACTIONS[action].method == "POST" else None)
    assert resp.status_code == 404
    body = resp.json()
    assert body["code"] == code and body["requestId"] and body["message"]
    assert resp.headers["x-acs-request-id"] == body["requestId"]


async def test_unknown_workspace_and_route(make_app, connect):
    app = make_app()
    call = await connect(app)
    resp = await call.raw("ListRayCluster", workspace="w-other")
    assert resp.status_code == 404 and resp.json()["code"] == "Workspace.NotFound"
    resp = await call.client.get("http://emulator.local/api/v1/nothing")
    assert resp.status_code == 404 and resp.json()["code"] == "InvalidAction.NotFound"


async def test_extra_workspaces_are_isolated(make_app, connect):
    call = await connect(make_app(extra_workspaces=("w-second",)))
    await call("CreateRayCluster", body={"name": "a"}, workspace="w-second")
    assert (await call("ListRayCluster"))["rayClusters"] == []
    assert len((await call("ListRayCluster", workspace="w-second"))["rayClusters"]) == 1


def test_dispatch_table_matches_the_actions_one_to_one():
    assert set(handlers.HANDLERS) == set(ACTIONS)
    assert len(set(handlers.HANDLERS.values())) == len(ACTIONS)  # no handler serves two actions


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda table: table.pop("GetRayLog"), "actions without a handler: GetRayLog"),
        (lambda table: table.update(GetRayTeapot=table["GetRayJob"]), "handlers without an action: GetRayTeapot"),
    ],
)
def test_a_dispatch_mismatch_fails_at_app_creation(monkeypatch, tmp_path, change, named):
    table = dict(handlers.HANDLERS)
    change(table)
    monkeypatch.setattr(handlers, "HANDLERS", table)
    data = tmp_path / "data"
    with pytest.raises(RuntimeError, match=named):
        create_app(EmulatorConfig(data_dir=str(data)))
    assert not data.exists()  # raised before anything was set up


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * (limits.MAX_CLUSTER_NAME_LENGTH + 1)},
        {"name": "ok", "workerSpec": [{"replica": 0}]},
        {"name": "ok", "workerSpec": [{"replica": 2, "minReplica": 5, "maxReplica": 3}]},
        {"name": "ok", "workerSpec": [{"replica": 1}] * (limits.MAX_WORKER_GROUPS + 1)},
        {"name": "ok", "extraParam": "{not json"},
    ],
)
async def test_create_validation(make_app, connect, body):
    call = await connect(make_app())
    resp = await call.raw("CreateRayCluster", body=body)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"


async def test_create_accepts_the_longest_name_and_most_groups(make_app, connect):
    call = await connect(make_app())
    body = {"name": "x" * limits.MAX_CLUSTER_NAME_LENGTH, "workerSpec": [{"replica": 1}] * limits.MAX_WORKER_GROUPS}
    cid = (await call("CreateRayCluster", body=body))["clusterId"]
    assert len((await call("GetRayCluster", {"clusterId": cid}))["workerSpec"]) == limits.MAX_WORKER_GROUPS


@pytest.mark.parametrize("page_size", [0, limits.MAX_PAGE_SIZE + 1, "abc", -1])
async def test_bad_page_size(make_app, connect, page_size):
    call = await connect(make_app())
    for action in ("ListRayCluster", "ListRayJob"):
        resp = await call.raw(action, query={"pageSize": page_size})
        assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"


async def test_submit_validation(make_app, connect):
    call = await connect(make_app())
    for body in ({}, {"entrypoint": ""}, {"entrypoint": "x", "runtimeEnvJson": "{bad"}, {"entrypoint": "x", "tags": "t"}):
        resp = await call.raw("SubmitRayJob", body=body)
        assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter", body
    resp = await call.raw("SubmitRayJob", body={"entrypoint": "x", "clusterId": "ray-nope"})
    assert resp.status_code == 404 and resp.json()["code"] == "RayCluster.NotFound"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n" * (limits.MAX_JOB_NAME_LENGTH + 1)}, "name"),
        ({"tags": [{"key": "k" * (limits.MAX_TAG_KEY_LENGTH + 1), "value": "v"}]}, "tags[0].key"),
        ({"tags": [{"key": "ok", "value": "v"}, {"key": "k", "value": "v" * (limits.MAX_TAG_VALUE_LENGTH + 1)}]},
         "tags[1].value"),
    ],
)
async def test_submit_bounds_are_enforced(make_app, connect, body, field):
    call = await connect(make_app())
    resp = await call.raw("SubmitRayJob", body={"entrypoint": "x", **body})
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"
    assert resp.json()["message"].startswith(field)
    assert (await call("ListRayJob"))["totalCount"] == 0


async def test_submit_accepts_the_longest_name_and_tags(make_app, connect):
    call = await connect(make_app())
    tags = [{"key": "k" * limits.MAX_TAG_KEY_LENGTH, "value": "v" * limits.MAX_TAG_VALUE_LENGTH}]
    name = "n" * limits.MAX_JOB_NAME_LENGTH
    sid = (await call("SubmitRayJob", body={"entrypoint": "x", "name": name, "tags": tags}))["submissionId"]
    job = await call("GetRayJob", {"submissionId": sid})
    assert job["name"] == name and job["tags"] == tags


async def test_cluster_pagination_newest_first(make_app, connect, clock):
    call = await connect(make_app(clock=clock))
    ids = []
    for i in range(45):
        ids.append((await call("CreateRayCluster", body={"name": f"c{i:02d}"}))["clusterId"])
        clock.advance(1)
    first = await call("ListRayCluster")
    assert first["totalCount"] == 45 and len(first["rayClusters"]) == 20
    assert [c["clusterId"] for c in first["rayClusters"]] == ids[::-1][:20]
    third = await call("ListRayCluster", query={"pageNum": 3, "pageSize": 20})
    assert [c["clusterId"] for c in third["rayClusters"]] == ids[::-1][40:]
    assert (await call("ListRayCluster", query={"pageNum": 4}))["rayClusters"] == []
    assert len((await call("ListRayCluster", query={"pageSize": 100}))["rayClusters"]) == 45
    named = await call("ListRayCluster", query={"name": "c1"})
    assert {c["name"] for c in named["rayClusters"]} == {f"c1{i}" for i in range(10)}


async def test_job_list_filters_and_pagination(make_app, connect):
    clock = FakeClock(1_750_000_000.0)
    call = await connect(make_app(clock=clock))
    t0 = clock.now
    sids = []
    for i in range(30):
        body = {"entrypoint": "python main.py", "name": f"{'etl' if i % 2 else 'train'} job {i}"}
        if i == 7:
            body["metadataJson"] = json.dumps({"taskBizId": "TSK-fixed"})
        sids.append((await call("SubmitRayJob", body=body))["submissionId"])
        clock.advance(10)

    everything = await call("ListRayJob")
    assert everything["totalCount"] == 30 and len(everything["rayJobs"]) == 20
    assert [j["submissionId"] for j in everything["rayJobs"]] == sids[::-1][:20]
    page2 = await call("ListRayJob", query={"pageNum": 2})
    assert [j["submissionId"] for j in page2["rayJobs"]] == sids[::-1][20:]

    etl = await call("ListRayJob", query={"name": "etl job", "pageSize": 100})
    assert etl["totalCount"] == 15 and all("etl" in j["name"] for j in etl["rayJobs"])
    one = await call("ListRayJob", query={"submissionId": sids[3]})
    assert [j["submissionId"] for j in one["rayJobs"]] == [sids[3]]
    biz = await call("ListRayJob", query={"taskBizId": "TSK-fixed"})
    assert [j["submissionId"] for j in biz["rayJobs"]] == [sids[7]]
    window = {"startTime": int(t0 * 1000) + 100_000, "endTime": int(t0 * 1000) + 140_000}
    ranged = await call("ListRayJob", query={"submitTime": window})
    assert [j["submissionId"] for j in ranged["rayJobs"]] == sids[10:15][::-1]
    bad = await call.raw("ListRayJob", query={"submitTime": "not json"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter"


async def test_job_fields_round_trip(make_app, connect):
    call = await connect(make_app())
    body = {
        "entrypoint": "python main.py --x 1",
        "name": "full job",
        "tags": [{"key": "workflowId", "value": "wf-1"}],
        "runtimeEnvJson": json.dumps({"env_vars": {"K": "V"}}),
        "metadataJson": json.dumps({"owner": "alice"}),
        "workingDir": "oss://bucket/code.zip",
        "entrypointNumCpus": "1",
        "entrypointNumGpus": "0",
        "entrypointMemory": "4Gi",
        "entrypointResources": json.dumps({"fpu": 1}),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 60,
        "activeDeadlineSeconds": 3600,
        "headSpec": {"cpu": "4", "memory": "16Gi"},
        "workerSpec": [{"groupName": "W", "replica": 3, "cpu": "2"}],
        "volumeIds": ["vol-1"],
        "extraParam": "{}",
        "submissionMode": "HTTPMode",
    }
    sid = (await call("SubmitRayJob", body=body))["submissionId"]
    job = await call("GetRayJob", {"submissionId": sid})
    for key in ("entrypoint", "name", "tags", "runtimeEnvJson", "metadataJson", "workingDir", "entrypointNumCpus",
                "entrypointNumGpus", "entrypointMemory", "entrypointResources", "ttlSecondsAfterFinished",
                "activeDeadlineSeconds", "volumeIds", "submissionMode"):
        assert job[key] == body[key], key
    assert job["headSpec"]["cpu"] == "4" and job["workerSpecs"][0]["replica"] == 3 and "workerSpec" not in job
    assert job["logBucketName"] == f"ss-ray-{DEFAULT_REGION}" and job["logPath"] == f"{DEFAULT_WORKSPACE}/ray/logs/{sid}/"
    assert job["taskBizId"].startswith("TSK-") and "?token=" in job["dashboardUrl"]
    assert isinstance(job["cuHours"], float) and isinstance(job["duration"], int)


async def test_log_listing_paging_and_errors(make_app, connect):
    call = await connect(make_app())
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    head = (await call("GetRayCluster", {"clusterId": cid}))["instances"][0]["instanceId"]
    page = (await call("ListRayLogs", {"instanceId": head}, query={"maxKeys": 1}))["data"]
    assert page["isTruncated"] is True and len(page["objectList"]) == 1 and page["nextMarker"]
    rest = (await call("ListRayLogs", {"instanceId": head}, query={"marker": page["nextMarker"]}))["data"]
    assert rest["isTruncated"] is False and len(rest["objectList"]) == 1
    only = (await call("ListRayLogs", {"instanceId": head}, query={"prefix": "gcs"}))["data"]["objectList"]
    assert [o["name"] for o in only] == ["gcs_server.out"]
    resp = await call.raw("GetRayLog", {"instanceId": head}, query={"path": "nope.log"})
    assert resp.status_code == 404 and resp.json()["code"] == "RayLog.NotFound"
    resp = await call.raw("GetRayLog", {"instanceId": head})
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"
    url = (await call("GetRayLog", {"instanceId": head}, query={"path": "raylet.out"}))["data"]["accessUrl"]
    text = (await call.client.get(url)).text
    assert "raylet started" in text
