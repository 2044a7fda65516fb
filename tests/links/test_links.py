"""Unit tests of the extra links (XCom read through ``XCom.get_value``)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink, console_url
from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator, EmrRayJobSubmitOperator


@pytest.fixture
def xcoms(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from airflow.sdk.execution_time.xcom import XCom

    values: dict[str, Any] = {}
    monkeypatch.setattr(XCom, "get_value", classmethod(lambda cls, *, ti_key, key: values.get(key)))
    return values


def test_dashboard_link_reads_the_xcom(xcoms: dict[str, Any]) -> None:
    op = EmrRayJobSubmitOperator(task_id="j", entrypoint="e")
    assert RayDashboardLink().get_link(op, ti_key=object()) == ""
    xcoms["dashboardUrl"] = "https://gw/dashboard"
    assert RayDashboardLink().get_link(op, ti_key=object()) == "https://gw/dashboard"
    xcoms["dashboardUrl"] = "javascript:alert(1)"
    assert RayDashboardLink().get_link(op, ti_key=object()) == ""


def test_console_link_from_operator_arguments() -> None:
    op = EmrRayClusterCreateOperator(task_id="c", name="x", region_id="cn-shanghai", workspace_id="w-1")
    link = EmrServerlessConsoleLink().get_link(op, ti_key=object())
    assert link == "https://emr-next.console.aliyun.com/#/region/cn-shanghai/resource/all/serverless/spark/list?workspaceId=w-1"


def test_console_link_from_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_emr_ray.emulator.config import conn_json

    monkeypatch.setenv("AIRFLOW_CONN_EMR_RAY_LINKS", conn_json(None, region_id="cn-beijing", workspace_id="w-9"))
    op = EmrRayClusterCreateOperator(task_id="c", name="x", emr_ray_conn_id="emr_ray_links")
    assert "region/cn-beijing/" in EmrServerlessConsoleLink().get_link(op, ti_key=object())
    assert console_url(None) == ""


def test_operators_declare_links() -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterDeleteOperator, EmrRayClusterStopOperator
    from airflow_provider_emr_ray.sensors.emr_ray import RayJobSensor

    both = {"Ray Dashboard", "EMR Serverless console"}
    for op in (
        EmrRayJobSubmitOperator(task_id="j", entrypoint="e"),
        EmrRayClusterCreateOperator(task_id="c", name="x"),
        RayJobSensor(task_id="s", submission_id="rj-1"),
    ):
        assert {link.name for link in op.operator_extra_links} == both
    for op in (EmrRayClusterStopOperator(task_id="s", cluster_id="c"), EmrRayClusterDeleteOperator(task_id="d", cluster_id="c")):
        assert {link.name for link in op.operator_extra_links} == {"EMR Serverless console"}
