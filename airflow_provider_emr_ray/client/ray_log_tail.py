"""Ray's job-log tail (``GET /api/jobs/{id}/logs/tail``, a websocket): a minimal synchronous client.

Ray 2.60's dashboard (``job_head.py``) upgrades that request to a websocket, sends the driver
log as TEXT messages (from the very start of the log, then new output as it appears) and
closes the socket (code 1000) once the job has ended and everything was sent.

:func:`open_log_tail` performs the HTTP/1.1 upgrade through the transport of the hook's
``httpx.Client`` (:func:`~airflow_provider_emr_ray.client.ray_jobs.sender`: the client's TLS
settings, proxy mounts and timeouts, not its cookie jar), then takes the raw connection httpcore
hands over for a ``101 Switching Protocols`` answer (the ``network_stream`` response extension).
:class:`RayLogTail` speaks RFC 6455 over it: server frames must be unmasked, fragmented
messages and interleaved control frames are handled, pings are answered with pongs, and every
frame sent (pong, close) is masked. No extension or subprotocol is offered or accepted.

Memory: no message is ever held whole. A text frame's payload is decoded (UTF-8, incrementally,
``errors="replace"``) as its bytes arrive, so :meth:`RayLogTail.recv` returns *chunks* of the
log whose boundaries need not match the server's messages (at most about one socket read,
:data:`READ_SIZE` bytes, per call); a message of any size is thus delivered in pieces. A
multi-byte character split across reads or frames is completed by the next chunk. Binary
messages (Ray sends none) are decoded the same way, as one continuing byte stream.

The ``ray-token`` is never placed in a message, a repr or a log line.

No Airflow import, no ``ray`` import; ``httpx`` and ``httpcore`` are imported on first use.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import os
import struct
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow_provider_emr_ray.client.exchange import USER_AGENT
from airflow_provider_emr_ray.client.ray_jobs import (
    TOKEN_HEADER,
    RayJobsTarget,
    _clean,
    _join,
    sender,
)
from airflow_provider_emr_ray.exceptions import (
    EmrRayAuthError,
    EmrRayConnectionError,
    EmrRayError,
    EmrRayNotFoundError,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ACTION",
    "READ_SIZE",
    "LogTailConnectionError",
    "LogTailUnavailable",
    "RayLogTail",
    "open_log_tail",
]

#: The action named in this module's errors.
ACTION = "RayTailJobLogs"
#: Most bytes taken from the socket by one read (so about the most text one ``recv`` returns).
READ_SIZE = 64 * 1024
#: The shortest wait of a read: a ``recv(0)`` still takes what already arrived.
MIN_WAIT = 0.001
#: Longest wait for writing a close frame while closing.
CLOSE_WRITE_TIMEOUT = 1.0
#: Most bytes of a refusal's body kept for the error message.
MAX_REFUSAL_BYTES = 8 * 1024
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_NORMAL_CLOSE_CODES = (1000, 1005)  # 1005: a close frame without a code
_ENDED = "ended"  # the server closed the tail normally


class LogTailUnavailable(EmrRayError):
    """The log tail cannot be opened or followed (no websocket on this endpoint, a bad
    handshake, a broken connection or a protocol violation): read ``GET /logs`` instead."""


class LogTailConnectionError(LogTailUnavailable, EmrRayConnectionError):
    """The Ray Jobs endpoint could not be reached (connect error or connect timeout) while
    opening the tail. Both a :class:`LogTailUnavailable` (a caller falling back to ``GET /logs``
    does, whose calls are retried) and an
    :class:`~airflow_provider_emr_ray.exceptions.EmrRayConnectionError`."""


def open_log_tail(
    client: httpx.Client, target: RayJobsTarget, submission_id: str, *, timeout: float = 30.0
) -> RayLogTail:
    """Open the websocket tail of job ``submission_id``'s driver log (close it, or use it as a
    context manager).

    :param client: the hook's ``httpx.Client``; its transport for the URL (proxy mounts
        included) carries the upgrade, its cookie jar is not used.
    :param target: the cluster's Ray Jobs endpoint (``jobUrl``, path prefix included) and token.
    :param submission_id: the job (a submission id or a job id; URL-quoted in the path).
    :param timeout: seconds for connecting, writing and reading the upgrade's answer; also the
        write timeout of the frames the tail sends later (pongs).
    :raises ~airflow_provider_emr_ray.exceptions.EmrRayAuthError: HTTP 401/403, the token was
        rejected (the message names the cluster).
    :raises ~airflow_provider_emr_ray.exceptions.EmrRayNotFoundError: HTTP 404 from Ray
        (``Job ... does not exist``): no such job. A 404 with any other body (a gateway without
        this route) is a :class:`LogTailUnavailable`.
    :raises LogTailConnectionError: the endpoint could not be reached (also a
        :class:`LogTailUnavailable` and an ``EmrRayConnectionError``).
    :raises LogTailUnavailable: any other answer than 101, a 101 without the
        ``network_stream`` extension (e.g. an ``httpx.MockTransport`` or ASGI transport), a bad
        handshake (``sec-websocket-accept``, ``upgrade``, an extension imposed), or any other
        transport failure (a read timeout, a dropped connection): read ``GET /logs`` instead.
    """
    import httpx

    key = base64.b64encode(os.urandom(16)).decode("ascii")
    url = _join(target.url, f"/api/jobs/{quote(submission_id, safe='')}/logs/tail")
    headers = {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": key,
        "user-agent": USER_AGENT,
    }
    if target.token:
        headers[TOKEN_HEADER] = target.token
    t = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    request = httpx.Request("GET", url, headers=headers, extensions={"timeout": t})
    where = f"the Ray Jobs endpoint of cluster {target.cluster_id}"
    what = f"the log tail of Ray job {submission_id!r}"
    try:
        response = sender(client, url)(request)
    except httpx.TransportError as err:
        detail = _clean(f"{type(err).__name__}: {err}", target.token)
        if isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise LogTailConnectionError(f"{where} could not be reached for {what} ({detail})", action=ACTION) from None
        raise LogTailUnavailable(f"{where} failed to open {what} ({detail})", action=ACTION) from None
    try:
        status = response.status_code
        if status != 101:
            text = _refusal_text(response, target.token)
            raise _refusal_error(target, submission_id, status, text)
        stream = response.extensions.get("network_stream")
        if stream is None:
            raise LogTailUnavailable(
                f"{where} switched protocols for {what} but the HTTP transport hands over no network stream",
                action=ACTION,
                status=status,
            )
        problem = _handshake_problem(response, key)
        if problem:
            raise LogTailUnavailable(f"{where} answered a bad websocket handshake for {what}: {problem}",
                                     action=ACTION, status=status)  # fmt: skip
    except BaseException:
        _quietly(response.close)
        raise
    return RayLogTail(stream, response, target, submission_id, timeout)


def _refusal_text(response: Any, token: str | None) -> str:
    """The start of a refusal's body (read at most :data:`MAX_REFUSAL_BYTES`), redacted."""
    kept = bytearray()
    try:
        for chunk in response.iter_bytes():
            kept += chunk
            if len(kept) >= MAX_REFUSAL_BYTES:
                break
    except Exception:  # the body is only for the message
        pass
    return _clean(bytes(kept[:MAX_REFUSAL_BYTES]).decode("utf-8", "replace").strip(), token)


def _refusal_error(target: RayJobsTarget, submission_id: str, status: int, text: str) -> EmrRayError:
    cid = target.cluster_id
    said = f": {text}" if text else ""
    if status in (401, 403):
        return EmrRayAuthError(
            f"the Ray Jobs endpoint of cluster {cid} rejected its ray-token (HTTP {status}) for the log tail of "
            f"Ray job {submission_id!r}: the cluster's submitToken may have changed (the cluster restarted?) or "
            f"the endpoint is not this cluster's ({urlsplit(target.url).netloc})",
            action=ACTION,
            status=status,
        )
    if status == 404 and "does not exist" in text:
        return EmrRayNotFoundError(f"Ray job {submission_id!r} not found on cluster {cid}{said}",
                                   action=ACTION, status=status)  # fmt: skip
    return LogTailUnavailable(
        f"the Ray Jobs endpoint of cluster {cid} did not open a websocket log tail for Ray job "
        f"{submission_id!r} (HTTP {status}){said}",
        action=ACTION,
        status=status,
    )


def _accept(key: str) -> str:
    """RFC 6455 4.2.2: the ``sec-websocket-accept`` of a ``sec-websocket-key``."""
    digest = hashlib.sha1((key + _GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _handshake_problem(response: Any, key: str) -> str | None:
    h = response.headers
    if h.get("upgrade", "").strip().lower() != "websocket":
        return f"upgrade header {h.get('upgrade')!r}, not 'websocket'"
    if "upgrade" not in [part.strip().lower() for part in h.get("connection", "").split(",")]:
        return f"connection header {h.get('connection')!r} without 'upgrade'"
    if h.get("sec-websocket-accept", "").strip() != _accept(key):
        return "sec-websocket-accept does not match the key sent"
    if h.get("sec-websocket-extensions"):
        return f"extensions {h.get('sec-websocket-extensions')!r} imposed though none was offered"
    if h.get("sec-websocket-protocol"):
        return f"subprotocol {h.get('sec-websocket-protocol')!r} imposed though none was offered"
    return None


def _mask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR the repeated 4-byte ``key`` (RFC 6455 5.3)."""
    if not data:
        return b""
    n = len(data)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")


def _client_frame(opcode: int, payload: bytes = b"", mask_key: bytes | None = None) -> bytes:
    """One final, masked client frame (RFC 6455 5.2; a client always masks).

    :param opcode: the frame's opcode.
    :param payload: its payload.
    :param mask_key: 4 bytes; random when not given.
    """
    key = os.urandom(4) if mask_key is None else mask_key
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class _ProtocolError(Exception):
    pass


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError):
        return True
    try:
        import httpcore
    except ImportError:  # pragma: no cover - httpx always brings it
        return False
    return isinstance(exc, httpcore.TimeoutException)


class RayLogTail:
    """An open websocket tail of one job's driver log (from :func:`open_log_tail`). Not
    thread-safe: one reader.

    :param stream: the upgraded connection (httpcore's ``NetworkStream``: ``read(max_bytes,
        timeout=)``, ``write(buffer, timeout=)``, ``close()``).
    :param response: the ``101`` answer, closed with the tail (it holds the connection pool's slot).
    :param target: the endpoint (its cluster is named in errors, its token redacted from them).
    :param submission_id: the job, named in errors.
    :param timeout: the write timeout of the frames sent (pongs, close).
    """

    def __init__(self, stream: Any, response: Any, target: RayJobsTarget, submission_id: str,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self._stream = stream
        self._response = response
        self._token = target.token
        self._where = f"the log tail of Ray job {submission_id!r} on cluster {target.cluster_id}"
        self._timeout = timeout
        self._buf = bytearray()
        self._closed = False  # the stream is closed
        self._outcome: str | None = None  # _ENDED, or why the tail is unusable
        self._message: int | None = None  # opcode of the (possibly fragmented) message being read
        self._in_frame = False  # reading a data frame's payload
        self._left = 0  # its payload bytes still to read
        self._fin = False  # it is the message's last frame
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._binary = codecs.getincrementaldecoder("utf-8")("replace")

    @property
    def closed(self) -> bool:
        """The connection is closed (by the server's close, an error or :meth:`close`)."""
        return self._closed

    def __repr__(self) -> str:
        state = "open" if not self._closed else "ended" if self._outcome == _ENDED else "closed"
        return f"<RayLogTail {self._where}: {state}>"

    def __enter__(self) -> RayLogTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading ------------------------------------------------------------------------------

    def recv(self, timeout: float) -> str | None:
        """The next chunk of the log.

        Returns the text decoded so far as soon as there is some (what one socket read brought,
        at most about :data:`READ_SIZE` bytes; chunk boundaries need not match the server's
        messages); ``""`` when nothing arrived within ``timeout`` seconds (the tail is still
        open; a partial frame or a ping does not count); ``None`` once the server closed the
        tail normally (close code 1000, or none: the job ended and all its log was sent), and on
        every call after that. Pings are answered inside (a pong write may take up to the
        tail's write timeout on a congested connection).

        :param timeout: seconds to wait at most (``0``: take only what already arrived).
        :raises LogTailUnavailable: the connection broke or closed without a close frame, the
            server broke the protocol or closed with another code, or the tail was closed by
            :meth:`close` (the message is redacted). Text that arrived before is returned first.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        first = True
        while True:
            text = self._parse()
            if text:
                return text
            if self._outcome is not None:
                if self._outcome == _ENDED:
                    return None
                raise LogTailUnavailable(f"{self._where}: {self._outcome}", action=ACTION)
            left = deadline - time.monotonic()
            if left <= 0 and not first:
                return ""
            first = False
            try:
                data = self._stream.read(READ_SIZE, timeout=max(left, MIN_WAIT))
            except Exception as exc:
                if _is_timeout(exc):
                    return ""
                self._fail(f"the connection broke ({type(exc).__name__}: {exc})", close_code=None)
                continue
            if not data:
                self._fail("the connection closed without a websocket close frame", close_code=None)
                continue
            self._buf += data

    def _parse(self) -> str:
        """Consume the buffered bytes: the text they complete (frames answered, a close or a
        protocol violation recorded in :attr:`_outcome`)."""
        out: list[str] = []
        try:
            while self._outcome is None:
                if self._in_frame:
                    if not self._buf:
                        break
                    n = min(self._left, len(self._buf))
                    piece = bytes(self._buf[:n])
                    del self._buf[:n]
                    self._left -= n
                    out.append((self._text if self._message == _TEXT else self._binary).decode(piece))
                    if not self._left:
                        out.append(self._frame_done())
                elif not self._next_frame(out):
                    break
        except _ProtocolError as exc:
            self._fail(f"protocol error: {exc}", close_code=1002)
        return "".join(out)

    def _next_frame(self, out: list[str]) -> bool:
        """Take one frame header (and a whole control frame) from the buffer; ``False`` when
        more bytes are needed."""
        buf = self._buf
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            raise _ProtocolError("reserved bits set, though no extension was negotiated")
        if b1 & 0x80:
            raise _ProtocolError("a masked frame from the server (RFC 6455 5.1)")
        n, pos = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return False
            (n,), pos = struct.unpack_from("!H", buf, 2), 4
        elif n == 127:
            if len(buf) < 10:
                return False
            (n,), pos = struct.unpack_from("!Q", buf, 2), 10
            if n >> 63:
                raise _ProtocolError("a 64-bit payload length with its high bit set")
        if opcode >= 0x8:
            if opcode not in (_CLOSE, _PING, _PONG):
                raise _ProtocolError(f"unknown control opcode {opcode:#x}")
            if not fin or n > 125:
                raise _ProtocolError("a fragmented or long (over 125 bytes) control frame")
            if len(buf) < pos + n:
                return False
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            self._control(opcode, payload, out)
            return True
        if opcode not in (_CONT, _TEXT, _BINARY):
            raise _ProtocolError(f"unknown data opcode {opcode:#x}")
        if opcode == _CONT and self._message is None:
            raise _ProtocolError("a continuation frame outside a fragmented message")
        if opcode != _CONT and self._message is not None:
            raise _ProtocolError("a new message inside a fragmented one")
        if opcode != _CONT:
            self._message = opcode
        del buf[:pos]
        self._fin, self._left = fin, n
        if n:
            self._in_frame = True
        else:
            out.append(self._frame_done())
        return True

    def _frame_done(self) -> str:
        """A data frame's payload was all read: the text a finished text message flushes."""
        self._in_frame = False
        if not self._fin:
            return ""
        message, self._message = self._message, None
        # a text message is whole UTF-8 (RFC 6455 5.6): a character cut at its end is replaced;
        # binary messages are one continuing byte stream
        return self._text.decode(b"", final=True) if message == _TEXT else ""

    def _control(self, opcode: int, payload: bytes, out: list[str]) -> None:
        if opcode == _PING:
            self._send(_PONG, payload)
        elif opcode == _CLOSE:
            if len(payload) == 1:
                raise _ProtocolError("a close frame with a 1-byte payload")
            code = struct.unpack_from("!H", payload)[0] if payload else 1005
            reason = payload[2:].decode("utf-8", "replace")
            out.append(self._text.decode(b"", final=True) + self._binary.decode(b"", final=True))
            if code in _NORMAL_CLOSE_CODES:
                self._outcome = _ENDED
            else:
                said = f": {_clean(reason, self._token)}" if reason else ""
                self._outcome = f"the server closed it with code {code}{said}"
            self._shutdown(close_code=1000 if code in (1005, 1006, 1015) else code)  # echo it (RFC 6455 5.5.1)
        # a pong (unsolicited: no ping is sent) is ignored

    # ---- writing and closing --------------------------------------------------------------------

    def _send(self, opcode: int, payload: bytes) -> None:
        try:
            self._stream.write(_client_frame(opcode, payload), timeout=self._timeout)
        except Exception as exc:
            self._fail(f"the connection broke ({type(exc).__name__}: {exc})", close_code=None)

    def _fail(self, why: str, *, close_code: int | None) -> None:
        if self._outcome is None:
            self._outcome = _clean(why, self._token)
        self._shutdown(close_code)

    def _shutdown(self, close_code: int | None) -> None:
        if self._closed:
            return
        self._closed = True
        if close_code is not None:
            frame = _client_frame(_CLOSE, struct.pack("!H", close_code))
            _quietly(lambda: self._stream.write(frame, timeout=min(self._timeout, CLOSE_WRITE_TIMEOUT)))
        _quietly(self._response.close)  # releases the pool's connection (httpcore closes it: upgraded)
        _quietly(self._stream.close)
        self._buf.clear()

    def close(self) -> None:
        """Close the tail (idempotent): a masked close frame (code 1000) if it is still open,
        then the connection. A later :meth:`recv` raises :class:`LogTailUnavailable`, unless
        the server had already ended the tail (then it returns ``None``)."""
        if self._outcome is None:
            self._outcome = "it was closed"
        self._shutdown(close_code=1000)


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # closing never fails the caller
        pass
