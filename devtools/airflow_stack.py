"""A real, local Airflow 3 plus the EMR Ray emulator: started, driven and stopped from Python.

Used by :mod:`devtools.demo` (``bash scripts/demo.sh``) and by the end-to-end test
(``tests/e2e``). It starts:

* the emulator (``python -m airflow_provider_emr_ray.emulator``) on a free loopback port, with a
  fresh random AccessKey pair, its job logs under ``<root>/emulator``;
* ``airflow db migrate`` on a throwaway SQLite database in ``<root>/airflow`` (AIRFLOW_HOME);
* ``airflow api-server`` (bound to 127.0.0.1, free port), ``airflow scheduler`` (LocalExecutor,
  ``parallelism=4``), ``airflow dag-processor`` and ``airflow triggerer``. Every process gets
  ``AIRFLOW_CONN_EMR_RAY_DEFAULT`` pointing at the emulator. The two log servers of the
  scheduler and the triggerer cannot be bound to loopback in Airflow 3.3 (they listen on all
  interfaces): they get free ports.

Each process runs in its own process group (session); :meth:`AirflowStack.stop` terminates the
groups (SIGTERM, then SIGKILL after a grace period, with
:mod:`airflow_provider_emr_ray.emulator.procgroup`). ``stop`` is registered with ``atexit`` and
is idempotent; :func:`install_signal_handlers` turns SIGTERM/SIGHUP into an orderly exit.

Run it from the repository root to get a local Airflow with the example DAGs until Ctrl-C::

    python -m devtools.airflow_stack [--root .demo/stack]
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.emulator.config import DEFAULT_REGION as REGION
from airflow_provider_emr_ray.emulator.config import DEFAULT_WORKSPACE as WORKSPACE
from airflow_provider_emr_ray.emulator.config import conn_json
from airflow_provider_emr_ray.emulator.procgroup import group_alive, kill_groups, signal_group, wait_group_gone
from devtools import EXAMPLE_DAGS, REPO
from devtools.emulator import cli_args
from devtools.env import NO_CLOUD_CREDENTIALS

#: Emulator timings: a cluster starts in 3 s; a job stays Pending 12 s before it runs, as on a
#: real cluster where the runtime environment is set up first. Long enough for a sensor's first
#: poke to find the job unfinished, so that it really defers to the triggerer.
DEFAULT_EMULATOR_ARGS = cli_args(
    {"cluster_start_delay": 3, "cluster_stop_delay": 1, "job_submit_delay": 0.5, "job_pending_delay": 12}
)

TERMINAL_RUN_STATES = ("success", "failed")

#: The long-running Airflow components, in start order.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class StackError(RuntimeError):
    """A component failed to start, died, or something did not happen in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (``""``: on every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    output: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class AirflowStack:
    """One local Airflow + emulator under ``root``.

    :param root: Directory of everything the stack writes (made empty first).
    :param dags_folder: The DAGs folder (default: the repository's ``example_dags``).
    :param python: The interpreter of the virtualenv holding Airflow and the provider; its
        ``bin`` directory comes first on every process's ``PATH`` (so a job's ``python`` is it).
    :param say: Where progress lines go.
    :param emulator_args: Extra emulator command-line arguments (timings, faults).
    :param airflow_env: Extra ``AIRFLOW__...`` settings.
    :param default_task_retries: ``[core] default_task_retries`` of every task that sets none.
    """

    root: Path
    dags_folder: Path = EXAMPLE_DAGS
    python: str = sys.executable
    say: Callable[[str], None] = print
    emulator_args: tuple[str, ...] = DEFAULT_EMULATOR_ARGS
    airflow_env: Mapping[str, str] = field(default_factory=dict)
    default_task_retries: int = 0
    default_task_retry_delay: int = 3
    #: Seconds a REST API call may take. Generous: on SQLite, Airflow 3.3.2's api-server can hold
    #: every request for 20-35 s while the first task of a fresh stack starts (seen on 2 cores).
    api_timeout: float = 120.0

    processes: list[Process] = field(default_factory=list, init=False)
    emulator: Process | None = field(default=None, init=False)
    endpoint: str = field(default="", init=False)
    api_url: str = field(default="", init=False)
    access_key_id: str = field(default="", init=False)
    access_key_secret: str = field(default="", init=False, repr=False)
    env: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _stopped: bool = field(default=False, init=False)
    _api_token: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.dags_folder = Path(self.dags_folder).resolve()
        self.home = self.root / "airflow"
        self.outputs = self.root / "processes"
        self.emulator_data = self.root / "emulator"
        self.bin_dir = Path(self.python).parent

    # ------------------------------------------------------------------ version

    @functools.cached_property
    def airflow_version(self) -> tuple[int, int, int]:
        """The ``(major, minor, micro)`` of the Airflow the stack runs (that of :attr:`python`),
        as :func:`airflow_provider_emr_ray.version_compat.airflow_version` reads it."""
        if Path(self.python).resolve() == Path(sys.executable).resolve():
            return version_compat.airflow_version()
        code = "from airflow_provider_emr_ray.version_compat import airflow_version as v; print(*v())"
        out = subprocess.run(
            [self.python, "-c", code], env=self._base_env(), capture_output=True, text=True, check=True, timeout=60
        ).stdout
        major, minor, micro = (int(x) for x in out.split())
        return major, minor, micro

    def at_least(self, major: int, minor: int, micro: int = 0) -> bool:
        return self.airflow_version >= (major, minor, micro)

    # ------------------------------------------------------------------ paths

    @property
    def logs_folder(self) -> Path:
        """Airflow's ``[logging] base_log_folder``."""
        return self.home / "logs"

    @property
    def database(self) -> Path:
        return self.home / "airflow.db"

    def task_log_dir(self, dag_id: str, run_id: str, task_id: str) -> Path:
        return self.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def job_log_path(self, submission_id: str) -> Path:
        """The emulator's driver log file of a Ray job (what its entrypoint printed)."""
        return self.emulator_data / "logs" / WORKSPACE / submission_id / f"job-driver-{submission_id}.log"

    @property
    def connection(self) -> str:
        """The ``AIRFLOW_CONN_EMR_RAY_DEFAULT`` value (JSON) pointing at the emulator."""
        return conn_json(
            self.endpoint,
            login=self.access_key_id,
            password=self.access_key_secret,
            region_id=REGION,
            workspace_id=WORKSPACE,
        )

    # ------------------------------------------------------------------ start

    def __enter__(self) -> AirflowStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 180.0) -> None:
        """Start everything and wait until the api-server answers. Stops what it started on failure."""
        atexit.register(self.stop)
        try:
            self._start(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, deadline: float) -> None:
        marker = self.root / ".airflow-stack"
        if self.root.exists() and any(self.root.iterdir()):
            if not marker.exists():
                raise StackError(f"{self.root} is not empty and was not made by airflow_stack: not emptying it")
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        marker.write_text("made by devtools/airflow_stack.py; emptied on the next start\n")
        for d in (self.home, self.outputs, self.emulator_data):
            d.mkdir(parents=True)

        self.access_key_id = "LTAI5tLocal" + secrets.token_hex(6)
        self.access_key_secret = secrets.token_urlsafe(24)
        self.say("starting the EMR Ray emulator")
        self.emulator = self._spawn(
            "emulator",
            [
                self.python, "-m", "airflow_provider_emr_ray.emulator",
                "--host", "127.0.0.1", "--port", "0",
                f"--access-key-id={self.access_key_id}",
                f"--access-key-secret={self.access_key_secret}",  # '=' form: a secret may start with '-'
                "--region", REGION, "--workspace-id", WORKSPACE,
                "--data-dir", str(self.emulator_data),
                "--log-level", "warning",
                *self.emulator_args,
            ],
            env=self._base_env(),
        )
        self.endpoint = self._wait_for(self._emulator_endpoint, deadline, "the emulator's endpoint")
        self.say(f"emulator listening on {self.endpoint}")

        api_port = free_port("127.0.0.1")
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = self._airflow_env(api_port)

        self.say(f"creating the Airflow database in {self.home}")
        self._run(["airflow", "db", "migrate"], "db-migrate", timeout=max(30.0, deadline - time.monotonic()))

        self.say("starting api-server, scheduler, dag-processor and triggerer")
        for name in COMPONENTS:
            self._spawn(name, self._component_argv(name, api_port))
        self.say(f"waiting for the api-server on {self.api_url}")
        self._wait_for(self._api_healthy, deadline, "the api-server")
        self.say("api-server is up")

    def _component_argv(self, name: str, api_port: int) -> list[str]:
        if name == "api-server":
            return ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        return ["airflow", name]

    def component(self, name: str) -> Process:
        """The live (last started) process of component ``name`` (``"triggerer"``, ...)."""
        for proc in reversed(self.processes):
            if proc.name == name:
                return proc
        raise StackError(f"no {name} was started")

    def stop_component(self, name: str, grace: float = 30.0) -> None:
        """Stop one Airflow component (SIGTERM to its process group, SIGKILL after ``grace``
        seconds), as a deployment's rolling restart does; :meth:`start_component` starts it again."""
        proc = self.component(name)
        self._stop_groups([proc], grace)
        self.processes.remove(proc)
        self.say(f"stopped the {name} (exit {proc.popen.returncode})")

    def start_component(self, name: str) -> Process:
        """Start one Airflow component again (its output appended to the same file)."""
        if any(p.name == name for p in self.processes):
            raise StackError(f"the {name} is still running")
        port = int(urllib.parse.urlsplit(self.api_url).port or 0)
        proc = self._spawn(name, self._component_argv(name, port))
        self.say(f"started the {name} again (pid {proc.pid})")
        return proc

    def _base_env(self) -> dict[str, str]:
        # Nothing of the caller's Airflow configuration leaks in (pytest sets unit-test mode, ...).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.bin_dir.parent)
        env.pop("PYTHONHOME", None)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(NO_CLOUD_CREDENTIALS)
        return env

    def _airflow_env(self, api_port: int) -> dict[str, str]:
        env = self._base_env()
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": str(self.default_task_retries),
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": str(self.default_task_retry_delay),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                # Airflow 3.0.x signs its JWTs with iss=None when no issuer is set, which
                # PyJWT >= 2.10 refuses ("Issuer (iss) must be a string"): every token, the
                # REST API's and the workers' execution API ones, fails. Harmless on 3.1+.
                "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-e2e-stack",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port("")),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port("")),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW_CONN_EMR_RAY_DEFAULT": self.connection,
            }
        )
        if not self.at_least(3, 1):
            # Airflow 3.0 answers GET .../xcomEntries/{key}?deserialize=true (what xcom() asks)
            # with HTTP 400 unless [api] enable_xcom_deserialize_support is on; 3.1 dropped the key.
            env["AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT"] = "True"
        if self.at_least(3, 1, 1):
            # [workers] execution_api_timeout (3.1.1+; 5 s by default, fixed at 5 s before): on a
            # loaded 2-core machine the api-server answers a task's first PATCH .../run only after
            # 20-35 s (seen on 3.3.2), and the task then fails on its fifth read timeout.
            env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"] = "60"
        env.update(self.airflow_env)
        return env

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        output = self.outputs / f"{name}.out"
        argv = [str(self.bin_dir / argv[0]) if argv[0] == "airflow" else argv[0], *argv[1:]]
        with open(output, "ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=str(self.root),
                env=dict(env if env is not None else self.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
                preexec_fn=_die_with_parent,
            )
        proc = Process(name, popen, output)
        if name != "emulator":
            self.processes.append(proc)
        return proc

    def _run(self, argv: list[str], name: str, timeout: float) -> None:
        output = self.outputs / f"{name}.out"
        argv = [str(self.bin_dir / argv[0]), *argv[1:]]
        with open(output, "ab") as out:
            try:
                result = subprocess.run(
                    argv, cwd=str(self.root), env=self.env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, timeout=timeout, start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                raise StackError(f"`{' '.join(argv[1:])}` did not finish in {timeout:.0f}s; see {output}") from None
        if result.returncode != 0:
            raise StackError(f"`{' '.join(argv[1:])}` failed (exit {result.returncode}):\n{tail(output)}")

    def _emulator_endpoint(self) -> str | None:
        assert self.emulator is not None
        for line in tail(self.emulator.output, 20).splitlines():
            if line.startswith("EMR_RAY_EMULATOR_ENDPOINT="):
                return line.split("=", 1)[1].strip()
        return None

    def _api_healthy(self) -> bool:
        try:
            self.api("GET", "/api/v2/version")
        except (OSError, StackError):
            return False
        return True

    # ------------------------------------------------------------------ waiting

    def check_alive(self) -> None:
        """Raise :class:`StackError` naming a component that has died, with its last lines."""
        for proc in [self.emulator, *self.processes]:
            if proc is not None and not proc.alive():
                raise StackError(
                    f"the {proc.name} exited (code {proc.popen.returncode}); last lines of {proc.output}:\n"
                    + tail(proc.output)
                )

    def _wait_for(self, condition: Callable[[], Any], deadline: float, what: str, interval: float = 0.5) -> Any:
        """Poll ``condition`` until it returns something truthy, a component dies, or the deadline."""
        while True:
            self.check_alive()
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise StackError(f"timed out waiting for {what}")
            time.sleep(interval)

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
        return self._wait_for(condition, time.monotonic() + timeout, what, interval)

    # ------------------------------------------------------------------ REST API

    def _token(self) -> str | None:
        """The bearer token of the REST API calls, or None where none is needed.

        Every process runs with ``[core] simple_auth_manager_all_admins``. From Airflow 3.2 the
        simple auth manager's middleware then treats every request as an admin's (no token).
        On 3.0 and 3.1 the public API still wants a JWT: ``GET /auth/token`` hands an admin's
        one out without credentials in that mode (what the UI's auto-login uses)."""
        if self.at_least(3, 2):
            return None
        if self._api_token is None:
            request = urllib.request.Request(self.api_url + "/auth/token", headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                self._api_token = json.loads(response.read())["access_token"]
        return self._api_token

    def api(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """Call the api-server's REST API as an admin (``simple_auth_manager_all_admins``)."""
        url = self.api_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if path != "/api/v2/version" and (token := self._token()):
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.api_timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:500]
            raise StackError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        return json.loads(raw) if raw else None

    def import_errors(self) -> list[dict[str, Any]]:
        return self.api("GET", "/api/v2/importErrors")["import_errors"]

    def dag_parsed(self, dag_id: str) -> bool:
        errors = self.import_errors()
        if errors:
            text = "\n".join(f"{e.get('filename')}: {e.get('stack_trace')}" for e in errors)
            raise StackError(f"the DAG files have import errors:\n{text}")
        try:
            self.api("GET", f"/api/v2/dags/{dag_id}")
        except StackError as exc:
            if "HTTP 404" in str(exc):
                return False
            raise
        return True

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause the DAG and start a manual run (no logical date); returns its run id."""
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return run["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task instance's history: one entry per try (state, start and end dates, ...)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/tries"
        return self.api("GET", path)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/xcomEntries/{_q(key)}"
        return self.api("GET", path, params={"deserialize": "true"})["value"]

    def state_mismatches(self, dag_id: str) -> list[dict[str, Any]]:
        """Audit-log entries the scheduler writes when it fails a task the executor reported
        finished while the task instance was still queued (Airflow 3.3.2 race, apache/airflow#66374)."""
        logs = self.api("GET", "/api/v2/eventLogs", params={"dag_id": dag_id, "event": "state mismatch", "limit": 100})
        return logs["event_logs"]

    def wait_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float,
        on_change: Callable[[str, dict[str, str | None]], None] | None = None,
        interval: float = 1.0,
    ) -> str:
        """Poll the run until it ends (``success``/``failed``); ``on_change(state, task_states)``
        is called whenever the run's or a task's state changed. Returns the run's state."""
        last: tuple | None = None
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            state = self.dag_run(dag_id, run_id)["state"]
            states = self.task_states(dag_id, run_id)
            now = (state, tuple(sorted(states.items())))
            if now != last and on_change is not None:
                on_change(state, states)
            last = now
            if state in TERMINAL_RUN_STATES:
                return state
            if time.monotonic() >= deadline:
                raise StackError(f"the run {run_id} of {dag_id} did not finish in {timeout:.0f}s (task states {states})")
            time.sleep(interval)

    def files_under(self, *roots: Path) -> Iterable[Path]:
        for base in roots:
            if base.is_dir():
                yield from (p for p in sorted(base.rglob("*")) if p.is_file())

    # ------------------------------------------------------------------ stop

    def stop(self, grace: float = 15.0) -> None:
        """Stop every process the stack started (Airflow first, the emulator last). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        with _signals_ignored():  # a second Ctrl-C must not leave processes behind
            self._stop_all(grace)

    def _stop_all(self, grace: float) -> None:
        # The scheduler, triggerer and dag-processor first: their tasks and triggers still talk to
        # the api-server (the execution API) while they shut down; then the api-server.
        first = [p for p in self.processes if p.name != "api-server"]
        self._stop_groups(first, grace)
        self._stop_groups([p for p in self.processes if p not in first], grace)
        if self.emulator is not None:
            # SIGTERM lets the emulator kill its job process groups before it exits.
            self._stop_groups([self.emulator], 10.0)

    @staticmethod
    def _stop_groups(procs: list[Process], grace: float) -> None:
        """SIGTERM the groups together, give them ``grace`` seconds in all, SIGKILL what is left."""
        live = [p for p in procs if group_alive(p.pid)]
        for p in live:
            signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        left = [p for p in live if not wait_group_gone(p.pid, max(0.0, deadline - time.monotonic()))]
        kill_groups([p.popen for p in left])
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=5)


def _die_with_parent() -> None:
    """In the child, before exec (Linux): get SIGTERM when the process that started it dies, even
    by SIGKILL, so a killed demo or test run does not leave an Airflow behind."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def _signals_ignored():
    """Ignore SIGINT/SIGTERM/SIGHUP for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def install_signal_handlers() -> None:
    """Make Ctrl-C raise ``KeyboardInterrupt`` (even when started in the background, where SIGINT
    is inherited ignored) and SIGTERM/SIGHUP raise ``SystemExit``, so ``finally`` blocks and
    ``atexit`` handlers stop the stack. Call it from the main thread."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run a local Airflow + EMR Ray emulator until Ctrl-C.")
    parser.add_argument("--root", default=str(REPO / ".demo" / "stack"), help="working directory (emptied first)")
    parser.add_argument("--dags-folder", default=str(EXAMPLE_DAGS))
    args = parser.parse_args(argv)
    install_signal_handlers()
    stack = AirflowStack(root=Path(args.root), dags_folder=Path(args.dags_folder))
    try:
        stack.start()
        print(f"Airflow UI/API: {stack.api_url}  (AIRFLOW_HOME={stack.home}); Ctrl-C stops everything")
        print(f"emulator: {stack.endpoint}")
        while True:
            stack.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        return 130
    finally:
        print("stopping every process")
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
