"""Credential modes of ``airflow_provider_emr_ray.client.credentials``.

The role modes talk to a fake STS / ECS metadata service served on loopback by a stdlib
``http.server`` in a thread. They are pointed at it without patching the SDK's HTTP code:

* STS (ram_role_arn, oidc_role_arn): the connection's ``sts_endpoint`` extra is set to
  ``http://127.0.0.1:<port>``. The SDK forces ``protocol = 'https'`` on the request, but
  ``TeaCore.compose_url`` drops the protocol when the host already carries a scheme, so the
  request goes out as plain http to the fake.
* ECS metadata: the SDK hard-codes ``100.100.100.200`` in a private instance attribute
  (``_EcsRamRoleCredentialsProvider__metadata_service_host``) with no config or env override.
  The narrowest patch is wrapping the provider's ``__init__`` to set that one attribute to
  ``http://127.0.0.1:<port>`` (same compose_url rule as above). The SDK reads
  ``ALIBABA_CLOUD_ECS_METADATA_DISABLED`` at import time into ``auth_util``, so the conftest's
  "disabled" is lifted by patching that module attribute for the ECS tests only.

The SDK's ``auth_util`` also snapshots the ALIBABA_CLOUD_* env vars at import time, so the
default-chain tests set both the environment and the ``auth_util`` attributes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time as _real_time
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from airflow_provider_emr_ray.client.credentials import (
    DEFAULT_ROLE_SESSION_NAME,
    Credential,
    CredentialProvider,
    known_secrets,
    provider_from_connection,
    resolve_credential_type,
)
from airflow_provider_emr_ray.exceptions import EmrRayAuthError, EmrRayValidationError
from tests.conftest import TEST_AK, TEST_SECRET

ROLE_ARN = "acs:ram::1234567890123456:role/emr-ray-runner"
OIDC_PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123"
STS_TOKEN = "CAIS-test-sts-token-0123456789"


# ----------------------------------------------------------------------------- fake services


def _expiration(seconds_from_now: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _temp_credential(n: int, seconds_from_now: int = 3600) -> dict:
    return {
        "AccessKeyId": f"STS.tempkey{n:04d}",
        "AccessKeySecret": f"temp-secret-{n:04d}-abcdefghijklmnop",
        "SecurityToken": f"temp-token-{n:04d}-abcdefghijklmnopqrstuvwxyz",
        "Expiration": _expiration(seconds_from_now),
    }


class FakeCloud:
    """State of the fake STS + ECS metadata service: queued answers and a request log."""

    ECS_ROLE = "EcsRoleForEmrRay"
    METADATA_TOKEN = "imds-v2-token-xyz"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.sts_answers: list[tuple[int, dict]] = []
        self.ecs_answers: list[dict] = []
        self.counter = 0
        self.url = ""
        self.clock_offset = 0  # the fake's notion of "now" follows the shifted SDK clock


    def next_sts(self) -> tuple[int, dict]:
        with self.lock:
            if self.sts_answers:
                return self.sts_answers.pop(0)
            self.counter += 1
            cred = _temp_credential(self.counter, 3600 + self.clock_offset)
            return 200, {"RequestId": f"req-{self.counter}", "Credentials": cred}

    def next_ecs(self) -> dict:
        with self.lock:
            if self.ecs_answers:
                return self.ecs_answers.pop(0)
            self.counter += 1
            return {"Code": "Success", **_temp_credential(self.counter, 3600 + self.clock_offset)}

    def calls(self, kind: str) -> list[dict]:
        return [r for r in self.requests if r["kind"] == kind]


def _make_handler(cloud: FakeCloud):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, status: int, body: str | bytes, ctype: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, kind: str, query: dict) -> None:
            with cloud.lock:
                cloud.requests.append(
                    {"kind": kind, "method": self.command, "path": urlsplit(self.path).path,
                     "query": query, "raw_query": urlsplit(self.path).query, "headers": dict(self.headers)}
                )

        def do_PUT(self):
            path = urlsplit(self.path).path
            if path == "/latest/api/token":
                self._record("ecs_token", {})
                self._send(200, cloud.METADATA_TOKEN, "text/plain")
            else:
                self._send(404, "not found", "text/plain")

        def do_GET(self):
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            action = query.get("Action")
            if action in ("AssumeRole", "AssumeRoleWithOIDC"):
                self._record(action, query)
                status, body = cloud.next_sts()
                self._send(status, json.dumps(body))
            elif parts.path == "/latest/meta-data/ram/security-credentials/":
                self._record("ecs_role_name", query)
                self._send(200, cloud.ECS_ROLE, "text/plain")
            elif parts.path.startswith("/latest/meta-data/ram/security-credentials/"):
                self._record("ecs_credentials", query)
                self._send(200, json.dumps(cloud.next_ecs()))
            else:
                self._send(404, "not found", "text/plain")

    return Handler


@pytest.fixture
def cloud(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = FakeCloud()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-cloud", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def ecs_metadata(cloud, monkeypatch):
    """Point the SDK's ECS metadata client at the fake (see module docstring)."""
    from alibabacloud_credentials.provider import ecs_ram_role
    from alibabacloud_credentials.utils import auth_util

    monkeypatch.setattr(auth_util, "environment_ecs_metadata_disabled", "false")
    original_init = ecs_ram_role.EcsRamRoleCredentialsProvider.__init__
    built = []

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._EcsRamRoleCredentialsProvider__metadata_service_host = cloud.url
        built.append(kwargs)

    monkeypatch.setattr(ecs_ram_role.EcsRamRoleCredentialsProvider, "__init__", init)
    cloud.ecs_builds = built
    return cloud


class _ShiftedTime:
    """Stand-in for the ``time`` module inside the SDK's refresh cache: the clock runs ahead."""

    def __init__(self, cloud: FakeCloud) -> None:
        self._cloud = cloud

    @property
    def offset(self) -> int:
        return self._cloud.clock_offset

    @offset.setter
    def offset(self, value: int) -> None:
        self._cloud.clock_offset = value

    def localtime(self, secs=None):
        return _real_time.localtime((_real_time.time() if secs is None else secs) + self.offset)

    def time(self):
        return _real_time.time() + self.offset

    def __getattr__(self, name):
        return getattr(_real_time, name)


@pytest.fixture
def clock(cloud, monkeypatch):
    from alibabacloud_credentials.provider import refreshable

    shifted = _ShiftedTime(cloud)
    monkeypatch.setattr(refreshable, "time", shifted)
    return shifted


@pytest.fixture
def no_sync_http(monkeypatch):
    """Fail any sync HTTP call and the sync SDK getter; count async HTTP calls."""
    from alibabacloud_credentials.client import Client
    from Tea.core import TeaCore

    def forbidden(*args, **kwargs):
        raise AssertionError("sync path used on the async path")

    original_async = TeaCore.async_do_action
    calls = []

    async def counting_async(request, runtime_option=None):
        calls.append(request.headers.get("host"))
        return await original_async(request, runtime_option)

    monkeypatch.setattr(TeaCore, "do_action", staticmethod(forbidden))
    monkeypatch.setattr(TeaCore, "async_do_action", staticmethod(counting_async))
    monkeypatch.setattr(Client, "get_credential", forbidden)
    return calls


def _rpc_signature(raw_query: str, secret: str) -> tuple[str, str]:
    """Recompute the STS RPC (HMAC-SHA1, v1.0) signature of a request; return (expected, sent)."""
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    sent = dict(pairs)["Signature"]

    def enc(s: str) -> str:
        return quote(s, safe="~")

    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs) if k != "Signature")
    to_sign = f"GET&{enc('/')}&{enc(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode(), sent


def _ram_extra(cloud: FakeCloud, **more) -> dict:
    return {"credential_type": "ram_role_arn", "role_arn": ROLE_ARN, "sts_endpoint": cloud.url, **more}


def _oidc_extra(cloud: FakeCloud, token_file, **more) -> dict:
    return {
        "role_arn": ROLE_ARN,
        "oidc_provider_arn": OIDC_PROVIDER_ARN,
        "oidc_token_file_path": str(token_file),
        "sts_endpoint": cloud.url,
        **more,
    }


# ----------------------------------------------------------------------------- Credential


def test_credential_repr_hides_secret_and_token():
    cred = Credential(TEST_AK, TEST_SECRET, STS_TOKEN)
    for text in (repr(cred), str(cred), f"{cred}", repr([cred])):
        assert TEST_AK in text
        assert TEST_SECRET not in text
        assert STS_TOKEN not in text
    assert "security_token=None" in repr(Credential(TEST_AK, TEST_SECRET))


def test_credential_is_frozen_and_slotted():
    cred = Credential(TEST_AK, TEST_SECRET)
    with pytest.raises(FrozenInstanceError):
        cred.access_key_secret = "x"  # type: ignore[misc]
    assert not hasattr(cred, "__dict__")
    assert cred == Credential(TEST_AK, TEST_SECRET, None)


# ----------------------------------------------------------------------------- static modes


async def test_access_key_sync_and_async():
    provider = provider_from_connection(login=TEST_AK, password=TEST_SECRET, extra={})
    assert isinstance(provider, CredentialProvider)
    expected = Credential(TEST_AK, TEST_SECRET, None)
    assert provider.get() == expected
    assert await provider.aget() == expected
    assert provider.secrets == (TEST_SECRET,)


async def test_sts_sync_and_async_inferred_and_explicit():
    for extra in ({"security_token": STS_TOKEN}, {"credential_type": "STS", "security_token": STS_TOKEN}):
        provider = provider_from_connection(login=TEST_AK, password=TEST_SECRET, extra=extra)
        expected = Credential(TEST_AK, TEST_SECRET, STS_TOKEN)
        assert provider.get() == expected
        assert await provider.aget() == expected
        assert set(provider.secrets) == {TEST_SECRET, STS_TOKEN}


def test_static_modes_do_not_import_the_sdk():
    code = (
        "import sys\n"
        "from airflow_provider_emr_ray.client.credentials import provider_from_connection\n"
        "p = provider_from_connection(login='ak', password='sk', extra={'security_token': 't'})\n"
        "p.get()\n"
        "q = provider_from_connection(login='ak', password='sk', extra={'role_arn': "
        f"'{ROLE_ARN}'}})\n"
        "bad = sorted(m for m in sys.modules if m.startswith('alibabacloud_credentials'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_known_secrets():
    assert known_secrets(TEST_AK, TEST_SECRET, {"security_token": STS_TOKEN}) == [TEST_SECRET, STS_TOKEN]
    assert known_secrets(None, None, None) == []
    provider = provider_from_connection(
        login=TEST_AK, password=TEST_SECRET, extra={"role_arn": ROLE_ARN}
    )
    assert provider.secrets == (TEST_SECRET,)


# ----------------------------------------------------------------------------- default chain


@pytest.fixture
def env_credentials(monkeypatch):
    from alibabacloud_credentials.utils import auth_util

    def set_env(key_id, secret, token=None):
        for env, attr, value in (
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "environment_access_key_id", key_id),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "environment_access_key_secret", secret),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", "environment_security_token", token),
        ):
            if value is None:
                monkeypatch.delenv(env, raising=False)
            else:
                monkeypatch.setenv(env, value)
            monkeypatch.setattr(auth_util, attr, value)

    return set_env


async def test_default_chain_from_environment_sync_and_async(env_credentials):
    env_credentials(TEST_AK, TEST_SECRET, STS_TOKEN)
    seen = []
    provider = provider_from_connection(login=None, password=None, extra={}, on_secret=seen.append)
    assert provider.secrets == ()
    expected = Credential(TEST_AK, TEST_SECRET, STS_TOKEN)
    assert provider.get() == expected
    assert await provider.aget() == expected
    assert seen == [TEST_SECRET, STS_TOKEN]  # each run-time secret reported once


def test_default_chain_explicit_and_empty_extras(env_credentials):
    env_credentials(TEST_AK, TEST_SECRET)
    for extra in ({"credential_type": "Default"}, {"credential_type": ""}, {"credential_type": None}):
        provider = provider_from_connection(login="", password=None, extra=extra)
        assert provider.get() == Credential(TEST_AK, TEST_SECRET, None)


def test_default_chain_with_nothing_raises_auth_error(env_credentials, monkeypatch, tmp_path):
    from alibabacloud_credentials.utils import auth_util

    env_credentials(None, None)
    monkeypatch.setattr(auth_util, "environment_cli_profile_disabled", "true")
    monkeypatch.setattr(auth_util, "environment_credentials_file", str(tmp_path / "none.ini"))
    monkeypatch.setattr(auth_util, "enable_oidc_credential", False)
    monkeypatch.setattr(auth_util, "environment_ecs_metadata_disabled", "true")
    monkeypatch.setattr(auth_util, "environment_credentials_uri", None)
    monkeypatch.setenv("HOME", str(tmp_path))
    provider = provider_from_connection(login=None, password=None, extra={})
    with pytest.raises(EmrRayAuthError) as info:
        provider.get()
    assert "credential_type default" in str(info.value)
    assert info.value.code == "InvalidCredentials"


# ----------------------------------------------------------------------------- ram_role_arn


def test_ram_role_arn_assumes_role_with_the_ak_pair(cloud):
    policy = '{"Version": "1", "Statement": []}'
    seen = []
    provider = provider_from_connection(
        login=TEST_AK,
        password=TEST_SECRET,
        extra=_ram_extra(cloud, external_id="ext-42", policy=policy, role_session_expiration="1800"),
        on_secret=seen.append,
    )
    assert cloud.requests == []  # nothing sent at creation
    cred = provider.get()
    temp = _temp_credential(1)
    assert cred == Credential(temp["AccessKeyId"], temp["AccessKeySecret"], temp["SecurityToken"])

    (call,) = cloud.calls("AssumeRole")
    q = call["query"]
    assert q["AccessKeyId"] == TEST_AK
    assert q["RoleArn"] == ROLE_ARN
    assert q["RoleSessionName"] == DEFAULT_ROLE_SESSION_NAME
    assert q["ExternalId"] == "ext-42"
    assert q["Policy"] == '{"Version":"1","Statement":[]}'  # compacted (see credentials._policy)
    assert q["DurationSeconds"] == "1800"
    assert "AccessKeySecret" not in call["raw_query"] and TEST_SECRET not in call["raw_query"]
    expected_sig, sent_sig = _rpc_signature(call["raw_query"], TEST_SECRET)
    assert sent_sig == expected_sig  # signed with the connection's AccessKey secret

    # a second call inside the validity window is served from the SDK cache
    assert provider.get() == cred
    assert len(cloud.calls("AssumeRole")) == 1
    assert seen == [temp["AccessKeySecret"], temp["SecurityToken"]]


def test_ram_role_arn_inferred_with_session_name_and_sts_token_source(cloud):
    provider = provider_from_connection(
        login=TEST_AK,
        password=TEST_SECRET,
        extra={
            "role_arn": ROLE_ARN,
            "role_session_name": "my-dag.run@1",
            "duration_seconds": 900,
            "security_token": STS_TOKEN,
            "sts_endpoint": cloud.url + "/",
        },
    )
    assert set(provider.secrets) == {TEST_SECRET, STS_TOKEN}
    provider.get()
    (call,) = cloud.calls("AssumeRole")
    assert call["query"]["RoleSessionName"] == "my-dag.run@1"
    assert call["query"]["DurationSeconds"] == "900"
    assert call["query"]["SecurityToken"] == STS_TOKEN


def test_ram_role_arn_refreshes_after_the_sdk_staleness_window(cloud, clock):
    seen = []
    provider = provider_from_connection(
        login=TEST_AK, password=TEST_SECRET, extra=_ram_extra(cloud), on_secret=seen.append
    )
    first = provider.get()
    assert provider.get() == first
    assert len(cloud.calls("AssumeRole")) == 1

    # The SDK treats a credential as stale 15 minutes before it expires (1 h here).
    clock.offset = 3600 - 15 * 60 + 1
    second = provider.get()
    assert len(cloud.calls("AssumeRole")) == 2
    assert second != first
    assert second.access_key_id == _temp_credential(2)["AccessKeyId"]
    assert seen == [first.access_key_secret, first.security_token, second.access_key_secret, second.security_token]


def test_ram_role_arn_short_lived_answer_is_refetched_next_call(cloud):
    # An answer already inside the 15-minute window is used once, then replaced (SDK rule).
    cloud.sts_answers = [
        (200, {"RequestId": "r1", "Credentials": _temp_credential(101, seconds_from_now=600)}),
        (200, {"RequestId": "r2", "Credentials": _temp_credential(102, seconds_from_now=3600)}),
    ]
    provider = provider_from_connection(login=TEST_AK, password=TEST_SECRET, extra=_ram_extra(cloud))
    assert provider.get().access_key_id == "STS.tempkey0101"
    assert provider.get().access_key_id == "STS.tempkey0102"
    assert provider.get().access_key_id == "STS.tempkey0102"
    assert len(cloud.calls("AssumeRole")) == 2


async def test_ram_role_arn_async_uses_the_async_getter(cloud, no_sync_http, clock):
    seen = []
    provider = provider_from_connection(
        login=TEST_AK, password=TEST_SECRET, extra=_ram_extra(cloud), on_secret=seen.append
    )
    first = await provider.aget()
    assert first.access_key_id == _temp_credential(1)["AccessKeyId"]
    assert no_sync_http == [cloud.url]
    assert len(cloud.calls("AssumeRole")) == 1
    assert await provider.aget() == first
    clock.offset = 3600
    second = await provider.aget()
    assert second != first and len(cloud.calls("AssumeRole")) == 2
    assert len(no_sync_http) == 2
    assert seen == [first.access_key_secret, first.security_token, second.access_key_secret, second.security_token]


async def test_ram_role_arn_sts_error_maps_to_auth_error(cloud):
    cloud.sts_answers = [(403, {"Code": "NoPermission", "Message": "You are not authorized to do this action."})]
    provider = provider_from_connection(login=TEST_AK, password=TEST_SECRET, extra=_ram_extra(cloud))
    with pytest.raises(EmrRayAuthError) as info:
        provider.get()
    text = str(info.value)
    assert info.value.code == "InvalidCredentials"
    assert "ram_role_arn" in text and "NoPermission" in text
    assert TEST_SECRET not in text
    assert "Signature=" not in text

    cloud.sts_answers = [(403, {"Code": "NoPermission", "Message": "denied"})]
    with pytest.raises(EmrRayAuthError, match="ram_role_arn"):
        await provider.aget()


def test_ram_role_arn_malformed_answer_never_echoes_temporary_secrets(cloud):
    temp = _temp_credential(7)
    del temp["AccessKeyId"]
    cloud.sts_answers = [(200, {"RequestId": "r", "Credentials": temp})]
    provider = provider_from_connection(login=TEST_AK, password=TEST_SECRET, extra=_ram_extra(cloud))
    with pytest.raises(EmrRayAuthError) as info:
        provider.get()
    assert temp["AccessKeySecret"] not in str(info.value)
    assert temp["SecurityToken"] not in str(info.value)


# ----------------------------------------------------------------------------- oidc_role_arn


async def test_oidc_role_arn_sync_and_async(cloud, no_sync_http, tmp_path, clock):
    token_file = tmp_path / "token"
    token_file.write_text("oidc-jwt-one")
    seen = []
    provider = provider_from_connection(
        login=None, password=None, extra=_oidc_extra(cloud, token_file), on_secret=seen.append
    )
    cred = await provider.aget()
    assert cred.access_key_id == _temp_credential(1)["AccessKeyId"]
    (call,) = cloud.calls("AssumeRoleWithOIDC")
    q = call["query"]
    assert q["RoleArn"] == ROLE_ARN
    assert q["OIDCProviderArn"] == OIDC_PROVIDER_ARN
    assert q["OIDCToken"] == "oidc-jwt-one"
    assert q["RoleSessionName"] == DEFAULT_ROLE_SESSION_NAME
    assert no_sync_http == [cloud.url]
    # the token file is re-read at each refresh (kubelet rotates it)
    token_file.write_text("oidc-jwt-two")
    clock.offset = 3600
    assert (await provider.aget()).access_key_id == _temp_credential(2)["AccessKeyId"]
    assert cloud.calls("AssumeRoleWithOIDC")[1]["query"]["OIDCToken"] == "oidc-jwt-two"
    assert len(seen) == 4


def test_oidc_role_arn_sync_token_file_from_env(cloud, tmp_path, monkeypatch):
    token_file = tmp_path / "env-token"
    token_file.write_text("oidc-jwt-env")
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token_file))
    extra = _oidc_extra(cloud, token_file, credential_type="OIDC_ROLE_ARN", policy={"Version": "1"})
    del extra["oidc_token_file_path"]
    provider = provider_from_connection(login=None, password=None, extra=extra)
    cred = provider.get()
    assert cred.security_token == _temp_credential(1)["SecurityToken"]
    (call,) = cloud.calls("AssumeRoleWithOIDC")
    assert call["query"]["OIDCToken"] == "oidc-jwt-env"
    assert json.loads(call["query"]["Policy"]) == {"Version": "1"}


def test_oidc_role_arn_missing_token_file_is_an_auth_error(cloud, tmp_path):
    provider = provider_from_connection(
        login=None, password=None, extra=_oidc_extra(cloud, tmp_path / "missing")
    )
    with pytest.raises(EmrRayAuthError, match="oidc_role_arn"):
        provider.get()
    assert cloud.requests == []


# ----------------------------------------------------------------------------- ecs_ram_role


def test_ecs_ram_role_discovers_role_name_sync(ecs_metadata):
    cloud = ecs_metadata
    seen = []
    provider = provider_from_connection(
        login=None, password=None, extra={"credential_type": "ecs_ram_role"}, on_secret=seen.append
    )
    cred = provider.get()
    assert cred == Credential(
        _temp_credential(1)["AccessKeyId"], _temp_credential(1)["AccessKeySecret"], _temp_credential(1)["SecurityToken"]
    )
    assert len(cloud.calls("ecs_role_name")) == 1
    (creds_call,) = cloud.calls("ecs_credentials")
    assert creds_call["path"].endswith("/" + cloud.ECS_ROLE)
    assert creds_call["headers"].get("X-aliyun-ecs-metadata-token") == cloud.METADATA_TOKEN
    assert cloud.ecs_builds == [{"role_name": None, "async_update_enabled": False}]
    assert provider.get() == cred  # cached
    assert len(cloud.calls("ecs_credentials")) == 1
    assert seen == [cred.access_key_secret, cred.security_token]


async def test_ecs_ram_role_with_role_name_async(ecs_metadata, no_sync_http, clock):
    cloud = ecs_metadata
    provider = provider_from_connection(login=None, password=None, extra={"role_name": "MyRole"})
    first = await provider.aget()
    assert first.access_key_id == _temp_credential(1)["AccessKeyId"]
    assert cloud.calls("ecs_role_name") == []
    assert cloud.calls("ecs_credentials")[0]["path"].endswith("/MyRole")
    assert no_sync_http and set(no_sync_http) == {cloud.url}
    clock.offset = 3600
    second = await provider.aget()
    assert second != first
    assert len(cloud.calls("ecs_credentials")) == 2


def test_ecs_ram_role_disabled_metadata_is_an_auth_error():
    # conftest sets ALIBABA_CLOUD_ECS_METADATA_DISABLED=true; the SDK refuses to build the provider
    provider = provider_from_connection(login=None, password=None, extra={"credential_type": "ecs_ram_role"})
    with pytest.raises(EmrRayAuthError, match="ecs_ram_role.*could not be set up"):
        provider.get()


# ----------------------------------------------------------------------------- mode selection


@pytest.mark.parametrize(
    ("login", "password", "extra", "mode"),
    [
        (TEST_AK, TEST_SECRET, {}, "access_key"),
        (TEST_AK, TEST_SECRET, {"security_token": STS_TOKEN}, "sts"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN}, "ram_role_arn"),
        (None, None, {"role_arn": ROLE_ARN, "oidc_provider_arn": OIDC_PROVIDER_ARN}, "oidc_role_arn"),
        (None, None, {"role_name": "R"}, "ecs_ram_role"),
        (None, None, {}, "default"),
        ("", "  ", {}, "default"),
        (TEST_AK, TEST_SECRET, {"credential_type": " RAM_Role_ARN "}, "ram_role_arn"),
        (None, None, {"credential_type": "ecs-ram-role"}, "ecs_ram_role"),
    ],
)
def test_mode_resolution(login, password, extra, mode):
    assert resolve_credential_type(login=login, password=password, extra=extra) == mode


@pytest.mark.parametrize(
    ("login", "password", "extra", "field", "needle"),
    [
        (None, None, {"credential_type": "magic"}, "credential_type", "oidc_role_arn"),
        (TEST_AK, TEST_SECRET, {"credential_type": "ram_role_arn"}, "role_arn",
         "is required when credential_type is ram_role_arn"),
        (TEST_AK, TEST_SECRET, {"role_arn": "arn:aws:iam::1:role/x"}, "role_arn", "acs:ram::"),
        (TEST_AK, TEST_SECRET, {"role_arn": "acs:ram::abc:role/x"}, "role_arn", "acs:ram::"),
        (None, None, {"credential_type": "ram_role_arn", "role_arn": ROLE_ARN}, "login", "required"),
        (TEST_AK, None, {}, "password", "required"),
        (None, TEST_SECRET, {}, "login", "required"),
        (TEST_AK, None, {"role_arn": ROLE_ARN}, "password", "required"),
        (TEST_AK, TEST_SECRET, {"credential_type": "sts"}, "security_token", "required"),
        (TEST_AK, TEST_SECRET, {"credential_type": "access_key", "security_token": "t"}, "security_token", "sts"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "role_session_expiration": 600},
         "role_session_expiration", ">= 900"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "duration_seconds": "abc"}, "duration_seconds", "integer"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "duration_seconds": 99999}, "duration_seconds", "<="),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "duration_seconds": 900, "role_session_expiration": 1800},
         "duration_seconds", "only one"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "policy": "{not json"}, "policy", "not valid JSON"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "policy": "[1]"}, "policy", "object"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "role_session_name": "bad name!"}, "role_session_name", "2-64"),
        (TEST_AK, TEST_SECRET, {"role_arn": ROLE_ARN, "sts_region_id": "CN HZ"}, "sts_region_id", "region"),
        (None, None, {"credential_type": "oidc_role_arn", "role_arn": ROLE_ARN, "oidc_token_file_path": "/t"},
         "oidc_provider_arn", "is required when credential_type is oidc_role_arn"),
        (None, None, {"oidc_provider_arn": OIDC_PROVIDER_ARN, "oidc_token_file_path": "/t"}, "role_arn", "required"),
        (None, None, {"oidc_provider_arn": "acs:ram::1:role/x", "role_arn": ROLE_ARN, "oidc_token_file_path": "/t"},
         "oidc_provider_arn", "oidc-provider"),
        (None, None, {"role_arn": ROLE_ARN, "oidc_provider_arn": OIDC_PROVIDER_ARN}, "oidc_token_file_path",
         "ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
        (None, None, {"role_name": 5}, "role_name", "string"),
    ],
)
def test_validation_errors_name_the_field(monkeypatch, login, password, extra, field, needle):
    monkeypatch.delenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", raising=False)
    with pytest.raises(EmrRayValidationError) as info:
        provider_from_connection(login=login, password=password, extra=extra)
    assert info.value.field == field
    assert needle in str(info.value)
    assert TEST_SECRET not in str(info.value)


def test_sts_region_id_builds_the_regional_endpoint(monkeypatch):
    captured = {}
    from alibabacloud_credentials import client as sdk_client

    original = sdk_client.Client.__init__

    def spy(self, config=None, provider=None):
        captured["config"] = config
        original(self, config, provider)

    monkeypatch.setattr(sdk_client.Client, "__init__", spy)
    monkeypatch.setattr(sdk_client.Client, "get_credential", lambda self: sdk_client.CredentialModel(
        access_key_id="STS.x", access_key_secret="s" * 10, security_token="t" * 10))
    provider = provider_from_connection(
        login=TEST_AK, password=TEST_SECRET, extra={"role_arn": ROLE_ARN, "sts_region_id": "cn-shanghai"}
    )
    provider.get()
    provider.get()
    config = captured["config"]
    assert config.type == "ram_role_arn"
    assert config.sts_endpoint == "sts.cn-shanghai.aliyuncs.com"
    assert config.role_session_name == DEFAULT_ROLE_SESSION_NAME
    assert config.role_session_expiration is None


def test_sdk_debug_logs_of_credentials_are_redacted(caplog):
    """The SDK logs refreshed credentials and failing URLs at DEBUG; our filter redacts them."""
    import logging

    from airflow_provider_emr_ray.client.credentials import _guard_sdk_logger
    from airflow_provider_emr_ray.redaction import RedactingFilter

    _guard_sdk_logger()
    _guard_sdk_logger()  # idempotent
    sdk_log = logging.getLogger("credentials")
    assert len([f for f in sdk_log.filters if isinstance(f, RedactingFilter)]) == 1
    with caplog.at_level(logging.DEBUG, logger="credentials"):
        sdk_log.debug("Refresh credentials successfully, retrieved value is %s, cached value is %s",
                      "Credentials(access_key_secret='tmp-secret-1')", "old-secret-0")  # fmt: skip
        sdk_log.error("request failed: https://sts.aliyuncs.com/?Action=AssumeRoleWithOIDC&OIDCToken=eyJ-oidc-token&X=1")
        sdk_log.debug('answer {"AccessKeySecret": "tmp-secret-2", "SecurityToken": "tok-3"}')
    text = caplog.text
    for secret in ("tmp-secret-1", "old-secret-0", "eyJ-oidc-token", "tmp-secret-2", "tok-3"):
        assert secret not in text
    assert "OIDCToken=***" in text and "<redacted>" in text
