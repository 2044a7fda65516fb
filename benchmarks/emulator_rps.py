"""Measure the emulator's GetRayJob throughput over loopback.

Starts ``python -m airflow_provider_emr_ray.emulator`` in a subprocess (uvicorn, job execution
off), submits one job, warms up, then sends N signed GetRayJob requests per repeat and prints the
median and spread of requests per second::

    python -m benchmarks.emulator_rps --requests 5000 --repeats 5 [--processes 2] [--concurrency 1]

Requests are signed per call with ``signing.sign_headers`` (a fresh nonce each time) and built
with ``api.build_request``, exactly like the hook does, so the figure includes client signing.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx

from airflow_provider_emr_ray.client import actions as api, signing
from benchmarks._common import Credentials, emulator_process


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


def call(
    client: httpx.Client, creds: Credentials, endpoint: str, action: str, params: dict, body: dict | None = None
) -> httpx.Response:
    prepared = api.build_request(action, {"workspaceId": creds.workspace_id, **params}, None, body)
    headers = signing.sign_headers(
        method=prepared.action.method,
        host=urlsplit(endpoint).netloc,
        path=prepared.path,
        query=prepared.query,
        body=prepared.body,
        action=action,
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
    )
    return client.request(prepared.action.method, endpoint + prepared.target, headers=headers, content=prepared.body)


def _thread_batch(creds: Credentials, endpoint: str, sid: str, counts: list[int], barrier, results) -> None:
    """One client process: len(counts) threads, one keep-alive httpx.Client each."""
    clients = [httpx.Client(timeout=30) for _ in counts]
    for client in clients:  # open the keep-alive connection outside the timed region
        call(client, creds, endpoint, "GetRayJob", {"submissionId": sid}).raise_for_status()
    failures: list[str] = []

    def worker(client: httpx.Client, count: int) -> None:
        for _ in range(count):
            resp = call(client, creds, endpoint, "GetRayJob", {"submissionId": sid})
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


def run_batch(creds: Credentials, endpoint: str, sid: str, n: int, concurrency: int, processes: int) -> float:
    """Send ``n`` GetRayJob requests from ``processes`` x ``concurrency`` clients; return req/s."""
    workers = processes * concurrency
    per = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_thread_batch,
            args=(creds, endpoint, sid, per[i * concurrency : (i + 1) * concurrency], barrier, results),
        )
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

    with contextlib.ExitStack() as running:
        emu = running.enter_context(emulator_process("--delay", "0", control=False))
        creds, endpoint = emu.credentials, emu.endpoint
        with httpx.Client(timeout=30) as client:
            resp = call(client, creds, endpoint, "SubmitRayJob", {}, {"entrypoint": "python main.py", "name": "bench"})
            resp.raise_for_status()
            sid = resp.json()["submissionId"]
        run_batch(creds, endpoint, sid, args.warmup, args.concurrency, args.processes)
        bendpoint = None
        if args.baseline:
            bendpoint = running.enter_context(emulator_process(command=[sys.executable, "-c", _BASELINE])).endpoint
            run_batch(creds, bendpoint, sid, args.warmup, args.concurrency, args.processes)
        rates, base, cpu = [], [], 0.0
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            cpu0 = emu.cpu_seconds()
            rates.append(run_batch(creds, endpoint, sid, args.requests, args.concurrency, args.processes))
            cpu += emu.cpu_seconds() - cpu0
            if bendpoint:
                base.append(run_batch(creds, bendpoint, sid, args.requests, args.concurrency, args.processes))
        server_us = cpu / (args.requests * args.repeats) * 1e6
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
