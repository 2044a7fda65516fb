"""Extra links of the EMR Serverless Ray operators and sensors.

In Airflow 3 a link is computed on the worker when the task finishes and stored in XCom
(``_link_<ClassName>``); it reads what the task pushed through ``XCom.get_value``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

# The EMR Serverless Spark console: the workspace list of a region. This form is certain: it is
# the link Alibaba Cloud's own documentation and agent skills give
# (https://emr-next.console.aliyun.com/#/region/cn-hangzhou/resource/all/serverless/spark/list).
# A deep link into one workspace's Ray page could not be confirmed from public material, so the
# link opens the region's workspace list; the workspace id is added as a hint in the fragment's
# query, which the console ignores if it does not use it.
CONSOLE_BASE = "https://emr-next.console.aliyun.com"
CONSOLE_WORKSPACES = CONSOLE_BASE + "/#/region/{region}/resource/all/serverless/spark/list"


def console_url(region_id: str | None, workspace_id: str | None = None) -> str:
    """The EMR Serverless Spark console page of a region (empty without a region)."""
    if not region_id:
        return ""
    url = CONSOLE_WORKSPACES.format(region=region_id)
    if workspace_id:
        url += f"?workspaceId={workspace_id}"
    return url


def _xcom_value(ti_key: TaskInstanceKey, key: str) -> Any:
    from airflow.providers.common.compat.sdk import XCom

    return XCom.get_value(ti_key=ti_key, key=key)


class RayDashboardLink(BaseOperatorLink):
    """The Ray dashboard of the cluster or job, read from the task's ``dashboardUrl`` XCom."""

    name = "Ray Dashboard"
    xcom_source_key = "dashboardUrl"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = _xcom_value(ti_key, self.xcom_source_key)
        return value if isinstance(value, str) and value.startswith(("http://", "https://")) else ""


class EmrServerlessConsoleLink(BaseOperatorLink):
    """The EMR Serverless Spark console of the task's region (see :data:`CONSOLE_WORKSPACES`)."""

    name = "EMR Serverless console"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        region = getattr(operator, "region_id", None)
        workspace = getattr(operator, "workspace_id", None)
        if not region or not workspace:
            # Taken from the connection: ask the hook (on the worker, where links are computed).
            try:
                settings = operator.hook.settings  # type: ignore[attr-defined]
            except Exception:
                settings = None
            region = region or getattr(settings, "region_id", None)
            workspace = workspace or getattr(settings, "workspace_id", None)
        return console_url(region, workspace)
