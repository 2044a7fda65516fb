"""Test configuration shared by every test module.

Airflow reads its configuration on first import, so the environment is set here, before any
test module imports airflow.
"""

from __future__ import annotations

import os
from pathlib import Path

from devtools.env import isolate, throwaway_home

# A throw-away AIRFLOW_HOME (removed at exit), no examples, unit-test mode, and a credentials
# chain that never reaches a real metadata service or profile (devtools.env).
isolate(os.environ, throwaway_home("emr-ray-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent / "dags"))
# Airflow 3.0's dag.test() prints a failed task's exception through rich, wrapped at the
# terminal width: a wide "terminal" keeps each message on one line for the tests that read it.
os.environ.setdefault("COLUMNS", "4000")

import pytest  # noqa: E402

# The emulator's default key pair, region and workspace, under the names the tests use.
from airflow_provider_emr_ray.emulator.config import (  # noqa: E402
    DEFAULT_ACCESS_KEY_ID as TEST_AK,
    DEFAULT_ACCESS_KEY_SECRET as TEST_SECRET,
    DEFAULT_REGION as TEST_REGION,
    DEFAULT_WORKSPACE as TEST_WORKSPACE,
)


@pytest.fixture
def ak_pair() -> tuple[str, str]:
    return TEST_AK, TEST_SECRET
