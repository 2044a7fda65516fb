"""DAG runs against the served emulator: the full create -> submit -> sense -> delete flow."""

from __future__ import annotations

import pytest

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
    print(result.logs.keys())
