"""DAG runs against the served emulator: the full create -> submit -> sense -> delete flow."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_WORKSPACE

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["deferrable", "polling"])
def test_create_submit_sense_delete(run_dag, emulator, mode: str) -> None:
    result = run_dag(f"emr_ray_e2e_{mode}")
    assert result.states == {t: "success" for t in ("create", "submit", "wait", "follow_up", "delete")}, result.logs
    cluster_id = result.xcom("create")
    assert result.xcom("create", "clusterId") == cluster_id
    for key in ("jobUrl", "jobUrlInner", "grpcEndpoint", "dashboardUrl"):
        assert result.xcom("create", key), key
    sid = result.xcom("submit")
    assert result.xcom("submit", "submissionId") == sid
    tags = result.xcom("submit", "tags")
    assert tags["team"] == "ml" and tags["airflow_task_id"] == "submit" and tags["workflowId"].startswith("af-")
    assert result.xcom("wait", "status") == "Succeeded"
    assert result.xcom("wait", "tags") == tags
    assert result.xcom("wait", "duration") is not None
    assert result.xcom("wait", "cuHours") is not None
    # links computed on the worker at the end of each task
    assert result.xcom("create", "_link_RayDashboardLink") == result.xcom("create", "dashboardUrl")
    assert result.xcom("submit", "_link_EmrServerlessConsoleLink").startswith(
        "https://emr-next.console.aliyun.com/#/region/cn-hangzhou/"
    )
    assert result.xcom("follow_up", "_link_RayDashboardLink").startswith("https://")
    # the follow-up job read the sensor's tags XCom through a template
    follow_up = result.xcom("follow_up")
    assert follow_up and follow_up != sid
    store = emulator.emulator.store
    driver_log = store.log_dir(TEST_WORKSPACE, follow_up) / f"job-driver-{follow_up}.log"
    assert driver_log.read_text().strip() == f"workflow={tags['workflowId']}"
    first_log = store.log_dir(TEST_WORKSPACE, sid) / f"job-driver-{sid}.log"
    assert first_log.read_text().split() == ["hello-from-ray", "hi-submit"]  # runtime_env env_vars applied
    printed = result.logs["__printed__"]
    assert printed.count("Ray cluster " + cluster_id + " changed") <= 3  # one line per change, not per poll
