"""Ray job tags: their rules, their one in-memory shape, and the tags naming an Airflow task.

A tag set has one shape inside the package: a ``dict`` of ``str`` to ``str``. It is converted
from what users give (:func:`normalize`: a dict, a list of ``{"key", "value"}`` or of
``(key, value)``) once, and to the wire's ``[{"key", "value"}]`` list (:func:`to_wire`) once,
when the request body is built. What the service returns is read back with :func:`from_wire`.
The length bounds are in :mod:`~airflow_provider_emr_ray.limits`. Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_emr_ray.checks import validation_error as _error
from airflow_provider_emr_ray.limits import MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH

__all__ = [
    "AIRFLOW_IDENTITY_KEYS",
    "WORKFLOW_ID",
    "airflow_tags",
    "fit",
    "from_wire",
    "normalize",
    "ray_submission_id",
    "to_wire",
    "workflow_id",
]

#: The tag a DAG run shares across all its tasks and tries (``workflowId``).
WORKFLOW_ID = "workflowId"
#: The tags that identify the Airflow task instance that submitted a job.
AIRFLOW_IDENTITY_KEYS = ("airflow_dag_id", "airflow_run_id", "airflow_task_id", "airflow_map_index")
#: The metadata key of a job submitted through Ray's Jobs API naming the try that submitted it
#: (so a lost submit answer is told apart from a previous try's job of the same id).
AIRFLOW_TRY_NUMBER_KEY = "airflow_try_number"


def _pairs(tags: Any, field: str) -> Iterable[tuple[str, Any, Any]]:
    """(path, key, value) of every tag in any accepted form."""
    if isinstance(tags, Mapping):
        for key, value in tags.items():
            yield f"{field}[{key!r}]", key, value
        return
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise _error(field, f"expected a dict or a list of {{key, value}}, got {type(tags).__name__}")
    for i, item in enumerate(tags):
        path = f"{field}[{i}]"
        if hasattr(item, "model_dump"):  # a models.Tag
            item = item.model_dump()
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"key", "value"}, key=str)
            if unknown:
                from airflow_provider_emr_ray.suggest import did_you_mean

                raise _error(f"{path}.{unknown[0]}", "unknown field" + did_you_mean(unknown[0], ("key", "value")))
            if "key" not in item:
                raise _error(f"{path}.key", "a tag needs a 'key'")
            yield path, item.get("key"), item.get("value")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            yield path, item[0], item[1]
        else:
            raise _error(path, f"expected {{key, value}}, got {type(item).__name__}")


def normalize(tags: Any, *, field: str = "tags") -> dict[str, str]:
    """Tags in any accepted form as a validated ``{key: value}`` dict (``None`` gives ``{}``).

    Keys are non-empty strings of at most :data:`~airflow_provider_emr_ray.limits.MAX_TAG_KEY_LENGTH`
    characters, unique; values strings of at most
    :data:`~airflow_provider_emr_ray.limits.MAX_TAG_VALUE_LENGTH`. A bad tag raises
    :class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming its path.
    """
    if tags is None:
        return {}
    out: dict[str, str] = {}
    for path, key, value in _pairs(tags, field):
        if not isinstance(key, str) or not key.strip():
            raise _error(f"{path}.key", "tag key must be a non-empty string")
        if len(key) > MAX_TAG_KEY_LENGTH:
            raise _error(f"{path}.key", f"tag key must be at most {MAX_TAG_KEY_LENGTH} characters")
        if key in out:
            raise _error(f"{path}.key", f"duplicate tag key {key!r}")
        if not isinstance(value, str):
            raise _error(f"{path}.value", f"tag value must be a string, got {type(value).__name__}")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise _error(f"{path}.value", f"tag value must be at most {MAX_TAG_VALUE_LENGTH} characters")
        out[key] = value
    return out


def to_wire(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A ``{key: value}`` dict as the wire list ``[{"key": k, "value": v}]``."""
    return [{"key": key, "value": value} for key, value in tags.items()]


def from_wire(items: Any) -> dict[str, str]:
    """Tags the service returned (a list of ``{key, value}`` dicts or Tag models) as a dict.
    Lenient: an entry without a key is skipped, a missing value reads as ``""``."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        key = item.get("key") if isinstance(item, Mapping) else getattr(item, "key", None)
        value = item.get("value") if isinstance(item, Mapping) else getattr(item, "value", None)
        if key is not None:
            out[str(key)] = "" if value is None else str(value)
    return out


def fit(value: str, limit: int = MAX_TAG_VALUE_LENGTH) -> str:
    """``value`` cut to ``limit`` characters; a cut value ends with a hash of the whole, so two
    long values sharing a prefix stay distinct and the result is deterministic."""
    value = str(value)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: limit - 11]}-{digest}"


def workflow_id(dag_id: str, run_id: str) -> str:
    """A stable id of one DAG run (the same on every try of every task of the run)."""
    return "af-" + hashlib.sha256(f"{dag_id}\x00{run_id}".encode()).hexdigest()[:24]


def airflow_tags(ti: Any) -> dict[str, str]:
    """The tags naming the Airflow task instance ``ti`` (and its DAG run's ``workflowId``)."""
    dag_id, run_id, task_id = ti.dag_id, ti.run_id, ti.task_id
    tags = {
        "airflow_dag_id": fit(dag_id),
        "airflow_run_id": fit(run_id),
        "airflow_task_id": fit(task_id),
        WORKFLOW_ID: workflow_id(dag_id, run_id),
    }
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        tags["airflow_map_index"] = str(map_index)
    return tags


#: The longest Ray Jobs ``submission_id`` this provider builds, and its characters: lower-case
#: letters, digits, ``-`` and ``_`` (what Ray itself generates, ``raysubmit_<alnum>``, fits in
#: them; they are safe in a URL path, a Ray actor name and a KV key).
RAY_SUBMISSION_ID_MAX_LENGTH = 64
RAY_SUBMISSION_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_RAY_ID_UNSAFE = re.compile(r"[^a-z0-9]+")
_RAY_ID_DIGEST = 20
_RAY_ID_SUFFIX_ROOM = 5  # "-r" and up to three digits


def ray_submission_id(dag_id: str, run_id: str, task_id: str, map_index: int | None = -1, attempt: int = 0) -> str:
    """The deterministic Ray Jobs ``submission_id`` of one task instance.

    The same on every try of the task instance (``dag_id``, ``run_id``, ``task_id``,
    ``map_index``; never the try number), so a retry or a resend after a lost answer finds the
    job instead of submitting a second one (Ray refuses a duplicate ``submission_id``).
    ``attempt`` > 0 names the n-th resubmission after a previous job of the task instance ended
    failed or stopped (suffix ``-r<n>``). Shape: ``af-<dag>-<task>-<hash>`` in lower-case
    letters, digits and ``-``, at most :data:`RAY_SUBMISSION_ID_MAX_LENGTH` characters; the hash
    (of all four parts) keeps two task instances apart however their names were cut.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    index = -1 if map_index is None else int(map_index)
    digest = hashlib.sha256(f"{dag_id}\x00{run_id}\x00{task_id}\x00{index}".encode()).hexdigest()[:_RAY_ID_DIGEST]
    room = RAY_SUBMISSION_ID_MAX_LENGTH - len("af-") - 1 - _RAY_ID_DIGEST - _RAY_ID_SUFFIX_ROOM
    readable = _RAY_ID_UNSAFE.sub("-", f"{dag_id}-{task_id}".lower()).strip("-")[:room].strip("-")
    base = f"af-{readable}-{digest}" if readable else f"af-{digest}"
    return f"{base}-r{attempt}" if attempt else base
