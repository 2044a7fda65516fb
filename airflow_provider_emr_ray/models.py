"""Data models of the EMR Serverless Spark Ray API (pydantic v2).

Two families of models live here:

* **Request bodies** - :class:`HeadSpec`, :class:`WorkerSpec`, :class:`GftConfig`, :class:`Tag`,
  :class:`RayClusterConfig` (body of CreateRayCluster/UpdateRayCluster) and
  :class:`RayJobConfig` (body of SubmitRayJob). They are *strict*: they enforce the rules
  documented on the API pages (name 1-64 characters, at most 50 worker groups with unique names,
  ``replica >= 1``, ``1 <= minReplica <= maxReplica``, memory like ``8Gi``, cpu a positive
  number, ``idleTimeoutSeconds >= 0``), and they accept exactly their own fields, each under one
  name (snake_case or camelCase): an unknown key (``head_spec.memroy: unknown field; did you mean
  'memory'?``) or a key given under both names fails before any request is sent. A field the
  service added after this release is passed on purpose with ``extra_fields={"wireName": value}``
  (:class:`RayClusterConfig`, :class:`RayJobConfig`, :class:`HeadSpec`, :class:`WorkerSpec`): its
  keys are sent verbatim at that level.
* **Responses** - :class:`RayCluster`, :class:`RayClusterInstance`, :class:`RayJob` and the
  lenient variants :class:`HeadSpecInfo` / :class:`WorkerSpecInfo` / :class:`GftConfigInfo` /
  :class:`TagInfo` they carry. They never fail on what the service returns: every field is
  optional, unknown fields are kept (as extras), unknown enum values are kept as plain strings
  (with an :class:`UnknownStateWarning`, once per value), and a field whose value cannot be
  parsed is dropped (set to ``None``) with a log line instead of failing the whole response.

Every model accepts camelCase (wire) and snake_case (Python) names on input; ``model_dump(
by_alias=True)`` gives wire JSON. :func:`to_wire` / :func:`to_wire_list` build request fragments
and raise :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming the field
path (``worker_spec[2].max_replica``).

What lives elsewhere, once: the states and state sets in
:mod:`~airflow_provider_emr_ray.states` (re-exported here), the bounds in
:mod:`~airflow_provider_emr_ray.limits`, the tag rules in :mod:`~airflow_provider_emr_ray.tags`,
which names and URL parameters are secrets in :mod:`~airflow_provider_emr_ray.redaction`.

Secrets: ``RayCluster.submit_token`` and ``GftConfig.redis_password`` are plain ``str`` fields
declared ``Field(repr=False)`` - attribute access gives the raw value (the hook needs it) but
they never appear in ``repr()``/``str()``. URLs shown by ``repr()``/``str()`` have their secret
query values replaced by ``***``; the attribute itself keeps the full URL.
``model_dump(by_alias=True)`` keeps everything (it is the wire form);
:meth:`RayCluster.public_dict` / :meth:`RayJob.public_dict` (alias ``to_xcom``) are the forms for
XCom and logs: no ``submitToken``, no ``redisPassword``, no secret-looking field, and every URL
without its token.

Only pydantic, the standard library and the package's standard-library modules are imported here
(DAG files import operators often).
"""

from __future__ import annotations

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
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from airflow_provider_emr_ray import redaction
from airflow_provider_emr_ray import tags as tag_rules
from airflow_provider_emr_ray.checks import validation_error as _error
from airflow_provider_emr_ray.jsontext import json_object_text, lenient_text
from airflow_provider_emr_ray.limits import (
    MAX_CLUSTER_NAME_LENGTH,
    MAX_JOB_NAME_LENGTH,
    MAX_REPLICA,
    MAX_SECONDS,
    MAX_WORKER_GROUPS,
)
from airflow_provider_emr_ray.states import (
    CLUSTER_FAILURE_STATES,
    CLUSTER_TERMINAL_STATES,
    JOB_FAILURE_STATUSES as RAY_JOB_FAILURE_STATES,
    JOB_TERMINAL_STATUSES as RAY_JOB_TERMINAL_STATES,
    ClusterState,
    RAY_JOBS_TERMINAL_STATUSES,
    RAY_JOBS_TO_JOB_STATUS,
    JobClusterState,
    RayJobsStatus,
    RayJobStatus,
)
from airflow_provider_emr_ray.suggest import did_you_mean
from airflow_provider_emr_ray.timestamps import from_epoch_ms

if TYPE_CHECKING:
    import pendulum

    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

log = logging.getLogger(__name__)

__all__ = [
    "CLUSTER_FAILURE_STATES",
    "CLUSTER_TERMINAL_STATES",
    "ClusterState",
    "GftConfig",
    "GftConfigInfo",
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
    "RayJobDetails",
    "RayJobStatus",
    "Tag",
    "TagInfo",
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
# Unknown state values (the states themselves live in states.py)
# --------------------------------------------------------------------------------------------


class UnknownStateWarning(UserWarning):
    """The service returned a state value this provider does not know (kept as a string)."""


_warned_values: set[tuple[str, str]] = set()


def _to_enum(enum_cls: type[Enum], value: Any, field: str) -> Any:
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
# Secrets (the rules are redaction's)
# --------------------------------------------------------------------------------------------

#: Same as :func:`airflow_provider_emr_ray.redaction.mask_url` (the log form of a URL).
mask_url_token = redaction.mask_url


def _mask_repr_value(value: Any) -> Any:
    if isinstance(value, str):
        return redaction.mask_url(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [redaction.mask_url(v) for v in value]
    if isinstance(value, dict):  # extra_fields
        return {k: "***" if redaction.is_secret_key(k) else _mask_repr_value(v) for k, v in value.items()}
    return value


def _public(value: Any, key: str = "") -> Any:
    """``value`` (a wire dump) without secret-named fields, at any depth, and with every URL
    (a field named ``…Url…`` or an ``http(s)://`` string) stripped of its secret parameters."""
    if isinstance(value, dict):
        return {k: _public(v, k) for k, v in value.items() if not redaction.is_secret_key(k)}
    if isinstance(value, list):
        return [_public(v, key) for v in value]
    if isinstance(value, str) and ("url" in key.lower() or value.startswith(("http://", "https://"))):
        return redaction.strip_url_secrets(value)
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
    extra="allow",  # responses keep what they do not model; request models forbid it
    loc_by_alias=False,  # error paths use the snake_case names
    hide_input_in_errors=True,  # inputs may carry secrets (submitToken, redisPassword)
    defer_build=True,  # schemas are built on first use, not when a DAG file imports this
    **_BY_NAME,
)
#: Request models. Written out on each strict class that also derives from a lenient one:
#: pydantic merges the configs of the bases left to right, so the lenient base would win.
_REQUEST_CONFIG = ConfigDict(**{**_COMMON_CONFIG, "extra": "forbid", "validate_assignment": True})


class _Model(BaseModel):
    """Shared config and a ``repr`` that never shows a URL token or a secret-looking extra."""

    model_config = _COMMON_CONFIG

    def __repr_args__(self):  # used by both repr() and str()
        extra = self.__pydantic_extra__ or {}
        for key, value in super().__repr_args__():
            if key in extra and redaction.is_secret_key(key):
                yield key, "***"
            else:
                yield key, _mask_repr_value(value)


class _ResponseModel(_Model):
    """A model of service output: a value that cannot be parsed is dropped, never fatal.

    Strict subclasses (the request models) set ``_lenient = False``.
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


#: ``type`` of the errors raised by the key checks of request models; their context carries
#: ``path`` (loc parts below the model) and ``rule``, read by :func:`to_validation_error`.
_KEY_ERROR = "emr_ray_request_key"
_INPUT_NAMES: dict[type, dict[str, str]] = {}


def _key_error(path: tuple[Any, ...], rule: str) -> PydanticCustomError:
    where = ".".join(str(p) for p in path)
    return PydanticCustomError(_KEY_ERROR, "{where}: {rule}", {"where": where, "path": path, "rule": rule})


def _input_names(cls: type[BaseModel]) -> dict[str, str]:
    """Every accepted spelling of ``cls``'s fields (snake_case and camelCase) -> the field name."""
    names = _INPUT_NAMES.get(cls)
    if names is None:
        names = {}
        for name, info in cls.model_fields.items():
            names[name] = names[to_camel(name)] = name
            if info.alias:
                names[info.alias] = name
        _INPUT_NAMES[cls] = names
    return names


def _suggestion(key: str, fields: Iterable[str]) -> str:
    """``; did you mean …?`` in the spelling of ``key`` (camelCase for a camelCase key)."""
    camel = "_" not in key and key != key.lower()
    return did_you_mean(key, [to_camel(f) if camel else f for f in fields])


def _check_keys(cls: type[BaseModel], data: Mapping[Any, Any]) -> None:
    """Each key of ``data`` names a field of ``cls``, and no field is given twice (the
    camelCase value would be validated and the snake_case one sent)."""
    names = _input_names(cls)
    given: dict[str, str] = {}
    for key in data:
        if not isinstance(key, str):
            raise _key_error((), f"keys must be strings, got {type(key).__name__} {key!r}")
        field = names.get(key)
        if field is None:
            raise _key_error((key,), "unknown field" + _suggestion(key, cls.model_fields))
        if field in given:
            raise _key_error((field,), f"given twice, as {given[field]!r} and {key!r}; keep one")
        given[field] = key
    if "extra_fields" in given:
        _check_extra_fields(data[given["extra_fields"]], names)


def _check_extra_fields(extra: Any, names: Mapping[str, str]) -> None:
    if extra is None:
        return
    if not isinstance(extra, Mapping):
        raise _key_error(
            ("extra_fields",), f"must be a dict of wire names to values, got {type(extra).__name__}"
        )
    for key in extra:
        if not isinstance(key, str):
            raise _key_error(("extra_fields",), f"keys must be strings (wire names), got {type(key).__name__} {key!r}")
        field = names.get(key)
        if field is not None:
            spelled = "" if field == key else f" ({field})"
            raise _key_error(("extra_fields", key), f"{key!r} is a known field{spelled}: set it directly")


class _RequestModel(_Model):
    """A strict model of request input: its own fields only, each under one name.

    A subclass that declares ``extra_fields`` sends that dict's keys verbatim (wire names) in
    its wire dump, at its own level; ``extra_fields`` itself is not sent.
    """

    model_config = _REQUEST_CONFIG
    _lenient: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # (On assignment pydantic passes the instance's fields with the new value: all known.)
        if isinstance(data, BaseModel) and not isinstance(data, cls):  # e.g. a response's spec
            data = data.model_dump(exclude_none=True)
        if isinstance(data, Mapping):
            _check_keys(cls, data)
        return data

    @model_serializer(mode="wrap")
    def _send_extra_fields(self, handler: Any, info: Any) -> Any:
        data = handler(self)
        if info.by_alias and isinstance(data, dict):
            data.update(data.pop("extraFields", None) or {})
        return data


# --------------------------------------------------------------------------------------------
# Field rules (shared by the strict models)
# --------------------------------------------------------------------------------------------

_MEMORY_RE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?(Gi|Mi)$")


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
    return format(number.normalize(), "f")


def _memory_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _MEMORY_RE.match(value.strip()) or float(value.strip()[:-2]) <= 0:
        raise ValueError(
            f"{field} must be a size > 0 with a unit, like '8Gi' or '0.5Gi' (Gi is the documented unit; "
            "Mi is also accepted)"
        )
    return value.strip()


def _json_object_str(value: Any, field: str) -> Any:
    """Strict: a dict, or a string holding a JSON object, as the compact wire string."""
    try:
        return json_object_text(value)
    except ValueError as err:
        raise ValueError(f"{field} {err}") from None


def _at_least(value: int | None, minimum: int, field: str, maximum: int | None = None) -> int | None:
    if value is not None and value < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value}")
    if value is not None and maximum is not None and value > maximum:
        raise ValueError(f"{field} must be <= {maximum}, got {value}")
    return value


def _plain_text(value: str | None, field: str) -> str | None:
    """A name: no control characters (a newline would split a log line or a header)."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{field} must not contain control characters (newline, tab, ...)")
    return value


def _volume_ids(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    from airflow_provider_emr_ray.checks import resource_id

    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    for i, volume in enumerate(value):
        try:
            resource_id(f"volume_ids[{i}]", volume)
        except EmrRayValidationError as err:
            raise ValueError(f"volume_ids[{i}] {err.rule}") from None
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


class GftConfigInfo(_ResponseModel):
    """Redis settings of head fault tolerance (``headSpec.gftConfig``) as the service returns them."""

    redis_url: str | None = None
    redis_username: str | None = None
    #: A secret: readable as an attribute, never shown by repr()/str().
    redis_password: str | None = Field(default=None, repr=False)

    @field_validator("redis_password")
    @classmethod
    def _redis_password(cls, value: Any) -> Any:
        redaction.mask(value)  # registered with the masker as it is parsed (answers and requests)
        return value


class GftConfig(_RequestModel, GftConfigInfo):
    """Redis settings of head fault tolerance for a request (strict: these three fields only)."""

    model_config = _REQUEST_CONFIG


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
        return lenient_text(value)


class HeadSpecInfo(_SpecFields, _ResponseModel):
    """The head node spec as the service returns it (lenient)."""

    enable_auto_scaling: bool | None = None
    idle_timeout_seconds: int | None = None
    gft_enabled: bool | None = None
    gft_config: GftConfigInfo | None = None


class WorkerSpecInfo(_SpecFields, _ResponseModel):
    """A worker group spec as the service returns it (lenient)."""

    group_name: str | None = None
    worker_type: str | None = None
    min_replica: int | None = None
    max_replica: int | None = None


class _StrictSpecRules(_RequestModel):
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
        return _at_least(value, 1, "replica", MAX_REPLICA)


class HeadSpec(_StrictSpecRules, HeadSpecInfo):
    """The head node spec for a request (strict).

    ``cpu`` accepts ``2``, ``0.5`` or ``"2"`` and is sent as a string; ``memory`` like ``"8Gi"``;
    ``env``/``ray_start_params`` accept a dict (sent as a JSON string). ``extra_fields`` holds
    wire-named fields this release does not model, sent verbatim in ``headSpec``.
    """

    model_config = _REQUEST_CONFIG

    gft_config: GftConfig | None = None
    extra_fields: dict[str, Any] | None = None

    @field_validator("idle_timeout_seconds")
    @classmethod
    def _idle_timeout(cls, value: int | None) -> int | None:
        return _at_least(value, 0, "idle_timeout_seconds (idleTimeoutSeconds)", MAX_SECONDS)


class WorkerSpec(_StrictSpecRules, WorkerSpecInfo):
    """A worker group spec for a request (strict): ``1 <= min_replica <= max_replica``.

    ``extra_fields`` holds wire-named fields this release does not model, sent verbatim in the
    group's entry of ``workerSpec``.
    """

    model_config = _REQUEST_CONFIG

    extra_fields: dict[str, Any] | None = None

    @field_validator("min_replica")
    @classmethod
    def _min_replica(cls, value: int | None) -> int | None:
        return _at_least(value, 1, "min_replica (minReplica)", MAX_REPLICA)

    @field_validator("max_replica")
    @classmethod
    def _max_replica(cls, value: int | None, info: ValidationInfo) -> int | None:
        _at_least(value, 1, "max_replica (maxReplica)", MAX_REPLICA)
        low = info.data.get("min_replica")
        if value is not None and low is not None and value < low:
            raise ValueError(
                f"max_replica (maxReplica) must be >= min_replica (minReplica) = {low}, got {value}"
            )
        return value


class TagInfo(_ResponseModel):
    """A ``{key, value}`` tag as the service returns it (lenient)."""

    key: str | None = None
    value: str | None = None


class Tag(_RequestModel, TagInfo):
    """A ``{key, value}`` tag for a request (strict: these two fields only; the rules on keys and
    values are :func:`airflow_provider_emr_ray.tags.normalize`)."""

    model_config = _REQUEST_CONFIG


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


def _utc_time(field: str) -> Any:
    """A read-only property: the epoch-millisecond field ``field`` as a UTC ``DateTime``
    (:func:`~airflow_provider_emr_ray.timestamps.from_epoch_ms`; None when absent)."""

    def get(self: BaseModel) -> pendulum.DateTime | None:
        return from_epoch_ms(getattr(self, field))

    return property(get, doc=f"``{to_camel(field)}`` as a UTC ``DateTime``.")


class _Resource(_ResponseModel):
    """A cluster or a job: a service resource with a form safe for XCom and logs."""

    def public_dict(self) -> dict[str, Any]:
        """Wire-form dict safe for XCom and logs: no secret at any depth.

        Dropped: ``submitToken``, ``gftConfig.redisPassword`` and every field whose name looks
        like a secret (:func:`airflow_provider_emr_ray.redaction.is_secret_key`, unmodelled
        fields included). URLs (``dashboardUrl``, ``dashboardUrlExtra``, …) lose their token
        (:func:`airflow_provider_emr_ray.redaction.strip_url_secrets`): the link still names the
        dashboard; the token itself stays with the hook (``get_ray_cluster(id).dashboard_url``).
        """
        return _public(self.model_dump(by_alias=True, exclude_none=True, mode="json"))

    to_xcom = public_dict


class _ClusterFields(_Model):
    """Fields a cluster has in both directions (CreateRayCluster's body and GetRayCluster's answer)."""

    name: str | None = None
    description: str | None = None
    display_release_version: str | None = None
    network_service_name: str | None = None
    volume_ids: list[str] | None = None
    extra_param: str | None = None


class _JobFields(_Model):
    """Fields a job has in both directions (SubmitRayJob's body and GetRayJob's answer)."""

    entrypoint: str | None = None
    name: str | None = None
    cluster_id: str | None = None
    display_release_version: str | None = None
    network_service_name: str | None = None
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
    volume_ids: list[str] | None = None
    extra_param: str | None = None


class RayCluster(_Resource, _ClusterFields):
    """A Ray cluster (GetRayCluster; ListRayCluster items carry a subset). Times are epoch ms."""

    request_id: str | None = None
    cluster_id: str | None = None
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
    #: Full URL including its ``token=`` query (masked in repr()/str(), stripped by public_dict()).
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
        return lenient_text(value)

    @field_validator("submit_token")
    @classmethod
    def _submit_token(cls, value: Any) -> Any:
        redaction.mask(value)  # registered with the masker as it is parsed
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: Any) -> Any:
        redaction.mask_url_secrets(value)  # its token=, as it is parsed
        return value

    @property
    def is_terminal(self) -> bool:
        return self.state in CLUSTER_TERMINAL_STATES

    @property
    def is_failed(self) -> bool:
        return self.state in CLUSTER_FAILURE_STATES

    #: ``createTime``, ``startTime`` and ``modifiedTime`` as UTC ``DateTime`` objects.
    created_at = _utc_time("create_time")
    started_at = _utc_time("start_time")
    modified_at = _utc_time("modified_time")


class RayJob(_Resource, _JobFields):
    """A Ray job (GetRayJob; a ListRayJob item carries a subset). Times are epoch ms."""

    request_id: str | None = None
    submission_id: str | None = None
    status: RayJobStatus | str | None = None
    message: str | None = None
    tags: list[TagInfo] | None = None
    submit_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    #: Seconds.
    duration: int | None = None
    backoff_limit: int | None = None
    head_spec: HeadSpecInfo | None = None
    #: ``workerSpecs`` (plural) in job responses.
    worker_specs: list[WorkerSpecInfo] | None = None
    creator_name: str | None = None
    #: Full URL including its ``token=`` query (masked in repr()/str(), stripped by public_dict()).
    dashboard_url: str | None = None
    log_bucket_name: str | None = None
    log_path: str | None = None
    cu_hours: float | None = None
    gu_hours: GuHours | None = None
    dashboard_url_extra: list[str] | None = None
    cluster_state: JobClusterState | str | None = None
    task_biz_id: str | None = None
    resource_queue: str | None = None

    @field_validator("dashboard_url", "dashboard_url_extra")
    @classmethod
    def _dashboard_urls(cls, value: Any) -> Any:
        for url in value if isinstance(value, list) else [value]:
            redaction.mask_url_secrets(url)  # their token=, as they are parsed
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return _to_enum(RayJobStatus, value, "Ray job status")

    @field_validator("cluster_state")
    @classmethod
    def _cluster_state(cls, value: Any) -> Any:
        return _to_enum(JobClusterState, value, "Ray job clusterState")

    @field_validator("entrypoint_num_cpus", "entrypoint_num_gpus", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return _number_to_wire(value)

    @field_validator(
        "runtime_env_json", "metadata_json", "entrypoint_resources", "extra_param", mode="before"
    )
    @classmethod
    def _json_fields(cls, value: Any) -> Any:
        return lenient_text(value)

    @property
    def is_terminal(self) -> bool:
        return self.status in RAY_JOB_TERMINAL_STATES

    @property
    def is_failed(self) -> bool:
        return self.status in RAY_JOB_FAILURE_STATES

    @property
    def tags_dict(self) -> dict[str, str]:
        return tag_rules.from_wire(self.tags)

    #: ``submitTime``, ``startTime`` and ``endTime`` as UTC ``DateTime`` objects.
    submitted_at = _utc_time("submit_time")
    started_at = _utc_time("start_time")
    ended_at = _utc_time("end_time")


class RayJobDetails(_ResponseModel):
    """A job as Ray's own Jobs API describes it (``GET /api/jobs/{id}``, items of ``GET /api/jobs/``):
    Ray's snake_case field names, times in epoch ms; unknown fields are kept.

    ``status`` is Ray's (``PENDING``, ``RUNNING``, ``STOPPED``, ``SUCCEEDED``, ``FAILED``);
    :attr:`job_status` is the provider's status for it.
    """

    model_config = ConfigDict(**{**_COMMON_CONFIG, "alias_generator": None})

    type: str | None = None
    submission_id: str | None = None
    job_id: str | None = None
    status: RayJobsStatus | str | None = None
    entrypoint: str | None = None
    message: str | None = None
    error_type: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    metadata: dict[str, Any] | None = None
    runtime_env: dict[str, Any] | None = None
    driver_exit_code: int | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return _to_enum(RayJobsStatus, value, "Ray Jobs API status")

    @property
    def is_terminal(self) -> bool:
        return self.status in RAY_JOBS_TERMINAL_STATUSES

    @property
    def job_status(self) -> RayJobStatus | str | None:
        """``status`` as the provider's :class:`~airflow_provider_emr_ray.states.RayJobStatus`
        (``STOPPED`` is ``Cancelled``); an unknown value is kept as it is."""
        return RAY_JOBS_TO_JOB_STATUS.get(self.status, self.status) if self.status is not None else None

    #: ``start_time`` and ``end_time`` as UTC ``DateTime`` objects.
    started_at = _utc_time("start_time")
    ended_at = _utc_time("end_time")

# --------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------


class RayClusterConfig(_RequestModel, _ClusterFields):
    """Body of CreateRayCluster / UpdateRayCluster (strict).

    ``extra_fields`` holds wire-named fields this release does not model, sent verbatim.
    """

    model_config = _REQUEST_CONFIG

    head_spec: HeadSpec | None = None
    worker_spec: list[WorkerSpec] | None = None
    extra_fields: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_CLUSTER_NAME_LENGTH:
            raise ValueError(f"name must be 1 to {MAX_CLUSTER_NAME_LENGTH} characters, got {len(value)}")
        return _plain_text(value, "name")

    @field_validator("volume_ids")
    @classmethod
    def _volumes(cls, value: list[str] | None) -> list[str] | None:
        return _volume_ids(value)

    @field_validator("worker_spec")
    @classmethod
    def _groups(cls, value: list[WorkerSpec] | None) -> list[WorkerSpec] | None:
        return _check_worker_groups(value)

    @field_validator("extra_param", mode="before")
    @classmethod
    def _extra_param(cls, value: Any) -> Any:
        return _json_object_str(value, "extra_param (extraParam)")


class RayJobConfig(_RequestModel, _JobFields):
    """Body of SubmitRayJob (strict). ``tags`` accepts what :func:`airflow_provider_emr_ray.tags.normalize`
    accepts (a dict, a list of ``{key, value}`` dicts or of :class:`Tag`).

    ``extra_fields`` holds wire-named fields this release does not model, sent verbatim.
    """

    model_config = _REQUEST_CONFIG

    tags: list[Tag] | None = None
    head_spec: HeadSpec | None = None
    worker_spec: list[WorkerSpec] | None = None
    extra_fields: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_JOB_NAME_LENGTH:
            raise ValueError(f"name must be 1 to {MAX_JOB_NAME_LENGTH} characters, got {len(value)}")
        return _plain_text(value, "name")

    @field_validator("volume_ids")
    @classmethod
    def _volumes(cls, value: list[str] | None) -> list[str] | None:
        return _volume_ids(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return tag_rules.to_wire(tag_rules.normalize(value, field=info.field_name or "tags"))

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
        return _at_least(value, 0, f"{info.field_name} ({to_camel(info.field_name)})", MAX_SECONDS)

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


def _join(path: str, part: str) -> str:
    if not path:
        return part
    return path + part if part.startswith("[") else f"{path}.{part}"


def _loc_to_path(loc: Iterable[Any], prefix: str | None = None) -> str:
    path = prefix or ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-"):
            path = _join(path, str(part))
    return path


def _field_and_rule(error: Mapping[str, Any], prefix: str | None) -> tuple[str, str]:
    """The path (``worker_spec[1].replicas``) and the rule of one pydantic error."""
    from airflow_provider_emr_ray.exceptions import EmrRayValidationError

    loc, ctx = tuple(error["loc"]), error.get("ctx") or {}
    if error["type"] == _KEY_ERROR:
        return _loc_to_path(loc + tuple(ctx["path"]), prefix), ctx["rule"]
    inner = ctx.get("error")
    if isinstance(inner, EmrRayValidationError) and loc:  # a rule of tags.py: it names the path below
        return _join(_loc_to_path(loc[:-1], prefix), inner.field), inner.rule
    msg = error["msg"]
    return _loc_to_path(loc, prefix), msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def to_validation_error(exc: ValidationError, *, prefix: str | None = None) -> EmrRayValidationError:
    """Convert a pydantic ``ValidationError`` to an ``EmrRayValidationError``.

    ``field`` is the path of the first error (``worker_spec[2].max_replica``, with ``prefix``
    in front when given); the message lists every error. Input values are never included.
    """
    errors = exc.errors(include_input=False, include_url=False)
    if not errors:  # pragma: no cover - pydantic never raises an empty error
        return _error(prefix or "value", str(exc))
    paths = [_field_and_rule(e, prefix) for e in errors]
    field, rule = paths[0]
    if len(paths) > 1:
        rule += " (also: " + "; ".join(f"{p}: {m}" for p, m in paths[1:]) + ")"
    return _error(field or "value", rule)


def _default_prefix(model_cls: type[BaseModel]) -> str | None:
    for cls, name in (
        (HeadSpecInfo, "head_spec"),
        (WorkerSpecInfo, "worker_spec"),
        (GftConfigInfo, "gft_config"),
        (TagInfo, "tags"),
    ):
        if issubclass(model_cls, cls):
            return name
    return None


def _validate(value: Any, model_cls: type[BaseModel], prefix: str | None) -> BaseModel:
    if isinstance(value, BaseModel) and not isinstance(value, model_cls):
        value = value.model_dump(exclude_none=True)
    elif not isinstance(value, (Mapping, BaseModel)):
        raise _error(
            prefix or model_cls.__name__,
            f"expected a dict or a {model_cls.__name__}, got {type(value).__name__}",
        )
    try:
        return model_cls.model_validate(value)
    except ValidationError as exc:
        raise to_validation_error(exc, prefix=prefix) from None


def to_wire(value: Any, model_cls: type[BaseModel], *, field: str | None = None) -> dict[str, Any]:
    """Validate ``value`` (a dict in snake_case or camelCase, or a model) as ``model_cls``.

    Returns the camelCase wire dict with ``None`` values dropped (``cpu`` as a string,
    ``extra_fields`` merged in). Raises ``EmrRayValidationError`` whose field is prefixed by
    ``field`` (default: the usual name of ``model_cls`` in a request, e.g. ``head_spec``; ``""``
    for a whole body).
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
    if isinstance(values, (Mapping, str, bytes, BaseModel)):
        values = [values]
    prefix = field if field is not None else _default_prefix(model_cls)
    models = [_validate(v, model_cls, f"{prefix or ''}[{i}]") for i, v in enumerate(values)]
    if issubclass(model_cls, WorkerSpecInfo):
        try:
            _check_worker_groups(models)
        except ValueError as exc:
            raise _error(prefix or "worker_spec", str(exc)) from None
    return [m.model_dump(by_alias=True, exclude_none=True, mode="json") for m in models]


def _one_value(rule: Any, value: Any, field: str) -> str:
    try:
        return rule("" if value is None else value, field)  # None breaks the rule as "" does
    except ValueError as exc:
        raise _error(field, str(exc)) from None


def cpu_to_wire(value: Any, field: str = "cpu") -> str:
    """A positive CPU count (``2``, ``0.5``, ``"2"``) as the wire string; ``EmrRayValidationError`` otherwise."""
    return _one_value(_positive_number_str, value, field)


def memory_to_wire(value: Any, field: str = "memory") -> str:
    """A memory size like ``"8Gi"`` (stripped); ``EmrRayValidationError`` otherwise."""
    return _one_value(_memory_str, value, field)


def tags_to_wire(tags: Any) -> list[dict[str, str]]:
    """Tags in any accepted form as the wire list ``[{"key": k, "value": v}]`` (``None`` -> ``[]``):
    :func:`airflow_provider_emr_ray.tags.normalize` then :func:`~airflow_provider_emr_ray.tags.to_wire`."""
    return tag_rules.to_wire(tag_rules.normalize(tags))


#: Same as :func:`airflow_provider_emr_ray.tags.from_wire` (tags as a ``{key: value}`` dict).
tags_to_dict = tag_rules.from_wire
