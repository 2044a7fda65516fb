"""A job's driver log in the task log (utils/logs.py): lines, Range reads of a SubmitRayJob log,
the live follower, the bounded copy at the end, the Ray Jobs fallback, and no presigned URL in
any error text or log line."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from airflow_provider_emr_ray.utils import logs
from airflow_provider_emr_ray.utils.logs import (
    MAX_LINE_CHARS,
    LiveLog,
    Lines,
    OpenApiLog,
    RayJobsLog,
    _pick_log_object,
    copy_log,
    job_failure_text,
)

SIGNED = "http://logs.example/job-driver.log?Expires=1&Signature=SECRET-SIGNATURE"


class FakeOss:
    """An OSS object behind a presigned URL: honours ``Range`` like OSS GetObject (or ignores
    it, ``ranges=False``), answers 403 for an expired URL, and records every Range asked."""

    def __init__(self, content: bytes = b"", *, ranges: bool = True) -> None:
        self.content = content
        self.ranges = ranges
        self.asked: list[str | None] = []
        self.expired: set[str] = set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.headers.get("range"))
        if str(request.url) in self.expired:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        size = len(self.content)
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("range") or "")
        if not self.ranges or m is None:
            return httpx.Response(200, content=self.content)
        first, last = m.groups()
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(size - 1, int(last) if last else size - 1)
        if start >= size:
            return httpx.Response(416, headers={"content-range": f"bytes */{size}"})
        return httpx.Response(206, content=self.content[start : end + 1], headers={"content-range": f"bytes {start}-{end}/{size}"})


class LogHook:
    def __init__(self, url: str = SIGNED, size: int | None = None) -> None:
        self.urls = [url]
        self.size = size
        self.listed = 0

    def list_ray_logs(self, *a: Any, **k: Any) -> dict[str, Any]:
        self.listed += 1
        objects = [{"name": "other.txt", "path": "logs/other.txt"}, {"name": "job-driver.log", "path": "logs/job-driver.log"}]
        if self.size is not None:
            objects[1]["size"] = self.size
        return {"objectList": objects}

    def get_ray_log(self, *a: Any, **k: Any) -> str:
        assert k["path"] == "logs/job-driver.log"
        return self.urls.pop(0) if len(self.urls) > 1 else self.urls[0]


def source(oss: FakeOss, hook: LogHook | None = None) -> OpenApiLog:
    src = OpenApiLog(hook or LogHook(), "rj-1", {})
    client = httpx.Client(transport=httpx.MockTransport(oss.handle))
    src._http = lambda: client  # type: ignore[method-assign]
    return src


class Rec:
    """A task logger that keeps what it was given (levels and rendered messages)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str]] = []

    def _add(self, level: int, msg: str, *args: Any) -> None:
        self.records.append((level, msg % args if args else msg))

    def info(self, msg: str, *args: Any) -> None:
        self._add(logging.INFO, msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self._add(logging.WARNING, msg, *args)

    def error(self, msg: str, *args: Any) -> None:
        self._add(logging.ERROR, msg, *args)

    @property
    def text(self) -> str:
        return "\n".join(m for _, m in self.records)

    def levels(self) -> list[int]:
        return [lvl for lvl, _ in self.records]


def shown(log: Rec) -> list[str]:
    return [m[len("[ray] ") :] for _, m in log.records if m.startswith("[ray] ")]


@pytest.fixture
def log() -> Rec:
    return Rec()


def test_pick_prefers_the_driver_log_of_the_job() -> None:
    objects = [{"name": "a.log", "size": 9}, {"name": "rj-1-driver.log"}, {"name": "dir", "isDir": True}, {"name": "rj-2-driver.out"}]
    assert _pick_log_object(objects, "rj-1")["name"] == "rj-1-driver.log"
    assert _pick_log_object([{"name": "d", "isDir": True}], "rj-1") is None


def test_lines_join_pieces_strip_cr_cut_long_lines_and_flush_the_last() -> None:
    lines = Lines()
    assert list(lines.feed("a")) == []
    assert list(lines.feed("b\r\nc\n")) == ["ab", "c"]
    long = list(lines.feed("x" * (MAX_LINE_CHARS + 10) + "\n"))
    assert long == ["x" * MAX_LINE_CHARS + " ... (10 more characters of this line not shown)"]
    assert list(lines.feed("end")) == [] and list(lines.flush()) == ["end"] and list(lines.flush()) == []


def test_live_log_shows_each_new_line_once_reading_only_new_bytes(log) -> None:
    oss = FakeOss()
    live = LiveLog(source(oss), log, tail_lines=2, sleep=lambda s: None)
    live.pump(0)  # no log written yet: nothing, no warning
    oss.content = "é line 1\nline 2\npart".encode()
    live.pump(0)
    oss.content += b"ial\nline 4\n"
    live.pump(0)
    live.pump(0)  # nothing new: 416
    live.finish()
    assert shown(log) == ["é line 1", "line 2", "partial", "line 4"]
    assert oss.asked == ["bytes=0-", "bytes=0-", "bytes=21-", "bytes=32-", "bytes=32-"]
    assert list(live.tail) == ["partial", "line 4"] and not live.broken
    assert "Could not" not in log.text


def test_live_log_of_a_server_ignoring_range_skips_what_was_shown(log) -> None:
    oss = FakeOss(b"one\ntwo\n", ranges=False)
    live = LiveLog(source(oss), log, sleep=lambda s: None)
    live.pump(0)
    oss.content += b"three\n"
    live.finish()
    assert shown(log) == ["one", "two", "three"]


def test_an_expired_link_is_fetched_again_once_and_a_dead_one_is_one_warning(log) -> None:
    oss = FakeOss(b"one\n")
    hook = LogHook()
    hook.urls = [SIGNED, SIGNED + "-renewed"]
    oss.expired.add(SIGNED)
    live = LiveLog(source(oss, hook), log, sleep=lambda s: None)
    live.pump(0)
    assert shown(log) == ["one"] and hook.listed == 2
    hook.urls = [SIGNED]  # every link expired now
    oss.expired.add(SIGNED + "-renewed")
    oss.content += b"two\n"
    live.pump(0)
    live.pump(0)
    live.finish()
    warnings = [m for lvl, m in log.records if lvl == logging.WARNING]
    assert len(warnings) == 1 and "HTTP 403" in warnings[0] and live.broken
    assert "SECRET-SIGNATURE" not in log.text and "GetRayLog instanceId=rj-1" in log.text


def test_a_transport_error_never_shows_the_presigned_url(log) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    src = OpenApiLog(LogHook(), "rj-1", {})
    client = httpx.Client(transport=httpx.MockTransport(refuse))
    src._http = lambda: client  # type: ignore[method-assign]
    assert copy_log(src, log) == []
    assert "ConnectError" in log.text and "SECRET-SIGNATURE" not in log.text


def test_copy_at_the_end_takes_a_small_log_whole(log) -> None:
    oss = FakeOss(b"".join(b"line %d\n" % i for i in range(10)))
    tail = copy_log(source(oss, LogHook(size=len(oss.content))), log, tail_lines=3)
    assert shown(log) == [f"line {i}" for i in range(10)] and tail == ["line 7", "line 8", "line 9"]
    assert "left out" not in log.text and oss.asked == ["bytes=0-"]


@pytest.mark.parametrize("known_size", [True, False])
def test_copy_at_the_end_of_a_big_log_reads_its_end_only_and_says_what_was_left_out(log, known_size) -> None:
    content = b"".join(b"line %04d\n" % i for i in range(1000))  # 10 bytes a line
    oss = FakeOss(content)
    copy_log(source(oss, LogHook(size=len(content) if known_size else None)), log, lines=100, max_bytes=205)
    # the last 205 bytes: half a line (left out too), then 20 whole lines
    assert shown(log) == [f"line {i:04d}" for i in range(980, 1000)]
    assert oss.asked == ["bytes=-205"]
    assert "its first 9800 bytes are left out (log_lines=100, log_bytes=205)" in log.text
    assert "GetRayLog instanceId=rj-1 path=logs/job-driver.log" in log.text


def test_copy_at_the_end_keeps_the_last_lines_within_the_line_bound(log) -> None:
    content = b"".join(b"line %04d\n" % i for i in range(1000))
    copy_log(source(FakeOss(content), LogHook(size=len(content))), log, lines=5, max_bytes=1 << 20)
    assert shown(log) == [f"line {i:04d}" for i in range(995, 1000)]
    assert "its first 995 lines, 9950 bytes are left out" in log.text


def test_copy_of_a_missing_log_is_an_info_line(log) -> None:
    class NoLog(LogHook):
        def list_ray_logs(self, *a: Any, **k: Any) -> dict[str, Any]:
            return {"objectList": []}

    assert copy_log(source(FakeOss(), NoLog()), log) == []
    assert "left no driver log" in log.text and max(log.levels()) == logging.INFO


class PollingRayHook:
    """A Ray Jobs endpoint without websocket: GET /logs returns the whole log each time."""

    def __init__(self) -> None:
        self.text = ""
        self.reads = 0

    def ray_open_log_tail(self, *a: Any, **k: Any) -> Any:
        from airflow_provider_emr_ray.client.ray_log_tail import LogTailUnavailable

        raise LogTailUnavailable("no websocket")

    def ray_get_job_logs(self, cluster_id: str, submission_id: str, **k: Any) -> str:
        self.reads += 1
        return self.text


def test_ray_jobs_without_websocket_shows_only_new_lines_and_says_why_once(log) -> None:
    hook = PollingRayHook()
    live = LiveLog(RayJobsLog(hook, "ray-1", "sub-1"), log, sleep=lambda s: None)
    hook.text = "a\nb\n"
    live.pump(0)
    hook.text += "c\n"
    live.pump(0)
    live.finish()
    assert shown(log) == ["a", "b", "c"]
    assert log.text.count("has no websocket log tail") == 1


class FakeTail:
    def __init__(self, chunks: list[str | None]) -> None:
        self.chunks = chunks
        self.closed = False

    def recv(self, timeout: float) -> str | None:
        return self.chunks.pop(0) if self.chunks else ""

    def close(self) -> None:
        self.closed = True


class TailRayHook(PollingRayHook):
    def __init__(self, tail: FakeTail) -> None:
        super().__init__()
        self.tail = tail
        self.opened = 0

    def ray_open_log_tail(self, *a: Any, **k: Any) -> Any:
        self.opened += 1
        return self.tail


def test_ray_jobs_websocket_tail_is_opened_once_and_followed_to_its_close(log) -> None:
    tail = FakeTail(["one\ntw", "o\n", "", "three\n", None])
    hook = TailRayHook(tail)
    live = LiveLog(RayJobsLog(hook, "ray-1", "sub-1"), log, sleep=lambda s: None)
    live.pump(0)  # reads what is there
    live.pump(0)
    live.finish()
    assert shown(log) == ["one", "two", "three"] and hook.opened == 1 and tail.closed and hook.reads == 0


def test_ray_jobs_copy_at_the_end_keeps_the_bounded_end_of_the_tail(log) -> None:
    chunks: list[str | None] = [f"line {i:04d}\n" for i in range(500)]
    hook = TailRayHook(FakeTail([*chunks, None]))
    copy_log(RayJobsLog(hook, "ray-1", "sub-1"), log, lines=1000, max_bytes=100)
    assert shown(log) == [f"line {i:04d}" for i in range(490, 500)]
    assert "its first 490 lines, 4900 bytes are left out" in log.text and "ray job logs sub-1" in log.text


def test_an_unreadable_ray_log_is_one_warning(log) -> None:
    class Broken(PollingRayHook):
        def ray_get_job_logs(self, *a: Any, **k: Any) -> str:
            from airflow_provider_emr_ray.exceptions import EmrRayAuthError

            raise EmrRayAuthError("the Ray Jobs endpoint of cluster ray-1 rejected the token")

    assert copy_log(RayJobsLog(Broken(), "ray-1", "sub-1"), log) == []
    assert log.levels() == [logging.WARNING] and "rejected the token" in log.text


def test_failure_text_quotes_the_message_first_line_and_the_tail() -> None:
    assert job_failure_text("exit code 2", []) == ": exit code 2"
    assert job_failure_text(None, []) == ""
    text = job_failure_text("Job failed, last available logs:\nline a\nline b", ["line a", "line b"])
    assert text == ": Job failed, last available logs:\nLast 2 lines of its log:\nline a\nline b"
    assert job_failure_text("x" * (logs.MAX_MESSAGE_CHARS + 5), []).startswith(": ...")
