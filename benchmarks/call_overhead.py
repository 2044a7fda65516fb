"""Figure 2 - call overhead.

A. Client-side CPU time per GetRayCluster round trip, the emulator running in another process
   (``python -m airflow_provider_emr_ray.emulator``, job execution off):

   * ours: ``EmrRayHook.get_ray_cluster(cluster_id)`` (sync hook: build, sign, send, retry
     policy, JSON, the ``RayCluster`` model);
   * the official SDK ``alibabacloud-emr-serverless-spark20230808``: ``Client.get_ray_cluster``
     (``Config(endpoint="127.0.0.1:PORT", protocol="http")``);
   * the floor: a bare ``httpx.Client`` GET of the same URL that reads the body, with header
     sets signed *before* the timed loop (the emulator rejects unsigned or replayed requests,
     and the floor must get the same answer): no signing, no parsing in the measurement.

   ``time.process_time()`` (user + system CPU of this process, which only sends and waits)
   over batches of calls; the three clients alternate batch by batch, the order rotating.
   Targets: ours ≤ 0.85 × the official SDK and ≤ 1.15 × the floor.

B. Signatures per second: ``signing.sign_headers`` (the complete signed header set of a
   GetRayCluster: date, nonce, payload hash, canonical request, HMAC) versus the same work
   done with ``alibabacloud_tea_openapi``'s signer as the official SDK does it
   (``Utils.get_timestamp``, ``Utils.get_nonce``, ``Utils.hash``, ``Utils.get_authorization``).
   Both are checked to produce the same ``Authorization`` for the same headers first.
   Target: ≥ 1 × the reference.

Run alone: ``python -m benchmarks.call_overhead [--quick]``.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from benchmarks._common import (
    Credentials,
    Figure,
    Summary,
    alternate,
    at_most,
    cpu_now,
    emulator_process,
    paired_ratio,
    quick_main,
    save_json,
    setup_airflow_env,
)

TARGET_VS_SDK = 0.85
TARGET_VS_FLOOR = 1.15
TARGET_SIGN = 1.0


def _prepare_airflow_env(connection: str) -> None:
    setup_airflow_env()
    os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = connection


def measure_calls(creds: Credentials, *, batch: int, rounds: int, warmup: int) -> dict[str, Any]:
    import httpx
    from alibabacloud_emr_serverless_spark20230808.client import Client as SdkClient
    from alibabacloud_tea_openapi.models import Config

    from airflow_provider_emr_ray.client import actions as api, signing
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

    hook = EmrRayHook()
    cluster_id = hook.create_ray_cluster(
        name="bench-call-overhead",
        head_spec={"cpu": 2, "memory": "8Gi"},
        worker_spec=[{"group_name": "cpu", "worker_type": "CPU", "replica": 2, "cpu": 4, "memory": "16Gi"}],
    )
    endpoint, workspace = creds.endpoint, creds.workspace_id
    port = urlsplit(endpoint).port
    sdk = SdkClient(
        Config(
            access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
            endpoint=f"127.0.0.1:{port}", protocol="http", region_id=creds.region_id,
        )  # fmt: skip
    )
    floor_client = httpx.Client()
    prepared = api.build_request("GetRayCluster", {"workspaceId": workspace, "clusterId": cluster_id})
    url = endpoint + prepared.target
    host = urlsplit(endpoint).netloc

    def presigned(n: int) -> list[dict[str, str]]:
        return [
            signing.sign_headers(
                method="GET", host=host, path=prepared.path, query=prepared.query, body=None,
                action="GetRayCluster", access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
            )  # fmt: skip
            for _ in range(n)
        ]

    # Same answer for every client (and warm-up: connections, lazy imports, model schemas).
    ours_model = hook.get_ray_cluster(cluster_id)
    sdk_body = sdk.get_ray_cluster(workspace, cluster_id).body
    floor_resp = floor_client.get(url, headers=presigned(1)[0])
    assert floor_resp.status_code == 200, floor_resp.text
    assert ours_model.cluster_id == sdk_body.cluster_id == cluster_id
    assert ours_model.state == sdk_body.state == "Running"
    for _ in range(warmup):
        hook.get_ray_cluster(cluster_id)
        sdk.get_ray_cluster(workspace, cluster_id)
    for h in presigned(warmup):
        floor_client.get(url, headers=h).read()

    user: dict[str, list[float]] = {"ours": [], "sdk": [], "floor": []}

    def timed(name: str, calls: Any) -> float:
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), cpu_now()
        n = calls()
        c1, r1 = cpu_now(), resource.getrusage(resource.RUSAGE_SELF)
        user[name].append((r1.ru_utime - r0.ru_utime) / n)
        return (c1 - c0) / n

    def ours_batch() -> int:
        for _ in range(batch):
            hook.get_ray_cluster(cluster_id)
        return batch

    def sdk_batch() -> int:
        for _ in range(batch):
            sdk.get_ray_cluster(workspace, cluster_id)
        return batch

    def floor() -> float:
        headers = presigned(batch)  # outside the timed loop
        last: list[Any] = []

        def run_floor() -> int:
            for h in headers:
                resp = floor_client.get(url, headers=h)
                resp.read()
            last.append(resp)
            return batch

        cpu = timed("floor", run_floor)
        if last[0].status_code != 200:
            raise RuntimeError(f"floor request rejected: {last[0].status_code} {last[0].text[:200]}")
        return cpu

    t0 = time.perf_counter()
    results = alternate(
        {"ours": lambda: timed("ours", ours_batch), "sdk": lambda: timed("sdk", sdk_batch), "floor": floor}, rounds
    )
    results["_user"] = user  # type: ignore[assignment]
    results["_wall_s"] = [time.perf_counter() - t0]
    results["_body_bytes"] = [len(floor_resp.content)]
    hook.close()
    floor_client.close()
    return results


def measure_signing(creds: Credentials, *, batch: int, rounds: int) -> dict[str, Any]:
    from alibabacloud_tea_openapi.utils import Utils

    from airflow_provider_emr_ray.client import actions as api, signing

    ak, secret = creds.access_key_id, creds.access_key_secret
    prepared = api.build_request("GetRayCluster", {"workspaceId": creds.workspace_id, "clusterId": "ray-0123456789abcdef"})
    host = "emr-serverless-spark.cn-hangzhou.aliyuncs.com"
    algo = "ACS3-HMAC-SHA256"

    def tea_headers(date: str | None = None, nonce: str | None = None) -> dict[str, str]:
        headers = {
            "host": host,
            "x-acs-version": signing.API_VERSION,
            "x-acs-action": "GetRayCluster",
            "x-acs-date": date or Utils.get_timestamp(),
            "x-acs-signature-nonce": nonce or Utils.get_nonce(),
            "accept": "application/json",
        }
        payload_hash = Utils.hash(b"", algo).hex()
        headers["x-acs-content-sha256"] = payload_hash
        request = SimpleNamespace(method="GET", pathname=prepared.path, query=prepared.query, headers=headers)
        headers["Authorization"] = Utils.get_authorization(request, algo, payload_hash, ak, secret)
        return headers

    def ours_headers(date: str | None = None, nonce: str | None = None) -> dict[str, str]:
        return signing.sign_headers(
            method="GET", host=host, path=prepared.path, query=prepared.query, body=None, action="GetRayCluster",
            access_key_id=ak, access_key_secret=secret, date=date, nonce=nonce,
        )  # fmt: skip

    # Same headers in, same Authorization out.
    date, nonce = "2026-01-01T00:00:00Z", "0123456789abcdef0123456789abcdef"
    a, b = ours_headers(date, nonce), tea_headers(date, nonce)
    assert a["Authorization"] == b["Authorization"], (a["Authorization"], b["Authorization"])

    def rate(fn) -> float:
        c0 = cpu_now()
        for _ in range(batch):
            fn()
        return batch / (cpu_now() - c0)

    for _ in range(2):
        rate(ours_headers)
        rate(tea_headers)
    return alternate({"ours": lambda: rate(ours_headers), "tea": lambda: rate(tea_headers)}, rounds)


def run(quick: bool = False) -> list[Figure]:
    batch, rounds, warmup = (100, 3, 50) if quick else (200, 15, 200)
    with emulator_process("--delay", "0") as emu:
        _prepare_airflow_env(emu.connection)
        server_cpu0 = emu.cpu_seconds()
        calls = measure_calls(emu.credentials, batch=batch, rounds=rounds, warmup=warmup)
        server_cpu = emu.cpu_seconds() - server_cpu0
        stats = emu.stats()
    sign = measure_signing(emu.credentials, batch=2000 if quick else 10000, rounds=3 if quick else 9)

    ours, sdk, floor = (Summary.of(calls[k]) for k in ("ours", "sdk", "floor"))
    vs_sdk = paired_ratio(calls["ours"], calls["sdk"])
    vs_floor = paired_ratio(calls["ours"], calls["floor"])
    u = calls["_user"]
    user_note = (
        f"user-CPU only: ours {Summary.of(u['ours']).fmt(1e6, ' µs', 0)}, SDK {Summary.of(u['sdk']).fmt(1e6, ' µs', 0)}, "
        f"floor {Summary.of(u['floor']).fmt(1e6, ' µs', 0)}; ratio vs SDK {paired_ratio(u['ours'], u['sdk']).median:.3f}, "
        f"vs floor {paired_ratio(u['ours'], u['floor']).median:.3f}"
    )
    common = (
        f"client CPU (process_time) per call, {rounds} rounds of {batch} calls per client, rotated; "
        f"answer {calls['_body_bytes'][0]} bytes; emulator in another process "
        f"(its CPU: {server_cpu / max(1, stats['totalCalls']) * 1e6:.0f} µs per request); {user_note}"
    )
    floor_added = Summary.of([a - b for a, b in zip(calls["ours"], calls["floor"])])
    floor_note = (
        f"floor = httpx.Client GET + body read with pre-signed headers; added per call {floor_added.fmt(1e6, ' µs', 0)}"
    )
    figures = [
        at_most(
            f"GetRayCluster client CPU per call: sync hook vs {name}", ours.fmt(1e6, " µs", 0),
            f"{ref.fmt(1e6, ' µs', 0)} ({short})", paired, limit, details, "calls", **more,
        )  # fmt: skip
        for name, short, ref, paired, limit, details, more in (
            ("official SDK", "official SDK", sdk, vs_sdk, TARGET_VS_SDK, common, {"raw": calls}),
            ("bare httpx GET (floor)", "httpx floor", floor, vs_floor, TARGET_VS_FLOOR, floor_note, {}),
        )
    ]
    s_ours, s_tea = Summary.of(sign["ours"]), Summary.of(sign["tea"])
    s_ratio = paired_ratio(sign["ours"], sign["tea"])
    figures.append(
        Figure(
            figure="Signatures per second: signing.sign_headers vs alibabacloud_tea_openapi signer",
            ours=s_ours.fmt(1, "/s", 0),
            reference=s_tea.fmt(1, "/s", 0),
            ratio=s_ratio.fmt(1, "", 2),
            target=f"≥ {TARGET_SIGN}",
            met=s_ratio.median >= TARGET_SIGN,
            details="complete signed header set of a GetRayCluster (date, nonce, payload hash, canonical request, "
            "HMAC-SHA256), CPU time, alternated; both give the same Authorization for the same headers",
            section="calls",
            raw=sign,
        )
    )
    save_json("call_overhead", [f.to_dict() for f in figures])
    return figures


def main(argv: list[str] | None = None) -> int:
    return quick_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
