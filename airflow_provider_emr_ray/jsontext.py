"""JSON carried as text: the API takes several fields (``runtimeEnvJson``, ``metadataJson``,
``extraParam``, ``env``, ...) as JSON strings, and users give them as dicts or strings.

The one home of "a dict or a JSON string -> the compact JSON string the API wants", used by
the request models (at task start) and the operators' parse-time checks. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["compact", "json_object_text", "lenient_text"]


def compact(value: Any) -> str:
    """``value`` as compact JSON (no spaces, non-ASCII kept). A value JSON cannot hold (a
    datetime, a set, NaN, ...) raises ``ValueError`` naming where it is (``at env_vars.A``)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        where = _not_json(value, "")
        raise ValueError(
            f"must hold JSON values only (strings, finite numbers, booleans, null, lists, objects with string keys): "
            f"{where or 'the value'}"
        ) from None


def _not_json(value: Any, path: str) -> str | None:
    """Where in ``value`` the first value JSON cannot hold is (``at env_vars.A: datetime``)."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if value == value and value not in (float("inf"), float("-inf")) else f"at {path or '.'}: {value!r}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"at {path or '.'}: a key of type {type(key).__name__}"
            found = _not_json(item, f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _not_json(item, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"at {path or '.'}: a {type(value).__name__}"


def json_object_text(value: Any) -> str | None:
    """A dict, or a string holding a JSON object, as a JSON string (``None`` stays ``None``).

    Raises ``ValueError`` whose text is the rule broken (``must be a JSON object, got list``);
    callers put the field name in front.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        return compact(dict(value))
    if not isinstance(value, str):
        raise ValueError(f"must be a dict or a JSON object string, got {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except ValueError as err:
        raise ValueError(f"must be a JSON object: {err}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"must be a JSON object, got {type(parsed).__name__}")
    return value


def lenient_text(value: Any) -> Any:
    """What the service returns: a dict or list becomes its JSON string; anything else is kept."""
    if isinstance(value, (dict, list)):
        return compact(value)
    return value
