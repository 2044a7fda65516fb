"""Measure the emulator's GetRayJob throughput over loopback.

Starts ``python -m airflow_provider_emr_ray.emulator`` in a subprocess (uvicorn, job execution
off), submits one job, warms up, then sends N signed GetRayJob requests per repeat and prints the
median and spread of requests per second::

    python benchmarks/emulator_rps.py --requests 5000 --repeats 5 [--processes 2] [--concurrency 1]

Requests are signed per call with ``signing.sign_headers`` (a fresh nonce each time) and built
with ``api.build_request``, exactly like the hook does, so the figure includes client signing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_provider_emr_ray.client import actions as api, signing  # noqa: E402
from airflow_provider_emr_ray.emulator.config import (  # noqa: E402
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_WORKSPACE,
)


# A trivial uvicorn app answering every request with a GetRayJob-sized JSON body, without any
# emulator logic: the same client against it gives the ceiling this machine (and load) allows.
_BASELINE = r"""
import socket, sys, uvicorn
body = b'{"requestId":"X","status":"Succeeded","pad":"' + b"x" * 1900 + b'"}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(2048)
print(f"EMR_RAY_EMULATOR_ENDPOINT=http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
               proxy_headers=False)).run(sockets=[sock])
"""


def start_emulator(baseline: bool = False) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "airflow_provider_emr_ray.emulator", "--port", "0", "--no-exec", "--delay", "0",
               "--log-level", "warning"]
    if baseline:
        command = [sys.executable, "-c", _BASELINE]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("EMR_RAY_EMULATOR_ENDPOINT="):
            return proc, line.split("=", 1)[1].strip()
    proc.kill()
    raise RuntimeError("the emulator did not print its endpoint")


def call(client: httpx.Client, endpoint: str, action: str, params: dict, body: dict | None = None) -> httpx.Response:
    prepared = api.build_request(action, {"workspaceId": DEFAULT_WORKSPACE, **params}, None, body)
    headers = signing.sign_headers(
        method=prepared.action.method,
        host=urlsplit(endpoint).netloc,
        path=prepared.path,
        query=prepared.query,
        body=prepared.body,
        action=action,
        access_key_id=DEFAULT_ACCESS_KEY_ID,
        access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
    )
    return client.request(prepared.action.method, endpoint + prepared.target, headers=headers, content=prepared.body)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux), to report the server's cost per request."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _thread_batch(endpoint: str, sid: str, counts: list[int], barrier, results) -> None:
    """One client process: len(counts) threads, one keep-alive httpx.Client each."""
    clients = [httpx.Client(timeout=30) for _ in counts]
    for client in clients:  # open the keep-alive connection outside the timed region
        call(client, endpoint, "GetRayJob", {"submissionId": sid}).raise_for_status()
    failures: list[str] = []

    def worker(client: httpx.Client, count: int) -> None:
        for _ in range(count):
            resp = call(client, endpoint, "GetRayJob", {"submissionId": sid})
            if resp.status_code != 200:
                failures.append(resp.text)

    threads = [threading.Thread(target=worker, args=(c, k)) for c, k in zip(clients, counts)]
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((time.perf_counter() - start, len(failures), failures[:1]))
    for client in clients:
        client.close()


def run_batch(endpoint: str, sid: str, n: int, concurrency: int, processes: int) -> float:
    """Send ``n`` GetRayJob requests from ``processes`` x ``concurrency`` clients; return req/s."""
    workers = processes * concurrency
    per = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_thread_batch, args=(endpoint, sid, per[i * concurrency : (i + 1) * concurrency], barrier, results))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    failed = sum(o[1] for o in outcomes)
    if failed:
        raise RuntimeError(f"{failed} requests failed, e.g. {[o[2] for o in outcomes if o[2]][0]}")
    return n / max(elapsed, max(o[0] for o in outcomes))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000, help="requests per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=1, help="client threads per process, one connection each")
    ap.add_argument("--baseline", action="store_true",
                    help="also measure a trivial uvicorn app with the same client (the machine's ceiling)")
    ap.add_argument("--processes", type=int, default=2,
                    help="client processes (a single httpx client costs ~2x the server's CPU per request)")
    args = ap.parse_args()

    proc, endpoint = start_emulator()
    bproc = bendpoint = None
    try:
        with httpx.Client(timeout=30) as client:
            resp = call(client, endpoint, "SubmitRayJob", {}, {"entrypoint": "python main.py", "name": "bench"})
            resp.raise_for_status()
            sid = resp.json()["submissionId"]
        run_batch(endpoint, sid, args.warmup, args.concurrency, args.processes)
        if args.baseline:
            bproc, bendpoint = start_emulator(baseline=True)
            run_batch(bendpoint, sid, args.warmup, args.concurrency, args.processes)
        rates, base, cpu = [], [], 0.0
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            cpu0 = cpu_seconds(proc.pid)
            rates.append(run_batch(endpoint, sid, args.requests, args.concurrency, args.processes))
            cpu += cpu_seconds(proc.pid) - cpu0
            if bendpoint:
                base.append(run_batch(bendpoint, sid, args.requests, args.concurrency, args.processes))
        server_us = cpu / (args.requests * args.repeats) * 1e6
    finally:
        stop(proc)
        if bproc is not None:
            stop(bproc)
    med = statistics.median(rates)
    print(f"GetRayJob over loopback: {args.requests} requests x {args.repeats} repeats, "
          f"{args.processes} client process(es) x {args.concurrency} thread(s)")
    print("runs (req/s): " + ", ".join(f"{r:.0f}" for r in rates))
    print(f"median {med:.0f} req/s, min {min(rates):.0f}, max {max(rates):.0f}, "
          f"spread {100 * (max(rates) - min(rates)) / med:.1f}%")
    print(f"server CPU per request: {server_us:.0f} us (capacity ~{1e6 / server_us:.0f} req/s of one core); "
          f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if base:
        bmed = statistics.median(base)
        print("baseline runs (req/s): " + ", ".join(f"{r:.0f}" for r in base))
        print(f"baseline (trivial uvicorn app, same client, interleaved): median {bmed:.0f} req/s; "
              f"the emulator reaches {100 * med / bmed:.0f}% of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
