"""The connection arguments of every operator, sensor and trigger, and the hook built from them.

:class:`ConnectionMixin` holds ``emr_ray_conn_id``, ``region_id`` and ``workspace_id``, builds the
hook on first use (never at DAG parse) and gives the same three arguments to the triggers it
defers to. :class:`ConnectionOperator` is the ``BaseOperator`` that takes them as keyword
arguments: the base of the operators and the sensors (its ``__init__`` names them, so Airflow's
``default_args`` and ``partial()`` know them).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_emr_ray import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

#: The connection arguments an operator or sensor templates.
CONNECTION_TEMPLATE_FIELDS = ("region_id", "workspace_id")


class ConnectionMixin:
    """The connection arguments, the lazy hook and the arguments passed on to a trigger.

    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API
        (default ``emr_ray_default``).
    :param region_id: Region id (e.g. ``cn-hangzhou``); overrides the connection's. Templated
        in operators and sensors.
    :param workspace_id: Workspace id (``w-...``); overrides the connection's. Templated in
        operators and sensors.
    """

    emr_ray_conn_id: str = DEFAULT_CONN_ID
    region_id: str | None = None
    workspace_id: str | None = None

    def _set_connection(self, emr_ray_conn_id: str, region_id: str | None, workspace_id: str | None) -> None:
        from airflow_provider_emr_ray.checks import region_id as check_region
        from airflow_provider_emr_ray.checks import resource_id
        from airflow_provider_emr_ray.utils.validation import checkable

        # A literal is checked at parse; a template once rendered (by the hook, before any call).
        if region_id and checkable(region_id, rendered=False):
            check_region("region_id", region_id)
        if workspace_id and checkable(workspace_id, rendered=False):
            resource_id("workspace_id", workspace_id)
        self.emr_ray_conn_id = emr_ray_conn_id
        self.region_id = region_id
        self.workspace_id = workspace_id

    @cached_property
    def hook(self) -> EmrRayHook:
        """The hook, built on first use (never at DAG parse)."""
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        return EmrRayHook(**self.connection_kwargs())

    def connection_kwargs(self) -> dict[str, Any]:
        """The connection arguments, as the hook and the triggers take (and serialise) them."""
        return {"emr_ray_conn_id": self.emr_ray_conn_id, "region_id": self.region_id, "workspace_id": self.workspace_id}


class ConnectionOperator(ConnectionMixin, BaseOperator):
    """A ``BaseOperator`` taking the arguments of :class:`ConnectionMixin`."""

    def __init__(
        self,
        *,
        emr_ray_conn_id: str = DEFAULT_CONN_ID,
        region_id: str | None = None,
        workspace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_connection(emr_ray_conn_id, region_id, workspace_id)
