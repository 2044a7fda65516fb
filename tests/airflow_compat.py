"""What differs between Airflow 3 lines for the tests themselves (the package's own differences
live in ``airflow_provider_emr_ray.version_compat``): the one place tests import such names from.

Each name is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any


def DagBag(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - stands in for the class
    """``DagBag`` (``airflow.dag_processing.dagbag`` from 3.2, ``airflow.models.dagbag`` before)."""
    try:
        from airflow.dag_processing.dagbag import DagBag as cls
    except ModuleNotFoundError:
        from airflow.models.dagbag import DagBag as cls
    return cls(*args, **kwargs)


def serde() -> Any:
    """The serde module (``airflow.sdk.serde`` from 3.2, ``airflow.serialization.serde`` before)."""
    try:
        from airflow.sdk import serde as module
    except ImportError:
        from airflow.serialization import serde as module
    return module


def trigger_rule() -> Any:
    """The ``TriggerRule`` enum (``airflow.sdk`` on every Airflow 3 line)."""
    from airflow.providers.common.compat.sdk import TriggerRule

    return TriggerRule
