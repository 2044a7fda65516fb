"""The tail of a failed Ray job's driver log, copied into the task log.

A SubmitRayJob job's log is read through a presigned URL (GetRayLog): the URL is never logged,
and an error downloading it is reported through
:func:`~airflow_provider_emr_ray.redaction.redact_text` (httpx's own error texts carry the URL
and its signature). A job of Ray's Jobs API (``submission_api="ray"``) has its log read from the
cluster's Jobs API (``ray_get_job_logs``, :func:`ray_log_tail`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_emr_ray.redaction import redact_text

_LOG_SUFFIXES = (".log", ".out", ".txt")


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


def fetch_log_tail(hook: Any, submission_id: str, job: Mapping[str, Any], lines: int) -> list[str]:
    """The last ``lines`` lines of the job's driver log (``job``: a ``job_info`` dict)."""
    import httpx

    bucket = job.get("logBucketName")
    listing = hook.list_ray_logs(submission_id, bucket_name=bucket, prefix=job.get("logPath")) or {}
    chosen = _pick_log_object(listing.get("objectList") or [], submission_id)
    if chosen is None:
        return []
    path = chosen.get("path") or chosen.get("name")
    url = hook.get_ray_log(submission_id, path=path, bucket_name=listing.get("bucketName") or bucket)
    if not url:
        return []
    try:
        response = httpx.get(url, timeout=30.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        reason = redact_text(str(exc), secrets=(url,))
        raise RuntimeError(f"downloading the driver log failed ({type(exc).__name__}: {reason})") from None
    if response.status_code >= 400:
        raise RuntimeError(f"downloading the driver log failed (HTTP {response.status_code})")
    return response.text.splitlines()[-lines:]  # a driver log may be large: keep the tail


def fetch_ray_log_tail(
    hook: Any, cluster_id: str, submission_id: str, lines: int, internal: bool | None = None
) -> list[str]:
    """The last ``lines`` lines of the log of a job of Ray's Jobs API on ``cluster_id``
    (``internal``: as the hook's ``ray_*`` calls take it; None: the connection's endpoint)."""
    kwargs = {} if internal is None else {"internal": internal}
    text = hook.ray_get_job_logs(cluster_id, submission_id, **kwargs) or ""
    return text.splitlines()[-lines:]


def _copy_tail(fetch: Any, submission_id: str, lines: int, log: Any) -> list[str]:
    if lines <= 0:
        return []
    try:
        tail = fetch()
    except Exception as exc:
        log.warning("Could not fetch the log of Ray job %s: %s", submission_id, redact_text(str(exc)))
        return []
    if not tail:
        log.info("Ray job %s left no driver log", submission_id)
        return []
    log.error("Last %d lines of the log of Ray job %s:\n%s", len(tail), submission_id, "\n".join(tail))
    return tail


def log_tail(hook: Any, submission_id: str, job: Mapping[str, Any], lines: int, log: Any) -> list[str]:
    """Copy the last ``lines`` lines of the job's driver log into ``log`` (best effort); returns them."""
    return _copy_tail(lambda: fetch_log_tail(hook, submission_id, job, lines), submission_id, lines, log)


def ray_log_tail(
    hook: Any, cluster_id: str, submission_id: str, lines: int, log: Any, internal: bool | None = None
) -> list[str]:
    """:func:`log_tail` of a job of Ray's Jobs API (``submission_api="ray"``) on ``cluster_id``."""
    return _copy_tail(
        lambda: fetch_ray_log_tail(hook, cluster_id, submission_id, lines, internal), submission_id, lines, log
    )
