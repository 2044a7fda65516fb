"""The isolated environment of a test or benchmark process (and of its subprocesses).

Airflow reads its configuration on first import, so these are set before anything imports
airflow: a throw-away ``AIRFLOW_HOME``, no example DAGs, unit-test mode, and an Alibaba Cloud
credentials chain that can never reach a real metadata service or a user's profile.
Standard library only.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["NO_CLOUD_CREDENTIALS", "isolate", "isolated_env", "throwaway_home"]

#: The credentials SDK's default chain must never reach a real metadata service; set in every
#: test and benchmark process and subprocess.
NO_CLOUD_CREDENTIALS = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}


def throwaway_home(prefix: str) -> Path:
    """A fresh temporary directory, removed when this process exits."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def isolated_env(home: str | Path, log_level: str = "INFO") -> dict[str, str]:
    """The settings of an isolated Airflow process whose ``AIRFLOW_HOME`` is ``home``.

    :param home: The throw-away ``AIRFLOW_HOME`` (its missing files name the absent Alibaba
        Cloud profile and credentials files).
    :param log_level: ``[logging] logging_level``.
    """
    home = Path(home)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
        **NO_CLOUD_CREDENTIALS,
        "ALIBABA_CLOUD_PROFILE": "emr-ray-tests-none",
        "ALIBABA_CLOUD_CONFIG_FILE": str(home / "no-such-config.json"),
        "ALIBABA_CLOUD_CREDENTIALS_FILE": str(home / "no-such-credentials.ini"),
    }


def isolate(environ: MutableMapping[str, str], home: str | Path, log_level: str = "INFO") -> None:
    """Apply :func:`isolated_env` to ``environ`` where it sets nothing yet (``setdefault``)."""
    for key, value in isolated_env(home, log_level).items():
        environ.setdefault(key, value)
