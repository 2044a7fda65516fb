"""Keeping secrets out of logs, XCom, trigger rows and exception texts: the one home of it.

Two tools, used everywhere the package handles a secret:

* **registration** with Airflow's secrets masker (:func:`mask` from sync code or an event loop,
  :func:`amask` from async code), so Airflow hides the value wherever it would be printed;
* **redaction** of text the package itself builds: :func:`strip_url_secrets` (the form of a URL
  that may be stored: XCom, events, links), :func:`mask_url` (the form that may be logged),
  :func:`redact_text` (an error text from a library: known secrets, query strings and
  secret-looking JSON/query values hidden) and :class:`RedactingFilter` (the same for a library's
  own log records, tracebacks included).

Which names are secrets is written once here: :data:`SECRET_URL_PARAMS` for URL query
parameters, :func:`is_secret_key` for field names (``submitToken``, ``redisPassword``, …).
Standard library only; Airflow's masker is reached through :mod:`~airflow_provider_emr_ray.version_compat`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "SECRET_URL_PARAMS",
    "RedactingFilter",
    "amask",
    "mask_url_secrets",
    "is_secret_key",
    "mask",
    "mask_url",
    "redact_text",
    "strip_url_secrets",
]

#: Query parameters of a URL whose values are secrets (the Ray dashboard's ``token``, presigned
#: OSS/STS parameters). Compared case-insensitively.
SECRET_URL_PARAMS = frozenset(
    {"token", "access_token", "accesstoken", "security_token", "securitytoken", "signature", "x-acs-security-token"}
)
_URL_PARAM_RE = re.compile(
    r"(?i)([?&#;](?:" + "|".join(re.escape(p) for p in sorted(SECRET_URL_PARAMS)) + r")=)[^&#\s]*"
)
#: Field names (wire or Python) whose values are secrets, unless they name a URL.
_SECRET_KEY_RE = re.compile(r"(?i)(token|password|secret|credential)")
#: Secret values inside texts the credentials SDK (or an HTTP library) produces.
_SECRET_JSON_RE = re.compile(r'("(?:AccessKeySecret|SecurityToken|OIDCToken)"\s*:\s*")[^"]*(")')
_SECRET_QUERY_RE = re.compile(r"((?:AccessKeySecret|SecurityToken|OIDCToken|Signature)=)[^&\s'\"]*")
_URL_QUERY_RE = re.compile(r"(\?)[A-Za-z]+=[^\s'\"()]*")
_SDK_CREDENTIAL_RE = re.compile(r"(value is |cached value is )\S.*", re.S)
#: A secret shorter than this is not replaced inside texts: it would garble them, and real
#: secrets (AccessKey secrets, STS tokens) are far longer.
_MIN_SECRET_LENGTH = 8
#: Longest error text repeated from a library.
MAX_TEXT_LENGTH = 500


def is_secret_key(name: Any) -> bool:
    """Whether a field called ``name`` holds a secret (``submitToken``, ``redis_password``, …)."""
    return isinstance(name, str) and bool(_SECRET_KEY_RE.search(name)) and "url" not in name.lower()


#: The password of a URL's user-info part (``redis://user:pw@host``).
_USERINFO_PASSWORD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*):[^/@?#]*@")


def strip_url_secrets(url: Any) -> Any:
    """``url`` without its secret query parameters and without a user-info password: the form
    that may be stored (XCom, trigger events, operator links). Non-string input is returned
    unchanged."""
    if not isinstance(url, str):
        return url
    url = _USERINFO_PASSWORD_RE.sub(r"\1@", url)
    if "=" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_url(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0].lower() not in SECRET_URL_PARAMS]
    return urlunsplit(parts._replace(query="&".join(kept)))


def mask_url(url: Any) -> Any:
    """``url`` with the values of its secret query parameters and its user-info password
    replaced by ``***``: the form that may be logged. Non-string input is returned unchanged."""
    if not isinstance(url, str):
        return url
    url = _USERINFO_PASSWORD_RE.sub(r"\1:***@", url)
    if "=" not in url:
        return url
    return _URL_PARAM_RE.sub(r"\1***", url)


def redact_text(text: str, secrets: tuple[str, ...] | list[str] = (), *, limit: int = MAX_TEXT_LENGTH) -> str:
    """``text`` (a library's error message) with every known secret, every URL query string and
    every secret-looking JSON or query value hidden, cut to ``limit`` characters."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    text = _URL_QUERY_RE.sub(r"\1<query redacted>", text)
    text = _redact_values(text)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def _redact_values(text: str) -> str:
    text = _SECRET_QUERY_RE.sub(r"\1***", _SECRET_JSON_RE.sub(r"\1***\2", text))
    if "value is" in text and "Refresh credentials" in text:  # the credentials SDK's refresh log
        text = _SDK_CREDENTIAL_RE.sub(r"\1<redacted>", text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secret values from a library logger's records (the
    credentials SDK logs refreshed credentials at DEBUG and request URLs with OIDC tokens), its
    tracebacks included, before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            return True
        clean = _redact_values(text)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            formatted = "".join(traceback.format_exception(*record.exc_info))
            record.msg = f"{record.msg}\n{redact_text(formatted, limit=4000)}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def install_filter(logger_name: str, flt: logging.Filter) -> None:
    """Add ``flt`` to the logger ``logger_name`` once."""
    logger = logging.getLogger(logger_name)
    if flt not in logger.filters:
        logger.addFilter(flt)


# ---------------------------------------------------------------------------- masker registration

_PENDING: set[asyncio.Task] = set()
#: SHA-256 digests of the secrets this process registered already. Airflow's masker is
#: process-wide, and in a triggerer each registration is also a message to the supervisor: the
#: thousands of triggers of one connection register its secret once, not once each.
_REGISTERED: set[bytes] = set()


def _digest(secret: Any) -> bytes | None:
    if not isinstance(secret, str):
        return None
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def mask(secret: Any) -> None:
    """Register ``secret`` with Airflow's masker now (sync code) or as soon as the running event
    loop gets control (async code)."""
    digest = _digest(secret)
    if not secret or digest in _REGISTERED:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        from airflow_provider_emr_ray.version_compat import mask_secret

        mask_secret(secret)
        if digest is not None:
            _REGISTERED.add(digest)
        return
    task = loop.create_task(_aregister(secret, digest))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


def mask_url_secrets(url: Any) -> None:
    """Register the values of ``url``'s secret query parameters (:data:`SECRET_URL_PARAMS`: a
    dashboard URL's ``token``) and of its user-info password with the masker."""
    if not isinstance(url, str) or ("=" not in url and "@" not in url):
        return
    from urllib.parse import parse_qsl

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    for key, value in (*parse_qsl(parts.query), *parse_qsl(parts.fragment)):
        if key.lower() in SECRET_URL_PARAMS:
            mask(value)
    if password:
        mask(password)


async def amask(secret: Any) -> None:
    """Register ``secret`` with Airflow's masker from async code without blocking the event loop."""
    digest = _digest(secret)
    if not secret or digest in _REGISTERED:
        return
    await _aregister(secret, digest)


async def _aregister(secret: Any, digest: bytes | None) -> None:
    from airflow_provider_emr_ray.version_compat import amask_secret

    await amask_secret(secret)
    if digest is not None:
        _REGISTERED.add(digest)
