"""A Ray job's driver log in the Airflow task log, on both submission paths.

Three ways a log reaches the task log, each line marked :data:`LOG_PREFIX`:

* **live** (:class:`LiveLog`), while a worker waits (an operator with ``deferrable=False``, a
  sensor poking): the lines that appeared since the last look are copied between two polls;
  nothing already shown is downloaded again;
* **copied at the end** (:func:`copy_log`), when the wait ended elsewhere (a deferred task
  resumed on its worker, a sensor in ``reschedule`` mode): the whole log up to
  ``log_lines``/``log_bytes``, else its end with a line saying how much was left out and where
  the whole log is;
* **quoted** in the error of a failed job: its last ``log_tail_lines`` lines.

The two sources:

* a SubmitRayJob job (:class:`OpenApiLog`): its driver log file (ListRayLogs) is read through a
  GetRayLog download URL with HTTP ``Range`` (``bytes=<offset>-`` for new bytes,
  ``bytes=-<n>`` for the end), streamed, never whole; an expired URL is fetched again once. The
  URL (a presigned link) is never logged;
* a job of Ray's own Jobs API (:class:`RayJobsLog`): the websocket tail of the cluster's Jobs API
  (``/api/jobs/{id}/logs/tail``, :mod:`~airflow_provider_emr_ray.client.ray_log_tail`); where the
  endpoint does not take websockets, ``GET /api/jobs/{id}/logs`` (the whole log each time: only
  what is new is shown, and a warning says so once).

Reading a log is best effort: a log that cannot be read (not written yet, an expired URL, 403,
the cluster gone) gives at most one warning line and never fails the task; the error text is
redacted (:func:`~airflow_provider_emr_ray.redaction.redact_text`). Memory is bounded: one
download chunk, one line of at most :data:`MAX_LINE_CHARS` characters, and the lines kept for
the end (``log_lines``/``log_bytes``).

The operators' and sensors' arguments (``show_logs``, ``log_lines``, ...) and their defaults
are in :mod:`~airflow_provider_emr_ray.utils.log_args` (loaded at DAG parse); this module is
loaded with the first wait. Module level: the standard library and
:mod:`~airflow_provider_emr_ray.redaction`.
"""

from __future__ import annotations

import codecs
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_emr_ray.redaction import redact_text

from airflow_provider_emr_ray.utils.log_args import LOG_BYTES, LOG_LINES, LOG_TAIL_LINES

#: Marks each line of the job's log in the task log.
LOG_PREFIX = "[ray]"
#: A longer line is cut (the rest replaced by a note): one line never fills the memory.
MAX_LINE_CHARS = 16 * 1024
#: The longest job message a task's error carries (Ray puts its log tail in a failed job's message).
MAX_MESSAGE_CHARS = 4000
#: Download chunk size.
CHUNK_BYTES = 64 * 1024
#: Seconds a tail may take to deliver the rest of an ended job's log.
DRAIN_SECONDS = 30.0
#: Timeout of one log download request.
DOWNLOAD_TIMEOUT = 30.0

_LOG_SUFFIXES = (".log", ".out", ".txt")
#: Shortest wait for a websocket read (a zero timeout is not a wait but an error on a socket).
_MIN_WAIT = 0.05
#: How long past its time a live read goes on while lines keep coming.
_GRACE_SECONDS = 1.0


class LogUnreadable(Exception):
    """The log cannot be read now (the message is safe to log: redacted, no URL)."""


# ---- lines --------------------------------------------------------------------------------------


class Lines:
    """Text chunks in, complete lines out (a line longer than :data:`MAX_LINE_CHARS` is cut)."""

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self.max_chars = max_chars
        self._partial: list[str] = []
        self._size = 0
        self._cut = 0

    def feed(self, text: str) -> Iterator[str]:
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                self._keep(text[start:])
                return
            self._keep(text[start:end])
            yield self._take()
            start = end + 1

    def _keep(self, piece: str) -> None:
        room = self.max_chars - self._size
        if len(piece) > room:
            self._cut += len(piece) - max(room, 0)
            piece = piece[: max(room, 0)]
        if piece:
            self._partial.append(piece)
            self._size += len(piece)

    def _take(self) -> str:
        line = "".join(self._partial).rstrip("\r")
        if self._cut:
            line += f" ... ({self._cut} more characters of this line not shown)"
        self._partial, self._size, self._cut = [], 0, 0
        return line

    def flush(self) -> Iterator[str]:
        """The last line, if the log does not end with a newline."""
        if self._partial or self._cut:
            yield self._take()


def _show(log: Any, line: str) -> None:
    from airflow_provider_emr_ray.utils.function_source import RESULT_MARKER

    if line.startswith(RESULT_MARKER):  # @task.emr_ray's return value: read back, not shown
        log.info("%s (the function's return value, %d characters: read back for XCom)", LOG_PREFIX, len(line) - len(RESULT_MARKER))
        return
    log.info("%s %s", LOG_PREFIX, line)


def _quiet(text: str, secrets: Sequence[str] = ()) -> str:
    return redact_text(text, list(secrets))


# ---- SubmitRayJob: GetRayLog URL with Range -----------------------------------------------------


def _pick_log_object(objects: Sequence[Mapping[str, Any]], submission_id: str) -> Mapping[str, Any] | None:
    """The driver log among a job's log files (ListRayLogs ``objectList``)."""
    files = [o for o in objects if not o.get("isDir") and (o.get("path") or o.get("name"))]
    if not files:
        return None

    def score(o: Mapping[str, Any]) -> tuple:
        name = str(o.get("name") or o.get("path") or "")
        return (
            submission_id in name and "driver" in name,
            "driver" in name,
            name.endswith(_LOG_SUFFIXES),
            o.get("timeModified") or 0,
            o.get("size") or 0,
        )

    return max(files, key=score)


class OpenApiLog:
    """The driver log of a SubmitRayJob job, read through GetRayLog download URLs.

    :param hook: an :class:`~airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook`.
    :param submission_id: the job.
    :param job: the job as last seen (a ``job_info`` dict: ``logBucketName``, ``logPath``), or a
        callable returning it (a live wait's latest poll).
    """

    def __init__(self, hook: Any, submission_id: str, job: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None) -> None:
        self.hook = hook
        self.submission_id = submission_id
        self._job = job
        self._url: str | None = None
        self.path: str | None = None
        self.size: int | None = None
        self._client: Any = None

    def where(self) -> str:
        """Where the whole log is (never the download URL)."""
        path = f" path={self.path}" if self.path else ""
        return f"GetRayLog instanceId={self.submission_id}{path} (or the job's page in the EMR Serverless Spark console)"

    def _job_info(self) -> Mapping[str, Any]:
        job = self._job() if callable(self._job) else self._job
        return job or {}

    def _locate(self) -> bool:
        """Find the driver log file and a download URL; False while there is none yet."""
        job = self._job_info()
        bucket = job.get("logBucketName")
        listing = self.hook.list_ray_logs(self.submission_id, bucket_name=bucket, prefix=job.get("logPath")) or {}
        chosen = _pick_log_object(listing.get("objectList") or [], self.submission_id)
        if chosen is None:
            return False
        self.path = chosen.get("path") or chosen.get("name")
        if chosen.get("size") is not None:
            self.size = int(chosen["size"])
        url = self.hook.get_ray_log(self.submission_id, path=self.path, bucket_name=listing.get("bucketName") or bucket)
        if not url:
            return False
        from airflow_provider_emr_ray.redaction import mask

        mask(url)  # a presigned link: never in a log line
        self._url = url
        return True

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _get(self, range_header: str) -> Iterator[tuple[int, Any]]:
        """Stream ``GET url`` with ``Range``; yields ``(status, response)`` once (the caller
        reads the body inside). A 403 (expired link) fetches a new URL once."""
        import httpx

        for attempt in (1, 2):
            if self._url is None and not self._locate():
                yield 404, None
                return
            url = self._url
            try:
                with self._http().stream("GET", url, headers={"Range": range_header}) as response:
                    if response.status_code == 403 and attempt == 1:
                        self._url = None  # expired: a new link once
                        continue
                    yield response.status_code, response
                    return
            except httpx.HTTPError as exc:
                reason = _quiet(str(exc), (url,))
                raise LogUnreadable(f"downloading the driver log failed ({type(exc).__name__}: {reason})") from None

    @staticmethod
    def _total(response: Any) -> int | None:
        """The object's size from ``Content-Range: bytes a-b/size`` (or ``*/size``)."""
        value = response.headers.get("content-range", "")
        _, _, total = value.rpartition("/")
        return int(total) if total.isdigit() else None

    def read_from(self, offset: int) -> Iterator[bytes]:
        """The log's bytes from ``offset`` on, as far as written now (nothing while no log
        exists yet)."""
        for status, response in self._get(f"bytes={offset}-"):
            if status == 404 or status == 416:  # no log yet / nothing new
                if response is not None and (total := self._total(response)) is not None:
                    self.size = total
                return
            if status not in (200, 206):
                raise LogUnreadable(f"downloading the driver log failed (HTTP {status})")
            skip = offset if status == 200 else 0  # 200: the server ignored Range
            if status == 206 and (total := self._total(response)) is not None:
                self.size = total
            for chunk in response.iter_bytes(CHUNK_BYTES):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                yield chunk

    def read_end(self, nbytes: int) -> tuple[Iterator[bytes], int]:
        """The log's last ``nbytes`` bytes, and how many bytes come before them (left out)."""
        if self._url is None and not self._locate():
            return iter(()), 0
        if self.size is not None and self.size <= nbytes:
            return self.read_from(0), 0
        chunks = self._read_suffix(nbytes)
        first = next(chunks, b"")  # the answer's headers tell the size
        left_out = max(0, (self.size or 0) - nbytes)

        def all_chunks() -> Iterator[bytes]:
            yield first
            yield from chunks

        return all_chunks(), left_out

    def _read_suffix(self, nbytes: int) -> Iterator[bytes]:
        for status, response in self._get(f"bytes=-{nbytes}"):
            if status == 404 or status == 416:
                return
            if status not in (200, 206):
                raise LogUnreadable(f"downloading the driver log failed (HTTP {status})")
            total = self._total(response) if status == 206 else None
            if total is not None:
                self.size = total
            drop = 0
            if status == 200:  # Range ignored: skip to the end part (streamed, not kept)
                length = response.headers.get("content-length")
                size = int(length) if length and length.isdigit() else (self.size or 0)
                self.size = size
                drop = max(0, size - nbytes)
            for chunk in response.iter_bytes(CHUNK_BYTES):
                if drop:
                    if len(chunk) <= drop:
                        drop -= len(chunk)
                        continue
                    chunk, drop = chunk[drop:], 0
                yield chunk


# ---- Ray's Jobs API: websocket tail, else GET /logs ---------------------------------------------


class RayJobsLog:
    """The driver log of a job of Ray's Jobs API on ``cluster_id``.

    :param hook: an :class:`~airflow_provider_emr_ray.hooks.emr_ray.EmrRayHook`.
    :param cluster_id: the job's cluster.
    :param submission_id: the job.
    :param internal: the endpoint, as the hook's ``ray_*`` calls take it.
    """

    def __init__(self, hook: Any, cluster_id: str, submission_id: str, internal: bool | None = None) -> None:
        self.hook = hook
        self.cluster_id = cluster_id
        self.submission_id = submission_id
        self.internal = internal
        self._tail: Any = None
        self.polling = False  # the endpoint has no websocket: GET /logs each time

    def where(self) -> str:
        return f"`ray job logs {self.submission_id}` against the Ray Jobs API (jobUrl) of cluster {self.cluster_id}"

    def _kw(self) -> dict[str, Any]:
        return {} if self.internal is None else {"internal": self.internal}

    def open_tail(self) -> Any | None:
        """The websocket tail (from the log's start), or None when the endpoint has none
        (then :attr:`polling`)."""
        from airflow_provider_emr_ray.client.ray_log_tail import LogTailUnavailable

        if self._tail is None and not self.polling:
            try:
                self._tail = self.hook.ray_open_log_tail(self.cluster_id, self.submission_id, **self._kw())
            except LogTailUnavailable:
                self.polling = True
        return self._tail

    def whole(self) -> str:
        """``GET /api/jobs/{id}/logs``: the log so far, whole."""
        return self.hook.ray_get_job_logs(self.cluster_id, self.submission_id, **self._kw()) or ""

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()
            self._tail = None


# ---- live -------------------------------------------------------------------------------------------


class LiveLog:
    """Copies a running job's new log lines into ``log`` between two polls of a worker's wait.

    :meth:`pump` replaces the wait's sleep: it reads what is new for up to that many seconds
    (a websocket tail as lines come; a download once, then sleeps the rest). :meth:`finish`,
    once the job ended, reads the rest. The last ``tail_lines`` lines are kept (:attr:`tail`)
    for the error of a failed job. A log that cannot be read is warned about once, then left.

    :param source: an :class:`OpenApiLog` or a :class:`RayJobsLog`.
    :param log: the task's logger.
    :param tail_lines: lines kept for the error message.
    """

    def __init__(self, source: OpenApiLog | RayJobsLog, log: Any, tail_lines: int = LOG_TAIL_LINES,
                 sleep: Callable[[float], Any] = time.sleep) -> None:  # fmt: skip
        self.source = source
        self.log = log
        self.tail: deque[str] = deque(maxlen=max(0, tail_lines))
        self.offset = 0  # bytes (OpenAPI) or characters (Ray, polling) already shown
        self.lines_shown = 0
        self.broken = False
        self._sleep = sleep
        self._lines = Lines()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._ended = False  # the websocket tail closed: all was sent
        self._told_polling = False

    def _emit(self, text: str) -> None:
        for line in self._lines.feed(text):
            _show(self.log, line)
            self.tail.append(line)
            self.lines_shown += 1

    def _give_up(self, exc: BaseException) -> None:
        self.broken = True
        self.log.warning(
            "Could not read the log of Ray job %s (%s); the job goes on, its log is at %s",
            self.source.submission_id,
            _quiet(str(exc)),
            self.source.where(),
        )

    def pump(self, seconds: float) -> None:
        """Show what is new, taking about ``seconds`` (never much more: one download or
        websocket read)."""
        deadline = time.monotonic() + max(0.0, seconds)
        if not self.broken:
            try:
                self._read(deadline)
            except Exception as exc:
                self._give_up(exc)
        rest = deadline - time.monotonic()
        if rest > 0:
            self._sleep(rest)

    def _read(self, deadline: float) -> None:
        source = self.source
        if isinstance(source, OpenApiLog):
            for chunk in source.read_from(self.offset):
                self.offset += len(chunk)
                self._emit(self._decoder.decode(chunk))
            return
        tail = None if self._ended else source.open_tail()
        if tail is not None:
            # what arrived, then what comes until the deadline (a little past it while the
            # job keeps printing: a poke with no time still reads what is there)
            stop = deadline + _GRACE_SECONDS
            while True:
                text = tail.recv(max(_MIN_WAIT, deadline - time.monotonic()))
                if text is None:
                    self._ended = True
                    source.close()
                    return
                if text:
                    self._emit(text)
                if time.monotonic() >= (stop if text else deadline):
                    return
        if source.polling and not self._ended:
            text = source.whole()
            if not self._told_polling:
                self._told_polling = True
                self.log.info(
                    "The Ray Jobs endpoint of cluster %s has no websocket log tail: reading its whole log "
                    "at each poll, showing only the new lines",
                    source.cluster_id,
                )
            if len(text) > self.offset:
                self._emit(text[self.offset :])
                self.offset = len(text)

    def finish(self) -> None:
        """After the job ended: show the rest of its log, then its last line."""
        if not self.broken:
            try:
                tail = self.source.open_tail() if isinstance(self.source, RayJobsLog) and not self._ended else None
                if tail is not None:  # the rest, until the tail closes (the job ended: it does)
                    deadline = time.monotonic() + DRAIN_SECONDS
                    while (left := deadline - time.monotonic()) > 0:
                        text = tail.recv(max(_MIN_WAIT, left))
                        if text is None:
                            self._ended = True
                            break
                        self._emit(text)
                if isinstance(self.source, RayJobsLog) and self._ended and self.lines_shown == 0 and not self._lines._partial:
                    # Ray closes an empty tail for a job that ended before its supervisor ran
                    self._emit(self.source.whole())
                elif tail is None:
                    self._read(time.monotonic())
                self._emit(self._decoder.decode(b"", final=True))
            except Exception as exc:
                self._give_up(exc)
        for line in self._lines.flush():
            _show(self.log, line)
            self.tail.append(line)
            self.lines_shown += 1
        self.close()

    def close(self) -> None:
        try:
            self.source.close()
        except Exception:  # closing a socket never fails a task
            pass


# ---- at the end ---------------------------------------------------------------------------------


class _Kept:
    """The last lines of a stream, at most ``lines`` of them and ``max_bytes`` in all."""

    def __init__(self, lines: int, max_bytes: int) -> None:
        self.lines: deque[str] = deque()
        self.max_lines = max(0, lines)
        self.max_bytes = max(0, max_bytes)
        self.size = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0

    def add(self, line: str) -> None:
        cost = len(line.encode("utf-8", "replace")) + 1
        self.lines.append(line)
        self.size += cost
        while self.lines and (len(self.lines) > self.max_lines or self.size > self.max_bytes):
            old = self.lines.popleft()
            self.size -= len(old.encode("utf-8", "replace")) + 1
            self.dropped_lines += 1
            self.dropped_bytes += len(old.encode("utf-8", "replace")) + 1


def _read_all(source: OpenApiLog | RayJobsLog, kept: _Kept, max_line: int = MAX_LINE_CHARS) -> int:
    """Feed the log into ``kept``; return the bytes left out before what was read (a suffix
    read of a SubmitRayJob log)."""
    lines = Lines(max_line)
    if isinstance(source, OpenApiLog):
        chunks, left_out = source.read_end(kept.max_bytes)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        first = left_out > 0  # the first line of a suffix is a piece of a line: left out too
        for chunk in chunks:
            text = decoder.decode(chunk)
            if first:
                cut = text.find("\n")
                if cut < 0:
                    left_out += len(chunk)
                    continue
                left_out += len(text[: cut + 1].encode("utf-8", "replace"))
                text, first = text[cut + 1 :], False
            for line in lines.feed(text):
                kept.add(line)
        for line in lines.feed(decoder.decode(b"", final=True)):
            kept.add(line)
    else:
        tail = source.open_tail()
        got = False
        if tail is not None:
            deadline = time.monotonic() + DRAIN_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                text = tail.recv(max(_MIN_WAIT, left))
                if text is None:
                    break
                got = got or bool(text)
                for line in lines.feed(text):
                    kept.add(line)
            source.close()
        if tail is not None and not got:  # Ray closes an empty tail for a job that ended before its supervisor ran
            for line in lines.feed(source.whole()):
                kept.add(line)
        elif tail is None:
            for line in lines.feed(source.whole()):
                kept.add(line)
        left_out = 0
    for line in lines.flush():
        kept.add(line)
    return left_out


def copy_log(source: OpenApiLog | RayJobsLog, log: Any, *, lines: int = LOG_LINES, max_bytes: int = LOG_BYTES,
             tail_lines: int = LOG_TAIL_LINES) -> list[str]:  # fmt: skip
    """Copy the job's log into ``log``: all of it up to ``lines`` lines and ``max_bytes``
    bytes, else its end after a line saying how much was left out and where the whole log is.
    Best effort (a warning when it cannot be read); returns the last ``tail_lines`` lines."""
    kept = _Kept(lines, max_bytes)
    sid = source.submission_id
    try:
        left_bytes = _read_all(source, kept)
    except Exception as exc:
        log.warning("Could not read the log of Ray job %s (%s); it is at %s", sid, _quiet(str(exc)), source.where())
        return []
    finally:
        try:
            source.close()
        except Exception:
            pass
    if not kept.lines:
        log.info("Ray job %s left no driver log (yet)", sid)
        return []
    unread = left_bytes  # bytes never read (a suffix read): how many lines they hold is unknown
    left_bytes += kept.dropped_bytes
    if left_bytes:
        dropped = f"{kept.dropped_lines} lines, " if kept.dropped_lines and not unread else ""
        log.info(
            "Log of Ray job %s: its first %s%s bytes are left out (log_lines=%d, log_bytes=%d); the whole log: %s",
            sid,
            dropped,
            left_bytes,
            lines,
            max_bytes,
            source.where(),
        )
    else:
        log.info("Log of Ray job %s (%d lines):", sid, len(kept.lines))
    for line in kept.lines:
        _show(log, line)
    return list(kept.lines)[-tail_lines:] if tail_lines > 0 else []


def last_line_starting(source: OpenApiLog | RayJobsLog, prefix: str, max_bytes: int) -> str | None:
    """The last line of the job's log that starts with ``prefix`` (at most ``max_bytes`` long),
    read from the log's end (at most twice ``max_bytes`` kept); None when there is none.
    Errors propagate (the caller says what could not be read)."""
    kept = _Kept(lines=1 << 30, max_bytes=2 * max_bytes + CHUNK_BYTES)
    try:
        _read_all(source, kept, max_line=max_bytes + len(prefix) + 1)
    finally:
        source.close()
    return next((line for line in reversed(kept.lines) if line.startswith(prefix)), None)


def follow(owner: Any, source: OpenApiLog | RayJobsLog) -> LiveLog | None:
    """Start following the log live for ``owner`` (a task with the
    :class:`~airflow_provider_emr_ray.utils.log_args.JobLogMixin` arguments); None when its
    ``show_logs`` is off."""
    if not owner.show_logs:
        return None
    owner._live_log = LiveLog(source, owner.log, owner.log_tail_lines)
    return owner._live_log


def end(owner: Any, source: Callable[[], OpenApiLog | RayJobsLog]) -> list[str]:
    """Once ``owner``'s wait ended: the rest of its live log, else the bounded copy
    (``source`` builds the source then); returns the lines to quote in a failure."""
    if not owner.show_logs:
        return []
    live, owner._live_log = owner._live_log, None
    if live is not None:
        live.finish()
        return list(live.tail)
    return copy_log(source(), owner.log, lines=owner.log_lines, max_bytes=owner.log_bytes, tail_lines=owner.log_tail_lines)


def source_for(hook: Any, submission_id: str, *, api: str, cluster_id: str | None = None,
               internal: bool | None = None, job: Any = None) -> OpenApiLog | RayJobsLog:  # fmt: skip
    """The log source of a job of ``api`` (``"openapi"`` or ``"ray"``)."""
    if api == "ray":
        return RayJobsLog(hook, str(cluster_id), submission_id, internal)
    return OpenApiLog(hook, submission_id, job)


def job_failure_text(message: str | None, tail: Sequence[str]) -> str:
    """What follows "Ray job X ended Failed" in a task's error: the job's message (its first
    line when the log's last lines follow: Ray repeats its log tail in the message; cut to
    :data:`MAX_MESSAGE_CHARS`), then the last lines of its log."""
    text = ""
    if message:
        if tail:
            message = message.split("\n", 1)[0]
        if len(message) > MAX_MESSAGE_CHARS:
            message = "..." + message[-MAX_MESSAGE_CHARS:]
        text = f": {message}"
    if tail:
        text += f"\nLast {len(tail)} lines of its log:\n" + "\n".join(tail)
    return text
