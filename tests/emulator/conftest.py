from __future__ import annotations

import httpx
import pytest

from airflow_provider_emr_ray.emulator import EmulatorConfig, FakeClock, create_app
from tests.emulator.helpers import FAST_DELAYS, AsyncCaller


@pytest.fixture
def make_app(tmp_path):
    """Factory of in-process emulator apps (closed, i.e. process groups killed, at teardown)."""
    apps = []

    def make(**overrides):
        settings = {**FAST_DELAYS, "execute_jobs": False, "data_dir": str(tmp_path / f"data{len(apps)}"), **overrides}
        app = create_app(EmulatorConfig(**settings))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.emulator.close()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def connect():
    """``caller = await connect(app)``: a signed caller over httpx.ASGITransport."""
    clients = []

    async def _connect(app, **defaults):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        clients.append(client)
        return AsyncCaller(client, **defaults)

    yield _connect
    for client in clients:
        await client.aclose()
