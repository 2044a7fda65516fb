"""Fixtures of the browser tests: Debian's Chromium, the emulator, a real Airflow api-server.

One session starts, on loopback only:

* the EMR Ray emulator (a uvicorn thread in this process, free port);
* ``airflow db migrate`` then ``airflow api-server -w 1`` in their own process group, with a
  throwaway ``AIRFLOW_HOME`` (SQLite), connection testing enabled and the simple auth manager
  treating everyone as admin (no login form);
* headless Chromium from Debian's ``chromium`` package, driven by Playwright. When
  ``/usr/bin/chromium`` is missing, ``scripts/install-browser.sh`` installs ``chromium`` and
  ``chromium-driver`` with apt-get. If that is impossible the tests are skipped locally and fail
  in CI (``CI=true``).

The api-server boots while Chromium is being installed. Readiness is a health poll with a
deadline; teardown kills the whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_emr_ray.emulator.procgroup import stop_group
from devtools import REPO as REPO_ROOT
from devtools.airflow_stack import free_port
from devtools.env import NO_CLOUD_CREDENTIALS

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-browser.sh"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# What Chromium needs to run headless as root on a bare machine (Playwright adds --headless and
# a fresh temporary --user-data-dir for every launch).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
API_SERVER_START_TIMEOUT = 180.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives the real Airflow UI in headless Chromium against a live api-server (run in CI)",
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(message: str) -> None:
    """No browser here: fail in CI (the test must run there), skip with the reason locally."""
    if _in_ci():
        pytest.fail(f"browser tests cannot run: {message}", pytrace=False)
    pytest.skip(f"browser tests cannot run: {message}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the browser tests' known-bug xfails with their reasons (pytest hides them by default)."""
    reports = [r for r in terminalreporter.stats.get("xfailed", []) if "tests/browser/" in r.nodeid.replace("\\", "/")]
    if reports:
        terminalreporter.section("browser tests: known problems (xfailed)")
        for report in reports:
            terminalreporter.line(f"{report.nodeid}\n    {getattr(report, 'wasxfail', '')}")
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.line(f"browser test screenshots: {ARTIFACTS}")


# ------------------------------------------------------------------------------------ Chromium


@pytest.fixture(scope="package")
def chromium_executable() -> str:
    """Path of Debian's Chromium; installs ``chromium`` and ``chromium-driver`` when missing."""
    override = os.environ.get("EMR_RAY_CHROMIUM")
    if override:
        if not os.access(override, os.X_OK):
            _unavailable(f"EMR_RAY_CHROMIUM={override!r} is not an executable")
        return override
    if not os.access(DEFAULT_CHROMIUM, os.X_OK):
        proc = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0 or not os.access(DEFAULT_CHROMIUM, os.X_OK):
            _unavailable(
                f"{DEFAULT_CHROMIUM} is missing and {INSTALL_SCRIPT.name} could not install it "
                f"(exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}"
            )
    return DEFAULT_CHROMIUM


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed (it is in the 'test' extra)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(_airflow_process: AirflowApiServer, chromium_executable: str, playwright_instance: Any) -> Iterator[Any]:
    """Headless Chromium. ``_airflow_process`` comes first so Airflow boots while Chromium installs."""
    try:
        browser = playwright_instance.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
    except Exception as exc:  # noqa: BLE001  # e.g. a Playwright too old or too new for this Chromium
        pytest.fail(f"Playwright could not launch {chromium_executable}: {exc}", pytrace=False)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="package")
def artifacts_dir() -> Path:
    """``test-artifacts/browser`` (git-ignored), emptied of the previous run's screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.html")]:
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def page(airflow: AirflowApiServer, browser: Any, artifacts_dir: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; on failure its screenshot and HTML go to the artifacts."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=airflow.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            stem = "FAILED-" + request.node.name.replace("/", "_")
            with contextlib.suppress(Exception):
                page.screenshot(path=str(artifacts_dir / f"{stem}.png"), animations="disabled")
                (artifacts_dir / f"{stem}.html").write_text(page.content())
        context.close()


# ------------------------------------------------------------------------------------ emulator


@pytest.fixture(scope="package")
def emulator() -> Iterator[Any]:
    """The EMR Ray emulator on a free loopback port, with its default AccessKey pair."""
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread

    with serve_in_thread(EmulatorConfig(execute_jobs=False)) as handle:
        yield handle


# ------------------------------------------------------------------------------------ Airflow


@dataclass
class AirflowApiServer:
    """A live ``airflow api-server`` on loopback with its own ``AIRFLOW_HOME``."""

    url: str
    home: Path
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)
    ready: bool = False

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        # One process group: `db migrate`, then the api-server and its uvicorn worker.
        script = 'set -e; "$0" -m airflow db migrate; exec "$0" -m airflow api-server -H 127.0.0.1 -p "$1" -w 1'
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                ["bash", "-c", script, sys.executable, port], env=self.env, cwd=self.home,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = API_SERVER_START_TIMEOUT) -> None:
        """Poll the health endpoint until the metadata database reports healthy (deadline, no sleeps)."""
        import httpx

        if self.ready:
            return
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=5) as client:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(
                        f"airflow api-server exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}",
                        pytrace=False,
                    )
                try:
                    answer = client.get(f"{self.url}/api/v2/monitor/health")
                    if answer.status_code == 200 and answer.json()["metadatabase"]["status"] == "healthy":
                        self.ready = True
                        return
                    last = f"HTTP {answer.status_code}: {answer.text[:200]}"
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"airflow api-server not healthy within {timeout:.0f} s ({last}):\n{self.log_tail()}",
                        pytrace=False,
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.25)  # the poll interval; returns at once if it died

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left (workers may outlive the leader)."""
        if self.proc is not None:
            stop_group(self.proc, grace=20)

    def get_json(self, path: str) -> Any:
        """GET a REST API path with an all-admins token (``GET /auth/token``): 3.0 refuses
        unauthenticated REST calls even when everyone is admin; later lines accept either."""
        import httpx

        with httpx.Client(base_url=self.url, timeout=30) as client:
            token = client.get("/auth/token")
            token.raise_for_status()
            answer = client.get(path, headers={"Authorization": f"Bearer {token.json()['access_token']}"})
            answer.raise_for_status()
            return answer.json()

    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run ``airflow ARGS`` against the same ``AIRFLOW_HOME``; returns stdout."""
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            check=False,
            env={**self.env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout

    def connection(self, conn_id: str) -> dict[str, Any]:
        """The stored connection in clear text (``airflow connections get -o json``)."""
        out = self.cli("connections", "get", conn_id, "-o", "json")
        start = out.find("[")  # tolerate stray warnings printed before the JSON
        (conn,) = json.loads(out[start:])
        return conn


@pytest.fixture(scope="package")
def _airflow_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    home = tmp_path_factory.mktemp("browser-airflow-home")
    (home / "dags").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "AIRFLOW_HOME"
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),
        # Airflow recommends setting it; 3.0.0 signs tokens with ``iss=None`` otherwise, which PyJWT
        # 2.10+ refuses ("Issuer (iss) must be a string": every UI request then fails with HTTP 500).
        AIRFLOW__API_AUTH__JWT_ISSUER="emr-ray-browser-tests",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        # The credentials SDK must never look for a real metadata service from the api-server.
        **NO_CLOUD_CREDENTIALS,
    )
    server = AirflowApiServer(
        url=f"http://127.0.0.1:{free_port()}", home=home, env=env, log_path=home / "api-server.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def airflow(_airflow_process: AirflowApiServer, chromium_executable: str) -> AirflowApiServer:
    """The ready api-server. It boots while ``chromium_executable`` installs the browser."""
    _airflow_process.wait_ready()
    return _airflow_process
