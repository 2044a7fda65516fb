"""Measure the emulator's GetRayJob throughput over loopback.

Starts ``python -m airflow_provider_emr_ray.emulator`` in a subprocess (uvicorn, job execution
off), submits one job, warms up, then sends N signed GetRayJob requests per repeat and prints the
median and spread of requests per second::

    python benchmarks/emulator_rps.py --requests 5000 --repeats 5 [--concurrency 4]

Requests are signed per call with ``signing.sign_headers`` (a fresh nonce each time) and built
with ``api.build_request``, exactly like the hook does, so the figure includes client signing.
"""

from __future__ import annotations

import argparse
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

from airflow_provider_emr_ray import api, signing  # noqa: E402
from airflow_provider_emr_ray.emulator.config import (  # noqa: E402
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_WORKSPACE,
)


def start_emulator() -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_emr_ray.emulator", "--port", "0", "--no-exec", "--delay", "0",
         "--log-level", "warning"],
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


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux), to report the server's cost per request."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def run_batch(endpoint: str, sid: str, n: int, concurrency: int) -> float:
    per = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    clients = [httpx.Client(timeout=30) for _ in range(concurrency)]
    for client in clients:  # open the keep-alive connection outside the timed region
        call(client, endpoint, "GetRayJob", {"submissionId": sid}).raise_for_status()
    failures: list[str] = []

    def worker(client: httpx.Client, count: int) -> None:
        for _ in range(count):
            resp = call(client, endpoint, "GetRayJob", {"submissionId": sid})
            if resp.status_code != 200:
                failures.append(resp.text)

    threads = [threading.Thread(target=worker, args=(c, k)) for c, k in zip(clients, per)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000, help="requests per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=1, help="client threads, one keep-alive connection each")
    args = ap.parse_args()

    proc, endpoint = start_emulator()
    try:
        with httpx.Client(timeout=30) as client:
            resp = call(client, endpoint, "SubmitRayJob", {}, {"entrypoint": "python main.py", "name": "bench"})
            resp.raise_for_status()
            sid = resp.json()["submissionId"]
        run_batch(endpoint, sid, args.warmup, args.concurrency)
        cpu0 = cpu_seconds(proc.pid)
        rates = [run_batch(endpoint, sid, args.requests, args.concurrency) for _ in range(args.repeats)]
        server_us = (cpu_seconds(proc.pid) - cpu0) / (args.requests * args.repeats) * 1e6
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    med = statistics.median(rates)
    print(f"GetRayJob over loopback: {args.requests} requests x {args.repeats} repeats, concurrency {args.concurrency}")
    print("runs (req/s): " + ", ".join(f"{r:.0f}" for r in rates))
    print(f"median {med:.0f} req/s, min {min(rates):.0f}, max {max(rates):.0f}, "
          f"spread {100 * (max(rates) - min(rates)) / med:.1f}%")
    print(f"server CPU per request: {server_us:.0f} us (capacity ~{1e6 / server_us:.0f} req/s of one core); "
          f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
