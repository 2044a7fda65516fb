"""Job processes: a job's entrypoint runs as a local shell command in its own process group.

:class:`JobProcesses` starts entrypoints (in a working directory prepared by the caller,
see :mod:`.sources`; ``runtime_env`` ``env_vars`` in the environment, output to the job's driver log), reports
their exit, and stops whole groups (SIGTERM then SIGKILL after a grace period) through
:mod:`.procgroup`, the one process-group implementation. No child outlives the emulator, even
when ``close()`` is forgotten.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
import weakref
from pathlib import Path
from airflow_provider_emr_ray.emulator.procgroup import kill_groups, signal_group

__all__ = ["JobProcesses", "job_environment", "runtime_env_vars", "shell_quote"]


def shell_quote(*parts: str) -> str:
    """Quote a command line for an entrypoint (``shell_quote(sys.executable, "-c", code)``)."""
    return " ".join(shlex.quote(p) for p in parts)


def runtime_env_vars(runtime_env_json: str) -> dict[str, str]:
    """``env_vars`` of a SubmitRayJob ``runtimeEnvJson`` (nothing when it is not valid JSON)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        env_vars = json.loads(runtime_env_json or "{}").get("env_vars") or {}
        return {str(k): str(v) for k, v in env_vars.items()}
    return {}


def job_environment(submission_id: str, env_vars: dict[str, str], *, python_path: list[str] = ()) -> dict[str, str]:
    """An entrypoint's environment: the emulator's, ``env_vars`` (runtime_env), ``python_path``
    prepended to ``PYTHONPATH``, and the job's ids."""
    env = dict(os.environ)
    env.update(env_vars)
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*python_path, *filter(None, [env.get("PYTHONPATH")])])
    env.update(
        PYTHONUNBUFFERED="1",
        EMR_RAY_EMULATOR="1",
        EMR_RAY_SUBMISSION_ID=submission_id,
        RAY_JOB_SUBMISSION_ID=submission_id,
    )
    return env


def _kill_all(procs: dict[str, subprocess.Popen]) -> None:
    kill_groups(list(procs.values()))
    procs.clear()


class JobProcesses:
    """The running entrypoints, by key (submission id). Callers hold the store's lock."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}
        #: Monotonic time at which a cancelled job's group gets SIGKILL.
        self._kill_at: dict[str, float] = {}
        self._finalizer = weakref.finalize(self, _kill_all, self._procs)

    def start(self, key: str, command: str, *, cwd: Path, log_file: Path, env: dict[str, str]) -> int | None:
        """Run shell ``command`` in ``cwd`` as a new process group, output appended to ``log_file``.

        Returns its pid, or None (the reason written to ``log_file``) when it cannot be started.
        ``key`` names it for the other methods (an OpenAPI submission id, or a Ray Jobs API key).
        """
        cwd.mkdir(parents=True, exist_ok=True)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:
            try:
                proc = subprocess.Popen(
                    command,
                    shell=True,
                    cwd=str(cwd),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"failed to start the entrypoint: {exc}\n".encode())
                return None
        self._procs[key] = proc
        return proc.pid

    def tracked(self, sid: str) -> bool:
        return sid in self._procs

    def exit_code(self, sid: str) -> int | None:
        """The entrypoint's exit code once it has ended (None while it runs or when untracked)."""
        proc = self._procs.get(sid)
        return proc.poll() if proc is not None else None

    def running(self, sid: str) -> bool:
        proc = self._procs.get(sid)
        return proc is not None and proc.poll() is None

    def terminate(self, sid: str, grace: float) -> None:
        """SIGTERM the job's group; :meth:`enforce_grace` sends SIGKILL ``grace`` seconds later."""
        proc = self._procs.get(sid)
        if proc is not None:
            signal_group(proc.pid, signal.SIGTERM)
            self._kill_at[sid] = time.monotonic() + grace

    def enforce_grace(self, sid: str) -> None:
        """SIGKILL a terminated job's group that outlived its grace period."""
        kill_at = self._kill_at.get(sid)
        if kill_at is not None and time.monotonic() >= kill_at and self.running(sid):
            self._signal_kill(sid)

    def kill(self, sid: str) -> None:
        """SIGKILL the job's group, reap its leader and forget it."""
        self._signal_kill(sid)
        self.forget(sid)

    def forget(self, sid: str) -> None:
        self._procs.pop(sid, None)
        self._kill_at.pop(sid, None)

    def close(self) -> None:
        """Kill every job process group and wait until no member is left."""
        _kill_all(self._procs)
        self._kill_at.clear()

    def _signal_kill(self, sid: str) -> None:
        proc = self._procs.get(sid)
        if proc is None:
            return
        signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
