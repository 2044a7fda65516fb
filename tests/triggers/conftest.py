"""The served emulator and its connection of ``tests/operators/conftest.py``, for the shared
watchers' integration tests."""

from tests.operators.conftest import emr_ray_conn, emulator  # noqa: F401
