"""Ray as a test-only oracle (``pip install -e '.[ray-oracle]'``; the package never imports it).

``scripts/test.sh`` installs Ray on the newest Airflow line only and sets ``EMR_RAY_REQUIRE_RAY=1``
there, so that a missing Ray fails these tests instead of skipping them; on the other lines they
skip with the reason.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str = "ray") -> ModuleType:
    """Import ``module`` (``ray`` or one of its submodules), or skip the test when Ray is not
    installed, or fail it when ``EMR_RAY_REQUIRE_RAY=1`` says Ray must be here."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if os.environ.get("EMR_RAY_REQUIRE_RAY") == "1":
            pytest.fail(f"Ray is required here (EMR_RAY_REQUIRE_RAY=1) but {module} does not import: {err}")
        pytest.skip(f"Ray is not installed ({module}: {err}); pip install -e '.[ray-oracle]'")
