"""The driver-log tail: the driver log is picked among the job's files, and the presigned URL
never reaches an error text or a log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from airflow_provider_emr_ray.utils.logs import _pick_log_object, fetch_log_tail, log_tail

SIGNED = "http://logs.example/job.log?Expires=1&Signature=SECRET-SIGNATURE"


class LogHook:
    def __init__(self, url: str = SIGNED) -> None:
        self.url = url

    def list_ray_logs(self, *a, **k):
        return {"objectList": [{"name": "other.txt", "path": "logs/other.txt"}, {"name": "job-driver.log", "path": "logs/job-driver.log"}]}

    def get_ray_log(self, *a, **k):
        assert k["path"] == "logs/job-driver.log"
        return self.url


def test_pick_prefers_the_driver_log_of_the_job() -> None:
    objects = [
        {"name": "a.log", "size": 9},
        {"name": "rj-1-driver.log"},
        {"name": "dir", "isDir": True},
        {"name": "rj-2-driver.out"},
    ]
    assert _pick_log_object(objects, "rj-1")["name"] == "rj-1-driver.log"
    assert _pick_log_object([{"name": "d", "isDir": True}], "rj-1") is None


def test_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    monkeypatch.setattr(httpx, "get", lambda url, **k: httpx.Response(200, text=text, request=httpx.Request("GET", url)))
    assert fetch_log_tail(LogHook(), "rj-1", {}, 3) == ["line 97", "line 98", "line 99"]
    assert fetch_log_tail(LogHook(url=""), "rj-1", {}, 3) == []


def test_errors_never_carry_the_presigned_url(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(httpx, "get", lambda url, **k: httpx.Response(403, request=httpx.Request("GET", url)))
    with pytest.raises(RuntimeError) as info:
        fetch_log_tail(LogHook(), "rj-1", {}, 10)
    assert "HTTP 403" in str(info.value) and "SECRET-SIGNATURE" not in str(info.value)

    def refuse(url, **k):
        raise httpx.ConnectError(f"cannot reach {url}")

    monkeypatch.setattr(httpx, "get", refuse)
    with pytest.raises(RuntimeError) as info:
        fetch_log_tail(LogHook(), "rj-1", {}, 10)
    assert "ConnectError" in str(info.value) and "SECRET-SIGNATURE" not in str(info.value)
    caplog.set_level(logging.INFO)
    log_tail(LogHook(), "rj-1", {}, 10, logging.getLogger("test-tail"))
    assert "Could not fetch the log" in caplog.text and "SECRET-SIGNATURE" not in caplog.text
