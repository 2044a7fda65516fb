"""Figure 3 - triggerer scale.

N ``RayJobStatusTrigger``s (N = 100, 1,000, 5,000) run in one asyncio event loop, as Airflow's
triggerer runs them (one task per trigger, ``async for event in trigger.run()``), against the
emulator in another process. The connection is the ``AIRFLOW_CONN_EMR_RAY_DEFAULT`` environment
variable. Each scale point and each side runs in a fresh subprocess, so peak RSS (``VmHWM``;
``ru_maxrss`` would include the forking parent's) is that run's own.

Jobs finish at staggered times: the emulator has no per-job run time (``--job-run-duration``
is global), so every job is submitted right before the run with ``activeDeadlineSeconds`` set
so that the jobs end about 1..W seconds after the run starts (plus the margin of the estimated
submission time), spread evenly, with a run duration
longer than that (status ``Timeout``; the triggers are given ``target_states=("Succeeded",
"Timeout")`` so that end is their success). The poll interval P grows with N (N/200 s, at least
2 s: 2, 5 and 25 s) so that both sides ask for the same ~200 polls per second at every point;
W = P/2, so most triggers poll twice.

Triggers are started the way the triggerer's ``create_triggers`` starts them (one task at a time,
yielding to the loop before and after each). The reference runs in the same kind of process
(``airflow.triggers.base`` imported, so the same heap for the garbage collector to walk).

Reference: a plain ``httpx.AsyncClient`` (pool limited to 16 connections) polling the same
GetRayJob URLs at the same interval until the answer holds a terminal status (a bytes search),
with no signing (its header sets are signed before the measurement starts: the emulator rejects
unsigned and replayed requests) and no parsing.

Measured in the child, over the run: CPU seconds (``process_time``) per poll (polls counted by
the emulator; CPU per trigger, i.e. per whole wait, is given too: a trigger's one-off set-up
weighs on the per-poll figure when it polls few times), peak RSS, the worst event-loop stall (a probe task sleeping 10 ms records how
late it wakes up; the worst overshoot and the 99th percentile are reported), and the number of
events each trigger yielded (the generator is exhausted: exactly one is expected).

The worst stall is also given without the garbage collector's pauses (each wake-up's lateness
less the collector pauses over 5 ms inside it), and a full collection of an idle triggerer's heap
(``airflow.jobs.triggerer_job_runner`` and the provider imported, no trigger) is timed in a fresh
interpreter: a full collection walks the whole heap, Airflow's included, so it stalls the loop
however little the triggers do (Airflow's triggerer does not ``gc.freeze()`` its start-up heap).

Targets at 5,000: CPU per poll ≤ 1.25 × the reference, peak RSS ≤ 200 MB, worst stall ≤ 100 ms,
every trigger fires exactly one event.

The triggers poll one resource each (``shared_poll=False``): the per-trigger cost. The shared
watchers (one list call per round for all) are measured by :mod:`benchmarks.shared_poll`.

Run alone: ``python -m benchmarks.trigger_scale [--quick] [--points 100,1000,5000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    Credentials,
    Figure,
    Summary,
    emulator_process,
    paired_ratio,
    print_figures,
    python_env,
    results_dir,
    save_json,
    setup_airflow_env,
)
from devtools.emulator import FAST_DELAYS, cli_args

TARGET_CPU_RATIO = 1.25
TARGET_RSS_MB = 200.0
TARGET_STALL_S = 0.100
PROBE_INTERVAL = 0.010
#: In-flight requests (and pool connections) of the reference loop. A plain AsyncClient with
#: thousands of concurrent requests spends its time in httpcore's pool, which scans every queued
#: request against every connection, and checks every pooled socket, on each assignment
#: (measured: 300 unbounded pollers cost 52 ms of CPU per poll; 1,000 pollers cost 1.7, 3.2 and
#: 4.5 ms per poll with 4, 16 and 32 connections). The reference gets the bound a sane plain
#: implementation has, the one recommended for the hook (16).
REF_IN_FLIGHT = 16
#: This figure measures one poll per trigger per interval (the shared watchers, one list call for
#: many triggers, are measured against it by ``benchmarks.shared_poll``).
SHARED = False
TERMINAL = (b'"status":"Succeeded"', b'"status":"Failed"', b'"status":"Cancelled"', b'"status":"Timeout"')


# ============================================================================ child process


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM``. (``ru_maxrss`` would do in a process started with
    ``fork``+``exec`` by a small parent, but Linux carries the forking parent's high-water mark
    over the ``exec``: our parent, with Airflow loaded, would set the floor.)"""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Probe:
    """Sleeps PROBE_INTERVAL in a loop and records how late each wake-up is; also records the
    garbage collector's pauses (a full collection of a heap holding Airflow is a stall too)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = False
        self.gc_pauses: list[tuple[int, float]] = []
        self.gc_spans: list[tuple[float, float]] = []
        self.wakes: list[tuple[float, float]] = []
        self._gc_t0 = 0.0
        import gc

        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            end = time.perf_counter()
            pause = end - self._gc_t0
            if pause > 0.005:
                self.gc_pauses.append((info.get("generation", -1), pause))
                self.gc_spans.append((self._gc_t0, end))

    async def run(self) -> None:
        loop_time = time.perf_counter
        while not self._stop:
            t0 = loop_time()
            await asyncio.sleep(PROBE_INTERVAL)
            t1 = loop_time()
            self.lags.append(t1 - t0 - PROBE_INTERVAL)
            self.wakes.append((t0 + PROBE_INTERVAL, t1))

    def stop(self) -> None:
        import gc

        self._stop = True
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def lags_outside_gc(self) -> list[float]:
        """Each wake-up's lateness minus the time the garbage collector ran in it (pauses over
        5 ms; shorter ones stay counted): what the triggers' own code made the loop wait."""
        spans = sorted(self.gc_spans)
        out = []
        for due, woke in self.wakes:
            gc_time = sum(max(0.0, min(woke, e) - max(due, s)) for s, e in spans if s < woke and e > due)
            out.append(max(0.0, woke - due - gc_time))
        return out

    def summary(self) -> dict[str, Any]:
        outside = sorted(self.lags_outside_gc()) or [0.0]
        lags = sorted(self.lags) or [0.0]
        return {
            "worst_s": lags[-1],
            "p99_s": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
            "p50_s": lags[len(lags) // 2],
            "samples": len(lags),
            "over_100ms": sum(1 for x in lags if x > 0.1),
            "outside_gc_worst_s": outside[-1],
            "outside_gc_over_100ms": sum(1 for x in outside if x > 0.1),
            "gc_worst_s": max((p for _, p in self.gc_pauses), default=0.0),
            "gc_pauses_over_5ms": len(self.gc_pauses),
            "gc_full_collections_over_5ms": sum(1 for g, _ in self.gc_pauses if g == 2),
        }


async def _gather_capped(coros: list[Any], max_seconds: float) -> int:
    """Start one task per coroutine the way the triggerer's ``TriggerRunner.create_triggers``
    does (one at a time, ``await asyncio.sleep(0)`` before and after each), wait for them all,
    and stop after ``max_seconds``. Returns how many finished."""
    deadline = time.perf_counter() + max_seconds
    tasks = []
    for coro in coros:
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(coro))
        await asyncio.sleep(0)
    done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.perf_counter()))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=30)
    for task in done:
        if task.exception() is not None:
            raise task.exception()
    return len(done)


async def _measured(make_coros: Callable[[], list[Any]], counts: list[int], max_seconds: float) -> dict[str, Any]:
    """Run one side's waits (``make_coros()``, through :func:`_gather_capped`) under the stall
    probe: CPU and wall time, RSS at the start, how many finished, events per wait (``counts``,
    filled by the waits)."""
    probe = _Probe()
    probe_task = asyncio.create_task(probe.run())
    rss0, cpu0, t0 = _rss_mb(), time.process_time(), time.perf_counter()
    finished = await _gather_capped(make_coros(), max_seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    probe.stop()
    await probe_task
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_start_mb": rss0,
        "finished": finished,
        "events_per_trigger": {str(k): counts.count(k) for k in sorted(set(counts))},
        "probe": probe.summary(),
    }


async def _child_ours(jobs: list[list[Any]], poll: float, ready: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

    def make(sid: str) -> RayJobStatusTrigger:
        return RayJobStatusTrigger(
            submission_id=sid,
            target_states=("Succeeded", "Timeout"),
            failure_states=("Failed", "Cancelled"),
            poll_interval=poll,
            shared_poll=SHARED,
        )

    triggers = [make(sid) for sid, _ in jobs]
    counts = [0] * len(triggers)
    statuses: dict[str, int] = {}

    async def run_one(i: int, trigger: RayJobStatusTrigger) -> None:
        async for event in trigger.run():  # exhausted: a trigger must yield exactly one event
            counts[i] += 1
            status = event.payload.get("outcome")  # how the wait ended
            statuses[status] = statuses.get(status, 0) + 1

    result = await _measured(lambda: [run_one(i, t) for i, t in enumerate(triggers)], counts, ready["max_seconds"])
    return {**result, "statuses": statuses}


def _signed_get_job(creds: Credentials, sid: str) -> tuple[str, dict[str, str]]:
    """The URL of GetRayJob ``sid`` and a freshly signed header set for it (the reference side)."""
    from airflow_provider_emr_ray.client import actions as api, signing

    prepared = api.build_request("GetRayJob", {"workspaceId": creds.workspace_id, "submissionId": sid})
    headers = signing.sign_headers(
        method="GET", host=creds.endpoint.split("://", 1)[1], path=prepared.path, query=prepared.query, body=None,
        action="GetRayJob", access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
    )  # fmt: skip
    return creds.endpoint + prepared.target, headers


async def _child_ref(jobs: list[list[Any]], poll: float, ready: dict[str, Any]) -> dict[str, Any]:
    import httpx

    creds = ready["creds"]
    plan = []
    for sid, seconds in jobs:  # header sets signed before the measurement (see the docstring)
        n = math.ceil((seconds + 3) / poll) + 3
        signed = [_signed_get_job(creds, sid) for _ in range(n)]
        plan.append((signed[0][0], [h for _, h in signed], sid))
    client = ready["client"]
    gate = asyncio.Semaphore(REF_IN_FLIGHT)
    counts = [0] * len(plan)
    extra_signed = [0]

    async def run_one(i: int, url: str, headers: list[dict[str, str]], sid: str) -> None:
        k = 0
        while True:
            if k < len(headers):
                h = headers[k]
            else:  # more polls than planned: sign now (counted)
                extra_signed[0] += 1
                h = _signed_get_job(creds, sid)[1]
            k += 1
            try:
                async with gate:
                    resp = await client.get(url, headers=h)
                body = resp.content
            except httpx.TransportError:
                body = b""
            if any(t in body for t in TERMINAL):
                counts[i] += 1
                return
            await asyncio.sleep(poll)

    result = await _measured(lambda: [run_one(i, *p) for i, p in enumerate(plan)], counts, ready["max_seconds"])
    return {**result, "statuses": {}, "extra_signed": extra_signed[0]}


def child_main(side: str, poll: float, warm_sid: str, max_seconds: float) -> int:
    """One measured run: warm up, say READY, read the jobs file path from stdin, run, print RESULT.

    The protocol lines go to the original stdout; everything else written to stdout (Airflow's
    log lines) is sent to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    creds = Credentials.of(os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"])

    async def main() -> dict[str, Any]:
        ready: dict[str, Any] = {"creds": creds}
        if side == "ours":
            from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

            warm = RayJobStatusTrigger(
                submission_id=warm_sid, target_states=("Succeeded", "Timeout"), failure_states=(), poll_interval=poll,
                shared_poll=SHARED,
            )  # fmt: skip
            async for _ in warm.run():
                pass
        else:
            import httpx

            import airflow.triggers.base  # noqa: F401 - the same process heap as a triggerer's

            ready["client"] = httpx.AsyncClient(
                timeout=30.0,
                limits=httpx.Limits(max_connections=REF_IN_FLIGHT, max_keepalive_connections=REF_IN_FLIGHT),
            )
            url, h = _signed_get_job(creds, warm_sid)
            r = await ready["client"].get(url, headers=h)
            assert r.status_code == 200, r.text
        if os.environ.get("EMR_RAY_BENCH_GC_FREEZE"):  # experiment: a triggerer that freezes its start-up heap
            import gc

            gc.collect()
            gc.freeze()
        print("READY", file=proto, flush=True)
        path = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        jobs = json.loads(Path(path.strip()).read_text())["jobs"]
        ready["max_seconds"] = max_seconds
        profile_to = os.environ.get("EMR_RAY_BENCH_PROFILE")  # a tool: cProfile stats of the measured part
        if profile_to:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        result = await (_child_ours if side == "ours" else _child_ref)(jobs, poll, ready)
        if profile_to:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{side}")
        if side == "ref":
            await ready["client"].aclose()
        return result

    result = asyncio.run(main())
    result["peak_rss_mb"] = _peak_rss_mb()
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), file=proto, flush=True)
    return 0


# =========================================================================== parent process


async def _submit_jobs(endpoint: str, cluster_id: str, n: int, window: int, offset: int = 0) -> list[list[Any]]:
    """Submit n jobs that end offset+1..offset+window seconds (evenly spread) after the *last* submission.

    The deadline (``activeDeadlineSeconds``) counts from each job's own submission, so job i
    gets ``k_i + (estimated total submission time - time elapsed when it is submitted)``; the
    total is estimated from a calibration batch. Returns ``[[sid, k_i], ...]``."""
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    hook = EmrRayHook()
    sem = asyncio.Semaphore(16)

    async def submit(name: str, seconds: int) -> str:
        async with sem:
            return await hook.asubmit_ray_job(
                entrypoint="python job.py", name=name, cluster_id=cluster_id, active_deadline_seconds=seconds
            )

    calib = min(n, 100)
    t0 = time.perf_counter()
    await asyncio.gather(*(submit(f"calibration-{i}", 1) for i in range(calib)))
    estimate = (time.perf_counter() - t0) * n / calib * 1.5 + 1.0
    out: list[list[Any]] = [[None, 0]] * n
    start = time.perf_counter()

    tag = os.urandom(4).hex()

    async def one(i: int) -> None:
        from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError

        k = offset + 1 + (i * window) // n
        name = f"scale-{tag}-{i}"
        async with sem:
            for _ in range(3):
                left = estimate - (time.perf_counter() - start)
                try:
                    sid = await hook.asubmit_ray_job(
                        entrypoint="python job.py", name=name, cluster_id=cluster_id,
                        active_deadline_seconds=max(1, k + math.ceil(left)),
                    )  # fmt: skip
                except EmrRayOutcomeUnknownError:  # the answer was lost: was it submitted?
                    found = [j for j in await hook.alist_ray_jobs(name=name) if j.name == name]
                    if not found:
                        continue
                    sid = found[0].submission_id
                out[i] = [sid, k]
                return
            raise RuntimeError(f"could not submit job {name}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return out


def _one_run(
    emu: Any, side: str, n: int, poll: float, window: int, cluster_id: str, warm_sid: str, log: Path, max_seconds: float
) -> dict[str, Any]:
    from airflow_provider_emr_ray.emulator.procgroup import stop_group  # not in the measured child

    env = python_env(AIRFLOW_CONN_EMR_RAY_DEFAULT=emu.connection)
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    with open(log, "a") as errlog:
        errlog.write(f"\n===== {side} n={n} =====\n")
        errlog.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.trigger_scale", "--child", side, "--poll", str(poll), "--warm-sid", warm_sid,
             "--max-seconds", str(max_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, text=True, env=env, cwd=str(ROOT),
            start_new_session=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = proc.stdout.readline()
            if line.strip() != "READY":  # the protocol has its own fd: nothing else comes first
                raise RuntimeError(f"trigger-scale child ({side}, {n}) did not start: {line!r} (see {log})")
            jobs = asyncio.run(_submit_jobs(emu.endpoint, cluster_id, n, window))
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                json.dump({"jobs": jobs}, fh)
            before = emu.stats()
            server_cpu0 = emu.cpu_seconds()
            proc.stdin.write(fh.name + "\n")
            proc.stdin.flush()
            result = None
            for line in proc.stdout:
                if line.startswith("RESULT "):
                    result = json.loads(line[7:])
            proc.wait(600)
            after = emu.stats()
            os.unlink(fh.name)
        finally:
            stop_group(proc)
    if result is None:
        raise RuntimeError(f"trigger-scale child ({side}, {n}) gave no result (exit {proc.returncode}, see {log})")
    polls = after["calls"].get("GetRayJob", 0) - before["calls"].get("GetRayJob", 0)
    rejected = sum(after["rejections"].values()) - sum(before["rejections"].values())
    result.update(
        side=side,
        n=n,
        polls=polls,
        rejected=rejected,
        cpu_per_poll_s=result["cpu_s"] / max(1, polls),
        server_cpu_per_poll_s=(emu.cpu_seconds() - server_cpu0) / max(1, polls),
    )
    return result


_IDLE_GC_CHILD = """
import gc, json, time
import httpx
import airflow.jobs.triggerer_job_runner  # the triggerer process's own modules
import airflow_provider_emr_ray.hooks.emr_ray, airflow_provider_emr_ray.models, airflow_provider_emr_ray.triggers.emr_ray
gc.collect()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    gc.collect()
    times.append(time.perf_counter() - t0)
print(json.dumps({"objects": len(gc.get_objects()), "full_gc_s": times}))
"""


def idle_triggerer_gc() -> dict[str, Any]:
    """One full garbage collection of a triggerer process's heap holding no trigger at all
    (``airflow.jobs.triggerer_job_runner`` and the provider imported), 5 times in a fresh
    interpreter: the floor of the worst stall, whatever the triggers do."""
    out = subprocess.run(
        [sys.executable, "-c", _IDLE_GC_CHILD], capture_output=True, text=True, env=python_env(), cwd=str(ROOT),
        timeout=300,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"idle triggerer GC child failed: {out.stderr[-2000:]}")
    data = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    return {"side": "idle_gc", "n": 0, **data}


def schedule(n: int, poll: float | None = None, window: int | None = None) -> tuple[float, int]:
    """The poll interval and stagger window of a scale point.

    The interval grows with the number of triggers so that both sides ask for the same ~200
    polls per second at every point (5,000 triggers polling every 10 s would ask 500 per second,
    more than one process can send through httpx on this machine, ours or the reference: the
    client, not the emulator, would be the bottleneck). Jobs end within the first half interval
    after the start, so most triggers poll twice: once at the start, once to see the end."""
    poll = poll or max(2.0, n / 200)
    window = window or max(1, int(poll / 2))
    return poll, window


def run(
    quick: bool = False,
    points: list[int] | None = None,
    poll: float | None = None,
    window: int | None = None,
    rounds: int | None = None,
) -> list[Figure]:
    points = points or ([100, 1000] if quick else [100, 1000, 5000])
    rounds = rounds or (1 if quick else 2)
    log = Path(tempfile.gettempdir()) / "emr-ray-bench-trigger-scale.log"
    log.write_text("")
    runs: list[dict[str, Any]] = []
    args = cli_args({**FAST_DELAYS, "job_run_duration": 100000})  # jobs end by their deadline
    setup_airflow_env()
    idle = idle_triggerer_gc()
    runs.append(idle)
    print(
        f"  [trigger-scale] idle triggerer heap: {idle['objects']} objects, full GC "
        f"{Summary.of(idle['full_gc_s']).fmt(1000, ' ms', 0)}",
        flush=True,
    )
    with emulator_process(*args) as emu:
        os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = emu.connection
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        hook = EmrRayHook()
        cluster_id = hook.create_ray_cluster(name="bench-trigger-scale", head_spec={"cpu": 2, "memory": "8Gi"})
        warm_sid = hook.submit_ray_job(entrypoint="python warm.py", cluster_id=cluster_id, active_deadline_seconds=1)
        while hook.get_ray_job(warm_sid).status != "Timeout":
            time.sleep(0.2)
        hook.close()
        for n in points:
            p, w = schedule(n, poll, window)
            max_seconds = 3 * p + 30  # a run not finished by then is cut (and reported as such)
            cut_sides: set[str] = set()
            for r in range(rounds if n == max(points) else 1):  # repeats where the targets apply
                order = ("ours", "ref") if r % 2 == 0 else ("ref", "ours")
                for side in order:
                    if side in cut_sides:
                        continue  # a run that had to be cut is not repeated
                    res = _one_run(emu, side, n, p, w, cluster_id, warm_sid, log, max_seconds)
                    res.update(poll=p, window=w)
                    runs.append(res)
                    if res["finished"] < n:
                        cut_sides.add(side)
                    print(
                        f"  [trigger-scale] n={n} {side}: {res['cpu_per_poll_s'] * 1e6:.0f} µs CPU/poll, "
                        f"{res['polls']} polls, peak RSS {res['peak_rss_mb']:.0f} MB, worst stall "
                        f"{res['probe']['worst_s'] * 1000:.0f} ms (gc {res['probe']['gc_worst_s'] * 1000:.0f} ms, "
                        f"outside gc {res['probe']['outside_gc_worst_s'] * 1000:.0f} ms, "
                        f"{res['probe']['over_100ms']} over 100 ms), events {res['events_per_trigger']}, "
                        f"finished {res['finished']}/{n} in {res['wall_s']:.0f} s",
                        flush=True,
                    )
    figures = _figures(runs, points, rounds)
    save_json("trigger_scale", {"runs": runs, "figures": [f.to_dict() for f in figures]})
    return figures


def _figures(runs: list[dict[str, Any]], points: list[int], rounds: int) -> list[Figure]:
    figures = []
    idle = next((r for r in runs if r["side"] == "idle_gc"), None)
    idle_note = (
        f"; a full collection of an idle triggerer process's heap (airflow.jobs.triggerer_job_runner and the "
        f"provider imported, no trigger, {idle['objects']:,} objects) takes "
        f"{Summary.of(idle['full_gc_s']).fmt(1000, ' ms', 0)} by itself"
        if idle
        else ""
    )
    for n in points:
        ours = [r for r in runs if r["n"] == n and r["side"] == "ours"]
        ref = [r for r in runs if r["n"] == n and r["side"] == "ref"]
        if not ours or not ref:
            continue
        setup = (
            f"poll interval {ours[0]['poll']:g} s (both sides), jobs end 1–{ours[0]['window']} s after the start, "
            f"{len(ours)} ours / {len(ref)} reference run(s), A/B alternated"
        )
        cpu_o = Summary.of([r["cpu_per_poll_s"] for r in ours])
        cpu_r = Summary.of([r["cpu_per_poll_s"] for r in ref])
        ratio = paired_ratio([r["cpu_per_poll_s"] for r in ours], [r["cpu_per_poll_s"] for r in ref])
        rss = Summary.of([r["peak_rss_mb"] for r in ours])
        rss_ref = Summary.of([r["peak_rss_mb"] for r in ref])
        stall = Summary.of([r["probe"]["worst_s"] for r in ours])
        stall_ref = Summary.of([r["probe"]["worst_s"] for r in ref])
        p99 = Summary.of([r["probe"]["p99_s"] for r in ours])
        exactly_one = all(r["events_per_trigger"] == {"1": n} for r in ours)
        cut = [r for r in ours if r["finished"] < n]
        cut_note = (
            f"; CUT: {len(cut)} run(s) did not finish within {cut[0]['wall_s']:.0f} s "
            f"({', '.join(str(r['finished']) for r in cut)} of {n} triggers done): CPU per poll is over the polls made"
            if cut
            else ""
        )
        polls = Summary.of([r["polls"] for r in ours])
        per_trigger = (
            f"CPU per trigger (its whole wait): ours {Summary.of([r['cpu_s'] / n for r in ours]).fmt(1e3, ' ms', 2)}, "
            f"ref {Summary.of([r['cpu_s'] / n for r in ref]).fmt(1e3, ' ms', 2)}; polls per trigger: ours "
            f"{Summary.of([r['polls'] / n for r in ours]).fmt(1, '', 2)}, ref {Summary.of([r['polls'] / n for r in ref]).fmt(1, '', 2)}"
        )
        big = n == max(points)

        def at_scale(title: str, ours_text: str, ref_text: str, ratio_text: str, target: str, met: bool, details: str) -> Figure:
            """A figure whose target applies at the largest point only (shown in parentheses elsewhere)."""
            return Figure(
                figure=f"Triggerer, {n:,} {title}", ours=ours_text, reference=ref_text, ratio=ratio_text,
                target=target if big else f"({target} at 5,000)", met=met if big else None, details=details,
                section="triggers",
            )  # fmt: skip

        stall_target = f"≤ {TARGET_STALL_S * 1000:.0f} ms"
        outside_gc = Summary.of([r["probe"].get("outside_gc_worst_s", 0) for r in ours])
        figures += [
            at_scale(
                "RayJobStatusTriggers: CPU per poll",
                cpu_o.fmt(1e6, " µs", 0),
                cpu_r.fmt(1e6, " µs", 0) + " (plain httpx.AsyncClient)",
                ratio.fmt(1, "", 2),
                f"≤ {TARGET_CPU_RATIO}",
                ratio.median <= TARGET_CPU_RATIO,
                f"{setup}; {polls.fmt(1, '', 0)} polls per run; {per_trigger}; emulator CPU per poll "
                f"{Summary.of([r['server_cpu_per_poll_s'] for r in ours + ref]).fmt(1e6, ' µs', 0)}; "
                f"wall per run: ours {Summary.of([r['wall_s'] for r in ours]).fmt(1, ' s', 1)}, "
                f"ref {Summary.of([r['wall_s'] for r in ref]).fmt(1, ' s', 1)}{cut_note}",
            ),
            at_scale(
                "triggers: peak RSS",
                rss.fmt(1, " MB", 0),
                rss_ref.fmt(1, " MB", 0),
                f"{rss.median / rss_ref.median:.2f}",
                f"≤ {TARGET_RSS_MB:.0f} MB",
                rss.median <= TARGET_RSS_MB,
                f"peak RSS (VmHWM) of a fresh process per run; RSS when the triggers start (airflow, httpx, the "
                f"provider imported, warmed up): ours {Summary.of([r['rss_start_mb'] for r in ours]).fmt(1, ' MB', 0)}, "
                f"ref {Summary.of([r['rss_start_mb'] for r in ref]).fmt(1, ' MB', 0)} (its pre-signed headers included)",
            ),
            at_scale(
                "triggers: worst event-loop stall",
                stall.fmt(1000, " ms", 0),
                stall_ref.fmt(1000, " ms", 0),
                f"{stall.median / max(stall_ref.median, 1e-6):.2f}",
                stall_target,
                stall.median <= TARGET_STALL_S,
                f"10 ms probe; 99th percentile ours {p99.fmt(1000, ' ms', 1)}, "
                f"ref {Summary.of([r['probe']['p99_s'] for r in ref]).fmt(1000, ' ms', 1)}; wake-ups over 100 ms: ours "
                f"{[r['probe'].get('over_100ms') for r in ours]}, ref {[r['probe'].get('over_100ms') for r in ref]}; "
                f"worst garbage-collector pause: ours {Summary.of([r['probe'].get('gc_worst_s', 0) for r in ours]).fmt(1000, ' ms', 0)}, "
                f"ref {Summary.of([r['probe'].get('gc_worst_s', 0) for r in ref]).fmt(1000, ' ms', 0)}{idle_note}",
            ),
            at_scale(
                "triggers: worst event-loop stall outside garbage-collector pauses",
                outside_gc.fmt(1000, " ms", 0),
                Summary.of([r["probe"].get("outside_gc_worst_s", 0) for r in ref]).fmt(1000, " ms", 0),
                "–",
                stall_target,
                outside_gc.median <= TARGET_STALL_S,
                "each wake-up's lateness less the garbage-collector pauses (over 5 ms) inside it: the stall the "
                "triggers' own code causes; wake-ups over 100 ms: ours "
                f"{[r['probe'].get('outside_gc_over_100ms') for r in ours]}, "
                f"ref {[r['probe'].get('outside_gc_over_100ms') for r in ref]}",
            ),
            Figure(
                figure=f"Triggerer, {n:,} triggers: every trigger fires exactly one event",
                ours=", ".join(f"{r['events_per_trigger']}" for r in ours),
                reference="–",
                ratio="–",
                target="all exactly 1",
                met=exactly_one,
                details="{events: triggers}; statuses " + ", ".join(json.dumps(r["statuses"]) for r in ours),
                section="triggers",
            ),
        ]
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: 100 and 1,000 triggers, short waits")
    p.add_argument("--points", default=None, help="comma-separated trigger counts (default 100,1000,5000)")
    p.add_argument("--poll", type=float, default=None, help="poll interval, seconds (default: N/200, at least 2)")
    p.add_argument("--window", type=int, default=None, help="jobs end 1..WINDOW s after the start (default: poll/2)")
    p.add_argument("--rounds", type=int, default=None, help="A/B rounds per point (default 2)")
    p.add_argument("--render-only", action="store_true", help="rebuild the figures from the saved runs")
    p.add_argument("--child", choices=("ours", "ref"), help=argparse.SUPPRESS)
    p.add_argument("--warm-sid", help=argparse.SUPPRESS)
    p.add_argument("--max-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args.child, args.poll, args.warm_sid, args.max_seconds)
    points = [int(x) for x in args.points.split(",")] if args.points else None
    if args.render_only:
        saved = json.loads((results_dir() / "trigger_scale.json").read_text())
        runs = saved["runs"]
        pts = sorted({r["n"] for r in runs if r["side"] != "idle_gc"})
        figures = _figures(runs, pts, max(sum(1 for r in runs if r["n"] == max(pts) and r["side"] == "ours"), 1))
        save_json("trigger_scale", {"runs": runs, "figures": [f.to_dict() for f in figures]})
        print_figures(figures)
        return 0
    print_figures(run(quick=args.quick, points=points, poll=args.poll, window=args.window, rounds=args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
