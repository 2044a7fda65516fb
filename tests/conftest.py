"""Test configuration shared by every test module.

Airflow reads its configuration on first import, so the environment is set here, before any
test module imports airflow.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="emr-ray-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)  # a throw-away home: leave nothing behind
os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent / "dags"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# The credentials SDK's default chain must never reach a real metadata service in tests.
os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
os.environ.setdefault("ALIBABA_CLOUD_PROFILE", "emr-ray-tests-none")
os.environ.setdefault("ALIBABA_CLOUD_CONFIG_FILE", str(_HOME / "no-such-config.json"))
os.environ.setdefault("ALIBABA_CLOUD_CREDENTIALS_FILE", str(_HOME / "no-such-credentials.ini"))

import pytest  # noqa: E402

TEST_AK = "LTAI5tTestAccessKeyId01"
TEST_SECRET = "test-secret-0123456789abcdefghij"
TEST_REGION = "cn-hangzhou"
TEST_WORKSPACE = "w-d2d82aa09155"


@pytest.fixture
def ak_pair() -> tuple[str, str]:
    return TEST_AK, TEST_SECRET
