"""Data models of the EMR Serverless Spark Ray API (pydantic v2).

Two families of models live here:

* **Request specs** - :class:`HeadSpec`, :class:`WorkerSpec`, :class:`GftConfig`,
  :class:`RayClusterConfig` (body of CreateRayCluster/UpdateRayCluster) and
  :class:`RayJobConfig` (body of SubmitRayJob). They are *strict*: they enforce the rules
  documented on the API pages (name 1-64 characters, at most 50 worker groups with unique names,
  ``replica >= 1``, ``1 <= minReplica <= maxReplica``, memory like ``8Gi``, cpu a positive
  number, ``idleTimeoutSeconds >= 0``), so a bad argument fails before any request is sent.
* **Responses** - :class:`RayCluster`, :class:`RayClusterInstance`, :class:`RayJob` and the
  lenient spec variants :class:`HeadSpecInfo` / :class:`WorkerSpecInfo` they carry. They never
  fail on what the service returns: every field is optional, unknown fields are kept (as extras),
  unknown enum values are kept as plain strings (with an :class:`UnknownStateWarning` and a log
  line, once per value), and a field whose value cannot be parsed is dropped (set to ``None``)
  with a log line instead of failing the whole response.

Every model accepts camelCase (wire) and snake_case (Python) names on input; ``model_dump(
by_alias=True)`` gives wire JSON. :func:`to_wire` / :func:`to_wire_list` / :func:`tags_to_wire`
build request fragments and raise :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError`
naming the field path (``worker_spec[2].max_replica``).

Secrets: ``RayCluster.submit_token`` and ``GftConfig.redis_password`` are plain ``str`` fields
declared ``Field(repr=False)`` - attribute access gives the raw value (the hook needs it) but
they never appear in ``repr()``/``str()``. URLs shown by ``repr()``/``str()`` have their
``token=`` query value replaced by ``***`` (:func:`mask_url_token`); the attribute itself keeps
the full URL. ``model_dump(by_alias=True)`` keeps everything (it is the wire form);
:meth:`RayCluster.public_dict` / :meth:`RayJob.public_dict` are the safe forms for XCom/logs.

Only pydantic and the standard library are imported here (DAG files import operators often).
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import (
    VERSION as _PYDANTIC_VERSION,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

log = logging.getLogger(__name__)

__all__ = [
    "CLUSTER_FAILURE_STATES",
    "CLUSTER_TERMINAL_STATES",
    "ClusterState",
    "GftConfig",
    "GuHours",
    "HeadSpec",
    "HeadSpecInfo",
    "JobClusterState",
    "MAX_WORKER_GROUPS",
    "RAY_JOB_FAILURE_STATES",
    "RAY_JOB_TERMINAL_STATES",
    "RayCluster",
    "RayClusterConfig",
    "RayClusterInstance",
    "RayJob",
    "RayJobConfig",
    "RayJobStatus",
    "Tag",
    "UnknownStateWarning",
    "WorkerSpec",
    "WorkerSpecInfo",
    "cpu_to_wire",
    "mask_url_token",
    "memory_to_wire",
    "tags_to_dict",
    "tags_to_wire",
    "to_validation_error",
    "to_wire",
    "to_wire_list",
]

# --------------------------------------------------------------------------------------------
# Enums and state sets
# --------------------------------------------------------------------------------------------


class _StrEnum(str, Enum):
    """A ``str`` enum whose members equal (and hash like) their wire values."""

    def __str__(self) -> str:
        return self.value

    __hash__ = str.__hash__


class ClusterState(_StrEnum):
    """``state`` of a Ray cluster."""

    Starting = "Starting"
    Running = "Running"
    Stopping = "Stopping"
    Stopped = "Stopped"
    Error = "Error"


class RayJobStatus(_StrEnum):
    """``status`` of a Ray job."""

    Submitted = "Submitted"
    Pending = "Pending"
    Running = "Running"
    Succeeded = "Succeeded"
    Failed = "Failed"
    Cancelling = "Cancelling"
    Cancelled = "Cancelled"
    Timeout = "Timeout"


class JobClusterState(_StrEnum):
    """``clusterState`` of a Ray job (the state of the cluster that runs it)."""

    Submitted = "Submitted"
    Pending = "Pending"
    Running = "Running"
    Deleted = "Deleted"


#: States a cluster does not leave on its own (as documented: only ``Error``).
CLUSTER_TERMINAL_STATES: frozenset[ClusterState] = frozenset({ClusterState.Error})
#: Cluster states that mean failure.
CLUSTER_FAILURE_STATES: frozenset[ClusterState] = frozenset({ClusterState.Error})
RAY_JOB_TERMINAL_STATES: frozenset[RayJobStatus] = frozenset(
    {RayJobStatus.Succeeded, RayJobStatus.Failed, RayJobStatus.Cancelled, RayJobStatus.Timeout}
)
RAY_JOB_FAILURE_STATES: frozenset[RayJobStatus] = frozenset(
    {RayJobStatus.Failed, RayJobStatus.Cancelled, RayJobStatus.Timeout}
)

MAX_WORKER_GROUPS = 50
MAX_NAME_LENGTH = 64
MAX_JOB_NAME_LENGTH = 128  # what the emulator enforces; the API pages document no limit for job names
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256


class UnknownStateWarning(UserWarning):
    """The service returned a state value this provider does not know (kept as a string)."""


_warned_values: set[tuple[str, str]] = set()


def _to_enum(enum_cls: type[_StrEnum], value: Any, field: str) -> Any:
    """Known values become enum members; unknown strings are kept and reported once."""
    if value is None or isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        key = (enum_cls.__name__, str(value))
        if key not in _warned_values:
            _warned_values.add(key)
            msg = (
                f"Unknown {field} value {value!r} from the service (known: "
                f"{', '.join(m.value for m in enum_cls)}); kept as a string and treated as "
                "non-terminal."
            )
            warnings.warn(msg, UnknownStateWarning, stacklevel=2)
        return value


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------

_URL_TOKEN_RE = re.compile(
    r"(?i)([?&#;](?:token|access_token|accesstoken|security_token|securitytoken|signature|x-acs-security-token)=)[^&#\s]*"
)
_URL_SECRET_PARAMS = frozenset(
    {"token", "access_token", "accesstoken", "security_token", "securitytoken", "signature", "x-acs-security-token"}
)
_SECRET_KEY_RE = re.compile(r"(?i)(token|password|secret|credential)")


def strip_url_token(url: str | None) -> str | None:
    """Return ``url`` without its token-like query parameters: the form that may be stored.

    XCom, trigger events and operator links keep this form; the token itself never leaves the
    worker (open the dashboard from the console, or read ``RayCluster.dashboard_url`` with the
    hook when the token is needed). Non-string input is returned unchanged.
    """
    if not isinstance(url, str) or "=" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0].lower() not in _URL_SECRET_PARAMS]
    return urlunsplit(parts._replace(query="&".join(kept)))


def mask_url_token(url: str | None) -> str | None:
    """Return ``url`` with the value of its ``token=`` query parameter replaced by ``***``.

    Other token-like parameters (``access_token``, ``security_token``, ``signature``) are masked
    too. Non-string input is returned unchanged.
    """
    if not isinstance(url, str) or "=" not in url:
        return url
    return _URL_TOKEN_RE.sub(r"\1***", url)


def _mask_repr_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_token(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [mask_url_token(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Base models
# --------------------------------------------------------------------------------------------


def _pydantic_at_least(major: int, minor: int) -> bool:
    try:
        parts = _PYDANTIC_VERSION.split(".")
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):  # pragma: no cover - exotic version strings
        return False


if _pydantic_at_least(2, 11):
    _BY_NAME: dict[str, Any] = {"validate_by_name": True, "validate_by_alias": True}
else:  # pragma: no cover - pydantic 2.6-2.10
    _BY_NAME = {"populate_by_name": True}

_COMMON_CONFIG = ConfigDict(
    alias_generator=to_camel,
    extra="allow",
    loc_by_alias=False,  # error paths use the snake_case names
    hide_input_in_errors=True,  # inputs may carry secrets (submitToken, redisPassword)
    defer_build=True,  # schemas are built on first use, not when a DAG file imports this
    **_BY_NAME,
)


class _Model(BaseModel):
    """Shared config and a ``repr`` that never shows a URL token or a secret-looking extra."""

    model_config = _COMMON_CONFIG

    def __repr_args__(self):  # used by both repr() and str()
        extra = self.__pydantic_extra__ or {}
        for key, value in super().__repr_args__():
            if key in extra and _SECRET_KEY_RE.search(key):
                yield key, "***"
            else:
                yield key, _mask_repr_value(value)


class _ResponseModel(_Model):
    """A model of service output: a value that cannot be parsed is dropped, never fatal.

    Strict subclasses (the request specs) set ``_lenient = False``.
    """

    _lenient: ClassVar[bool] = True

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Validate; on failure drop the unparseable fields (nested ones too) and validate again."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            if not cls._lenient or not isinstance(obj, Mapping):
                raise
            cleaned = _copy_containers(obj)
            for _ in range(3):
                dropped = False
                for err in exc.errors(include_input=False):
                    if err["loc"] and _drop_path(cleaned, err["loc"]):
                        dropped = True
                        log.warning(
                            "Ignoring an unparseable %s.%s in the service response: %s",
                            cls.__name__,
                            ".".join(str(p) for p in err["loc"]),
                            err["msg"],
                        )
                if not dropped:
                    raise
                try:
                    return super().model_validate(cleaned, *args, **kwargs)
                except ValidationError as again:
                    exc = again
            raise exc


def _copy_containers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_containers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_containers(v) for v in value]
    return value


def _drop_path(data: Any, loc: tuple) -> bool:
    """Remove the value at ``loc`` (field names, snake_case or camelCase, and list indexes); a
    bad list item removes the whole list (as the per-model fallback did)."""
    if not loc:
        return False
    *parents, leaf = loc
    node = data
    for part in parents:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str):
            key = part if part in node else to_camel(part)
            if key not in node:
                return False
            node = node[key]
        else:
            return False
    if isinstance(node, dict) and isinstance(leaf, str):
        for key in (leaf, to_camel(leaf)):
            if key in node:
                node.pop(key)
                return True
    return _drop_path(data, tuple(parents))


class _RequestModel(_Model):
    """A strict model of request input. Unknown snake_case extras are sent in camelCase."""

    model_config = ConfigDict(validate_assignment=True)

    @model_serializer(mode="wrap")
    def _camel_extras(self, handler: Any, info: Any) -> Any:
        data = handler(self)
        extra = self.__pydantic_extra__
        if extra and info.by_alias and isinstance(data, dict):
            for key in extra:
                if "_" in key and key in data:
                    data[to_camel(key)] = data.pop(key)
        return data


# --------------------------------------------------------------------------------------------
# Field rules (shared by the strict models)
# --------------------------------------------------------------------------------------------

_MEMORY_RE = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?(Gi|Mi)$")


def _number_to_wire(value: Any) -> Any:
    """Lenient: numbers become their wire string (``2`` -> ``"2"``, ``0.5`` -> ``"0.5"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _positive_number_str(value: Any, field: str) -> str | None:
    """Strict: a positive finite number (int, float or numeric string) as the wire string."""
    if value is None:
        return None
    rule = f"{field} must be a positive number such as 2 or 0.5 (sent as a string)"
    if isinstance(value, bool):
        raise ValueError(rule)
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, (int, Decimal)):
            number = Decimal(value)
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise ValueError(rule)
    except InvalidOperation:
        raise ValueError(rule) from None
    if not number.is_finite() or number <= 0:
        raise ValueError(rule)
    text = format(number.normalize(), "f")
    return text


def _memory_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _MEMORY_RE.match(value.strip()):
        raise ValueError(
            f"{field} must be a size with a unit, like '8Gi' (Gi is the documented unit; Mi is "
            "also accepted)"
        )
    return value.strip()


def _json_object_str(value: Any, field: str) -> Any:
    """Strict: a dict, or a string holding a JSON object, as the compact wire string."""
    if value is None or isinstance(value, dict):
        return _json_str(value)
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a dict or a JSON object string, got {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except ValueError as err:
        raise ValueError(f"{field} must be a JSON object: {err}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{field} must be a JSON object, got {type(parsed).__name__}")
    return value


def _json_str(value: Any) -> Any:
    """``dict``/``list`` become a compact JSON string (the wire carries JSON strings)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def _at_least(value: int | None, minimum: int, field: str) -> int | None:
    if value is not None and value < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value}")
    return value


def _check_worker_groups(groups: list[Any] | None) -> list[Any] | None:
    if groups is None:
        return None
    if len(groups) > MAX_WORKER_GROUPS:
        raise ValueError(
            f"worker_spec (workerSpec) allows at most {MAX_WORKER_GROUPS} worker groups, got {len(groups)}"
        )
    seen: set[str] = set()
    for group in groups:
        name = getattr(group, "group_name", None)
        if name is None:
            continue
        if name in seen:
            raise ValueError(f"worker group names (groupName) must be unique: {name!r} is repeated")
        seen.add(name)
    return groups


# --------------------------------------------------------------------------------------------
# Specs: lenient (responses) and strict (requests)
# --------------------------------------------------------------------------------------------


class GftConfig(_Model):
    """Redis settings of head fault tolerance (``headSpec.gftConfig``)."""

    redis_url: str | None = None
    redis_username: str | None = None
    #: A secret: readable as an attribute, never shown by repr()/str().
    redis_password: str | None = Field(default=None, repr=False)


class _SpecFields(_Model):
    """Fields common to head and worker specs (lenient types)."""

    queue_name: str | None = None
    cpu: str | None = None
    memory: str | None = None
    replica: int | None = None
    gpu_spec: str | None = None
    display_release_version: str | None = None
    env: str | None = None
    ray_start_params: str | None = None

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu_lenient(cls, value: Any) -> Any:
        return _number_to_wire(value)

    @field_validator("env", "ray_start_params", mode="before")
    @classmethod
    def _json_fields(cls, value: Any) -> Any:
        return _json_str(value)


class HeadSpecInfo(_SpecFields, _ResponseModel):
    """The head node spec as the service returns it (lenient)."""

    enable_auto_scaling: bool | None = None
    idle_timeout_seconds: int | None = None
    gft_enabled: bool | None = None
    gft_config: GftConfig | None = None


class WorkerSpecInfo(_SpecFields, _ResponseModel):
    """A worker group spec as the service returns it (lenient)."""

    group_name: str | None = None
    worker_type: str | None = None
    min_replica: int | None = None
    max_replica: int | None = None


class _StrictSpecRules(_RequestModel):
    _lenient: ClassVar[bool] = False

    @field_validator("cpu", mode="before", check_fields=False)
    @classmethod
    def _cpu_strict(cls, value: Any) -> Any:
        return _positive_number_str(value, "cpu")

    @field_validator("memory", mode="before", check_fields=False)
    @classmethod
    def _memory_strict(cls, value: Any) -> Any:
        return _memory_str(value, "memory")

    @field_validator("replica", check_fields=False)
    @classmethod
    def _replica_strict(cls, value: int | None) -> int | None:
        return _at_least(value, 1, "replica")


class HeadSpec(_StrictSpecRules, HeadSpecInfo):
    """The head node spec for a request (strict).

    ``cpu`` accepts ``2``, ``0.5`` or ``"2"`` and is sent as a string; ``memory`` like ``"8Gi"``;
    ``env``/``ray_start_params`` accept a dict (sent as a JSON string).
    """

    @field_validator("idle_timeout_seconds")
    @classmethod
    def _idle_timeout(cls, value: int | None) -> int | None:
        return _at_least(value, 0, "idle_timeout_seconds (idleTimeoutSeconds)")


class WorkerSpec(_StrictSpecRules, WorkerSpecInfo):
    """A worker group spec for a request (strict): ``1 <= min_replica <= max_replica``."""

    @field_validator("min_replica")
    @classmethod
    def _min_replica(cls, value: int | None) -> int | None:
        return _at_least(value, 1, "min_replica (minReplica)")

    @field_validator("max_replica")
    @classmethod
    def _max_replica(cls, value: int | None, info: ValidationInfo) -> int | None:
        _at_least(value, 1, "max_replica (maxReplica)")
        low = info.data.get("min_replica")
        if value is not None and low is not None and value < low:
            raise ValueError(
                f"max_replica (maxReplica) must be >= min_replica (minReplica) = {low}, got {value}"
            )
        return value


class Tag(_Model):
    """A ``{key, value}`` tag (rules are checked by :func:`tags_to_wire`)."""

    key: str | None = None
    value: str | None = None


class GuHours(_ResponseModel):
    """GPU usage of a job (``guHours``)."""

    gpu_spec: str | None = None
    gpu_hours: float | None = None


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


class RayClusterInstance(_ResponseModel):
    """A node (pod) of a Ray cluster (``instances[]``)."""

    type: str | None = None
    instance_id: str | None = None
    phase: str | None = None
    container_state: str | None = None
    container_state_reason: str | None = None
    container_state_message: str | None = None
    container_exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    start_time: int | None = None
    create_time: int | None = None


class RayCluster(_ResponseModel):
    """A Ray cluster (GetRayCluster; ListRayCluster items carry a subset). Times are epoch ms."""

    request_id: str | None = None
    cluster_id: str | None = None
    name: str | None = None
    description: str | None = None
    display_release_version: str | None = None
    network_service_name: str | None = None
    state: ClusterState | str | None = None
    message: str | None = None
    creator: str | None = None
    creator_name: str | None = None
    modifier: str | None = None
    modifier_name: str | None = None
    user_id: str | None = None
    instance_id: str | None = None
    create_time: int | None = None
    start_time: int | None = None
    modified_time: int | None = None
    modified: bool | None = None
    extra_param: str | None = None
    volume_ids: list[str] | None = None
    #: Full URL including its ``token=`` query (masked only in repr()/str()).
    dashboard_url: str | None = None
    job_url: str | None = None
    job_url_inner: str | None = None
    grpc_endpoint: str | None = None
    #: A secret: authorises job submission at ``job_url``; never shown by repr()/str().
    submit_token: str | None = Field(default=None, repr=False)
    head_spec: HeadSpecInfo | None = None
    worker_spec: list[WorkerSpecInfo] | None = None
    instances: list[RayClusterInstance] | None = None

    @field_validator("state")
    @classmethod
    def _state(cls, value: Any) -> Any:
        return _to_enum(ClusterState, value, "cluster state")

    @field_validator("extra_param", mode="before")
    @classmethod
    def _extra_param(cls, value: Any) -> Any:
        return _json_str(value)

    @property
    def is_terminal(self) -> bool:
        return self.state in CLUSTER_TERMINAL_STATES

    @property
    def is_failed(self) -> bool:
        return self.state in CLUSTER_FAILURE_STATES

    def public_dict(self) -> dict[str, Any]:
        """Wire-form dict safe for XCom and logs: no ``submitToken``, no ``redisPassword``.

        ``dashboardUrl`` is kept whole (with its token): users need a working link. Use
        :func:`mask_url_token` on it before logging.
        """
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        data.pop("submitToken", None)
        _drop_secret_extras(data)
        head = data.get("headSpec")
        if isinstance(head, dict) and isinstance(head.get("gftConfig"), dict):
            head["gftConfig"].pop("redisPassword", None)
        return data

    to_xcom = public_dict


class RayJob(_ResponseModel):
    """A Ray job (GetRayJob; a ListRayJob item carries a subset). Times are epoch ms."""

    request_id: str | None = None
    submission_id: str | None = None
    cluster_id: str | None = None
    name: str | None = None
    status: RayJobStatus | str | None = None
    message: str | None = None
    entrypoint: str | None = None
    tags: list[Tag] | None = None
    display_release_version: str | None = None
    submit_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    #: Seconds.
    duration: int | None = None
    network_service_name: str | None = None
    runtime_env_json: str | None = None
    working_dir: str | None = None
    submission_mode: str | None = None
    metadata_json: str | None = None
    entrypoint_num_cpus: str | None = None
    entrypoint_num_gpus: str | None = None
    entrypoint_memory: str | None = None
    entrypoint_resources: str | None = None
    shutdown_after_job_finishes: bool | None = None
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    volume_ids: list[str] | None = None
    backoff_limit: int | None = None
    head_spec: HeadSpecInfo | None = None
    #: ``workerSpecs`` (plural) in job responses.
    worker_specs: list[WorkerSpecInfo] | None = None
    extra_param: str | None = None
    creator_name: str | None = None
    #: Full URL including its ``token=`` query (masked only in repr()/str()).
    dashboard_url: str | None = None
    log_bucket_name: str | None = None
    log_path: str | None = None
    cu_hours: float | None = None
    gu_hours: GuHours | None = None
    dashboard_url_extra: list[str] | None = None
    cluster_state: JobClusterState | str | None = None
    task_biz_id: str | None = None
    resource_queue: str | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return _to_enum(RayJobStatus, value, "Ray job status")

    @field_validator("cluster_state")
    @classmethod
    def _cluster_state(cls, value: Any) -> Any:
        return _to_enum(JobClusterState, value, "Ray job clusterState")

    @field_validator(
        "entrypoint_num_cpus", "entrypoint_num_gpus", mode="before"
    )
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return _number_to_wire(value)

    @field_validator(
        "runtime_env_json", "metadata_json", "entrypoint_resources", "extra_param", mode="before"
    )
    @classmethod
    def _json_fields(cls, value: Any) -> Any:
        return _json_str(value)

    @property
    def is_terminal(self) -> bool:
        return self.status in RAY_JOB_TERMINAL_STATES

    @property
    def is_failed(self) -> bool:
        return self.status in RAY_JOB_FAILURE_STATES

    @property
    def tags_dict(self) -> dict[str, str]:
        return tags_to_dict(self.tags)

    def public_dict(self) -> dict[str, Any]:
        """Wire-form dict for XCom; ``dashboardUrl`` kept whole (see :meth:`RayCluster.public_dict`)."""
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        _drop_secret_extras(data)
        head = data.get("headSpec")
        if isinstance(head, dict) and isinstance(head.get("gftConfig"), dict):
            head["gftConfig"].pop("redisPassword", None)
        return data

    to_xcom = public_dict


def _drop_secret_extras(data: dict[str, Any]) -> None:
    for key in [k for k in data if _SECRET_KEY_RE.search(k) and "url" not in k.lower()]:
        data.pop(key)


# --------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------


class RayClusterConfig(_RequestModel):
    """Body of CreateRayCluster / UpdateRayCluster (strict)."""

    name: str | None = None
    description: str | None = None
    display_release_version: str | None = None
    network_service_name: str | None = None
    head_spec: HeadSpec | None = None
    worker_spec: list[WorkerSpec] | None = None
    volume_ids: list[str] | None = None
    extra_param: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_NAME_LENGTH:
            raise ValueError(f"name must be 1 to {MAX_NAME_LENGTH} characters, got {len(value)}")
        return value

    @field_validator("worker_spec")
    @classmethod
    def _groups(cls, value: list[WorkerSpec] | None) -> list[WorkerSpec] | None:
        return _check_worker_groups(value)

    @field_validator("extra_param", mode="before")
    @classmethod
    def _extra_param(cls, value: Any) -> Any:
        return _json_object_str(value, "extra_param (extraParam)")


class RayJobConfig(_RequestModel):
    """Body of SubmitRayJob (strict). ``tags`` accepts a dict, a list of dicts or of :class:`Tag`."""

    entrypoint: str | None = None
    name: str | None = None
    cluster_id: str | None = None
    display_release_version: str | None = None
    network_service_name: str | None = None
    tags: list[Tag] | None = None
    runtime_env_json: str | None = None
    working_dir: str | None = None
    metadata_json: str | None = None
    submission_mode: str | None = None
    entrypoint_num_cpus: str | None = None
    entrypoint_num_gpus: str | None = None
    entrypoint_memory: str | None = None
    entrypoint_resources: str | None = None
    shutdown_after_job_finishes: bool | None = None
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    head_spec: HeadSpec | None = None
    worker_spec: list[WorkerSpec] | None = None
    volume_ids: list[str] | None = None
    extra_param: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_JOB_NAME_LENGTH:
            raise ValueError(f"name must be 1 to {MAX_JOB_NAME_LENGTH} characters, got {len(value)}")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return None
        return tags_to_wire(value)

    @field_validator("entrypoint_num_cpus", mode="before")
    @classmethod
    def _num_cpus(cls, value: Any) -> Any:
        return _positive_number_str(value, "entrypoint_num_cpus (entrypointNumCpus)")

    @field_validator("entrypoint_num_gpus", mode="before")
    @classmethod
    def _num_gpus(cls, value: Any) -> Any:
        if value is None:
            return None
        if value in (0, "0"):
            return "0"
        return _positive_number_str(value, "entrypoint_num_gpus (entrypointNumGpus)")

    @field_validator("entrypoint_memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return _memory_str(value, "entrypoint_memory (entrypointMemory)")

    @field_validator("ttl_seconds_after_finished", "active_deadline_seconds")
    @classmethod
    def _non_negative(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _at_least(value, 0, f"{info.field_name} ({to_camel(info.field_name)})")

    @field_validator("worker_spec")
    @classmethod
    def _groups(cls, value: list[WorkerSpec] | None) -> list[WorkerSpec] | None:
        return _check_worker_groups(value)

    @field_validator(
        "runtime_env_json", "metadata_json", "entrypoint_resources", "extra_param", mode="before"
    )
    @classmethod
    def _json_fields(cls, value: Any, info: ValidationInfo) -> Any:
        return _json_object_str(value, f"{info.field_name} ({to_camel(info.field_name)})")


# --------------------------------------------------------------------------------------------
# Errors and wire helpers
# --------------------------------------------------------------------------------------------


def _loc_to_path(loc: Iterable[Any], prefix: str | None = None) -> str:
    path = prefix or ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith("function-") or part in ("union_tag",):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or (prefix or "value")


def _clean_msg(msg: str) -> str:
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def to_validation_error(exc: ValidationError, *, prefix: str | None = None) -> EmrRayValidationError:
    """Convert a pydantic ``ValidationError`` to an ``EmrRayValidationError``.

    ``field`` is the path of the first error (``worker_spec[2].max_replica``, with ``prefix``
    in front when given); the message lists every error. Input values are never included.
    """
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    errors = exc.errors(include_input=False, include_url=False)
    if not errors:  # pragma: no cover - pydantic never raises an empty error
        return EmrRayValidationError(prefix or "value", str(exc))
    paths = [(_loc_to_path(e["loc"], prefix), _clean_msg(e["msg"])) for e in errors]
    field, rule = paths[0]
    if len(paths) > 1:
        rule += " (also: " + "; ".join(f"{p}: {m}" for p, m in paths[1:]) + ")"
    return EmrRayValidationError(field, rule)


def _default_prefix(model_cls: type[BaseModel]) -> str | None:
    for cls, name in (
        (HeadSpecInfo, "head_spec"),
        (WorkerSpecInfo, "worker_spec"),
        (GftConfig, "gft_config"),
        (Tag, "tags"),
    ):
        if issubclass(model_cls, cls):
            return name
    return None


def _validate(value: Any, model_cls: type[BaseModel], prefix: str | None) -> BaseModel:
    if type(value) is model_cls:
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    elif not isinstance(value, Mapping):
        from airflow_provider_emr_ray.exceptions import EmrRayValidationError

        raise EmrRayValidationError(
            prefix or model_cls.__name__,
            f"expected a dict or a {model_cls.__name__}, got {type(value).__name__}",
        )
    try:
        return model_cls.model_validate(value)
    except ValidationError as exc:
        raise to_validation_error(exc, prefix=prefix) from None


def to_wire(value: Any, model_cls: type[BaseModel], *, field: str | None = None) -> dict[str, Any]:
    """Validate ``value`` (a dict in snake_case or camelCase, or a model) as ``model_cls``.

    Returns the camelCase wire dict with ``None`` values dropped (``cpu`` as a string).
    Raises ``EmrRayValidationError`` whose field is prefixed by ``field`` (default: the usual
    name of ``model_cls`` in a request, e.g. ``head_spec``).
    """
    prefix = field if field is not None else _default_prefix(model_cls)
    model = _validate(value, model_cls, prefix)
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def to_wire_list(
    values: Iterable[Any] | None, model_cls: type[BaseModel], *, field: str | None = None
) -> list[dict[str, Any]]:
    """:func:`to_wire` for each item; for worker specs also checks the group count and names."""
    if values is None:
        return []
    if isinstance(values, (Mapping, str, bytes)) or isinstance(values, BaseModel):
        values = [values]
    prefix = field if field is not None else _default_prefix(model_cls)
    items = list(values)
    models = [_validate(v, model_cls, f"{prefix or ''}[{i}]") for i, v in enumerate(items)]
    if issubclass(model_cls, WorkerSpecInfo):
        try:
            _check_worker_groups(models)
        except ValueError as exc:
            from airflow_provider_emr_ray.exceptions import EmrRayValidationError

            raise EmrRayValidationError(prefix or "worker_spec", str(exc)) from None
    return [m.model_dump(by_alias=True, exclude_none=True, mode="json") for m in models]


def cpu_to_wire(value: Any, field: str = "cpu") -> str:
    """A positive CPU count (``2``, ``0.5``, ``"2"``) as the wire string; ``EmrRayValidationError`` otherwise."""
    try:
        text = _positive_number_str(value, field)
    except ValueError as exc:
        from airflow_provider_emr_ray.exceptions import EmrRayValidationError

        raise EmrRayValidationError(field, str(exc)) from None
    if text is None:
        from airflow_provider_emr_ray.exceptions import EmrRayValidationError

        raise EmrRayValidationError(field, f"{field} must be a positive number, got None")
    return text


def memory_to_wire(value: Any, field: str = "memory") -> str:
    """A memory size like ``"8Gi"`` (stripped); ``EmrRayValidationError`` otherwise."""
    try:
        text = _memory_str(value, field) if value is not None else _memory_str(0, field)
    except ValueError as exc:
        from airflow_provider_emr_ray.exceptions import EmrRayValidationError

        raise EmrRayValidationError(field, str(exc)) from None
    return text


def _tag_pairs(tags: Any) -> list[tuple[str, Any, Any]]:
    """(path, key, value) triples from any accepted tag form."""
    if isinstance(tags, Mapping):
        return [(f"tags[{k!r}]", k, v) for k, v in tags.items()]
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        from airflow_provider_emr_ray.exceptions import EmrRayValidationError

        raise EmrRayValidationError(
            "tags", f"expected a dict or a list of {{key, value}}, got {type(tags).__name__}"
        )
    pairs = []
    for i, item in enumerate(tags):
        path = f"tags[{i}]"
        if isinstance(item, Tag):
            pairs.append((path, item.key, item.value))
        elif isinstance(item, Mapping):
            if "key" not in item:
                from airflow_provider_emr_ray.exceptions import EmrRayValidationError

                raise EmrRayValidationError(f"{path}.key", "a tag needs a 'key'")
            pairs.append((path, item.get("key"), item.get("value")))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((path, item[0], item[1]))
        else:
            from airflow_provider_emr_ray.exceptions import EmrRayValidationError

            raise EmrRayValidationError(path, f"expected {{key, value}}, got {type(item).__name__}")
    return pairs


def tags_to_wire(tags: Any) -> list[dict[str, str]]:
    """Tags as the wire list ``[{"key": k, "value": v}]``.

    Accepts ``{"k": "v"}``, ``[{"key": .., "value": ..}]``, ``[Tag]`` or ``None`` (-> ``[]``).
    Keys must be non-empty strings of at most 128 characters, unique; values strings of at
    most 256 characters.
    """
    if tags is None:
        return []
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for path, key, value in _tag_pairs(tags):
        rule = None
        if not isinstance(key, str) or not key.strip():
            rule, where = "tag key must be a non-empty string", f"{path}.key"
        elif len(key) > MAX_TAG_KEY_LENGTH:
            rule, where = f"tag key must be at most {MAX_TAG_KEY_LENGTH} characters", f"{path}.key"
        elif key in seen:
            rule, where = f"duplicate tag key {key!r}", f"{path}.key"
        elif not isinstance(value, str):
            rule, where = f"tag value must be a string, got {type(value).__name__}", f"{path}.value"
        elif len(value) > MAX_TAG_VALUE_LENGTH:
            rule, where = (
                f"tag value must be at most {MAX_TAG_VALUE_LENGTH} characters",
                f"{path}.value",
            )
        if rule is not None:
            from airflow_provider_emr_ray.exceptions import EmrRayValidationError

            raise EmrRayValidationError(where, rule)
        seen.add(key)
        out.append({"key": key, "value": value})
    return out


def tags_to_dict(tags: Any) -> dict[str, str]:
    """Tags as ``{key: value}``, from any accepted form (lenient: entries without a key are skipped)."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return dict(tags)
    result: dict[str, Any] = {}
    for item in tags:
        if isinstance(item, Tag):
            key, value = item.key, item.value
        elif isinstance(item, Mapping):
            key, value = item.get("key"), item.get("value")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            key, value = item
        else:
            continue
        if key is not None:
            result[key] = value
    return result

