"""Cluster and job state machines, computed lazily from timestamps (driven by an injected clock)."""

from __future__ import annotations

import pytest

from airflow_provider_emr_ray.emulator import DEFAULT_WORKSPACE

DELAYS = dict(
    cluster_start_delay=30,
    cluster_stop_delay=10,
    cluster_delete_delay=5,
    job_submit_delay=2,
    job_pending_delay=20,
    job_run_duration=60,
    job_cancel_delay=3,
)


async def _cluster(call, cid):
    return await call("GetRayCluster", {"clusterId": cid})


async def _job(call, sid):
    return await call("GetRayJob", {"submissionId": sid})


async def test_cluster_lifecycle(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    cid = (await call("CreateRayCluster", body={"name": "c", "workerSpec": [{"replica": 2}]}))["clusterId"]
    c = await _cluster(call, cid)
    assert c["state"] == "Starting"
    assert {i["phase"] for i in c["instances"]} == {"Pending"} and len(c["instances"]) == 3
    clock.advance(29.9)
    assert (await _cluster(call, cid))["state"] == "Starting"
    clock.advance(0.2)
    c = await _cluster(call, cid)
    assert c["state"] == "Running" and c["startTime"] == c["createTime"] + 30_000
    assert {i["containerState"] for i in c["instances"]} == {"Running"}

    # Update of a Running cluster is reflected.
    clock.advance(5)
    await call("UpdateRayCluster", {"clusterId": cid}, body={"description": "new", "workerSpec": [{"replica": 4}]})
    c = await _cluster(call, cid)
    assert c["description"] == "new" and c["modified"] is True and c["modifiedTime"] == c["createTime"] + 35_100
    assert c["workerSpec"][0]["replica"] == 4 and c["state"] == "Running"

    await call("StopRayCluster", {"clusterId": cid})
    assert (await _cluster(call, cid))["state"] == "Stopping"
    clock.advance(10)
    c = await _cluster(call, cid)
    assert c["state"] == "Stopped" and c["instances"] == []

    await call("StartRayCluster", {"clusterId": cid})
    c = await _cluster(call, cid)
    assert c["state"] == "Starting" and c["modified"] is False
    clock.advance(30)
    c = await _cluster(call, cid)
    assert c["state"] == "Running" and len(c["instances"]) == 5

    await call("DeleteRayCluster", {"clusterId": cid})
    assert (await _cluster(call, cid))["state"] == "Stopping"
    clock.advance(5)
    resp = await call.raw("GetRayCluster", {"clusterId": cid})
    assert resp.status_code == 404 and resp.json()["code"] == "RayCluster.NotFound"
    assert (await call("ListRayCluster"))["rayClusters"] == []


async def test_zero_delay_is_immediate(make_app, connect):
    call = await connect(make_app())
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    assert (await _cluster(call, cid))["state"] == "Running"
    await call("StopRayCluster", {"clusterId": cid})
    assert (await _cluster(call, cid))["state"] == "Stopped"


async def test_start_while_stopping_is_rejected(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    await call("StopRayCluster", {"clusterId": cid})
    resp = await call.raw("StartRayCluster", {"clusterId": cid}, body={})
    assert resp.status_code == 400 and resp.json()["code"] == "IncorrectRayClusterStatus"


async def test_error_by_name_pattern(make_app, connect, clock):
    call = await connect(make_app(clock=clock, error_name_pattern=r"^boom", **DELAYS))
    cid = (await call("CreateRayCluster", body={"name": "boom-1"}))["clusterId"]
    clock.advance(30)
    c = await _cluster(call, cid)
    assert c["state"] == "Error" and "OOMKilled" in c["message"]
    assert c["instances"][0]["phase"] == "Failed" and c["instances"][0]["containerExitCode"] == 137
    # Error -> Stopped -> Start again (still failing by name)
    await call("StopRayCluster", {"clusterId": cid})
    clock.advance(10)
    assert (await _cluster(call, cid))["state"] == "Stopped"


async def test_error_by_fault_rule(make_app, connect):
    app = make_app()
    app.emulator.add_fault(kind="cluster_error", action="CreateRayCluster", times=1)
    call = await connect(app)
    bad = (await call("CreateRayCluster", body={"name": "a"}))["clusterId"]
    good = (await call("CreateRayCluster", body={"name": "b"}))["clusterId"]
    assert (await _cluster(call, bad))["state"] == "Error"
    assert (await _cluster(call, good))["state"] == "Running"


async def test_submit_needs_running_cluster(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    resp = await call.raw("SubmitRayJob", body={"entrypoint": "python x.py", "clusterId": cid})
    assert resp.status_code == 400 and resp.json()["code"] == "IncorrectRayClusterStatus"
    clock.advance(30)
    sid = (await call("SubmitRayJob", body={"entrypoint": "python x.py", "clusterId": cid}))["submissionId"]
    job = await _job(call, sid)
    assert job["status"] == "Submitted" and job["clusterState"] == "Running"


async def test_job_lifecycle_on_ephemeral_cluster_with_ttl(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    body = {"entrypoint": "python main.py", "name": "eph", "ttlSecondsAfterFinished": 60,
            "headSpec": {"cpu": "4"}, "workerSpec": [{"replica": 2, "cpu": "2"}]}
    sid = (await call("SubmitRayJob", body=body))["submissionId"]
    job = await _job(call, sid)
    assert (job["status"], job["clusterState"], job["startTime"], job["duration"]) == ("Submitted", "Submitted", 0, 0)
    clock.advance(2)
    job = await _job(call, sid)
    assert (job["status"], job["clusterState"]) == ("Pending", "Pending")
    clock.advance(20)
    job = await _job(call, sid)
    assert (job["status"], job["clusterState"]) == ("Running", "Running")
    assert job["startTime"] == job["submitTime"] + 22_000
    clock.advance(30)
    assert (await _job(call, sid))["duration"] == 30
    clock.advance(30)
    job = await _job(call, sid)
    assert (job["status"], job["clusterState"]) == ("Succeeded", "Running")
    assert job["endTime"] == job["startTime"] + 60_000 and job["duration"] == 60
    assert job["cuHours"] == pytest.approx((4 + 2 * 2) * 60 / 3600, abs=1e-3)
    clock.advance(59)
    assert (await _job(call, sid))["clusterState"] == "Running"
    clock.advance(1)
    assert (await _job(call, sid))["clusterState"] == "Deleted"
    listed = (await call("ListRayJob"))["rayJobs"][0]
    assert listed["status"] == "Succeeded" and listed["clusterState"] == "Deleted"


async def test_job_cluster_kept_without_shutdown(make_app, connect, clock):
    call = await connect(make_app(clock=clock))
    sid = (await call("SubmitRayJob", body={"entrypoint": "x", "shutdownAfterJobFinishes": False}))["submissionId"]
    clock.advance(3600)
    job = await _job(call, sid)
    assert job["status"] == "Succeeded" and job["clusterState"] == "Running"


async def test_failing_entrypoint_without_execution(make_app, connect, clock):
    call = await connect(make_app(clock=clock, fail_entrypoint_pattern=r"bad\.py"))
    sid = (await call("SubmitRayJob", body={"entrypoint": "python bad.py"}))["submissionId"]
    job = await _job(call, sid)
    assert job["status"] == "Failed" and "exit code 1" in job["message"]


async def test_cancel(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    sid = (await call("SubmitRayJob", body={"entrypoint": "python main.py"}))["submissionId"]
    clock.advance(25)
    assert (await _job(call, sid))["status"] == "Running"
    assert (await call("CancelRayJob", {"submissionId": sid}))["success"] is True
    assert (await _job(call, sid))["status"] == "Cancelling"
    clock.advance(3)
    job = await _job(call, sid)
    assert job["status"] == "Cancelled" and job["endTime"] > job["startTime"]
    assert (await call("CancelRayJob", {"submissionId": sid}))["success"] is False


async def test_cancel_before_start(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    sid = (await call("SubmitRayJob", body={"entrypoint": "python main.py"}))["submissionId"]
    await call("CancelRayJob", {"submissionId": sid})
    clock.advance(3)
    assert (await _job(call, sid))["status"] == "Cancelled"


async def test_active_deadline_timeout(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    sid = (await call("SubmitRayJob", body={"entrypoint": "x", "activeDeadlineSeconds": 40}))["submissionId"]
    clock.advance(39)
    assert (await _job(call, sid))["status"] == "Running"
    clock.advance(1)
    job = await _job(call, sid)
    assert job["status"] == "Timeout" and job["endTime"] == job["submitTime"] + 40_000
    assert "activeDeadlineSeconds" in job["message"]


async def test_deadline_longer_than_run_succeeds(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    sid = (await call("SubmitRayJob", body={"entrypoint": "x", "activeDeadlineSeconds": 3600}))["submissionId"]
    clock.advance(7200)
    assert (await _job(call, sid))["status"] == "Succeeded"


async def test_job_cluster_error_fault(make_app, connect, clock):
    app = make_app(clock=clock, **DELAYS)
    app.emulator.add_fault(kind="cluster_error", action="SubmitRayJob", times=1)
    call = await connect(app)
    sid = (await call("SubmitRayJob", body={"entrypoint": "x"}))["submissionId"]
    clock.advance(22)
    job = await _job(call, sid)
    assert job["status"] == "Failed" and job["clusterState"] == "Deleted" and "cluster" in job["message"]


async def test_job_on_stopped_cluster_fails(make_app, connect, clock):
    call = await connect(make_app(clock=clock, **DELAYS))
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    clock.advance(30)
    sid = (await call("SubmitRayJob", body={"entrypoint": "x", "clusterId": cid}))["submissionId"]
    await call("StopRayCluster", {"clusterId": cid})
    clock.advance(22)
    job = await _job(call, sid)
    assert job["status"] == "Failed" and job["clusterState"] == "Deleted"


async def test_thousands_of_records_cost_nothing_while_idle(make_app, connect, clock):
    app = make_app(clock=clock, **DELAYS)
    store = app.emulator.store
    for i in range(2000):
        store.create_cluster(DEFAULT_WORKSPACE, {"name": f"c{i}"})
        store.submit_job(DEFAULT_WORKSPACE, {"entrypoint": "x"})
    clock.advance(3600)  # no loop ran meanwhile; reads settle everything
    call = await connect(app)
    page = await call("ListRayJob", query={"pageSize": 100})
    assert page["totalCount"] == 2000 and {j["status"] for j in page["rayJobs"]} == {"Succeeded"}
    assert {c["state"] for c in (await call("ListRayCluster", query={"pageSize": 100}))["rayClusters"]} == {"Running"}
