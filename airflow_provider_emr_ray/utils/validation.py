"""Checks of operator and sensor arguments, cheap ones at DAG parse and the request models' at task start.

At ``__init__`` only what costs nothing is checked, and only on values that are not templates:
required arguments, types, JSON objects, tags, numbers. The request models (pydantic: about
25 ms to build, so never loaded at parse) validate the rendered arguments when the task
starts, before any API call (:func:`validate_request`). Every failure is an
:class:`~airflow_provider_emr_ray.exceptions.EmrRayValidationError` naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_emr_ray.checks import non_negative_int, positive_seconds, validation_error

__all__ = [
    "check_list",
    "check_mapping",
    "checkable",
    "is_templated",
    "json_object",
    "non_negative_int",
    "positive_seconds",
    "required",
    "validate_request",
    "validation_error",
]


def is_templated(value: Any) -> bool:
    """True when ``value`` (or anything inside it) is a string still holding a Jinja template,
    or an object Airflow resolves at run time (an XComArg)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_templated(k) or is_templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return any(is_templated(v) for v in value)
    if value is None or isinstance(value, (int, float, bool)):
        return False
    # XComArg, pydantic models, ... : models are concrete, everything else resolves later.
    return not hasattr(value, "model_dump")


def checkable(value: Any, rendered: bool) -> bool:
    """Whether ``value`` can be checked now: given, and rendered (or not a template)."""
    return value is not None and (rendered or not is_templated(value))


def required(field: str, value: Any) -> None:
    """``value`` must be given (a string must not be blank)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise validation_error(field, "is required")


def check_list(field: str, value: Any, what: str) -> None:
    """``value`` must be a list (not a string or a dict)."""
    if value is not None and (isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence)):
        raise validation_error(field, f"must be a list of {what}")


def check_mapping(field: str, value: Any) -> None:
    """``value`` must be a dict (``extra_fields``)."""
    if value is not None and not isinstance(value, Mapping):
        raise validation_error(field, f"must be a dict, not {type(value).__name__}")


def json_object(field: str, value: Any) -> str | None:
    """A dict, or a string holding a JSON object, as the compact JSON string the API wants."""
    from airflow_provider_emr_ray.jsontext import json_object_text

    try:
        return json_object_text(value)
    except ValueError as err:
        raise validation_error(field, str(err)) from None


def validate_request(model_name: str, fields: Mapping[str, Any]) -> None:
    """Validate the arguments of a request with its model (``RayClusterConfig``,
    ``RayJobConfig``), as the hook will: unknown keys, sizes, specs, tags. ``None`` values are
    left out. Loads the models (pydantic): call it when the task starts, not at parse."""
    present = {k: v for k, v in fields.items() if v is not None}
    if not present:
        return
    from airflow_provider_emr_ray import models

    models.to_wire(present, getattr(models, model_name), field="")
