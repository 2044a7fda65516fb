"""Figure 5 - job log memory.

A Ray job's driver log of 50 MB (431,035 lines of ~116 bytes) copied into the task log by
:mod:`airflow_provider_emr_ray.utils.logs`, on both submission paths, against the emulator in
another process (``python -m airflow_provider_emr_ray.emulator``, ``--delay 0``):

* the OpenAPI path (a SubmitRayJob job, :class:`~airflow_provider_emr_ray.utils.logs.OpenApiLog`:
  ListRayLogs, a GetRayLog URL, HTTP ``Range`` downloads streamed in chunks); the log file is
  written straight into the emulator's log directory of the job
  (``<data-dir>/logs/<workspace>/<submissionId>/job-driver-<submissionId>.log``);
* the Ray path (a job of Ray's Jobs API, :class:`~airflow_provider_emr_ray.utils.logs.RayJobsLog`:
  the websocket tail ``/api/jobs/{id}/logs/tail`` through ``EmrRayHook.ray_open_log_tail``);
  the job's entrypoint is ``cat`` of the same file, so it prints the 50 MB itself.

Both jobs have ended before anything is measured. Cases, each in a fresh subprocess:

* ``copy_log(source, log)`` with its defaults (``log_lines=2000``, ``log_bytes=1 MiB``): the
  bounded copy a deferred task does when it resumes;
* ``LiveLog(source, log)`` following the log to its end (``pump(0.5)`` until all of it was
  read, then ``finish()``, the rest of each pump not slept): every line goes through;
* the naive reference of each path, the whole log in one answer: ``httpx.get(url).text`` of the
  same GetRayLog URL (OpenAPI) and ``hook.ray_get_job_logs`` (``GET /api/jobs/{id}/logs``,
  which is also ``RayJobsLog``'s fallback where the endpoint takes no websocket).

The logger is a null logger (it counts the lines and keeps the last, nothing else), so the
reader is measured, not a log sink. Each child imports everything, builds its hook and makes one
call (warm-up), collects the garbage, resets its peak RSS (``/proc/self/clear_refs``), then
reads its RSS (the baseline) and runs its case; the figure is ``VmHWM`` after the case less that
baseline. A second run of each case under ``tracemalloc`` gives the peak of Python allocations
(less the traced size before the case; timings of those runs are not used). Every run checks
what reached the logger: the line count (all lines live, 2,000 for the copy) and the last line.

Target: peak RSS growth < 64 MiB for every case of ours (the naive references have no target).

Run alone: ``python -m benchmarks.job_log_memory [--quick]`` (``--quick``: one round).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    Figure,
    Summary,
    emulator_process,
    print_figures,
    python_env,
    save_json,
    setup_airflow_env,
)

MiB = 1024 * 1024
LOG_SIZE = 50 * 1000 * 1000  # "a 50 MB driver log"
TARGET_GROWTH_MIB = 64
PUMP_SECONDS = 0.5
CASES = ("copy-openapi", "copy-ray", "live-openapi", "live-ray", "naive-openapi", "naive-ray")
LABELS = {
    "copy-openapi": "copy_log, OpenAPI path (GetRayLog URL + Range)",
    "copy-ray": "copy_log, Ray path (Jobs API websocket tail)",
    "live-openapi": "LiveLog to the end, OpenAPI path",
    "live-ray": "LiveLog to the end, Ray path",
    "naive-openapi": "naive: httpx.get(GetRayLog URL).text",
    "naive-ray": "naive: hook.ray_get_job_logs (GET /logs, whole)",
}
NOTES = {
    "copy-openapi": "only the last log_bytes (1 MiB) is downloaded (a suffix Range), the rest is left out with a line "
    "saying so",
    "copy-ray": "the websocket tail streams all of the log through; the last 2,000 lines are kept",
}
REFERENCE = {"copy-openapi": "naive-openapi", "live-openapi": "naive-openapi",
             "copy-ray": "naive-ray", "live-ray": "naive-ray"}  # fmt: skip


# ------------------------------------------------------------------------------ the log file


def write_log(path: Path, size: int) -> dict[str, Any]:
    """A deterministic driver log of ``size`` bytes (whole lines, ASCII): its line count and last line."""
    lines, written, last = 0, 0, ""
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        buf: list[str] = []
        while written < size:
            last = (
                f"(train_fn pid=4242, ip=10.0.0.7) 2026-12-02 12:{lines // 60000 % 60:02d}:{lines // 1000 % 60:02d},"
                f"{lines % 1000:03d} INFO step={lines:09d} loss=0.{(lines * 7919) % 100000:05d} "
                f"throughput={(lines * 31) % 9000 + 1000} samples/s"
            )
            buf.append(last + "\n")
            written += len(last) + 1
            lines += 1
            if len(buf) >= 10000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return {"bytes": path.stat().st_size, "lines": lines, "last": last}


# ---------------------------------------------------------------------------------- children


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


class NullLog:
    """A logger that discards: counts the job's lines (``[ray] <line>``), keeps the last one and
    the other messages (few: a header line, warnings)."""

    def __init__(self) -> None:
        self.lines = 0
        self.last: str | None = None
        self.other: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        if msg == "%s %s" and len(args) == 2:
            self.lines += 1
            self.last = args[1]
        else:
            self.other.append(msg % args if args else msg)

    warning = info


def child(case: str, spec: dict[str, Any], traced: bool) -> dict[str, Any]:
    """One case in this (fresh) process; what it measured."""
    import httpcore  # noqa: F401 - imported before the baseline, as the hook does on first use
    import httpx

    from airflow_provider_emr_ray.client import ray_log_tail  # noqa: F401
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
    from airflow_provider_emr_ray.utils import logs

    hook = EmrRayHook()
    cluster_id, api_sid, ray_sid = spec["cluster_id"], spec["openapi_sid"], spec["ray_sid"]
    job = spec["openapi_job"]
    hook.get_ray_cluster(cluster_id)  # warm-up: connection, signing, models, the Jobs API target
    hook.ray_get_job(cluster_id, ray_sid)
    log = NullLog()
    extra: dict[str, Any] = {}

    def run_case() -> None:
        if case.startswith("copy-"):
            source = logs.source_for(hook, api_sid, job=job, api="openapi") if case == "copy-openapi" else \
                logs.source_for(hook, ray_sid, api="ray", cluster_id=cluster_id)  # fmt: skip
            logs.copy_log(source, log)
        elif case.startswith("live-"):
            source = logs.source_for(hook, api_sid, job=job, api="openapi") if case == "live-openapi" else \
                logs.source_for(hook, ray_sid, api="ray", cluster_id=cluster_id)  # fmt: skip
            live = logs.LiveLog(source, log, sleep=lambda s: None)
            pumps = 0
            while pumps < 10000:
                live.pump(PUMP_SECONDS)
                pumps += 1
                if live.broken:
                    break
                if isinstance(source, logs.OpenApiLog):
                    if source.size is not None and live.offset >= source.size:
                        break
                elif live._ended:  # the tail closed: the server sent everything (the job ended)
                    break
            live.finish()
            extra["pumps"] = pumps
        elif case == "naive-openapi":
            listing = hook.list_ray_logs(api_sid, bucket_name=job.get("logBucketName"), prefix=job.get("logPath"))
            path = listing["objectList"][0]["path"]
            url = hook.get_ray_log(api_sid, path=path, bucket_name=listing.get("bucketName"))
            text = httpx.get(url, timeout=60).text
            log.lines, log.last = text.count("\n"), text[text.rstrip("\n").rfind("\n") + 1 :].rstrip("\n")
            del text
        elif case == "naive-ray":
            text = hook.ray_get_job_logs(cluster_id, ray_sid)
            log.lines, log.last = text.count("\n"), text[text.rstrip("\n").rfind("\n") + 1 :].rstrip("\n")
            del text
        else:
            raise SystemExit(f"unknown case {case!r}")

    gc.collect()
    if traced:
        import tracemalloc

        tracemalloc.start()
        t_base = tracemalloc.get_traced_memory()[0]
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # VmHWM := VmRSS
    base_kb = _status_kb("VmRSS")
    t0 = time.perf_counter()
    c0 = time.process_time()
    run_case()
    cpu = time.process_time() - c0
    wall = time.perf_counter() - t0
    peak_kb = _status_kb("VmHWM")
    out = {
        "case": case,
        "traced": traced,
        "base_rss_mib": base_kb / 1024,
        "peak_rss_mib": peak_kb / 1024,
        "growth_mib": (peak_kb - base_kb) / 1024,
        "wall_s": wall,
        "cpu_s": cpu,
        "lines": log.lines,
        "last": log.last,
        "other": log.other[:5],
        **extra,
    }
    if traced:
        out["traced_peak_mib"] = (tracemalloc.get_traced_memory()[1] - t_base) / MiB
        tracemalloc.stop()
    hook.close()
    return out


def _spawn(case: str, spec_file: Path, connection: str, traced: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.job_log_memory", "--child", case, "--spec", str(spec_file)]
    if traced:
        cmd.append("--traced")
    env = python_env(AIRFLOW_CONN_EMR_RAY_DEFAULT=connection, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    proc = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"case {case} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ parent


def _prepare(emu: Any, data_dir: Path, log_file: Path) -> dict[str, Any]:
    """A running cluster, a SubmitRayJob job whose driver log is ``log_file`` and a Ray Jobs API
    job that printed it; both ended."""
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
    from airflow_provider_emr_ray.utils.resources import job_info

    hook = EmrRayHook()
    cluster_id = hook.create_ray_cluster(
        name="bench-job-log-memory",
        head_spec={"cpu": 2, "memory": "8Gi"},
        worker_spec=[{"group_name": "cpu", "worker_type": "CPU", "replica": 1, "cpu": 4, "memory": "16Gi"}],
    )
    deadline = time.monotonic() + 60
    while hook.get_ray_cluster(cluster_id).state != "Running":
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster did not start")
        time.sleep(0.1)
    # OpenAPI: the emulator runs no entrypoint (--no-exec); the driver log is written where it keeps it.
    api_sid = hook.submit_ray_job(entrypoint="python main.py", cluster_id=cluster_id, name="bench-log-openapi")
    target = data_dir / "logs" / emu.credentials.workspace_id / api_sid / f"job-driver-{api_sid}.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_file, target)
    # Ray's Jobs API (its entrypoints always run in the emulator): the job prints the log itself.
    ray_sid = hook.ray_submit_job(cluster_id, entrypoint=f"cat {log_file}")
    deadline = time.monotonic() + 120
    while True:
        api_job, ray_job = hook.get_ray_job(api_sid), hook.ray_get_job(cluster_id, ray_sid)
        api_done = str(api_job.status) in ("Succeeded", "Failed", "Cancelled", "Timeout") or "Succeeded" in str(api_job.status)
        ray_done = "SUCCEEDED" in str(ray_job.status)
        if api_done and ray_done:
            break
        if time.monotonic() > deadline or "FAILED" in str(ray_job.status):
            raise RuntimeError(f"jobs did not end: {api_job.status}, {ray_job.status} {ray_job.message}")
        time.sleep(0.2)
    ray_log = data_dir / "ray-gateway" / cluster_id / "jobs" / ray_sid / f"job-driver-{ray_sid}.log"
    spec = {
        "cluster_id": cluster_id,
        "openapi_sid": api_sid,
        "ray_sid": ray_sid,
        "openapi_job": job_info(api_job),
        "ray_log_bytes": ray_log.stat().st_size,
    }
    hook.close()
    return spec


def _check(r: dict[str, Any], info: dict[str, Any]) -> str | None:
    """What is wrong with what reached the logger (None: all right)."""
    expected = 2000 if r["case"].startswith("copy-") else info["lines"]
    if r["lines"] != expected:
        return f"{r['lines']} lines, expected {expected}"
    if r["last"] != info["last"]:
        return f"last line {str(r['last'])[:80]!r}, expected {info['last'][:80]!r}"
    if any("Could not read" in m for m in r["other"]):
        return f"a warning: {r['other']}"
    return None


def run(quick: bool = False) -> list[Figure]:
    os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    rounds = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="emr-ray-bench-logs-"))
    try:
        log_file = tmp / "driver.log"
        t0 = time.perf_counter()
        info = write_log(log_file, LOG_SIZE)
        print(f"log: {info['bytes']:,} bytes, {info['lines']:,} lines ({time.perf_counter() - t0:.1f} s)", flush=True)
        data_dir = tmp / "emulator"
        with emulator_process("--delay", "0", "--data-dir", str(data_dir)) as emu:
            setup_airflow_env()
            os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = emu.connection
            spec = _prepare(emu, data_dir, log_file)
            if spec["ray_log_bytes"] != info["bytes"]:
                raise RuntimeError(f"the Ray job's log has {spec['ray_log_bytes']} bytes, not {info['bytes']}")
            spec_file = tmp / "spec.json"
            spec_file.write_text(json.dumps(spec))
            results: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
            traced: dict[str, dict[str, Any]] = {}
            for r in range(rounds):
                k = r % len(CASES)
                for case in CASES[k:] + CASES[:k]:
                    res = _spawn(case, spec_file, emu.connection, traced=False)
                    print(f"  {case}: +{res['growth_mib']:.1f} MiB RSS, {res['wall_s']:.2f} s, {res['lines']:,} lines",
                          flush=True)  # fmt: skip
                    results[case].append(res)
            for case in CASES:
                traced[case] = _spawn(case, spec_file, emu.connection, traced=True)
                print(f"  {case} (tracemalloc): peak {traced[case]['traced_peak_mib']:.1f} MiB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    problems = {c: p for c in CASES for res in results[c] + [traced[c]] if (p := _check(res, info))}
    figures = []
    growth = {c: Summary.of([r["growth_mib"] for r in results[c]]) for c in CASES}
    for case in CASES:
        rs = results[case]
        wall, cpu = Summary.of([r["wall_s"] for r in rs]), Summary.of([r["cpu_s"] for r in rs])
        base = Summary.of([r["base_rss_mib"] for r in rs])
        rate = Summary.of([r["lines"] / r["wall_s"] for r in rs])
        details = (
            f"{info['bytes'] / 1e6:.0f} MB log, {info['lines']:,} lines; peak RSS (VmHWM) less the RSS before the case, "
            f"fresh process per run (baseline RSS {base.fmt(1, ' MiB', 0)}); tracemalloc peak "
            f"{traced[case]['traced_peak_mib']:.1f} MiB (a separate run); wall {wall.fmt(1, ' s', 2)}, "
            f"CPU {cpu.fmt(1, ' s', 2)}; {rs[0]['lines']:,} lines reached the logger"
            + (f" ({rate.fmt(1e-3, 'k lines/s', 0)})" if case.startswith("live-") else "")
            + (f"; pump(s) per run {[r['pumps'] for r in rs]} then finish()" if "pumps" in rs[0] else "")
            + (f"; {NOTES[case]}" if case in NOTES else "")
            + (f"; CHECK FAILED: {problems[case]}" if case in problems else "")
        )
        ref = REFERENCE.get(case)
        if ref is None:  # a naive reference: its own row, no target
            figures.append(Figure(
                figure=f"Job log memory: {LABELS[case]} (reference): peak RSS growth", ours="–",
                reference=growth[case].fmt(1, " MiB", 1), ratio="–", target="–", met=None,
                details=details, section="logs", raw={"runs": rs, "traced": traced[case]},
            ))  # fmt: skip
            continue
        ratio = growth[case].median / growth[ref].median if growth[ref].median else float("nan")
        figures.append(Figure(
            figure=f"Job log memory: {LABELS[case]}: peak RSS growth, 50 MB log", ours=growth[case].fmt(1, " MiB", 1),
            reference=f"{growth[ref].fmt(1, ' MiB', 1)} ({LABELS[ref].split(': ', 1)[1]})", ratio=f"{ratio:.3f}",
            target=f"< {TARGET_GROWTH_MIB} MiB", met=growth[case].high < TARGET_GROWTH_MIB and case not in problems,
            details=details, section="logs", raw={"runs": rs, "traced": traced[case]},
        ))  # fmt: skip
    for case in ("live-openapi", "live-ray"):
        rs = results[case]
        rate = Summary.of([r["lines"] / r["wall_s"] for r in rs])
        figures.append(Figure(
            figure=f"Job log memory: {LABELS[case]}: lines per second (null logger)", ours=rate.fmt(1e-3, "k lines/s", 0),
            reference="–", ratio="–", target="–", met=None,
            details=f"{info['lines']:,} lines / wall time of the follow (open, every pump, finish)", section="logs",
        ))  # fmt: skip
    save_json("job_log_memory", {"figures": [f.to_dict() for f in figures], "log": info, "problems": problems})
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: one round")
    p.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
        print(json.dumps(child(args.child, json.loads(Path(args.spec).read_text()), args.traced)), flush=True)
        return 0
    print_figures(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
