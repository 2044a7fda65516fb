"""GetRayLog's download URL answers HTTP ``Range`` as OSS GetObject does (206/416, a malformed or
multi-range header ignored), streams the requested span in chunks of at most 64 KiB and serves a
growing log up to the size it had when the request came."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from airflow_provider_emr_ray.emulator import DEFAULT_WORKSPACE, EmulatorConfig, serve_in_thread
from tests.emulator.helpers import FAST_DELAYS, SyncCaller

CHUNK = 64 * 1024
#: > 64 KiB of mixed ASCII and multi-byte UTF-8 (2-, 3- and 4-byte characters), each line distinct.
CONTENT = "".join(f"{i:05d} héllo 日本語 🚀 log line\n" for i in range(4000)).encode("utf-8")
SIZE = len(CONTENT)
assert SIZE > 2 * CHUNK


async def _log_url(make_app, connect, data: bytes = CONTENT, name: str = "driver.log"):
    """(app, caller, file path, accessUrl) of a cluster head's log file ``name`` holding ``data``."""
    app = make_app()
    call = await connect(app)
    cid = (await call("CreateRayCluster", body={"name": "c"}))["clusterId"]
    head = (await call("GetRayCluster", {"clusterId": cid}))["instances"][0]["instanceId"]
    await call("ListRayLogs", {"instanceId": head})  # creates the head's log directory
    key, _ = app.emulator.store.resolve_log_key(DEFAULT_WORKSPACE, head)
    path = app.emulator.store.log_dir(DEFAULT_WORKSPACE, key) / name
    path.write_bytes(data)
    url = (await call("GetRayLog", {"instanceId": head}, query={"path": name}))["data"]["accessUrl"]
    return app, call, path, url


def _client_messages():
    """(receive, done): an ASGI ``receive`` that gives the (empty) request once, then waits until
    ``done`` is set (the response's last body message sent) and says the client disconnected, as
    a server does. (A ``receive`` that kept answering ``http.request`` would never yield to the
    event loop: Starlette's streaming response listens for the disconnect while it sends.)"""
    import asyncio

    done = asyncio.Event()
    given = False

    async def receive():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    return receive, done


def _ended(message: dict) -> bool:
    return message["type"] == "http.response.body" and not message.get("more_body", False)


async def _asgi_get(app, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], list[bytes]]:
    """GET through the raw ASGI interface: (status, headers, the body messages one by one)."""
    parts = urlsplit(url)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": parts.path, "raw_path": parts.path.encode(), "query_string": parts.query.encode(),
        "headers": [(b"host", parts.netloc.encode())] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("emulator.local", 80), "client": ("127.0.0.1", 1234), "root_path": "",
    }
    sent: list[dict] = []
    receive, done = _client_messages()

    async def send(message):
        sent.append(message)
        if _ended(message):
            done.set()

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    hdrs = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], hdrs, [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]


def _assert_whole(resp: httpx.Response, data: bytes = CONTENT) -> None:
    assert resp.status_code == 200, resp.text
    assert resp.content == data
    assert resp.headers["accept-ranges"] == "bytes"
    assert resp.headers["content-length"] == str(len(data))
    assert "content-range" not in resp.headers
    assert resp.headers["content-type"].startswith("text/plain")


def _assert_partial(resp: httpx.Response, first: int, last: int, size: int = SIZE, data: bytes = CONTENT) -> None:
    assert resp.status_code == 206, resp.text
    assert resp.content == data[first : last + 1]
    assert resp.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert resp.headers["content-length"] == str(last + 1 - first)
    assert resp.headers["accept-ranges"] == "bytes"


async def test_no_range_is_the_whole_object(make_app, connect):
    _, call, _, url = await _log_url(make_app, connect)
    _assert_whole(await call.client.get(url))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        ("bytes=10-10", 10, 10),
        # a span across chunk boundaries, starting and ending inside multi-byte characters
        (f"bytes={CHUNK - 3}-{2 * CHUNK + 5}", CHUNK - 3, 2 * CHUNK + 5),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=0-", 0, SIZE - 1),
        ("bytes=-7", SIZE - 7, SIZE - 1),
        (f"bytes=-{CHUNK + 1}", SIZE - CHUNK - 1, SIZE - 1),
        # clipped: an end past the object, a suffix longer than it
        (f"bytes=5-{SIZE}", 5, SIZE - 1),
        (f"bytes={SIZE - 2}-{SIZE * 10}", SIZE - 2, SIZE - 1),
        (f"bytes=-{SIZE * 3}", 0, SIZE - 1),
    ],
)
async def test_one_range_is_206_with_exact_bytes(make_app, connect, header, first, last):
    _, call, _, url = await _log_url(make_app, connect)
    _assert_partial(await call.client.get(url, headers={"Range": header}), first, last)


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 10}", f"bytes={SIZE + 100}-", "bytes=-0"])
async def test_start_at_or_past_the_end_is_416_invalid_range(make_app, connect, header):
    _, call, _, url = await _log_url(make_app, connect)
    resp = await call.client.get(url, headers={"Range": header})
    assert resp.status_code == 416
    assert resp.headers["content-range"] == f"bytes */{SIZE}"
    body = resp.json()
    assert body["code"] == "InvalidRange" and body["requestId"] == resp.headers["x-acs-request-id"]


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-9",  # several ranges
        "bytes=-5,10-",
        "bytes=9-2",  # end before start
        "bytes=-",
        "bytes=",
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=--5",
        "byte=0-9",  # wrong unit
        "items=0-9",
        "0-9",
        "",
    ],
)
async def test_malformed_or_multi_range_is_ignored(make_app, connect, header):
    _, call, _, url = await _log_url(make_app, connect)
    _assert_whole(await call.client.get(url, headers={"Range": header}))


async def test_empty_log(make_app, connect):
    _, call, _, url = await _log_url(make_app, connect, data=b"")
    _assert_whole(await call.client.get(url), data=b"")
    for header in ("bytes=0-", "bytes=-10"):
        resp = await call.client.get(url, headers={"Range": header})
        assert resp.status_code == 416 and resp.headers["content-range"] == "bytes */0", header


async def test_streamed_in_chunks_of_at_most_64_kib_never_read_whole(make_app, connect, monkeypatch):
    app, _, _, url = await _log_url(make_app, connect)

    def forbidden(self):
        raise AssertionError(f"read_bytes({self}): the whole file read into memory")

    monkeypatch.setattr(Path, "read_bytes", forbidden)
    status, headers, bodies = await _asgi_get(app, url, {})
    assert status == 200 and b"".join(bodies) == CONTENT and headers["content-length"] == str(SIZE)
    chunks = [b for b in bodies if b]
    assert len(chunks) == -(-SIZE // CHUNK) and all(len(c) <= CHUNK for c in chunks)

    first, last = 1000, 1000 + 2 * CHUNK + 17  # only the span is read: 3 chunks, not the file
    status, headers, bodies = await _asgi_get(app, url, {"Range": f"bytes={first}-{last}"})
    assert status == 206 and b"".join(bodies) == CONTENT[first : last + 1]
    assert [len(c) for c in bodies if c] == [CHUNK, CHUNK, 18]


async def test_growing_log_is_served_up_to_its_size_at_each_request(make_app, connect):
    app, call, path, url = await _log_url(make_app, connect)
    _assert_whole(await call.client.get(url))
    more = "next part ✓ ünïcödé\n".encode() * 5000
    with path.open("ab") as fh:
        fh.write(more)
    grown = CONTENT + more
    _assert_partial(await call.client.get(url, headers={"Range": f"bytes={SIZE}-"}), SIZE, len(grown) - 1,
                    size=len(grown), data=grown)
    _assert_whole(await call.client.get(url), data=grown)
    resp = await call.client.get(url, headers={"Range": f"bytes={len(grown)}-"})  # nothing new yet
    assert resp.status_code == 416 and resp.headers["content-range"] == f"bytes */{len(grown)}"

    # Written to while being downloaded: this answer stops at the size it had when the request came.
    size_then = len(grown)
    sent: list[dict] = []
    receive, done = _client_messages()

    async def appending_send(message):
        sent.append(message)
        if _ended(message):
            done.set()
        if message["type"] == "http.response.body" and message.get("body"):
            with path.open("ab") as fh:
                fh.write(b"written during the download\n" * 10000)

    parts = urlsplit(url)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": parts.path, "raw_path": parts.path.encode(), "query_string": parts.query.encode(),
        "headers": [(b"host", parts.netloc.encode()), (b"range", b"bytes=100-")],
        "server": ("emulator.local", 80), "client": ("127.0.0.1", 1234), "root_path": "",
    }
    await app(scope, receive, appending_send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 206
    assert dict(start["headers"])[b"content-range"] == f"bytes 100-{size_then - 1}/{size_then}".encode()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == grown[100:size_then]
    assert path.stat().st_size > size_then  # it really grew meanwhile


async def test_bad_links_are_refused_even_with_a_range(make_app, connect):
    app, call, path, url = await _log_url(make_app, connect)
    query = parse_qs(urlsplit(url).query)
    expires, sig = int(query["Expires"][0]), query["Signature"][0]
    base = url.split("?", 1)[0]
    link = base.split("/__emulator__/logs/", 1)[1]
    forged = [
        f"{base}?Expires={expires}&Signature={'0' * len(sig)}",  # forged signature
        f"{base}?Expires={expires + 1}&Signature={sig}",  # a signature of another expiry
        f"{base}?Expires=notanumber&Signature={sig}",
        f"{base}?Expires={expires}",  # no signature
        base,
    ]
    past = int(time.time()) - 10  # a genuine signature that has expired
    forged.append(f"{base}?Expires={past}&Signature={app.emulator.sign_log_link(link, past)}")
    for bad in forged:
        for headers in ({"Range": "bytes=0-9"}, {"Range": "bytes=-5"}, {"Range": f"bytes={SIZE}-"}, {}):
            resp = await call.client.get(bad, headers=headers)
            assert resp.status_code == 403, (bad, headers, resp.status_code)
            assert resp.json()["code"] == "AccessDenied" and "content-range" not in resp.headers

    # A validly signed link to a file that does not exist (or no longer does) is not found, range or not.
    ws, instance = link.split("/")[:2]
    nope = f"{ws}/{instance}/{quote('nope.log')}"
    nope_url = f"{base.rsplit('/', 1)[0]}/nope.log?Expires={expires}&Signature={app.emulator.sign_log_link(nope, expires)}"
    path.unlink()
    for target in (nope_url, url):
        resp = await call.client.get(target, headers={"Range": "bytes=0-9"})
        assert resp.status_code == 404 and resp.json()["code"] == "RayLog.NotFound", target


@pytest.mark.integration
def test_range_over_a_real_socket(tmp_path):
    """The served emulator (uvicorn): the headers and exact bytes reach a real client."""
    config = EmulatorConfig(**FAST_DELAYS, execute_jobs=False, data_dir=str(tmp_path / "data"))
    with serve_in_thread(config) as server, httpx.Client(timeout=10) as client:
        call = SyncCaller(client, server.endpoint)
        cid = call("CreateRayCluster", body={"name": "c"})["clusterId"]
        head = call("GetRayCluster", {"clusterId": cid})["instances"][0]["instanceId"]
        call("ListRayLogs", {"instanceId": head})
        key, _ = server.emulator.store.resolve_log_key(DEFAULT_WORKSPACE, head)
        path = server.emulator.store.log_dir(DEFAULT_WORKSPACE, key) / "driver.log"
        path.write_bytes(CONTENT)
        url = call("GetRayLog", {"instanceId": head}, query={"path": "driver.log"})["data"]["accessUrl"]
        assert url.startswith(server.endpoint + "/__emulator__/logs/")

        _assert_whole(client.get(url))
        _assert_partial(client.get(url, headers={"Range": f"bytes={CHUNK - 1}-{CHUNK + 1}"}), CHUNK - 1, CHUNK + 1)
        _assert_partial(client.get(url, headers={"Range": "bytes=-3"}), SIZE - 3, SIZE - 1)
        resp = client.get(url, headers={"Range": f"bytes={SIZE}-"})
        assert resp.status_code == 416 and resp.headers["content-range"] == f"bytes */{SIZE}"
        _assert_whole(client.get(url, headers={"Range": "bytes=0-1,4-5"}))
        with client.stream("GET", url, headers={"Range": "bytes=7-"}) as resp:
            assert resp.status_code == 206 and "transfer-encoding" not in resp.headers
            assert b"".join(resp.iter_bytes()) == CONTENT[7:]
        assert client.get(url.replace("Signature=", "Signature=0"), headers={"Range": "bytes=0-9"}).status_code == 403
