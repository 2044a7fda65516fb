"""Alibaba Cloud V3 request signing (``ACS3-HMAC-SHA256``) as pure functions.

One signer serves the sync hook, the async hook and the emulator (which recomputes the signature
of every request it receives). Nothing here performs I/O or imports anything heavy.

The canonical request is::

    METHOD \\n URI-path \\n canonical-query \\n canonical-headers \\n signed-header-names \\n payload-hash

and the signature is ``hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n" + hex(sha256(canonical))))``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
API_VERSION = "2023-08-08"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EMPTY_PAYLOAD_HASH = hashlib.sha256(b"").hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding: only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(value, safe="~")


def encode_path(path: str) -> str:
    """Percent-encode a path, keeping the ``/`` separators."""
    return quote(path, safe="/~")


def hash_payload(body: bytes | None) -> str:
    """Hex SHA-256 of the exact body bytes (of the empty string when there is no body)."""
    if not body:
        return EMPTY_PAYLOAD_HASH
    return hashlib.sha256(body).hexdigest()


def canonical_query(query: Mapping[str, str | None] | None) -> str:
    """Sorted ``k=v`` pairs joined by ``&``; values percent-encoded, ``None`` values dropped."""
    if not query:
        return ""
    return "&".join(f"{key}={percent_encode(query[key])}" for key in sorted(k for k, v in query.items() if v is not None))


def canonical_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[str, str]:
    """Return ``(canonical header block, signed header names)`` for the given headers.

    Names are lower-cased and sorted, values trimmed; a header given more than once is joined
    with ``,`` in sorted order, as the service does.
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        if value is None:
            continue
        grouped.setdefault(name.lower(), []).append(str(value).strip())
    names = sorted(grouped)
    block = "".join(f"{name}:{','.join(sorted(grouped[name]))}\n" for name in names)
    return block, ";".join(names)


def signature(
    *,
    method: str,
    path: str,
    query: Mapping[str, str | None] | None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    payload_hash: str,
    secret: str,
) -> tuple[str, str]:
    """Return ``(hex signature, signed header names)``.

    ``path`` is the URI path exactly as sent on the wire (already percent-encoded).
    """
    header_block, signed = canonical_headers(headers)
    canonical = f"{method}\n{path or '/'}\n{canonical_query(query)}\n{header_block}\n{signed}\n{payload_hash}"
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    digest = hmac.digest(secret.encode("utf-8"), string_to_sign.encode("utf-8"), "sha256").hex()
    return digest, signed


def authorization(access_key_id: str, signature_hex: str, signed_headers: str) -> str:
    """The ``Authorization`` header value of a request signed by :func:`signature`."""
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature_hex}"


def parse_authorization(value: str) -> dict[str, str]:
    """Split an ``Authorization`` header into ``Algorithm``, ``Credential``, ``SignedHeaders``, ``Signature``.

    Raises :class:`ValueError` when the header is not a V3 authorization.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM or not rest:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}; expected {ALGORITHM}")
    parts: dict[str, str] = {"Algorithm": algorithm}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed Authorization component {key!r}")
        parts[key] = val
    missing = {"Credential", "SignedHeaders", "Signature"} - parts.keys()
    if missing:
        raise ValueError(f"Authorization lacks {', '.join(sorted(missing))}")
    return parts


def acs_date(now: float | None = None) -> str:
    """UTC timestamp in the ``x-acs-date`` format."""
    return time.strftime(DATE_FORMAT, time.gmtime(time.time() if now is None else now))


def new_nonce() -> str:
    """A unique ``x-acs-signature-nonce``."""
    return secrets.token_hex(16)


def sign_headers(
    *,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str | None] | None,
    body: bytes | None,
    action: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None = None,
    version: str = API_VERSION,
    date: str | None = None,
    nonce: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the complete, signed header set of one request.

    ``path`` must already be percent-encoded (as sent). Every header returned except
    ``Authorization`` is signed.
    """
    payload_hash = hash_payload(body)
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or acs_date(),
        "x-acs-signature-nonce": nonce or new_nonce(),
        "x-acs-content-sha256": payload_hash,
        "accept": "application/json",
    }
    if body:
        headers["content-type"] = "application/json; charset=utf-8"
    if security_token:
        headers["x-acs-accesskey-id"] = access_key_id
        headers["x-acs-security-token"] = security_token
    if extra_headers:
        headers.update({k.lower(): v for k, v in extra_headers.items()})
    sig, signed = signature(
        method=method, path=path, query=query, headers=headers, payload_hash=payload_hash, secret=access_key_secret
    )
    headers["Authorization"] = authorization(access_key_id, sig, signed)
    return headers
