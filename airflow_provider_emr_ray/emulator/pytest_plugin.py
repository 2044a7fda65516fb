"""``emr_ray_emulator``: a pytest fixture that serves the emulator to your own DAG tests.

Registered as a pytest plugin (entry point ``pytest11``), so it exists in every pytest session of
an environment where this package is installed; nothing is imported or started until a test asks
for the fixture::

    def test_my_dag(emr_ray_emulator):
        my_dag.test()  # emr_ray_default points at the emulator
        assert emr_ray_emulator.calls["SubmitRayJob"] == 1

The fixture serves the emulator on a loopback port for the test, points the connection
``emr_ray_default`` at it (an ``AIRFLOW_CONN_…`` environment variable), sets
``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`` (the credentials SDK never looks for a cloud
metadata service), and stops it after the test (every job process with it). The marker
``@pytest.mark.emr_ray_emulator(...)`` passes options: ``conn_id`` (another connection id) and any
:class:`~airflow_provider_emr_ray.emulator.EmulatorConfig` field (delays, ``execute_jobs``,
``oss_root``, faults...). By default state changes take a tenth of a second and job entrypoints
really run, as local processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["EmulatorFixture", "emr_ray_emulator"]

#: Quick state changes: a DAG test waits on them.
DEFAULT_OPTIONS: dict[str, Any] = {
    "cluster_start_delay": 0.1,
    "cluster_stop_delay": 0.1,
    "job_submit_delay": 0.1,
    "job_pending_delay": 0.1,
    "job_cancel_delay": 0.1,
}
MARKER = "emr_ray_emulator"


class EmulatorFixture:
    """What ``emr_ray_emulator`` gives a test: the endpoint and connection, fault injection and
    the call counters.

    :param handle: The running server (:class:`~airflow_provider_emr_ray.emulator.ServerHandle`).
    :param conn_id: The Airflow connection id pointed at it.
    :param connection: That connection's ``AIRFLOW_CONN_…`` JSON.
    """

    def __init__(self, handle: Any, conn_id: str, connection: str) -> None:
        self.handle = handle
        self.conn_id = conn_id
        self.connection = connection

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.handle.endpoint

    @property
    def emulator(self) -> Any:
        """The :class:`~airflow_provider_emr_ray.emulator.Emulator` (its store, config, stats)."""
        return self.handle.emulator

    def add_fault(self, **rule: Any) -> Any:
        """Inject a fault: the fields of :class:`~airflow_provider_emr_ray.emulator.FaultRule`
        (``kind="503", action="GetRayJob", times=2``; ``kind="429", probability=0.2, seed=1``...)."""
        return self.emulator.add_fault(**rule)

    def clear_faults(self) -> None:
        self.emulator.clear_faults()

    @property
    def calls(self) -> dict[str, int]:
        """Requests per action so far (``{"CreateRayCluster": 1, "GetRayJob": 7, ...}``)."""
        return dict(self.emulator.stats.calls)

    def stats(self) -> dict[str, Any]:
        """Every counter: calls, faults and rejections per action, Ray Jobs API calls."""
        return self.emulator.stats.to_dict()

    def clusters(self) -> dict[str, str]:
        """The clusters the emulator holds: id -> state."""
        store = self.emulator.store
        with store.lock:
            return {c["clusterId"]: c["state"] for c in store.clusters.values()}

    def jobs(self) -> dict[str, str]:
        """The SubmitRayJob jobs of the workspace: submission id -> status."""
        store = self.emulator.store
        with store.lock:
            return {j["submissionId"]: j["status"] for j in store.list_jobs(self.emulator.config.workspace_id)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(conn_id=..., **EmulatorConfig fields): options of the emr_ray_emulator fixture"
    )


@pytest.fixture
def emr_ray_emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorFixture]:
    """The emulator served on loopback for one test, ``emr_ray_default`` pointed at it."""
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread
    from airflow_provider_emr_ray.emulator.config import conn_json

    marker = request.node.get_closest_marker(MARKER)
    options = {**DEFAULT_OPTIONS, **(marker.kwargs if marker else {})}
    conn_id = str(options.pop("conn_id", "emr_ray_default"))
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    with serve_in_thread(EmulatorConfig(**options)) as handle:
        cfg = handle.config
        connection = conn_json(
            handle.endpoint,
            login=cfg.access_key_id,
            password=cfg.access_key_secret,
            region_id=cfg.region_id,
            workspace_id=cfg.workspace_id,
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection)
        yield EmulatorFixture(handle, conn_id, connection)
