"""Credentials for the EMR Serverless Spark API, built from an Airflow connection.

A connection selects one of six modes with the extra ``credential_type`` (case-insensitive). When
it is absent the mode is inferred from what the connection holds:

==================  =====================================================================
``access_key``      login = AccessKey id, password = AccessKey secret.
``sts``             as ``access_key`` plus the extra ``security_token``.
``ram_role_arn``    AssumeRole with the AccessKey pair: ``role_arn``, optional
                    ``role_session_name``, ``external_id``, ``policy``,
                    ``role_session_expiration``/``duration_seconds`` (>= 900),
                    ``sts_endpoint`` or ``sts_region_id``.
``ecs_ram_role``    the ECS instance RAM role (optional ``role_name``).
``oidc_role_arn``   RRSA on ACK: ``role_arn``, ``oidc_provider_arn``,
                    ``oidc_token_file_path`` (default: env ``ALIBABA_CLOUD_OIDC_TOKEN_FILE``),
                    optional session name, policy, duration, STS endpoint/region.
``default``         the SDK's default chain (env vars, OIDC env, profile, ECS role...).
==================  =====================================================================

The AccessKey pair may also be in the extras ``access_key_id`` / ``access_key_secret``, where the
``alibaba_cloud`` connection of ``apache-airflow-providers-alibaba`` keeps it (its form leaves
login and password empty): such a connection works as it is, with this provider's extras
(``region_id``, ``workspace_id``...) added to it. A pair given both ways must agree.

Inference: ``oidc_provider_arn`` -> oidc_role_arn; ``role_arn`` -> ram_role_arn; login or
password -> sts when ``security_token`` is set, else access_key; ``role_name`` alone ->
ecs_ram_role; nothing -> default.

Static modes (access_key, sts) never import the SDK. Every other mode builds one
``alibabacloud_credentials.client.Client`` per provider (lazily, on first use) and asks it on
every ``get()``/``aget()``; the SDK caches the temporary credential and refreshes it before it
expires. The SDK is imported inside functions only: DAG files import this package constantly.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from airflow_provider_emr_ray.exceptions import EmrRayAuthError, EmrRayValidationError
from airflow_provider_emr_ray.redaction import RedactingFilter, install_filter, redact_text

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREDENTIAL_TYPES",
    "DEFAULT_ROLE_SESSION_NAME",
    "Credential",
    "CredentialProvider",
    "access_key_pair",
    "known_secrets",
    "provider_from_connection",
    "resolve_credential_type",
]

ACCESS_KEY = "access_key"
STS = "sts"
RAM_ROLE_ARN = "ram_role_arn"
ECS_RAM_ROLE = "ecs_ram_role"
OIDC_ROLE_ARN = "oidc_role_arn"
DEFAULT = "default"
CREDENTIAL_TYPES: tuple[str, ...] = (ACCESS_KEY, STS, RAM_ROLE_ARN, ECS_RAM_ROLE, OIDC_ROLE_ARN, DEFAULT)

DEFAULT_ROLE_SESSION_NAME = "airflow-emr-ray"
MIN_DURATION_SECONDS = 900
MAX_DURATION_SECONDS = 43200  # STS maximum (the role's own maximum may be lower)
OIDC_TOKEN_FILE_ENV = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"

_ROLE_ARN_RE = re.compile(r"^acs:ram::\d+:role/[A-Za-z0-9._@/-]+$")
_OIDC_PROVIDER_ARN_RE = re.compile(r"^acs:ram::\d+:oidc-provider/[A-Za-z0-9._@/-]+$")
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")

OnSecret = Callable[[str], None]


#: What a header value may hold here: printable ASCII, no space.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]*")


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """One usable credential. ``repr``/``str`` never show the secret or the token."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None

    def __post_init__(self) -> None:
        # The id and the token travel as header values (Authorization, x-acs-security-token):
        # printable ASCII only, checked before anything is sent; the value is never echoed.
        for name, value, where in (
            ("access_key_id", self.access_key_id, "the connection's login or access_key_id"),
            ("security_token", self.security_token, "the connection's security_token or the credentials provider"),
        ):
            if value is not None and not _HEADER_SAFE.fullmatch(value):
                raise EmrRayValidationError(
                    name, f"must be printable ASCII without spaces or control characters (it is sent in a header); check {where} (value not shown)"
                )

    def __repr__(self) -> str:
        token = "***" if self.security_token else None
        return f"Credential(access_key_id={self.access_key_id!r}, access_key_secret='***', security_token={token!r})"

    __str__ = __repr__


@runtime_checkable
class CredentialProvider(Protocol):
    """What the hook uses: a credential on demand, sync or async, and the secrets known up front."""

    secrets: tuple[str, ...]

    def get(self) -> Credential: ...

    async def aget(self) -> Credential: ...


# ----------------------------------------------------------------------------- providers


class _StaticProvider:
    """access_key / sts: a fixed credential; no SDK, never expires."""

    __slots__ = ("_credential", "mode", "secrets")

    def __init__(self, mode: str, credential: Credential) -> None:
        self.mode = mode
        self._credential = credential
        self.secrets = tuple(s for s in (credential.access_key_secret, credential.security_token) if s)

    def get(self) -> Credential:
        return self._credential

    async def aget(self) -> Credential:
        return self._credential

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode} access_key_id={self._credential.access_key_id!r}>"


class _SdkProvider:
    """Every refreshable mode: one SDK Client, asked on every call (it caches and refreshes)."""

    def __init__(
        self,
        mode: str,
        build_client: Callable[[], Any],
        *,
        secrets: tuple[str, ...] = (),
        on_secret: OnSecret | None = None,
    ) -> None:
        self.mode = mode
        self.secrets = secrets
        self._build_client = build_client
        self._on_secret = on_secret
        self._client: Any = None
        self._lock = threading.Lock()
        self._reported: set[str] = set(secrets)

    # The client is built on first use, not at creation: building imports the SDK.
    def _get_client(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    _guard_sdk_logger()
                    try:
                        self._client = self._build_client()
                    except EmrRayValidationError:
                        raise
                    except Exception as exc:
                        raise self._auth_error("could not be set up", exc) from None
                client = self._client
        return client

    def get(self) -> Credential:
        client = self._get_client()
        try:
            model = client.get_credential()
        except Exception as exc:
            raise self._auth_error("could not be obtained", exc) from None
        return self._convert(model)

    async def aget(self) -> Credential:
        client = self._get_client()
        try:
            model = await client.get_credential_async()
        except Exception as exc:
            raise self._auth_error("could not be obtained", exc) from None
        return self._convert(model)

    def _convert(self, model: Any) -> Credential:
        key_id = getattr(model, "access_key_id", None)
        secret = getattr(model, "access_key_secret", None)
        token = getattr(model, "security_token", None) or None
        if not key_id or not secret:
            raise EmrRayAuthError(
                f"credential_type {self.mode}: the credentials SDK returned no AccessKey pair",
                code="InvalidCredentials",
            )
        self._report(secret, token)
        return Credential(access_key_id=key_id, access_key_secret=secret, security_token=token)

    def _report(self, *values: str | None) -> None:
        if self._on_secret is None:
            return
        for value in values:
            if value and value not in self._reported:
                self._reported.add(value)
                self._on_secret(value)

    def _auth_error(self, what: str, exc: BaseException) -> EmrRayAuthError:
        detail = redact_text(f"{type(exc).__name__}: {exc}", self.secrets)
        return EmrRayAuthError(
            f"credential_type {self.mode}: credentials {what} ({detail})", code="InvalidCredentials"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode}>"


#: Redacts the credentials SDK's own log records: at DEBUG it logs every refreshed credential
#: (``retrieved value is ...``) and, when a refresh fails, the request URL with the OIDC token.
_SDK_LOG_FILTER = RedactingFilter()


def _guard_sdk_logger() -> None:
    install_filter("credentials", _SDK_LOG_FILTER)


# ----------------------------------------------------------------------------- validation


def _str_extra(extra: Mapping[str, Any], name: str) -> str | None:
    value = extra.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EmrRayValidationError(name, f"must be a string, got {type(value).__name__}")
    value = value.strip()
    return value or None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def resolve_credential_type(*, login: str | None, password: str | None, extra: Mapping[str, Any]) -> str:
    """The mode a connection selects: ``credential_type`` (case-insensitive) or the inferred one."""
    raw = extra.get("credential_type")
    if raw is not None and (not isinstance(raw, str) or raw.strip()):
        if not isinstance(raw, str):
            raise EmrRayValidationError("credential_type", f"must be one of {', '.join(CREDENTIAL_TYPES)}")
        mode = raw.strip().lower().replace("-", "_")
        if mode not in CREDENTIAL_TYPES:
            raise EmrRayValidationError(
                "credential_type", f"unknown value {raw!r}; allowed: {', '.join(CREDENTIAL_TYPES)}"
            )
        return mode
    if _str_extra(extra, "oidc_provider_arn"):
        return OIDC_ROLE_ARN
    if _str_extra(extra, "role_arn"):
        return RAM_ROLE_ARN
    if _clean(login) or _clean(password):
        return STS if _str_extra(extra, "security_token") else ACCESS_KEY
    if _str_extra(extra, "role_name"):
        return ECS_RAM_ROLE
    return DEFAULT


def _require_ak_pair(mode: str, login: str | None, password: str | None) -> tuple[str, str]:
    login, password = _clean(login), _clean(password)
    if not login and not password:
        raise EmrRayValidationError(
            "login", f"is required when credential_type is {mode} (login = AccessKey id, password = AccessKey secret)"
        )
    if not login:
        raise EmrRayValidationError("login", f"is required when a password is set (credential_type {mode})")
    if not password:
        raise EmrRayValidationError("password", f"is required when a login is set (credential_type {mode})")
    return login, password


def _require(extra: Mapping[str, Any], name: str, mode: str) -> str:
    value = _str_extra(extra, name)
    if not value:
        raise EmrRayValidationError(name, f"is required when credential_type is {mode}")
    return value


def _role_arn(extra: Mapping[str, Any], mode: str) -> str:
    value = _require(extra, "role_arn", mode)
    if not _ROLE_ARN_RE.match(value):
        raise EmrRayValidationError("role_arn", "must look like acs:ram::<account id>:role/<role name>")
    return value


def _session_name(extra: Mapping[str, Any]) -> str:
    value = _str_extra(extra, "role_session_name") or DEFAULT_ROLE_SESSION_NAME
    if not _SESSION_NAME_RE.match(value):
        raise EmrRayValidationError(
            "role_session_name", "must be 2-64 characters of letters, digits, '.', '@', '-' or '_'"
        )
    return value


def _duration(extra: Mapping[str, Any]) -> int | None:
    found: dict[str, int] = {}
    for name in ("role_session_expiration", "duration_seconds"):
        raw = extra.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if isinstance(raw, bool):
            raise EmrRayValidationError(name, "must be an integer number of seconds")
        try:
            value = int(raw.strip()) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            raise EmrRayValidationError(name, "must be an integer number of seconds") from None
        if isinstance(raw, float) and raw != value:
            raise EmrRayValidationError(name, "must be an integer number of seconds")
        if value < MIN_DURATION_SECONDS:
            raise EmrRayValidationError(name, f"must be >= {MIN_DURATION_SECONDS} seconds, got {value}")
        if value > MAX_DURATION_SECONDS:
            raise EmrRayValidationError(name, f"must be <= {MAX_DURATION_SECONDS} seconds, got {value}")
        found[name] = value
    if len(set(found.values())) > 1:
        raise EmrRayValidationError("duration_seconds", "differs from role_session_expiration; set only one")
    return next(iter(found.values()), None)


def _policy(extra: Mapping[str, Any]) -> str | None:
    raw = extra.get("policy")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, dict):
        return json.dumps(raw, separators=(",", ":"))
    if not isinstance(raw, str):
        raise EmrRayValidationError("policy", "must be a JSON policy document (string or object)")
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise EmrRayValidationError("policy", f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise EmrRayValidationError("policy", "must be a JSON object")
    # Sent compact: the SDK's signer encodes a space as '+' where the RPC signature spec (and
    # so STS) uses %20, so whitespace in the policy would break the signature.
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


def _sts_endpoint(extra: Mapping[str, Any]) -> str | None:
    """``sts_endpoint`` as given (a scheme is allowed), else ``sts.<sts_region_id>.aliyuncs.com``."""
    endpoint = _str_extra(extra, "sts_endpoint")
    if endpoint:
        return endpoint.rstrip("/")
    region = _str_extra(extra, "sts_region_id")
    if region:
        if not re.fullmatch(r"[a-z0-9-]+", region):
            raise EmrRayValidationError("sts_region_id", "must be a region id such as cn-hangzhou")
        # Same rule as the SDK's own sts_region_id handling (which its Config cannot carry).
        vpc = os.environ.get("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "false").strip().lower() == "true"
        return f"{'sts-vpc' if vpc else 'sts'}.{region}.aliyuncs.com"
    return None


def _sts_options(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The AssumeRole options both role modes share, validated."""
    return {
        "role_session_name": _session_name(extra),
        "role_session_expiration": _duration(extra),
        "policy": _policy(extra),
        "sts_endpoint": _sts_endpoint(extra),
    }


def _config_client(**config: Any) -> Callable[[], Any]:
    """A builder of the SDK client for ``Config(**config)``; the SDK is imported when it runs."""

    def build() -> Any:
        from alibabacloud_credentials.client import Client
        from alibabacloud_credentials.models import Config

        return Client(Config(**config))

    return build


# ----------------------------------------------------------------------------- public API


#: The extras of an ``alibaba_cloud`` connection (apache-airflow-providers-alibaba) that hold the
#: AccessKey pair, and the connection fields they stand for.
ALIBABA_CLOUD_KEY_EXTRAS = {"access_key_id": "login", "access_key_secret": "password"}


def access_key_pair(login: str | None, password: str | None, extra: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """``(login, password)``: the connection's own, or the ``alibaba_cloud`` extras
    ``access_key_id`` / ``access_key_secret`` (:data:`ALIBABA_CLOUD_KEY_EXTRAS`). The same key
    given both ways with different values is refused, naming the fields (never the values)."""
    extra = extra or {}
    given = {"login": _clean(login), "password": _clean(password)}
    for name, field in ALIBABA_CLOUD_KEY_EXTRAS.items():
        value = _str_extra(extra, name)
        if value is None:
            continue
        if given[field] is not None and given[field] != value:
            raise EmrRayValidationError(
                name, f"differs from the connection's {field}: give the AccessKey pair once (login/password or the extras)"
            )
        given[field] = value
    return given["login"], given["password"]


def known_secrets(login: str | None, password: str | None, extra: Mapping[str, Any] | None) -> list[str]:
    """The secrets a connection holds up front (AccessKey secret, STS token), for the masker."""
    extra = extra or {}
    out = []
    for value in (password, extra.get("access_key_secret"), extra.get("security_token")):
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
    return out


def provider_from_connection(
    *,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | None,
    on_secret: OnSecret | None = None,
) -> CredentialProvider:
    """Validate the connection's fields and return the provider for its mode.

    No network call is made here and the SDK is not imported. ``on_secret`` is called once for
    each secret learned at run time (temporary AccessKey secrets and STS tokens of the role modes
    and the default chain); the secrets known up front are in the provider's ``secrets``.
    Raises :class:`EmrRayValidationError` naming the offending field.
    """
    extra = dict(extra or {})
    login, password = access_key_pair(login, password, extra)
    mode = resolve_credential_type(login=login, password=password, extra=extra)

    if mode in (ACCESS_KEY, STS):
        key_id, secret = _require_ak_pair(mode, login, password)
        token = _str_extra(extra, "security_token")
        if mode == STS and not token:
            raise EmrRayValidationError("security_token", "is required when credential_type is sts")
        if mode == ACCESS_KEY and token:
            raise EmrRayValidationError(
                "security_token", "is set but credential_type is access_key; use credential_type sts"
            )
        return _StaticProvider(mode, Credential(key_id, secret, token))

    if mode == RAM_ROLE_ARN:
        role_arn = _role_arn(extra, mode)
        key_id, secret = _require_ak_pair(mode, login, password)
        build = _config_client(
            type="ram_role_arn",
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=_str_extra(extra, "security_token"),
            role_arn=role_arn,
            external_id=_str_extra(extra, "external_id"),
            **_sts_options(extra),
        )
        return _SdkProvider(mode, build, secrets=tuple(known_secrets(login, password, extra)), on_secret=on_secret)

    if mode == OIDC_ROLE_ARN:
        role_arn = _role_arn(extra, mode)
        provider_arn = _require(extra, "oidc_provider_arn", mode)
        if not _OIDC_PROVIDER_ARN_RE.match(provider_arn):
            raise EmrRayValidationError(
                "oidc_provider_arn", "must look like acs:ram::<account id>:oidc-provider/<provider name>"
            )
        token_file = _str_extra(extra, "oidc_token_file_path") or _clean(os.environ.get(OIDC_TOKEN_FILE_ENV))
        if not token_file:
            raise EmrRayValidationError(
                "oidc_token_file_path",
                f"is required when credential_type is {mode} (or set the {OIDC_TOKEN_FILE_ENV} environment variable)",
            )
        build = _config_client(
            type="oidc_role_arn",
            role_arn=role_arn,
            oidc_provider_arn=provider_arn,
            oidc_token_file_path=token_file,
            **_sts_options(extra),
        )
        return _SdkProvider(mode, build, on_secret=on_secret)

    if mode == ECS_RAM_ROLE:
        role_name = _str_extra(extra, "role_name")

        def build_ecs_ram_role() -> Any:
            from alibabacloud_credentials.client import Client
            from alibabacloud_credentials.provider import EcsRamRoleCredentialsProvider

            # Built directly rather than through Config: Config's path enables the provider's
            # background refresh (an APScheduler thread per client). Without it the SDK still
            # refreshes on demand, before the credential goes stale.
            return Client(
                provider=EcsRamRoleCredentialsProvider(role_name=role_name, async_update_enabled=False)
            )

        return _SdkProvider(mode, build_ecs_ram_role, on_secret=on_secret)

    # DEFAULT: the SDK's default chain.
    def build_default() -> Any:
        from alibabacloud_credentials.client import Client

        return Client()

    return _SdkProvider(DEFAULT, build_default, on_secret=on_secret)
