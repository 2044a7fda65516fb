"""Serving the emulator with uvicorn: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from airflow_provider_emr_ray.emulator.app import Emulator, EmulatorApp, create_app
from airflow_provider_emr_ray.emulator.config import EmulatorConfig


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; ``port=0`` picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: EmulatorApp, *, log_level: str = "warning", access_log: bool = False) -> uvicorn.Config:
    """uvicorn settings: no access log by default (URLs can carry log-link signatures)."""
    return uvicorn.Config(
        app,
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        proxy_headers=False,
        date_header=True,
        timeout_graceful_shutdown=5,
    )


@dataclass
class ServerHandle:
    """What :func:`serve_in_thread` yields."""

    app: EmulatorApp
    emulator: Emulator
    server: uvicorn.Server
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (the value of the connection's ``endpoint`` extra)."""
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config


@contextlib.contextmanager
def serve_in_thread(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    app: EmulatorApp | None = None,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> Iterator[ServerHandle]:
    """Serve the emulator with uvicorn on a loopback port in a background thread.

    Waits until ``server.started`` is true (a condition, not a fixed sleep), and on exit asks the
    server to stop, joins the thread and kills every job process group.
    """
    app = app or create_app(config)
    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, log_level=log_level))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # uvicorn < 0.29
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"emr-ray-emulator-{actual_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the emulator failed to start: {errors[0] if errors else 'server thread exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("the emulator did not start in time")
        thread.join(0.005)
    try:
        yield ServerHandle(app=app, emulator=app.emulator, server=server, host=host, port=actual_port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():  # pragma: no cover
            server.force_exit = True
            thread.join(timeout=5)
        app.emulator.close()
        with contextlib.suppress(OSError):
            sock.close()
