"""Shared helpers of the benchmarks: the emulator subprocess, statistics, figures, the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools import REPO as ROOT
from devtools.env import isolate, isolated_env, throwaway_home

BENCH_DIR = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------------ env


def python_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark subprocess: the repository importable, Airflow quiet
    and isolated (its own AIRFLOW_HOME, no examples, no metadata service lookups)."""
    env = dict(os.environ)
    # Byte-code as an installed package has it (pip compiles on install), cached outside the
    # checkout: without it every fresh interpreter recompiles our sources and nothing else.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "emr-ray-bench-pycache"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(ROOT)) if p)
    home = env.setdefault("AIRFLOW_HOME", airflow_home())
    for key, value in isolated_env(home).items():
        if key != "AIRFLOW__LOGGING__LOGGING_LEVEL":  # Airflow's own default, unless the parent set one
            env.setdefault(key, value)
    env.update(extra)
    return env


_HOME: str | None = None


def setup_airflow_env(log_level: str = "WARNING") -> None:
    """The same isolation for this (parent) process, before it imports airflow."""
    isolate(os.environ, os.environ.get("AIRFLOW_HOME") or airflow_home(), log_level)


def airflow_home() -> str:
    """One throw-away AIRFLOW_HOME per benchmark process (and its children)."""
    global _HOME
    if _HOME is None:
        # Made by the first (parent) process, removed when it exits; its children inherit it.
        _HOME = os.environ.get("EMR_RAY_BENCH_AIRFLOW_HOME") or str(throwaway_home("emr-ray-bench-home-"))
        os.environ["EMR_RAY_BENCH_AIRFLOW_HOME"] = _HOME
    return _HOME


@dataclass(frozen=True)
class Credentials:
    """What an ``emr_ray`` connection JSON holds (the emulator's key pair, region, workspace)."""

    access_key_id: str
    access_key_secret: str
    region_id: str
    workspace_id: str
    endpoint: str

    @classmethod
    def of(cls, connection: str) -> Credentials:
        """Read from ``AIRFLOW_CONN_EMR_RAY_DEFAULT``'s value (built by the emulator's ``conn_json``)."""
        conn = json.loads(connection)
        extra = conn["extra"]
        return cls(conn["login"], conn["password"], extra["region_id"], extra["workspace_id"], extra["endpoint"])


# ------------------------------------------------------------------------------- emulator


@dataclass
class EmulatorProcess:
    """``python -m airflow_provider_emr_ray.emulator`` in its own process group.

    ``connection`` is the ``AIRFLOW_CONN_EMR_RAY_DEFAULT`` value the emulator printed for itself
    (so the benchmarks build no connection and need not import the emulator)."""

    proc: subprocess.Popen
    endpoint: str
    connection: str
    log_path: str

    @property
    def credentials(self) -> Credentials:
        return Credentials.of(self.connection)

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint}/__emulator__/{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._control("DELETE", "stats")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the emulator process so far (Linux)."""
        with open(f"/proc/{self.proc.pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def emulator_process(
    *args: str, control: bool = True, command: Sequence[str] | None = None, startup_timeout: float = 60.0
) -> Iterator[EmulatorProcess]:
    """Start the emulator CLI on a free loopback port (``--port 0``), job execution off, control
    routes on (unless ``control`` is false); yield once it printed its endpoint and connection;
    stop its whole process group.

    :param args: Further emulator arguments (delays, faults).
    :param control: Serve the ``/__emulator__`` routes (``stats()`` needs them).
    :param command: Another server to start instead; it prints ``EMR_RAY_EMULATOR_ENDPOINT=``
        only (``connection`` is empty).
    """
    # Imported here: importing any emulator module loads the whole emulator (starlette, uvicorn),
    # which a measured child process importing this module must not carry.
    from airflow_provider_emr_ray.emulator.procgroup import stop_group

    log = tempfile.NamedTemporaryFile(prefix="emr-ray-bench-emulator-", suffix=".log", delete=False)
    cmd = list(command or [
        sys.executable, "-m", "airflow_provider_emr_ray.emulator", "--host", "127.0.0.1", "--port", "0",
        "--no-exec", *(["--enable-control"] if control else []), "--log-level", "warning", *args,
    ])  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=python_env(), cwd=str(ROOT), start_new_session=True
    )
    try:
        printed: dict[str, str] = {}
        last = "EMR_RAY_EMULATOR_ENDPOINT" if command else "AIRFLOW_CONN_EMR_RAY_DEFAULT"  # printed last
        deadline = time.monotonic() + startup_timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline and last not in printed:
            line = proc.stdout.readline()
            if not line:
                break
            name, sep, value = line.strip().partition("=")
            if sep and name in ("EMR_RAY_EMULATOR_ENDPOINT", "AIRFLOW_CONN_EMR_RAY_DEFAULT"):
                printed[name] = shlex.split(value)[0]  # the connection is printed shell-quoted
        if "EMR_RAY_EMULATOR_ENDPOINT" not in printed:
            raise RuntimeError(f"the emulator did not print its endpoint (see {log.name})")
        handle = EmulatorProcess(
            proc=proc,
            endpoint=printed["EMR_RAY_EMULATOR_ENDPOINT"],
            connection=printed.get("AIRFLOW_CONN_EMR_RAY_DEFAULT", ""),
            log_path=log.name,
        )
        for _ in range(200 if control else 0):  # the socket is bound before the lines are printed; wait for uvicorn
            with contextlib.suppress(OSError):
                handle.stats()
                break
            time.sleep(0.05)
        yield handle
    finally:
        stop_group(proc)
        log.close()


# ----------------------------------------------------------------------------- statistics


@dataclass
class Summary:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        values = list(values)
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, scale: float = 1.0, unit: str = "", digits: int = 1) -> str:
        m, lo, hi = self.median * scale, self.low * scale, self.high * scale
        return f"{m:.{digits}f}{unit} [{lo:.{digits}f}–{hi:.{digits}f}, n={self.n}]"


def paired_ratio(ours: Sequence[float], ref: Sequence[float]) -> Summary:
    """Ratios of the measurements taken side by side (A/B alternated), summarised."""
    return Summary.of([a / b for a, b in zip(ours, ref) if b])


def alternate(named: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each measurement ``rounds`` times, interleaved, rotating the order every round so
    no side always runs first (drift and neighbours' load hit every side alike)."""
    names = list(named)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(named[name]())
    return out


def cpu_now() -> float:
    """CPU seconds (user + system) of this process, every thread."""
    return time.process_time()


# -------------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """One row of RESULTS.md."""

    figure: str
    ours: str
    reference: str
    ratio: str
    target: str
    met: bool | None
    details: str = ""
    section: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def at_most(
    figure: str, ours: str, reference: str, paired: Summary, limit: float, details: str, section: str, **more: Any
) -> Figure:
    """A figure whose target is a paired ratio ``paired`` (ours / reference) of at most ``limit``
    (its median).

    ``more``: other :class:`Figure` fields (``ratio`` text, ``target`` text, ``raw``) replacing
    the default ``ratio`` (three decimals with the spread) and ``target`` (``≤ limit``).
    """
    fields: dict[str, Any] = {"ratio": paired.fmt(1, "", 3), "target": f"≤ {limit}", **more}
    return Figure(figure, ours, reference, met=paired.median <= limit, details=details, section=section, **fields)


def machine() -> str:
    cpus = os.cpu_count() or 0
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), platform.machine())
    except OSError:
        model = platform.machine()
    mem = ""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo") as fh:
            kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GB"
    return f"{cpus} CPU {model}{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()} (shared, noisy)"


def short_machine() -> str:
    return f"{os.cpu_count()} CPU, Py {platform.python_version()}"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "–"}[met]


def print_figures(figures: Sequence[Figure]) -> None:
    for f in figures:
        print(f"- {f.figure}: ours {f.ours} | ref {f.reference} | ratio {f.ratio} | target {f.target} -> {verdict(f.met)}")
        if f.details:
            print(f"    {f.details}")


def quick_main(doc: str | None, run: Callable[..., Sequence[Figure]], argv: list[str] | None = None) -> int:
    """The command line of a benchmark whose only option is ``--quick`` (a smoke run: few
    repeats): run it and print its figures."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: few repeats")
    args = p.parse_args(argv)
    print_figures(run(quick=args.quick))
    return 0


def results_dir() -> Path:
    """Where raw results go: ``benchmarks/results/`` (or ``$EMR_RAY_BENCH_RESULTS_DIR``)."""
    return Path(os.environ.get("EMR_RAY_BENCH_RESULTS_DIR") or BENCH_DIR / "results")


def save_json(name: str, payload: Any) -> Path:
    """Raw results of one benchmark, beside RESULTS.md (``benchmarks/results/<name>.json``)."""
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
