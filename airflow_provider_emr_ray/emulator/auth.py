"""Server-side verification of V3 (``ACS3-HMAC-SHA256``) signed requests.

The signature is recomputed with :func:`airflow_provider_emr_ray.client.signing.signature` from the
request *as received*: the raw path, the query decoded like a form (``+`` is a space) and the
headers named in ``SignedHeaders``.
"""

from __future__ import annotations

import calendar
import functools
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import parse_qsl

from airflow_provider_emr_ray.client import signing
from airflow_provider_emr_ray.emulator import errors

#: How far ``x-acs-date`` may be from the server's clock, and how long a nonce is remembered.
WINDOW_SECONDS = 15 * 60

_REQUIRED = ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")


class NonceCache:
    """Nonces seen within the last window; older ones are forgotten (memory stays bounded)."""

    def __init__(self, window: float = WINDOW_SECONDS, clock=time.time) -> None:
        self._window = window
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key: str) -> bool:
        """Record ``key``; False when it was already used within the window."""
        now = self._clock()
        horizon = now - self._window
        with self._lock:
            seen = self._seen
            while seen:
                oldest_key, ts = next(iter(seen.items()))
                if ts >= horizon:
                    break
                seen.popitem(last=False)
            if key in seen:
                return False
            seen[key] = now
            return True


def parse_query(query_string: bytes) -> dict[str, str]:
    """Decode a query string as the service does (``unquote_plus``), blank values kept."""
    if not query_string:
        return {}
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8"))


@functools.lru_cache(maxsize=512)
def _parse_date(value: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(value, signing.DATE_FORMAT)))
    except (ValueError, OverflowError):
        raise errors.timestamp_format() from None


class Verifier:
    """Checks one request's authentication; raises :class:`errors.ApiError` on rejection."""

    def __init__(
        self,
        access_keys: Mapping[str, str],
        *,
        security_tokens: Mapping[str, str] | None = None,
        version: str = signing.API_VERSION,
        wall_clock=time.time,
    ) -> None:
        self.access_keys = dict(access_keys)
        self.security_tokens = dict(security_tokens or {})
        self.version = version
        self.wall_clock = wall_clock
        self.nonces = NonceCache(clock=wall_clock)

    def verify(
        self,
        *,
        method: str,
        raw_path: str,
        query: Mapping[str, str],
        headers: list[tuple[str, str]],
        body: bytes,
        action: str,
    ) -> str:
        """Return the caller's AccessKeyId when the request is authentic."""
        values: dict[str, list[str]] = {}
        for name, value in headers:
            values.setdefault(name, []).append(value)

        def one(name: str) -> str | None:
            got = values.get(name)
            return got[0] if got else None

        auth = one("authorization")
        if not auth:
            raise errors.incomplete_signature("The Authorization header is missing.")
        try:
            parts = signing.parse_authorization(auth)
        except ValueError:
            raise errors.incomplete_signature("The Authorization header is malformed.") from None
        for name in _REQUIRED:
            if not one(name):
                raise errors.incomplete_signature(f"The header {name} is missing.")

        if one("x-acs-action") != action:
            raise errors.action_not_found()
        if one("x-acs-version") != self.version:
            raise errors.invalid_version()

        access_key_id = parts["Credential"]
        secret = self.access_keys.get(access_key_id)
        if secret is None:
            raise errors.access_key_not_found()

        token = one("x-acs-security-token")
        expected_token = self.security_tokens.get(access_key_id)
        if expected_token is not None:
            if not token:
                raise errors.missing_security_token()
            header_ak = one("x-acs-accesskey-id")
            if header_ak is not None and header_ak != access_key_id:
                raise errors.security_token_mismatch()
            if not hmac.compare_digest(token.encode(), expected_token.encode()):
                raise errors.invalid_security_token()
        elif token:
            raise errors.security_token_mismatch()

        signed_names = [n.strip().lower() for n in parts["SignedHeaders"].split(";") if n.strip()]
        signed_set = set(signed_names)
        for name in values:
            if name.startswith("x-acs-") and name not in signed_set:
                raise errors.incomplete_signature(f"The header {name} must be signed.")
        if "host" not in signed_set:
            raise errors.incomplete_signature("The header host must be signed.")

        payload_hash = one("x-acs-content-sha256") or ""
        if payload_hash != signing.hash_payload(body):
            raise errors.signature_mismatch("The x-acs-content-sha256 header does not match the request body.")

        signed_headers = [(name, value) for name in signed_set for value in values.get(name, ())]
        expected, _ = signing.signature(
            method=method,
            path=raw_path,
            query=query,
            headers=signed_headers,
            payload_hash=payload_hash,
            secret=secret,
        )
        if not hmac.compare_digest(expected, parts["Signature"]):
            raise errors.signature_mismatch()

        sent_at = _parse_date(one("x-acs-date") or "")
        if abs(self.wall_clock() - sent_at) > WINDOW_SECONDS:
            raise errors.timestamp_expired()
        if not self.nonces.add(f"{access_key_id}\n{one('x-acs-signature-nonce')}"):
            raise errors.nonce_used()
        return access_key_id
