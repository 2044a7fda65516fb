"""Operators for Ray on Alibaba Cloud EMR Serverless Spark.

Module-level imports are limited to ``airflow.sdk`` and the standard library (and the
stdlib-only helpers of this package): DAG files import this module at every parse. The hook,
the models, the triggers and httpx are imported inside the methods that use them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException, AirflowTaskTimeout

from airflow_provider_emr_ray._waiting import (
    CLUSTER_STATES,
    CLUSTER_XCOM_KEYS,
    DEFAULT_MAX_TRANSIENT_ERRORS,
    JOB_STATUSES,
    JOB_TERMINAL,
    StateLog,
    airflow_tags,
    cluster_info,
    deadline_from,
    default_job_name,
    earliest,
    execution_deadline,
    format_elapsed,
    is_templated,
    job_info,
    mask_url,
    tags_as_dict,
    wait_until,
)
from airflow_provider_emr_ray.links.emr_ray import EmrServerlessConsoleLink, RayDashboardLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

JOB_FAILURE_STATES = ("Failed", "Cancelled", "Timeout")
LOG_TAIL_LINES = 50
_IF_EXISTS = ("reuse", "fail", "create")
_LIVE_CLUSTER_STATES = ("Starting", "Running", "Stopping", "Stopped")


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


# --------------------------------------------------------------------------------------------
# Validation (models are imported only when something needs validating)
# --------------------------------------------------------------------------------------------


def _validation_error(field: str, rule: str) -> Exception:
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    return EmrRayValidationError(field, rule)


def validate_spec(field: str, value: Any, model_name: str, *, many: bool = False) -> None:
    """Validate a head/worker spec (dict or model) with the models' ``to_wire``.

    Raises :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming the
    operator argument and the field inside it (``worker_spec[1].max_replica: ...``).
    """
    if value is None:
        return
    from airflow_provider_emr_ray import models

    model_cls = getattr(models, model_name)
    if many:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise _validation_error(field, "must be a list of specs")
        models.to_wire_list(value, model_cls, field=field)
    else:
        models.to_wire(value, model_cls, field=field)


def validate_job_fields(**fields: Any) -> None:
    """Validate job-level fields (resources, tags, deadlines) with ``RayJobConfig``."""
    present = {k: v for k, v in fields.items() if v is not None}
    if not present:
        return
    from airflow_provider_emr_ray import models

    models.to_wire(present, models.RayJobConfig, field="")


def _json_arg(field: str, value: Any) -> str | None:
    """A dict (or JSON string) argument as the JSON string the API wants."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise _validation_error(field, f"is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _validation_error(field, "must be a JSON object")
        return value
    if isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False)
    raise _validation_error(field, f"must be a dict or a JSON string, not {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Bases
# --------------------------------------------------------------------------------------------


class EmrRayBaseOperator(BaseOperator):
    """Base of the EMR Serverless Ray operators: connection arguments and the lazy hook.

    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id (e.g. ``cn-hangzhou``); overrides the connection's.
    :param workspace_id: Workspace id (``w-...``); overrides the connection's.
    """

    template_fields: Sequence[str] = ("region_id", "workspace_id")
    operator_extra_links = (EmrServerlessConsoleLink(),)
    ui_color = "#ff6a00"

    def __init__(
        self,
        *,
        emr_ray_conn_id: str = "emr_ray_default",
        region_id: str | None = None,
        workspace_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.emr_ray_conn_id = emr_ray_conn_id
        self.region_id = region_id
        self.workspace_id = workspace_id

    @cached_property
    def hook(self) -> EmrRayHook:
        """The hook, built on first use (never at DAG parse)."""
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        return EmrRayHook(
            emr_ray_conn_id=self.emr_ray_conn_id, region_id=self.region_id, workspace_id=self.workspace_id
        )

    def _validate(self, *, rendered: bool) -> None:
        """Validate arguments: at ``__init__`` (``rendered=False``) the cheap checks of literal
        ones (required, types, JSON); after rendering (``rendered=True``, before any API call)
        all of them, the request models' rules included. The models are pydantic classes, not
        loaded at DAG parse time: building them would cost every parse about 25 ms."""

    #: Seconds to let the service list a resource whose creation outcome is unknown, before
    #: concluding that the request did not take effect.
    reconcile_settle_seconds: float = 5.0
    #: Sends at most of one create/submit, each further one only after lookups found nothing.
    resend_limit: int = 5

    def _send_once(self, send: Callable[[], str], lookup: Callable[[], str | None], what: str) -> str:
        """Send a create/submit call so that it takes effect exactly once.

        When the call's outcome is unknown (the request may have reached the service), look the
        resource up; if it is not listed, look again after :attr:`reconcile_settle_seconds`; if it
        is still not listed the request did not take effect, so it is sent again. A last
        unknown outcome (up to :attr:`resend_limit` sends) with nothing listed fails the try (its retry looks again first).
        """
        from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError

        for attempt in range(1, self.resend_limit + 1):
            try:
                return send()
            except EmrRayOutcomeUnknownError as exc:
                self.log.warning("%s: outcome unknown (%s); looking it up", what, exc)
                for look in (1, 2):
                    found = lookup()
                    if found is not None:
                        self.log.info("%s took effect after all: %s", what, found)
                        return found
                    if look == 1:
                        time.sleep(self.reconcile_settle_seconds)
                if attempt == self.resend_limit:
                    raise AirflowException(
                        f"{what} may or may not have taken effect and nothing is listed; a retry of this "
                        "task looks again before sending it"
                    ) from exc
                self.log.warning("%s is not listed: it did not take effect, sending it again", what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, rendered: bool, value: Any) -> bool:
        """Whether ``value`` should be validated now."""
        return value is not None and (rendered or not is_templated(value))

    def _conn_kwargs(self) -> dict[str, Any]:
        return {
            "emr_ray_conn_id": self.emr_ray_conn_id,
            "region_id": self.region_id,
            "workspace_id": self.workspace_id,
        }


class _WaitingMixin:
    """Shared arguments and helpers of the operators that wait for a state."""

    wait_for_completion: bool
    deferrable: bool
    poll_interval: float
    max_wait: float | None
    max_transient_errors: int

    def _init_waiting(
        self,
        wait_for_completion: bool,
        deferrable: bool,
        poll_interval: float | timedelta,
        max_wait: float | timedelta | None,
        max_transient_errors: int,
    ) -> None:
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = _seconds(poll_interval) or 0.0
        self.max_wait = _seconds(max_wait)
        self.max_transient_errors = max_transient_errors
        if self.poll_interval <= 0:
            raise _validation_error("poll_interval", "must be > 0")
        if self.max_wait is not None and self.max_wait <= 0:
            raise _validation_error("max_wait", "must be > 0")

    def _deadlines(self, context: Context) -> tuple[float | None, bool]:
        """The wait's deadline and whether it is the task's ``execution_timeout``."""
        by_max_wait = deadline_from(self.max_wait)
        by_exec = execution_deadline(context, getattr(self, "execution_timeout", None))
        deadline = earliest(by_max_wait, by_exec)
        return deadline, deadline is not None and deadline == by_exec

    def _defer_timeout(self, deadline: float | None) -> timedelta | None:
        """Airflow's own trigger timeout: a backstop after the trigger's deadline."""
        if deadline is None:
            return None
        margin = max(60.0, 3 * self.poll_interval)
        return timedelta(seconds=max(1.0, deadline - time.time()) + margin)


# --------------------------------------------------------------------------------------------
# Clusters
# --------------------------------------------------------------------------------------------


class _ClusterSpecMixin:
    """Arguments shared by create and update."""

    spec_fields = (
        "name",
        "head_spec",
        "worker_spec",
        "display_release_version",
        "description",
        "network_service_name",
        "volume_ids",
        "extra_param",
    )

    def _validate_cluster_spec(self, rendered: bool, *, name_required: bool) -> None:
        """Validate every spec argument that is not (or no longer) a template: types at parse
        time; once rendered, with the same model the hook uses for the request body (name
        length, specs, volume ids, extra_param)."""
        check = self._check  # type: ignore[attr-defined]
        name = self.name  # type: ignore[attr-defined]
        if name_required and (name is None or (isinstance(name, str) and not name.strip())):
            raise _validation_error("name", "is required")
        if check(rendered, self.worker_spec) and (  # type: ignore[attr-defined]
            isinstance(self.worker_spec, (str, bytes, Mapping)) or not isinstance(self.worker_spec, Sequence)  # type: ignore[attr-defined]
        ):
            raise _validation_error("worker_spec", "must be a list of specs")
        volume_ids = self.volume_ids  # type: ignore[attr-defined]
        if check(rendered, volume_ids) and (
            isinstance(volume_ids, (str, bytes)) or not isinstance(volume_ids, Sequence)
        ):
            raise _validation_error("volume_ids", "must be a list of volume ids")
        fields = {k: v for k, v in self._spec_kwargs().items() if check(rendered, v)}
        if fields and rendered:
            from airflow_provider_emr_ray import models

            models.to_wire(fields, models.RayClusterConfig, field="")

    def _spec_kwargs(self) -> dict[str, Any]:
        return {
            "name": self.name,  # type: ignore[attr-defined]
            "head_spec": self.head_spec,  # type: ignore[attr-defined]
            "worker_spec": self.worker_spec,  # type: ignore[attr-defined]
            "display_release_version": self.display_release_version,  # type: ignore[attr-defined]
            "description": self.description,  # type: ignore[attr-defined]
            "network_service_name": self.network_service_name,  # type: ignore[attr-defined]
            "volume_ids": self.volume_ids,  # type: ignore[attr-defined]
            "extra_param": self.extra_param,  # type: ignore[attr-defined]
        }


class _ClusterWaitingOperator(_WaitingMixin, EmrRayBaseOperator):
    """An operator that may wait for a cluster state (in the worker or deferred)."""

    target_states: tuple[str, ...] = ("Running",)
    failure_states: tuple[str, ...] = ("Error",)
    verb = "reach"

    def _wait_cluster(self, context: Context, cluster_id: str) -> Any:
        deadline, _ = self._deadlines(context)
        started = time.time()
        if self.deferrable:
            from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger

            self.defer(
                trigger=EmrRayClusterStateTrigger(
                    cluster_id=cluster_id,
                    target_states=self.target_states,
                    failure_states=self.failure_states,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    max_transient_errors=self.max_transient_errors,
                    started_at=started,
                    **self._conn_kwargs(),
                ),
                method_name="execute_complete",
                kwargs={"cluster_id": cluster_id},
                timeout=self._defer_timeout(deadline),
            )
        result = wait_until(
            fetch=lambda: cluster_info(self.hook.get_ray_cluster(cluster_id)),
            state_key="state",
            targets=self.target_states,
            failures=self.failure_states,
            poll_interval=self.poll_interval,
            deadline=deadline,
            state_log=StateLog(self.log, f"Ray cluster {cluster_id}", started_at=started, known=CLUSTER_STATES),
            max_transient_errors=self.max_transient_errors,
        )
        return self._finish(context, cluster_id, result.outcome, result.state, result.resource, None)

    def execute_complete(self, context: Context, event: dict[str, Any], cluster_id: str | None = None) -> Any:
        """Resume after the trigger fired: no further API call is needed."""
        cluster_id = cluster_id or event.get("cluster_id")
        return self._finish(
            context,
            cluster_id,
            event["status"],
            event.get("state"),
            event.get("cluster") or {},
            event.get("message"),
        )

    def _finish(
        self,
        context: Context,
        cluster_id: str,
        outcome: str,
        state: str | None,
        cluster: dict[str, Any],
        message: str | None,
    ) -> Any:
        if outcome == "success":
            self.log.info("Ray cluster %s is %s", cluster_id, state)
            return self._on_success(context, cluster_id, cluster)
        message = message or cluster.get("message")
        self._on_failure(context, cluster_id, outcome, state, cluster)
        if outcome == "failure":
            raise AirflowException(
                f"Ray cluster {cluster_id} is {state} instead of {'/'.join(self.target_states)}"
                + (f": {message}" if message else "")
            )
        if outcome == "timeout":
            raise AirflowException(
                f"Ray cluster {cluster_id} did not {self.verb} {'/'.join(self.target_states)} in time "
                f"(last state {state})"
            )
        raise AirflowException(f"Waiting for Ray cluster {cluster_id} failed: {message}")

    def _on_success(self, context: Context, cluster_id: str, cluster: dict[str, Any]) -> Any:
        return cluster_id

    def _on_failure(
        self, context: Context, cluster_id: str, outcome: str, state: str | None, cluster: dict[str, Any]
    ) -> None:
        return None


def push_cluster_xcoms(context: Context, cluster_id: str, cluster: Mapping[str, Any], log: Any) -> None:
    """Push ``clusterId``, ``jobUrl``, ``jobUrlInner``, ``grpcEndpoint``, ``dashboardUrl``
    (never the submit token) and log the endpoints with the dashboard token masked."""
    ti = context["ti"]
    for key in CLUSTER_XCOM_KEYS:
        value = cluster_id if key == "clusterId" else cluster.get(key)
        ti.xcom_push(key=key, value=value)
    log.info(
        "Ray cluster %s endpoints: jobUrl=%s jobUrlInner=%s grpcEndpoint=%s dashboardUrl=%s",
        cluster_id,
        cluster.get("jobUrl"),
        cluster.get("jobUrlInner"),
        cluster.get("grpcEndpoint"),
        mask_url(cluster.get("dashboardUrl")),
    )


class EmrRayClusterCreateOperator(_ClusterSpecMixin, _ClusterWaitingOperator):
    """Create a Ray cluster (or reuse the one of the same name) and wait until it is Running.

    Returns the cluster id and pushes the XCom keys ``clusterId``, ``jobUrl``, ``jobUrlInner``,
    ``grpcEndpoint`` and ``dashboardUrl`` (without the dashboard's ``token``: no secret goes
    to XCom; open the dashboard from the console or read the full URL with the hook).

    A task retry or a re-run does not create a second cluster: with ``if_exists="reuse"`` a
    live cluster of the same name in the workspace is reused (started if Stopped). When the
    create call's outcome is unknown (timeout after sending), the operator looks the cluster up
    by name before anything else.

    :param name: Cluster name (unique per workspace for ``if_exists`` to work). Templated.
    :param head_spec: Head node spec (dict or ``HeadSpec``). Templated.
    :param worker_spec: Worker groups (list of dicts or ``WorkerSpec``). Templated.
    :param display_release_version: Engine release version. Templated.
    :param description: Description. Templated.
    :param network_service_name: Network connection name. Templated.
    :param volume_ids: Volumes to mount. Templated.
    :param extra_param: Extra parameter string. Templated.
    :param if_exists: ``"reuse"`` (default) reuses a live cluster of the same name,
        ``"fail"`` raises when one exists, ``"create"`` always creates.
    :param delete_on_error: Delete a cluster this task created or reused when it ends in Error
        or does not become Running within ``max_wait``.
    :param wait_for_completion: Wait until the cluster is Running (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between two polls (default 30).
    :param max_wait: Maximum seconds (or timedelta) to wait for Running (None: no limit but
        ``execution_timeout``).
    :param max_transient_errors: Transient API errors tolerated in a row while waiting.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = (
        "region_id",
        "workspace_id",
        *_ClusterSpecMixin.spec_fields,
    )
    template_fields_renderers = {"head_spec": "json", "worker_spec": "json", "extra_param": "json"}
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        name: str,
        head_spec: Any = None,
        worker_spec: Any = None,
        display_release_version: str | None = None,
        description: str | None = None,
        network_service_name: str | None = None,
        volume_ids: list[str] | None = None,
        extra_param: str | None = None,
        if_exists: str = "reuse",
        delete_on_error: bool = False,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float | timedelta = 30.0,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.head_spec = head_spec
        self.worker_spec = worker_spec
        self.display_release_version = display_release_version
        self.description = description
        self.network_service_name = network_service_name
        self.volume_ids = volume_ids
        self.extra_param = extra_param
        if if_exists not in _IF_EXISTS:
            raise _validation_error("if_exists", f"must be one of {', '.join(_IF_EXISTS)}")
        self.if_exists = if_exists
        self.delete_on_error = delete_on_error
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)
        self._validate(rendered=False)

    def _validate(self, *, rendered: bool) -> None:
        self._validate_cluster_spec(rendered, name_required=True)

    # ---- steps -------------------------------------------------------------------------------

    def _find_by_name(self) -> dict[str, Any] | None:
        """The most recent live cluster named :attr:`name` in the workspace, if any."""
        matches = []
        for cluster in self.hook.list_ray_clusters():
            info = _plain(cluster)
            if info.get("name") == self.name and info.get("state") in _LIVE_CLUSTER_STATES:
                matches.append(info)
        if not matches:
            return None
        if len(matches) > 1:
            self.log.warning(
                "%d live Ray clusters are named %r: using the most recent (%s)",
                len(matches),
                self.name,
                ", ".join(str(m.get("clusterId")) for m in matches),
            )
        return max(matches, key=lambda m: m.get("createTime") or 0)

    def _create(self) -> str:
        def lookup() -> str | None:
            found = self._find_by_name()
            return found["clusterId"] if found else None

        cluster_id = self._send_once(
            lambda: self.hook.create_ray_cluster(**self._spec_kwargs()), lookup, f"CreateRayCluster {self.name!r}"
        )
        self.log.info("Ray cluster %s (%s) created", cluster_id, self.name)
        return cluster_id

    def _reuse(self, found: dict[str, Any]) -> str | None:
        """Reuse ``found`` (start it if Stopped). None when it vanished (it was being deleted)."""
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

        cluster_id = found["clusterId"]
        state = found.get("state")
        self.log.info("Reusing Ray cluster %s named %r (state %s)", cluster_id, self.name, state)
        try:
            if state == "Stopping":
                result = wait_until(
                    fetch=lambda: cluster_info(self.hook.get_ray_cluster(cluster_id)),
                    state_key="state",
                    targets=("Stopped", "Running"),
                    failures=("Error",),
                    poll_interval=self.poll_interval,
                    deadline=deadline_from(self.max_wait),
                    state_log=StateLog(self.log, f"Ray cluster {cluster_id}", known=CLUSTER_STATES),
                    max_transient_errors=self.max_transient_errors,
                )
                state = result.state
                if result.outcome != "success":
                    self.log.warning("Ray cluster %s ended %s while stopping: not reusing it", cluster_id, state)
                    return None
            if state == "Stopped":
                self.log.info("Starting stopped Ray cluster %s", cluster_id)
                self.hook.start_ray_cluster(cluster_id)
        except EmrRayNotFoundError:
            self.log.info("Ray cluster %s was deleted meanwhile: creating a new one", cluster_id)
            return None
        return cluster_id

    def execute(self, context: Context) -> str:
        self._validate(rendered=True)
        found = self._find_by_name() if self.if_exists in ("reuse", "fail") else None
        if found is not None and self.if_exists == "fail":
            raise AirflowException(
                f"A Ray cluster named {self.name!r} already exists: {found.get('clusterId')} "
                f"({found.get('state')}) and if_exists='fail'"
            )
        cluster_id = self._reuse(found) if found is not None else None
        if cluster_id is None:
            cluster_id = self._create()
        context["ti"].xcom_push(key="clusterId", value=cluster_id)
        if not self.wait_for_completion:
            return cluster_id
        return self._wait_cluster(context, cluster_id)

    def _on_success(self, context: Context, cluster_id: str, cluster: dict[str, Any]) -> str:
        push_cluster_xcoms(context, cluster_id, cluster, self.log)
        return cluster_id

    def _on_failure(
        self, context: Context, cluster_id: str, outcome: str, state: str | None, cluster: dict[str, Any]
    ) -> None:
        if not self.delete_on_error or outcome not in ("failure", "timeout"):
            return
        self.log.warning("delete_on_error: deleting Ray cluster %s (%s, state %s)", cluster_id, outcome, state)
        _delete_cluster(self.hook, cluster_id, self.log)


def _plain(value: Any) -> dict[str, Any]:
    from airflow_provider_emr_ray._waiting import to_plain

    return dict(value) if isinstance(value, Mapping) else to_plain(value)


def _delete_cluster(hook: Any, cluster_id: str, log: Any) -> bool:
    from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

    try:
        hook.delete_ray_cluster(cluster_id)
    except EmrRayNotFoundError:
        log.info("Ray cluster %s is already gone: nothing to delete", cluster_id)
        return False
    log.info("Deleted Ray cluster %s", cluster_id)
    return True


class EmrRayClusterUpdateOperator(_ClusterSpecMixin, _ClusterWaitingOperator):
    """Update a Ray cluster's spec and wait until it is Running again.

    :param cluster_id: The cluster to update. Templated.
    :param name: Cluster name. Templated.
    :param head_spec: Head node spec (dict or ``HeadSpec``). Templated.
    :param worker_spec: Worker groups (list of dicts or ``WorkerSpec``). Templated.
    :param display_release_version: Engine release version. Templated.
    :param description: Description. Templated.
    :param network_service_name: Network connection name. Templated.
    :param volume_ids: Volumes to mount. Templated.
    :param extra_param: Extra parameter string. Templated.
    :param wait_for_completion: Wait until the cluster is Running again (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between two polls.
    :param max_wait: Maximum seconds (or timedelta) to wait.
    :param max_transient_errors: Transient API errors tolerated in a row while waiting.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "region_id", "workspace_id", *_ClusterSpecMixin.spec_fields)
    template_fields_renderers = {"head_spec": "json", "worker_spec": "json", "extra_param": "json"}
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())
    verb = "return to"

    def __init__(
        self,
        *,
        cluster_id: str,
        name: str | None = None,
        head_spec: Any = None,
        worker_spec: Any = None,
        display_release_version: str | None = None,
        description: str | None = None,
        network_service_name: str | None = None,
        volume_ids: list[str] | None = None,
        extra_param: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float | timedelta = 30.0,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.name = name
        self.head_spec = head_spec
        self.worker_spec = worker_spec
        self.display_release_version = display_release_version
        self.description = description
        self.network_service_name = network_service_name
        self.volume_ids = volume_ids
        self.extra_param = extra_param
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)
        self._validate(rendered=False)

    def _validate(self, *, rendered: bool) -> None:
        if not self.cluster_id:
            raise _validation_error("cluster_id", "is required")
        self._validate_cluster_spec(rendered, name_required=False)

    def execute(self, context: Context) -> str:
        from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError

        self._validate(rendered=True)
        try:
            self.hook.update_ray_cluster(self.cluster_id, **self._spec_kwargs())
        except EmrRayOutcomeUnknownError as exc:
            # An update applied twice yields the same spec: checking that the cluster exists
            # and waiting for Running is the reconciliation.
            self.log.warning("UpdateRayCluster outcome unknown (%s): waiting on the cluster's state", exc)
        self.log.info("Updated Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)

    def _on_success(self, context: Context, cluster_id: str, cluster: dict[str, Any]) -> str:
        push_cluster_xcoms(context, cluster_id, cluster, self.log)
        return cluster_id


class EmrRayClusterStartOperator(_ClusterWaitingOperator):
    """Start a stopped Ray cluster and wait until it is Running.

    :param cluster_id: The cluster to start. Templated.
    :param client_token: Idempotence token; by default one derived from the task instance and
        cluster, so a retried start is the same request.
    :param wait_for_completion: Wait until Running (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between two polls.
    :param max_wait: Maximum seconds (or timedelta) to wait.
    :param max_transient_errors: Transient API errors tolerated in a row while waiting.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "client_token", "region_id", "workspace_id")
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        cluster_id: str,
        client_token: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float | timedelta = 30.0,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.client_token = client_token
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)

    def execute(self, context: Context) -> str:
        ti = context["ti"]
        token = self.client_token or str(
            uuid.uuid5(
                uuid.NAMESPACE_URL,
                f"emr-ray-start/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}/{self.cluster_id}",
            )
        )
        self.hook.start_ray_cluster(self.cluster_id, client_token=token)
        self.log.info("Started Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)

    def _on_success(self, context: Context, cluster_id: str, cluster: dict[str, Any]) -> str:
        push_cluster_xcoms(context, cluster_id, cluster, self.log)
        return cluster_id


class EmrRayClusterStopOperator(_ClusterWaitingOperator):
    """Stop a Ray cluster and wait until it is Stopped.

    :param cluster_id: The cluster to stop. Templated.
    :param instance_id: The cluster instance to stop (optional). Templated.
    :param wait_for_completion: Wait until Stopped (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between two polls.
    :param max_wait: Maximum seconds (or timedelta) to wait.
    :param max_transient_errors: Transient API errors tolerated in a row while waiting.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "instance_id", "region_id", "workspace_id")
    target_states = ("Stopped",)
    failure_states = ("Error",)

    def __init__(
        self,
        *,
        cluster_id: str,
        instance_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float | timedelta = 30.0,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.instance_id = instance_id
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)

    def execute(self, context: Context) -> str:
        self.hook.stop_ray_cluster(self.cluster_id, instance_id=self.instance_id)
        self.log.info("Stopping Ray cluster %s", self.cluster_id)
        if not self.wait_for_completion:
            return self.cluster_id
        return self._wait_cluster(context, self.cluster_id)


class EmrRayClusterDeleteOperator(EmrRayBaseOperator):
    """Delete a Ray cluster. Deleting a cluster that is already gone succeeds (with a log line).

    :param cluster_id: The cluster to delete. Templated.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = ("cluster_id", "region_id", "workspace_id")

    def __init__(self, *, cluster_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id

    def execute(self, context: Context) -> None:
        _delete_cluster(self.hook, self.cluster_id, self.log)


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


class EmrRayJobSubmitOperator(_WaitingMixin, EmrRayBaseOperator):
    """Submit a Ray job (to a cluster, or with its own job-scoped cluster) and wait for it.

    Returns the submission id and pushes the XCom keys ``submissionId``, ``tags`` (key→value,
    e.g. ``workflowId``) and ``dashboardUrl`` (without its ``token``).

    Unless ``add_airflow_tags=False`` the job is tagged with ``airflow_dag_id``,
    ``airflow_run_id``, ``airflow_task_id`` (``airflow_map_index`` for mapped tasks) and
    ``workflowId`` (a stable id of the DAG run unless you give one); long values are cut and
    end with a hash. On a task retry the operator reattaches to the live job that a previous
    try submitted (found by its name and Airflow tags) instead of submitting a second one; the
    same lookup reconciles a submit whose outcome is unknown.

    Killing the task (``on_kill``), or its ``execution_timeout`` / ``max_wait`` running out,
    cancels the job when ``cancel_on_kill`` is set — also while deferred: the trigger enforces
    the deadline itself, and Airflow ≥ 3.3 calls the trigger's ``on_kill`` when a user kills a
    deferred task (older 3.x triggerers do not: there a killed deferred task leaves the job
    running).

    When the job fails, the last lines of its driver log go into the task log, and the error
    names the job's status and message.

    :param entrypoint: The command the job runs (e.g. ``python main.py``). Templated.
    :param cluster_id: Run on this existing cluster (e.g. ``create.output``). Templated.
    :param name: Job name; default ``airflow-<dag_id>-<task_id>`` (deterministic, used to find
        the job again on a retry). Templated.
    :param head_spec: Head spec of a job-scoped cluster (without ``cluster_id``). Templated.
    :param worker_spec: Worker groups of a job-scoped cluster. Templated.
    :param display_release_version: Engine release version. Templated.
    :param network_service_name: Network connection name. Templated.
    :param runtime_env: Ray runtime env (dict or JSON string; sent as ``runtimeEnvJson``). Templated.
    :param working_dir: Working directory (e.g. an OSS path). Templated.
    :param metadata: Job metadata (dict or JSON string; sent as ``metadataJson``). Templated.
    :param submission_mode: Submission mode. Templated.
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint. Templated.
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint. Templated.
    :param entrypoint_memory: Memory reserved for the entrypoint. Templated.
    :param entrypoint_resources: Custom resources of the entrypoint. Templated.
    :param shutdown_after_job_finishes: Shut the job-scoped cluster down after the job.
    :param ttl_seconds_after_finished: Keep the job-scoped cluster this long after the job.
    :param active_deadline_seconds: The service stops the job after this many seconds.
    :param volume_ids: Volumes to mount. Templated.
    :param extra_param: Extra parameter string. Templated.
    :param tags: Job tags (dict, or list of ``{"key", "value"}``). Templated.
    :param add_airflow_tags: Add the tags naming the Airflow run (default True); without them a
        retry cannot reattach (it submits a new job).
    :param cancel_on_kill: Cancel the job when the task is killed or times out (default True).
    :param log_tail_lines: Lines of the driver log copied to the task log when the job fails.
    :param wait_for_completion: Wait for a terminal status (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between two polls (default 30).
    :param max_wait: Maximum seconds (or timedelta) to wait; the job is then cancelled (with
        ``cancel_on_kill``) and the task fails.
    :param max_transient_errors: Transient API errors tolerated in a row while waiting.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = (
        "entrypoint",
        "cluster_id",
        "name",
        "head_spec",
        "worker_spec",
        "display_release_version",
        "network_service_name",
        "runtime_env",
        "working_dir",
        "metadata",
        "submission_mode",
        "entrypoint_num_cpus",
        "entrypoint_num_gpus",
        "entrypoint_memory",
        "entrypoint_resources",
        "volume_ids",
        "extra_param",
        "tags",
        "region_id",
        "workspace_id",
    )
    template_fields_renderers = {
        "runtime_env": "json",
        "metadata": "json",
        "head_spec": "json",
        "worker_spec": "json",
        "tags": "json",
        "entrypoint": "bash",
    }
    operator_extra_links = (RayDashboardLink(), EmrServerlessConsoleLink())

    def __init__(
        self,
        *,
        entrypoint: str,
        cluster_id: str | None = None,
        name: str | None = None,
        head_spec: Any = None,
        worker_spec: Any = None,
        display_release_version: str | None = None,
        network_service_name: str | None = None,
        runtime_env: dict[str, Any] | str | None = None,
        working_dir: str | None = None,
        metadata: dict[str, Any] | str | None = None,
        submission_mode: str | None = None,
        entrypoint_num_cpus: Any = None,
        entrypoint_num_gpus: Any = None,
        entrypoint_memory: Any = None,
        entrypoint_resources: Any = None,
        shutdown_after_job_finishes: bool | None = None,
        ttl_seconds_after_finished: int | None = None,
        active_deadline_seconds: int | None = None,
        volume_ids: list[str] | None = None,
        extra_param: str | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        add_airflow_tags: bool = True,
        cancel_on_kill: bool = True,
        log_tail_lines: int = LOG_TAIL_LINES,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float | timedelta = 30.0,
        max_wait: float | timedelta | None = None,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.entrypoint = entrypoint
        self.cluster_id = cluster_id
        self.name = name
        self.head_spec = head_spec
        self.worker_spec = worker_spec
        self.display_release_version = display_release_version
        self.network_service_name = network_service_name
        self.runtime_env = runtime_env
        self.working_dir = working_dir
        self.metadata = metadata
        self.submission_mode = submission_mode
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self.entrypoint_num_gpus = entrypoint_num_gpus
        self.entrypoint_memory = entrypoint_memory
        self.entrypoint_resources = entrypoint_resources
        self.shutdown_after_job_finishes = shutdown_after_job_finishes
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.active_deadline_seconds = active_deadline_seconds
        self.volume_ids = volume_ids
        self.extra_param = extra_param
        self.tags = tags
        self.add_airflow_tags = add_airflow_tags
        self.cancel_on_kill = cancel_on_kill
        self.log_tail_lines = log_tail_lines
        self._init_waiting(wait_for_completion, deferrable, poll_interval, max_wait, max_transient_errors)
        self._submission_id: str | None = None
        self._validate(rendered=False)

    # ---- validation --------------------------------------------------------------------------

    def _validate(self, *, rendered: bool) -> None:
        check = self._check
        if self.entrypoint is None or (isinstance(self.entrypoint, str) and not self.entrypoint.strip()):
            raise _validation_error("entrypoint", "is required")
        if check(rendered, self.entrypoint) and not isinstance(self.entrypoint, str):
            raise _validation_error("entrypoint", "must be a string")
        if rendered and check(rendered, self.head_spec):
            validate_spec("head_spec", self.head_spec, "HeadSpec")
        if rendered and check(rendered, self.worker_spec):
            validate_spec("worker_spec", self.worker_spec, "WorkerSpec", many=True)
        if check(rendered, self.runtime_env):
            _json_arg("runtime_env", self.runtime_env)
        if check(rendered, self.metadata):
            _json_arg("metadata", self.metadata)
        job_fields = {
            name: getattr(self, name)
            for name in (
                "entrypoint_num_cpus",
                "entrypoint_num_gpus",
                "entrypoint_memory",
                "entrypoint_resources",
                "ttl_seconds_after_finished",
                "active_deadline_seconds",
                "tags",
            )
            if check(rendered, getattr(self, name))
        }
        if rendered:
            validate_job_fields(**job_fields)

    # ---- tags and lookup ---------------------------------------------------------------------

    def _job_tags(self, context: Context) -> dict[str, str]:
        tags = tags_as_dict(self.tags)
        if self.add_airflow_tags:
            for key, value in airflow_tags(context).items():
                if key == "workflowId" and "workflowId" in tags:
                    continue  # the user's workflowId wins
                tags[key] = value
        return tags

    def _job_name(self, context: Context) -> str:
        return self.name or default_job_name(context)

    def _find_job(
        self, context: Context, name: str, tags: Mapping[str, str], *, live_only: bool, since: float | None = None
    ) -> dict[str, Any] | None:
        """The job this task instance submitted: same name and Airflow tags (newest first)."""
        identity = {k: v for k, v in tags.items() if k in ("airflow_dag_id", "airflow_run_id", "airflow_task_id")}
        identity["airflow_map_index"] = tags.get("airflow_map_index")
        kwargs: dict[str, Any] = {"name": name}
        if since is not None:
            kwargs["submit_time_start"] = int(since * 1000)
        candidates = [_plain(j) for j in self.hook.list_ray_jobs(**kwargs)]
        candidates = [c for c in candidates if c.get("name") == name]
        if live_only:
            candidates = [c for c in candidates if c.get("status") not in JOB_TERMINAL]
        candidates.sort(key=lambda c: c.get("submitTime") or 0, reverse=True)
        for candidate in candidates:
            if not self.add_airflow_tags:
                # Without Airflow tags only a submit whose outcome is unknown is reconciled,
                # by name and submit time.
                if since is not None:
                    return job_info(self.hook.get_ray_job(candidate["submissionId"]))
                continue
            job = job_info(self.hook.get_ray_job(candidate["submissionId"]))
            if all(job["tags"].get(k) == v for k, v in identity.items() if v is not None) and (
                identity["airflow_map_index"] is not None or "airflow_map_index" not in job["tags"]
            ):
                return job
        return None

    def _submit_kwargs(self, name: str, tags: dict[str, str]) -> dict[str, Any]:
        return {
            "entrypoint": self.entrypoint,
            "name": name,
            "cluster_id": self.cluster_id or None,
            "display_release_version": self.display_release_version,
            "network_service_name": self.network_service_name,
            "tags": tags or None,
            "runtime_env_json": _json_arg("runtime_env", self.runtime_env),
            "working_dir": self.working_dir,
            "metadata_json": _json_arg("metadata", self.metadata),
            "submission_mode": self.submission_mode,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_memory": self.entrypoint_memory,
            "entrypoint_resources": self.entrypoint_resources,
            "shutdown_after_job_finishes": self.shutdown_after_job_finishes,
            "ttl_seconds_after_finished": self.ttl_seconds_after_finished,
            "active_deadline_seconds": self.active_deadline_seconds,
            "head_spec": self.head_spec,
            "worker_spec": self.worker_spec,
            "volume_ids": self.volume_ids,
            "extra_param": self.extra_param,
        }

    def _submit(self, context: Context, name: str, tags: dict[str, str]) -> str:
        started = time.time()

        def lookup() -> str | None:
            found = self._find_job(context, name, tags, live_only=False, since=started - 300)
            return found["submissionId"] if found else None

        submission_id = self._send_once(
            lambda: self.hook.submit_ray_job(**self._submit_kwargs(name, tags)), lookup, f"SubmitRayJob {name!r}"
        )
        self.log.info("Submitted Ray job %s (%s)", submission_id, name)
        return submission_id

    # ---- execute -----------------------------------------------------------------------------

    def execute(self, context: Context) -> str:
        self._validate(rendered=True)
        ti = context["ti"]
        tags = self._job_tags(context)
        name = self._job_name(context)
        submission_id = None
        if self.add_airflow_tags and (getattr(ti, "try_number", 1) or 1) > 1:
            found = self._find_job(context, name, tags, live_only=True)
            if found is not None:
                submission_id = found["submissionId"]
                self.log.info(
                    "Reattaching to Ray job %s submitted by a previous try (status %s)",
                    submission_id,
                    found.get("status"),
                )
        if submission_id is None:
            submission_id = self._submit(context, name, tags)
        self._submission_id = submission_id
        ti.xcom_push(key="submissionId", value=submission_id)
        ti.xcom_push(key="tags", value=tags)
        if not self.wait_for_completion:
            return submission_id
        return self._wait_job(context, submission_id)

    def _wait_job(self, context: Context, submission_id: str) -> str:
        deadline, by_exec = self._deadlines(context)
        started = time.time()
        if self.deferrable:
            from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

            self.defer(
                trigger=RayJobStatusTrigger(
                    submission_id=submission_id,
                    target_states=("Succeeded",),
                    failure_states=JOB_FAILURE_STATES,
                    cancel_on_kill=self.cancel_on_kill,
                    cancel_on_timeout=self.cancel_on_kill,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    max_transient_errors=self.max_transient_errors,
                    started_at=started,
                    **self._conn_kwargs(),
                ),
                method_name="execute_complete",
                kwargs={"submission_id": submission_id, "by_execution_timeout": by_exec},
                timeout=self._defer_timeout(deadline),
            )
        result = wait_until(
            fetch=lambda: job_info(self.hook.get_ray_job(submission_id)),
            state_key="status",
            targets=("Succeeded",),
            failures=JOB_FAILURE_STATES,
            poll_interval=self.poll_interval,
            deadline=deadline,
            state_log=StateLog(self.log, f"Ray job {submission_id}", started_at=started, known=JOB_STATUSES),
            max_transient_errors=self.max_transient_errors,
        )
        note = None
        if result.outcome == "timeout" and self.cancel_on_kill:
            note = self._cancel(submission_id, "deadline passed")
        return self._finish(
            context, submission_id, result.outcome, result.state, result.resource, note, by_exec
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        submission_id: str | None = None,
        by_execution_timeout: bool = False,
    ) -> str:
        """Resume after the trigger fired: the event carries everything needed."""
        submission_id = submission_id or event.get("submission_id")
        self._submission_id = submission_id
        return self._finish(
            context,
            submission_id,
            event["status"],
            event.get("state"),
            event.get("job") or {},
            event.get("message"),
            by_execution_timeout,
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context):
        """Cancel the job when Airflow itself fails the deferred task on its trigger timeout
        (the backstop after the trigger's own deadline)."""
        from airflow.sdk.exceptions import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            if self.cancel_on_kill:
                submission_id = context["ti"].xcom_pull(task_ids=self.task_id, key="submissionId")
                if submission_id:
                    self._cancel(submission_id, "trigger timed out")
            raise

    def _finish(
        self,
        context: Context,
        submission_id: str,
        outcome: str,
        state: str | None,
        job: dict[str, Any],
        message: str | None,
        by_execution_timeout: bool,
    ) -> str:
        ti = context["ti"]
        dashboard = job.get("dashboardUrl")
        if dashboard:
            ti.xcom_push(key="dashboardUrl", value=dashboard)
            self.log.info("Ray dashboard of job %s: %s", submission_id, mask_url(dashboard))
        if job.get("tags"):
            ti.xcom_push(key="tags", value=job["tags"])
        if outcome == "success":
            self.log.info(
                "Ray job %s %s (duration %s, cuHours %s)",
                submission_id,
                state,
                format_elapsed(float(job.get("duration") or 0)),
                job.get("cuHours"),
            )
            return submission_id
        if outcome == "failure":
            self._log_tail(submission_id, job)
            job_message = job.get("message") or message
            raise AirflowException(
                f"Ray job {submission_id} ended {state}" + (f": {job_message}" if job_message else "")
            )
        if outcome == "timeout":
            text = f"Ray job {submission_id} was still {state} when the wait ended" + (
                f" ({message})" if message else ""
            )
            if by_execution_timeout:
                raise AirflowTaskTimeout(text)
            raise AirflowException(text)
        raise AirflowException(f"Waiting for Ray job {submission_id} failed: {message}")

    # ---- cancel and logs ---------------------------------------------------------------------

    def _cancel(self, submission_id: str, why: str) -> str:
        try:
            self.hook.cancel_ray_job(submission_id)
        except Exception as exc:
            self.log.warning("Could not cancel Ray job %s (%s): %s", submission_id, why, exc)
            return f"cancelling the job failed: {exc}"
        self.log.info("Cancelled Ray job %s (%s)", submission_id, why)
        return "the job was cancelled"

    def on_kill(self) -> None:
        """Cancel the job when the task is killed (or hits ``execution_timeout``) in the worker."""
        if self.cancel_on_kill and self._submission_id:
            self._cancel(self._submission_id, "task killed")

    def _log_tail(self, submission_id: str, job: Mapping[str, Any]) -> None:
        """Copy the last lines of the job's driver log into the task log (best effort)."""
        if self.log_tail_lines <= 0:
            return
        try:
            lines = fetch_log_tail(self.hook, submission_id, job, self.log_tail_lines)
        except Exception as exc:
            self.log.warning("Could not fetch the log of Ray job %s: %s", submission_id, exc)
            return
        if not lines:
            self.log.info("Ray job %s left no driver log", submission_id)
            return
        self.log.error(
            "Last %d lines of the log of Ray job %s:\n%s", len(lines), submission_id, "\n".join(lines)
        )


def _pick_log_object(objects: Sequence[Mapping[str, Any]], submission_id: str) -> Mapping[str, Any] | None:
    files = [o for o in objects if not o.get("isDir") and (o.get("path") or o.get("name"))]
    if not files:
        return None

    def score(o: Mapping[str, Any]) -> tuple:
        name = str(o.get("name") or o.get("path") or "")
        return (
            submission_id in name and "driver" in name,
            "driver" in name,
            name.endswith((".log", ".out", ".txt")),
            o.get("timeModified") or 0,
            o.get("size") or 0,
        )

    return max(files, key=score)


def fetch_log_tail(hook: Any, submission_id: str, job: Mapping[str, Any], lines: int) -> list[str]:
    """The last ``lines`` lines of the job's driver log, read through its signed URL.

    The URL is presigned: it is never logged.
    """
    import httpx

    bucket = job.get("logBucketName")
    prefix = job.get("logPath")
    listing = hook.list_ray_logs(submission_id, bucket_name=bucket, prefix=prefix)
    listing = listing or {}
    objects = listing.get("objectList") or []
    chosen = _pick_log_object(objects, submission_id)
    if chosen is None:
        return []
    path = chosen.get("path") or chosen.get("name")
    url = hook.get_ray_log(submission_id, path=path, bucket_name=listing.get("bucketName") or bucket)
    if not url:
        return []
    # Errors name neither the URL nor its signature: httpx's own messages include the URL.
    try:
        response = httpx.get(url, timeout=30.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"downloading the driver log failed ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise RuntimeError(f"downloading the driver log failed (HTTP {response.status_code})")
    # Keep only the tail: a driver log may be large.
    return response.text.splitlines()[-lines:]


class EmrRayJobCancelOperator(EmrRayBaseOperator):
    """Cancel a Ray job. Cancelling a job that already ended succeeds with a log line.

    :param submission_id: The job to cancel. Templated.
    :param emr_ray_conn_id: The Airflow connection of the EMR Serverless Spark API.
    :param region_id: Region id; overrides the connection's. Templated.
    :param workspace_id: Workspace id; overrides the connection's. Templated.
    """

    template_fields: Sequence[str] = ("submission_id", "region_id", "workspace_id")

    def __init__(self, *, submission_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id

    def execute(self, context: Context) -> bool:
        from airflow_provider_emr_ray.exceptions import EmrRayNotFoundError

        try:
            job = job_info(self.hook.get_ray_job(self.submission_id))
        except EmrRayNotFoundError:
            raise AirflowException(f"Ray job {self.submission_id} does not exist") from None
        if job.get("status") in JOB_TERMINAL:
            self.log.info("Ray job %s already ended (%s): nothing to cancel", self.submission_id, job["status"])
            return False
        success = self.hook.cancel_ray_job(self.submission_id)
        self.log.info("Cancel requested for Ray job %s (accepted: %s)", self.submission_id, success)
        return bool(success)
