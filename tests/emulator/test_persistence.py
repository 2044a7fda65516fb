"""State survives a restart when a state file is given."""

from __future__ import annotations

import json

import pytest

from airflow_provider_emr_ray.emulator import FakeClock


async def test_restart_with_state_file(make_app, connect, tmp_path):
    state = tmp_path / "state" / "emulator.json"
    clock = FakeClock()
    delays = dict(cluster_start_delay=10, job_submit_delay=1, job_pending_delay=1, job_run_duration=100)
    app = make_app(state_file=str(state), clock=clock, **delays)
    call = await connect(app)
    cid = (await call("CreateRayCluster", body={"name": "persisted", "workerSpec": [{"replica": 2}]}))["clusterId"]
    await call("UpdateRayCluster", {"clusterId": cid}, body={"description": "kept"})
    sid = (await call("SubmitRayJob", body={"entrypoint": "python x.py", "name": "pj", "tags": [{"key": "a", "value": "b"}]}))["submissionId"]
    before = await call("GetRayCluster", {"clusterId": cid})
    app.emulator.close()

    data = json.loads(state.read_text())
    assert cid in data["clusters"] and sid in data["jobs"]
    assert not list(state.parent.glob(".emr-ray-state-*"))  # the temp file was replaced, not left over

    clock.advance(200)
    app2 = make_app(state_file=str(state), clock=clock, **delays)
    call2 = await connect(app2)
    after = await call2("GetRayCluster", {"clusterId": cid})
    assert after["state"] == "Running" and after["description"] == "kept"
    assert after["submitToken"] == before["submitToken"] and after["instances"] == [
        dict(i, phase="Running", containerState="Running", containerStateReason="", createTime=after["startTime"],
             startTime=after["startTime"], message="ok")
        for i in before["instances"]
    ]
    job = await call2("GetRayJob", {"submissionId": sid})
    assert job["status"] == "Succeeded" and job["tags"] == [{"key": "a", "value": "b"}]
    await call2("DeleteRayCluster", {"clusterId": cid})

    app3 = make_app(state_file=str(state), clock=clock, **delays)
    call3 = await connect(app3)
    assert (await call3.raw("GetRayCluster", {"clusterId": cid})).status_code == 404
    assert (await call3("ListRayJob"))["totalCount"] == 1


@pytest.mark.integration
async def test_running_process_job_fails_after_restart(make_app, connect, tmp_path):
    state = tmp_path / "s.json"
    app = make_app(state_file=str(state), execute_jobs=True)
    call = await connect(app)
    sid = (await call("SubmitRayJob", body={"entrypoint": "sleep 30"}))["submissionId"]
    assert (await call("GetRayJob", {"submissionId": sid}))["status"] == "Running"
    app.emulator.close()  # kills the process group
    call2 = await connect(make_app(state_file=str(state), execute_jobs=True))
    job = await call2("GetRayJob", {"submissionId": sid})
    assert job["status"] == "Failed" and "restarted" in job["message"]
