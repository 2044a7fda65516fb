"""The websocket client of Ray's job-log tail (``client.ray_log_tail``): the frame parser over a
fake stream (hand-built RFC 6455 frames), the handshake against a raw loopback socket, and the
tail of a real job served by the emulator on loopback (``<jobUrl>/api/jobs/{id}/logs/tail``)."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from airflow_provider_emr_ray.client import ray_log_tail as rlt
from airflow_provider_emr_ray.client.ray_jobs import RayJobsTarget
from airflow_provider_emr_ray.client.ray_log_tail import (
    LogTailConnectionError,
    LogTailUnavailable,
    RayLogTail,
    open_log_tail,
)
from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread
from airflow_provider_emr_ray.emulator.processes import shell_quote
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayConnectionError,
    EmrRayError,
    EmrRayNotFoundError,
)
from tests.emulator.helpers import FAST_DELAYS, SyncCaller, wait_for
from tests.ray_oracle import require

TOKEN = "tok-secret-0123456789abcdef"
TARGET = RayJobsTarget(url="http://127.0.0.1:9/ray-gateway", token=TOKEN, cluster_id="rc-test")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Generous: a recv that should return after t seconds returns before t + SLACK (CI machines).
SLACK = 2.0


# --------------------------------------------------------------------------- frame helpers
def server_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, length_bits: int | None = None,
                 mask: bytes | None = None) -> bytes:  # fmt: skip
    """A server frame (unmasked unless ``mask``), with the shortest length encoding unless
    ``length_bits`` (7, 16 or 64) forces one."""
    n = len(payload)
    bits = length_bits or (7 if n < 126 else 16 if n < 1 << 16 else 64)
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if mask else 0
    if bits == 7:
        head = struct.pack("!BB", b0, m | n)
    elif bits == 16:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def text(s: str, **kw: Any) -> bytes:
    return server_frame(0x1, s.encode("utf-8"), **kw)


def close_frame(code: int | None = 1000, reason: str = "") -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
    return server_frame(0x8, payload)


def parse_client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of the frames a client wrote; every one must be masked and final."""
    frames = []
    while data:
        b0, b1 = data[0], data[1]
        assert b0 & 0x80, "client frames here are final"
        assert b1 & 0x80, "a client frame must be masked"
        n, pos = b1 & 0x7F, 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", data, 2), 4
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", data, 2), 10
        key = data[pos : pos + 4]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos + 4 : pos + 4 + n]))
        frames.append((b0 & 0x0F, payload))
        data = data[pos + 4 + n :]
    return frames


class FakeStream:
    """httpcore's NetworkStream, scripted: ``read`` returns the queued chunks one by one (at
    most ``max_bytes``), then waits on :attr:`more` up to its timeout and raises ReadTimeout;
    ``b""`` queued is an EOF."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks: deque[bytes] = deque(chunks)
        self.written = bytearray()
        self.closed = False
        self.more = threading.Event()
        self.read_timeouts: list[float | None] = []
        self.lock = threading.Lock()

    def feed(self, *chunks: bytes) -> None:
        with self.lock:
            self.chunks.extend(chunks)
        self.more.set()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.read_timeouts.append(timeout)
        if self.closed:
            raise httpcore.ReadError("read on a closed stream")
        with self.lock:
            if not self.chunks:
                self.more.clear()
        if not self.chunks and not self.more.wait(timeout):
            raise httpcore.ReadTimeout("timed out")
        with self.lock:
            chunk = self.chunks.popleft()
            if len(chunk) > max_bytes:
                self.chunks.appendleft(chunk[max_bytes:])
                chunk = chunk[:max_bytes]
        return chunk

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self.closed:
            raise httpcore.WriteError("write on a closed stream")
        self.written += buffer

    def close(self) -> None:
        self.closed = True

    def frames(self) -> list[tuple[int, bytes]]:
        return parse_client_frames(bytes(self.written))


class FakeResponse:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def tail_over(*chunks: bytes) -> tuple[RayLogTail, FakeStream, FakeResponse]:
    stream, response = FakeStream(*chunks), FakeResponse()
    return RayLogTail(stream, response, TARGET, "raysubmit_1", timeout=5.0), stream, response


def drain(tail: RayLogTail, timeout: float = 5.0) -> tuple[list[str], str | None]:
    """Every non-empty chunk until the tail ends (None) or nothing comes for ``timeout``."""
    got = []
    while True:
        piece = tail.recv(timeout)
        if piece is None:
            return got, None
        if piece == "":
            return got, ""
        got.append(piece)


# --------------------------------------------------------------------------- frame parser
def test_text_messages_then_close_end_the_tail_with_none():
    tail, stream, response = tail_over(text("one\n") + text("two\n"), text("three\n") + close_frame(1000))
    got, end = drain(tail)
    assert "".join(got) == "one\ntwo\nthree\n" and end is None
    assert tail.recv(0) is None and tail.recv(1) is None  # and on every call after
    assert tail.closed and stream.closed and response.closed == 1
    assert stream.frames() == [(0x8, struct.pack("!H", 1000))]  # the close answered, masked
    tail.close()  # idempotent: nothing more written
    assert stream.frames() == [(0x8, struct.pack("!H", 1000))] and response.closed == 1


def test_text_before_a_close_in_the_same_read_comes_first():
    tail, _, _ = tail_over(text("last words\n") + close_frame(1000))
    assert tail.recv(1) == "last words\n"
    assert tail.recv(1) is None


def test_a_close_without_a_code_is_a_normal_end():
    tail, stream, _ = tail_over(close_frame(None))
    assert tail.recv(1) is None and stream.frames() == [(0x8, struct.pack("!H", 1000))]


def test_fragmented_message_with_a_ping_between_its_fragments():
    frames = (
        text("hel", fin=False)
        + server_frame(0x9, b"are you there")
        + server_frame(0x0, b"lo ", fin=False)
        + server_frame(0x0, b"world\n")
    )
    tail, stream, _ = tail_over(frames, close_frame())
    got, end = drain(tail)
    assert "".join(got) == "hello world\n" and end is None
    assert stream.frames()[0] == (0xA, b"are you there")  # a masked pong, same payload


def test_a_ping_alone_is_answered_with_a_masked_pong_and_is_no_text():
    tail, stream, _ = tail_over(server_frame(0x9, b"p1"))
    assert tail.recv(0.05) == ""
    raw = bytes(stream.written)
    assert raw[0] == 0x8A and raw[1] == 0x80 | 2  # FIN|pong, MASK|len 2
    key = raw[2:6]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(raw[6:])) == b"p1"
    assert not tail.closed


def test_unsolicited_pong_is_ignored():
    tail, stream, _ = tail_over(server_frame(0xA, b"x") + text("a"))
    assert tail.recv(1) == "a" and stream.written == b""


@pytest.mark.parametrize("size,bits", [(125, 7), (126, 16), (300, 16), (65535, 16), (65536, 64), (200_000, 64)])
def test_payload_lengths_7_16_and_64_bit(size, bits):
    body = ("x" * (size - 1)) + "\n"
    frame = text(body)
    assert frame[1] & 0x7F == {7: size, 16: 126, 64: 127}[bits]
    # delivered in reads of 1000 bytes: a payload is streamed, never held whole
    tail, _, _ = tail_over(*[frame[i : i + 1000] for i in range(0, len(frame), 1000)], close_frame())
    got, end = drain(tail)
    assert "".join(got) == body and end is None
    assert max(len(g) for g in got) <= rlt.READ_SIZE


def test_non_minimal_length_encodings_are_accepted():
    tail, _, _ = tail_over(text("short", length_bits=16) + text(" and", length_bits=64), close_frame())
    got, _ = drain(tail)
    assert "".join(got) == "short and"


def test_a_big_message_is_delivered_in_pieces_of_at_most_one_read():
    body = "y" * (3 * rlt.READ_SIZE + 17)
    tail, stream, _ = tail_over(text(body), close_frame())
    got, end = drain(tail)
    assert "".join(got) == body and end is None and len(got) >= 4
    assert all(len(g) <= rlt.READ_SIZE for g in got)
    assert all(t is not None and t > 0 for t in stream.read_timeouts)


def test_a_multibyte_character_split_across_reads_and_frames():
    euro = "€".encode()  # 3 bytes
    frame = text("price: 5€\n")
    cut = frame.index(euro) + 1
    # split inside the character between two reads
    tail, _, _ = tail_over(frame[:cut], frame[cut:], close_frame())
    got, _ = drain(tail)
    assert "".join(got) == "price: 5€\n" and "\ufffd" not in "".join(got)
    # split inside the character between two fragments of one message
    fragmented = server_frame(0x1, b"caf" + "é".encode()[:1], fin=False) + server_frame(0x0, "é".encode()[1:] + b"!\n")
    tail, _, _ = tail_over(fragmented, close_frame())
    got, _ = drain(tail)
    assert "".join(got) == "café!\n"


def test_invalid_utf8_is_replaced_not_raised():
    tail, _, _ = tail_over(server_frame(0x1, b"bad \xff byte\n"), close_frame())
    got, _ = drain(tail)
    assert "".join(got) == "bad \ufffd byte\n"


def test_binary_messages_are_decoded_as_one_byte_stream():
    snow = "☃".encode()
    tail, _, _ = tail_over(server_frame(0x2, b"a" + snow[:2]) + server_frame(0x2, snow[2:] + b"b"), close_frame())
    got, _ = drain(tail)
    assert "".join(got) == "a☃b"


def test_a_partial_frame_then_timeout_then_the_rest():
    frame = text("hello\n")
    tail, stream, _ = tail_over(frame[:1])  # not even the whole header
    assert tail.recv(0.05) == ""
    stream.feed(frame[1:4])
    assert tail.recv(0.05) == "he"  # payload bytes are delivered as they come
    stream.feed(frame[4:])
    assert tail.recv(0.05) == "llo\n"


@pytest.mark.parametrize(
    "frames,why",
    [
        (text("x", mask=b"\x01\x02\x03\x04"), "masked frame from the server"),
        (text("x", rsv=0x40), "reserved bits"),
        (server_frame(0x3, b"x"), "unknown data opcode 0x3"),
        (server_frame(0xB, b"x"), "unknown control opcode 0xb"),
        (server_frame(0x0, b"x"), "continuation frame outside"),
        (text("a", fin=False) + text("b"), "new message inside a fragmented one"),
        (server_frame(0x9, b"p" * 126), "long (over 125 bytes) control frame"),
        (server_frame(0x9, b"p", fin=False), "fragmented or long"),
        (server_frame(0x8, b"\x03"), "1-byte payload"),
        (struct.pack("!BBQ", 0x81, 127, 1 << 63), "high bit set"),
    ],
)
def test_protocol_violations_raise_and_close_with_1002(frames, why):
    tail, stream, response = tail_over(frames)
    got = []
    with pytest.raises(LogTailUnavailable, match=re.escape(why)) as err:
        for _ in range(3):
            got.append(tail.recv(1))
    assert got == (["a"] if why.startswith("new message") else [])  # text before the violation comes first
    assert "raysubmit_1" in str(err.value) and "rc-test" in str(err.value)
    assert tail.closed and stream.closed and response.closed == 1
    assert stream.frames() == [(0x8, struct.pack("!H", 1002))]
    with pytest.raises(LogTailUnavailable, match=re.escape(why)):  # and on every call after
        tail.recv(0)


def test_text_before_a_violation_is_returned_first():
    tail, _, _ = tail_over(text("kept\n") + text("x", mask=b"abcd"))
    assert tail.recv(1) == "kept\n"
    with pytest.raises(LogTailUnavailable, match="masked"):
        tail.recv(1)


def test_abnormal_close_code_raises_with_the_reason_redacted():
    tail, stream, _ = tail_over(text("partial\n") + close_frame(1011, f"internal error with {TOKEN}"))
    assert tail.recv(1) == "partial\n"
    with pytest.raises(LogTailUnavailable, match="closed it with code 1011") as err:
        tail.recv(1)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)
    assert stream.frames() == [(0x8, struct.pack("!H", 1011))]  # echoed


def test_eof_without_a_close_frame_raises():
    tail, stream, _ = tail_over(text("a"), b"")
    assert tail.recv(1) == "a"
    with pytest.raises(LogTailUnavailable, match="without a websocket close frame"):
        tail.recv(1)
    assert tail.closed and stream.written == b""  # nothing written on a dead connection


def test_a_broken_connection_raises_redacted():
    class Broken(FakeStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            raise httpcore.ReadError(f"connection reset (peer said {TOKEN})")

    stream = Broken()
    tail = RayLogTail(stream, FakeResponse(), TARGET, "raysubmit_1")
    with pytest.raises(LogTailUnavailable, match="ReadError: connection reset") as err:
        tail.recv(1)
    assert TOKEN not in str(err.value) and tail.closed and stream.closed


def test_recv_timeout_returns_empty_without_blocking_longer_than_asked():
    tail, stream, _ = tail_over()
    t0 = time.monotonic()
    assert tail.recv(0.2) == ""
    elapsed = time.monotonic() - t0
    assert elapsed < 0.2 + SLACK
    assert all(t is not None and t <= 0.2 for t in stream.read_timeouts)  # never asked to wait longer
    assert not tail.closed


def test_recv_zero_takes_what_already_arrived_and_returns_at_once():
    tail, stream, _ = tail_over(text("ready\n"))
    assert tail.recv(0) == "ready\n"
    t0 = time.monotonic()
    assert tail.recv(0) == ""
    assert time.monotonic() - t0 < SLACK and stream.read_timeouts[-1] == rlt.MIN_WAIT


def test_recv_returns_as_soon_as_text_arrives_from_another_thread():
    tail, stream, _ = tail_over()
    started = threading.Event()
    result: list[Any] = []

    def reader() -> None:
        started.set()
        result.append(tail.recv(30))

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    t0 = time.monotonic()
    stream.feed(text("now\n"))
    thread.join(SLACK + 5)
    assert not thread.is_alive() and result == ["now\n"] and time.monotonic() - t0 < SLACK


def test_a_ping_does_not_extend_the_wait():
    """Pings keep coming; recv still returns "" by its deadline (within the slack)."""

    class Pinging(FakeStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            self.read_timeouts.append(timeout)
            return server_frame(0x9, b"hb")

    stream = Pinging()
    tail = RayLogTail(stream, FakeResponse(), TARGET, "raysubmit_1")
    t0 = time.monotonic()
    assert tail.recv(0.1) == ""
    assert time.monotonic() - t0 < 0.1 + SLACK
    assert {f for f in stream.frames()} == {(0xA, b"hb")}


def test_close_sends_a_masked_close_frame_once_and_later_recv_raises():
    tail, stream, response = tail_over()
    with tail as same:
        assert same is tail and not tail.closed
    assert tail.closed and stream.closed and response.closed == 1
    assert stream.frames() == [(0x8, struct.pack("!H", 1000))]
    tail.close()
    tail.close()
    assert stream.frames() == [(0x8, struct.pack("!H", 1000))] and response.closed == 1
    with pytest.raises(LogTailUnavailable, match="closed"):
        tail.recv(0)


def test_close_survives_a_dead_stream():
    class Dead(FakeStream):
        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            raise httpcore.WriteError("broken pipe")

        def close(self) -> None:
            raise OSError("already gone")

    tail = RayLogTail(Dead(), FakeResponse(), TARGET, "raysubmit_1")
    tail.close()
    assert tail.closed


def test_repr_and_errors_never_show_the_token():
    tail, _, _ = tail_over()
    assert TOKEN not in repr(tail) and "raysubmit_1" in repr(tail) and "open" in repr(tail)
    tail.close()
    assert "closed" in repr(tail)


def test_client_frames_are_masked_with_every_length():
    for n in (0, 5, 125, 126, 70_000):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        frame = rlt._client_frame(0x1, payload, mask_key=b"\x11\x22\x33\x44")
        assert parse_client_frames(frame) == [(0x1, payload)]


def test_errors_pickle_with_their_fields():
    err = LogTailUnavailable("no websocket", action=rlt.ACTION, status=502)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is LogTailUnavailable and back.status == 502 and str(back) == str(err)
    conn = pickle.loads(pickle.dumps(LogTailConnectionError("unreachable", action=rlt.ACTION)))
    assert isinstance(conn, LogTailUnavailable) and isinstance(conn, EmrRayConnectionError)
    assert issubclass(LogTailUnavailable, EmrRayError)


# --------------------------------------------------------------------------- open_log_tail: no real socket
def _mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_mock_transport_sends_the_upgrade_and_gets_log_tail_unavailable():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="not a websocket")

    with _mock_client(handler) as client, pytest.raises(LogTailUnavailable, match="HTTP 200") as err:
        open_log_tail(client, TARGET, "raysubmit 1/ü", timeout=3)
    assert TOKEN not in str(err.value) and "rc-test" in str(err.value)
    (req,) = seen
    assert req.url.raw_path == b"/ray-gateway/api/jobs/raysubmit%201%2F%C3%BC/logs/tail"  # quoted, prefix kept
    h = req.headers
    assert h["connection"] == "Upgrade" and h["upgrade"] == "websocket" and h["sec-websocket-version"] == "13"
    assert len(base64.b64decode(h["sec-websocket-key"])) == 16
    assert h["ray-token"] == TOKEN and h["user-agent"].startswith("airflow-provider-emr-ray/")
    assert req.extensions["timeout"] == {"connect": 3, "read": 3, "write": 3, "pool": 3}


def test_a_101_without_a_network_stream_is_log_tail_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": accept}
        return httpx.Response(101, headers=headers)

    with _mock_client(handler) as client, pytest.raises(LogTailUnavailable, match="no network stream"):
        open_log_tail(client, TARGET, "raysubmit_1")


@pytest.mark.parametrize(
    "status,body,error",
    [
        (401, "Unauthorized", EmrRayAuthError),
        (403, f"token {TOKEN} refused", EmrRayAuthError),
        (404, "Job raysubmit_1 does not exist", EmrRayNotFoundError),
        (404, "<html>404 Not Found</html>", LogTailUnavailable),  # a gateway without the route
        (400, "Can only get logs of submission type jobs", LogTailUnavailable),
        (502, "Bad Gateway", LogTailUnavailable),
    ],
)
def test_refusals(status, body, error):
    with _mock_client(lambda r: httpx.Response(status, text=body)) as client, pytest.raises(error) as err:
        open_log_tail(client, TARGET, "raysubmit_1")
    message = str(err.value)
    assert type(err.value) is error and err.value.status == status and err.value.action == rlt.ACTION
    assert "rc-test" in message and TOKEN not in message and TOKEN not in repr(err.value)
    if error is EmrRayNotFoundError:
        assert "raysubmit_1" in message and "does not exist" in message


def test_unreachable_endpoint_is_a_connection_error_and_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens
    target = RayJobsTarget(url=f"http://127.0.0.1:{port}/ray-gateway", token=TOKEN, cluster_id="rc-test")
    with httpx.Client() as client, pytest.raises(LogTailConnectionError) as err:
        open_log_tail(client, target, "raysubmit_1", timeout=5)
    assert isinstance(err.value, LogTailUnavailable) and isinstance(err.value, EmrRayConnectionError)
    assert "rc-test" in str(err.value) and TOKEN not in str(err.value)


# --------------------------------------------------------------------------- handshake over a raw loopback socket
class RawServer:
    """One-connection HTTP server on loopback: reads the request head, then hands the socket
    and the request's headers to ``script``."""

    def __init__(self, script: Callable[[socket.socket, dict[str, str]], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
                self.script(conn, headers)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            self.done.set()

    def target(self) -> RayJobsTarget:
        return RayJobsTarget(url=f"http://127.0.0.1:{self.port}/ray-gateway", token=TOKEN, cluster_id="rc-raw")

    def close(self) -> None:
        self.sock.close()
        self.done.wait(10)
        assert not self.errors, self.errors


def _switch(headers: dict[str, str], *, accept: str | None = None, extra: str = "") -> bytes:
    key = headers["sec-websocket-key"]
    good = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept or good}\r\n{extra}\r\n").encode()  # fmt: skip


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "the client closed early"
        data += chunk
    return data


def _read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    head = _read_exactly(conn, 2)
    n = head[1] & 0x7F
    ext = _read_exactly(conn, {126: 2, 127: 8}.get(n, 0))
    if n == 126:
        (n,) = struct.unpack("!H", ext)
    elif n == 127:
        (n,) = struct.unpack("!Q", ext)
    rest = _read_exactly(conn, 4 + n)
    return parse_client_frames(head + ext + rest)[0]


def test_real_socket_frames_in_the_101_packet_ping_pong_and_close():
    """Frames sent in the same packet as the 101 (httpcore keeps them as the upgrade stream's
    leading data), a ping answered by a masked pong on the wire, and the close handshake."""
    got: dict[str, Any] = {}

    def script(conn: socket.socket, headers: dict[str, str]) -> None:
        got["headers"] = headers
        conn.sendall(_switch(headers) + text("early ") + server_frame(0x9, b"hb"))
        got["pong"] = _read_client_frame(conn)
        conn.sendall(text("later\n") + close_frame(1000))
        got["close"] = _read_client_frame(conn)

    server = RawServer(script)
    try:
        with httpx.Client() as client, open_log_tail(client, server.target(), "raysubmit_1", timeout=5) as tail:
            got_text, end = drain(tail)
            assert "".join(got_text) == "early later\n" and end is None
        assert server.done.wait(10)
    finally:
        server.close()
    assert got["pong"] == (0xA, b"hb") and got["close"] == (0x8, struct.pack("!H", 1000))
    assert got["headers"]["ray-token"] == TOKEN and got["headers"]["upgrade"] == "websocket"


@pytest.mark.parametrize(
    "kw,why",
    [
        ({"accept": "bm90IHRoZSByaWdodCBhY2NlcHQ="}, "sec-websocket-accept does not match"),
        ({"extra": "Sec-WebSocket-Extensions: permessage-deflate\r\n"}, "extensions"),
    ],
)
def test_bad_handshake_is_log_tail_unavailable(kw, why):
    def script(conn: socket.socket, headers: dict[str, str]) -> None:
        conn.sendall(_switch(headers, **kw))
        conn.recv(1)  # until the client hangs up

    server = RawServer(script)
    try:
        with httpx.Client() as client, pytest.raises(LogTailUnavailable, match=why):
            open_log_tail(client, server.target(), "raysubmit_1", timeout=5)
    finally:
        server.close()


def test_a_silent_server_times_out_the_upgrade_as_unavailable():
    release = threading.Event()

    def script(conn: socket.socket, headers: dict[str, str]) -> None:
        release.wait(10)  # never answers while the client waits

    server = RawServer(script)
    try:
        t0 = time.monotonic()
        with httpx.Client() as client, pytest.raises(LogTailUnavailable, match="ReadTimeout") as err:
            open_log_tail(client, server.target(), "raysubmit_1", timeout=0.3)
        assert not isinstance(err.value, LogTailConnectionError) and time.monotonic() - t0 < 0.3 + SLACK
    finally:
        release.set()
        server.close()


def test_closing_the_tail_releases_the_pool_connection():
    def script(conn: socket.socket, headers: dict[str, str]) -> None:
        conn.sendall(_switch(headers))
        assert _read_client_frame(conn) == (0x8, struct.pack("!H", 1000))

    server = RawServer(script)
    try:
        limits = httpx.Limits(max_connections=1)
        with httpx.Client(limits=limits) as client:
            tail = open_log_tail(client, server.target(), "raysubmit_1", timeout=5)
            assert tail.recv(0.05) == ""
            tail.close()
            assert server.done.wait(10)
            pool = client._transport._pool
            assert pool.connections == []  # the upgraded connection left the pool
    finally:
        server.close()


# --------------------------------------------------------------------------- the emulator on loopback
@pytest.fixture
def gateway(tmp_path):
    settings = {**FAST_DELAYS, "data_dir": str(tmp_path / "data"), "kill_grace": 1.0}
    with serve_in_thread(EmulatorConfig(**settings)) as server, httpx.Client(timeout=10) as http:
        call = SyncCaller(http, server.endpoint)
        body = {"name": "tail", "displayReleaseVersion": "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
                "headSpec": {"cpu": "4", "memory": "16Gi"}, "workerSpec": []}  # fmt: skip
        cid = call("CreateRayCluster", body=body)["clusterId"]
        got = wait_for(lambda: (g := call("GetRayCluster", {"clusterId": cid}))["state"] == "Running" and g)
        target = RayJobsTarget(url=got["jobUrl"], token=got["submitToken"], cluster_id=cid)
        yield server, http, target


def _submit(http: httpx.Client, target: RayJobsTarget, code: str) -> str:
    r = http.post(target.url + "/api/jobs/", headers={"ray-token": target.token},
                  json={"entrypoint": shell_quote(sys.executable, "-c", code)})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["submission_id"]


def _until(tail: RayLogTail, want: str, have: str = "", timeout: float = 30.0) -> str:
    """Read until the text so far ends with ``want``."""
    deadline = time.monotonic() + timeout
    while not have.endswith(want):
        assert time.monotonic() < deadline, f"waited for {want!r}, have {have!r}"
        piece = tail.recv(max(0.01, deadline - time.monotonic()))
        assert piece is not None, f"the tail ended before {want!r}: {have!r}"
        have += piece
    return have


@pytest.mark.integration
def test_emulator_tail_follows_a_job_in_order_and_ends_with_none(gateway, tmp_path):
    server, http, target = gateway
    assert "/ray-gateway" in target.url  # the jobUrl's path prefix is kept
    go1, go2 = tmp_path / "go1", tmp_path / "go2"
    code = (
        "import os, time\n"
        "print('line 1', flush=True)\n"
        f"while not os.path.exists({str(go1)!r}): time.sleep(0.01)\n"
        "print('line 2 ünïcødé €', flush=True)\n"
        f"while not os.path.exists({str(go2)!r}): time.sleep(0.01)\n"
        "print('line 3', flush=True)\n"
    )
    sid = _submit(http, target, code)
    with open_log_tail(http, target, sid, timeout=10) as tail:
        have = _until(tail, "line 1\n")
        t0 = time.monotonic()
        assert tail.recv(0.3) == ""  # the job waits: nothing within 0.3 s, and no longer than asked
        assert time.monotonic() - t0 < 0.3 + SLACK
        go1.write_text("")
        have = _until(tail, "line 2 ünïcødé €\n", have)
        go2.write_text("")
        have = _until(tail, "line 3\n", have)
        deadline = time.monotonic() + 30
        while (piece := tail.recv(max(0.01, deadline - time.monotonic()))) is not None:
            assert time.monotonic() < deadline, "the tail did not end after the job"
            have += piece
        assert tail.closed
    assert have == "line 1\nline 2 ünïcødé €\nline 3\n"
    assert server.emulator.stats.ray_jobs_calls["TailJobLogs"] == 1


@pytest.mark.integration
def test_emulator_tail_of_an_ended_job_sends_the_whole_log_then_ends(gateway):
    _server, http, target = gateway
    sid = _submit(http, target, "print('\\n'.join(f'row {i}' for i in range(2000)))")
    wait_for(lambda: http.get(f"{target.url}/api/jobs/{sid}", headers={"ray-token": target.token}).json()["status"]
             == "SUCCEEDED", what="the job to end")  # fmt: skip
    with open_log_tail(http, target, sid) as tail:
        got, end = drain(tail, timeout=30)
    assert end is None and "".join(got) == "".join(f"row {i}\n" for i in range(2000))


@pytest.mark.integration
def test_emulator_wrong_token_is_an_auth_error_naming_the_cluster(gateway):
    _server, http, target = gateway
    wrong = RayJobsTarget(url=target.url, token="not-the-token-" + TOKEN, cluster_id=target.cluster_id)
    sid = _submit(http, target, "print('x')")
    with pytest.raises(EmrRayAuthError) as err:
        open_log_tail(http, wrong, sid)
    assert err.value.status in (401, 403) and target.cluster_id in str(err.value)
    assert wrong.token not in str(err.value) and wrong.token not in repr(err.value) and TOKEN not in str(err.value)
    assert target.token not in str(err.value)


@pytest.mark.integration
def test_emulator_unknown_job_is_not_found(gateway):
    _server, http, target = gateway
    with pytest.raises(EmrRayNotFoundError, match="raysubmit_unknown") as err:
        open_log_tail(http, target, "raysubmit_unknown")
    assert err.value.status == 404 and target.cluster_id in str(err.value)
    assert target.token not in str(err.value)


# --------------------------------------------------------------------------- a real Ray head
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real Ray head on loopback (``ray start --head``), as tests/hooks/test_ray_jobs_real_head.py
    starts one (copied, not imported: that module imports the hook)."""
    require("ray")
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_bin is not None, "Ray imports but its `ray` executable is not next to the interpreter"
    temp = tmp_path_factory.mktemp("ray")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    port, dash = _free_port(), _free_port()
    cmd = [ray_bin, "start", "--head", f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
           "--include-dashboard=true", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={temp}"]  # fmt: skip
    started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    if started.returncode != 0:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
        pytest.fail(f"ray start failed: {started.stdout[-2000:]} {started.stderr[-2000:]}")
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        while True:  # the dashboard's job module answers once the head is up (polling a process)
            try:
                if httpx.get(f"{url}/api/version", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Ray dashboard did not answer /api/version within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)


@pytest.mark.integration
def test_real_ray_head_tail(ray_head, tmp_path):
    """The tail of a job on a real Ray 2.60 head (no token wanted; one is sent anyway, as the
    EMR gateway wants it)."""
    target = RayJobsTarget(url=ray_head, token="tok-real-head-0123456789", cluster_id="rc-real-head")
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('first', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        "print('second ü', flush=True)\n"
    )
    with httpx.Client(timeout=60) as http:
        sid = _submit(http, target, code)
        with open_log_tail(http, target, sid, timeout=60) as tail:
            have = _until(tail, "first\n", timeout=120)
            go.write_text("")
            have = _until(tail, "second ü\n", have, timeout=120)
            deadline = time.monotonic() + 120
            while (piece := tail.recv(max(0.01, deadline - time.monotonic()))) is not None:
                assert time.monotonic() < deadline, "the tail did not end after the job"
                have += piece
        assert "first\n" in have and have.endswith("second ü\n")
        with pytest.raises(EmrRayNotFoundError):
            open_log_tail(http, target, "raysubmit_does_not_exist")
