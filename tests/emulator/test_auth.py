"""Every authentication rejection, with the service's error JSON and no secret in it."""

from __future__ import annotations

import time

import pytest

from airflow_provider_emr_ray.client import signing
from airflow_provider_emr_ray.emulator.auth import NonceCache
from airflow_provider_emr_ray.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from tests.emulator.helpers import signed


def _no_secret(resp, *secrets):
    for secret in (DEFAULT_ACCESS_KEY_SECRET, *secrets):
        assert secret not in resp.text
        assert all(secret not in v for v in resp.headers.values())


async def _expect(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["requestId"] and body["message"]
    _no_secret(resp, "wrong-secret", "sts-token-value")
    return body


async def test_valid_request_passes(make_app, connect):
    call = await connect(make_app())
    assert (await call.raw("ListRayCluster", query={"pageSize": 5})).status_code == 200


async def test_tampered_body(make_app, connect):
    call = await connect(make_app())
    method, url, headers, body = signed("CreateRayCluster", body={"name": "a"})
    resp = await call.client.request(method, url, headers=headers, content=body.replace(b'"a"', b'"b"'))
    await _expect(resp, 400, "SignatureDoesNotMatch")


async def test_body_hash_matching_but_signature_not(make_app, connect):
    call = await connect(make_app())
    method, url, headers, body = signed("CreateRayCluster", body={"name": "a"})
    tampered = b'{"name":"b"}'
    headers["x-acs-content-sha256"] = signing.hash_payload(tampered)
    resp = await call.client.request(method, url, headers=headers, content=tampered)
    await _expect(resp, 400, "SignatureDoesNotMatch")


async def test_tampered_query_and_path(make_app, connect):
    call = await connect(make_app())
    method, url, headers, _ = signed("ListRayCluster", query={"pageSize": 5})
    resp = await call.client.request(method, url.replace("pageSize=5", "pageSize=6"), headers=headers)
    await _expect(resp, 400, "SignatureDoesNotMatch")
    method, url, headers, _ = signed("GetRayCluster", {"clusterId": "ray-a"})
    resp = await call.client.request(method, url.replace("ray-a", "ray-b"), headers=headers)
    await _expect(resp, 400, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("signing_args", "status", "code"),
    [
        ({"secret": "wrong-secret"}, 400, "SignatureDoesNotMatch"),
        ({"ak": "LTAI-unknown"}, 404, "InvalidAccessKeyId.NotFound"),
        ({"date": "yesterday"}, 400, "InvalidTimeStamp.Format"),
        ({"header_action": "ListRayJob"}, 404, "InvalidAction.NotFound"),
        ({"version": "2021-01-01"}, 400, "InvalidVersion"),
    ],
)
async def test_rejected_signature(make_app, connect, signing_args, status, code):
    call = await connect(make_app())
    await _expect(await call.raw("ListRayCluster", **signing_args), status, code)


async def test_extra_access_key_accepted(make_app, connect):
    call = await connect(make_app(extra_access_keys={"AK2": "S2"}))
    assert (await call.raw("ListRayCluster", ak="AK2", secret="S2")).status_code == 200


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
async def test_stale_or_future_date(make_app, connect, offset):
    call = await connect(make_app())
    date = signing.acs_date(time.time() + offset)
    await _expect(await call.raw("ListRayCluster", date=date), 400, "InvalidTimeStamp.Expired")


async def test_date_within_window_accepted(make_app, connect):
    call = await connect(make_app())
    assert (await call.raw("ListRayCluster", date=signing.acs_date(time.time() - 14 * 60))).status_code == 200


async def test_replayed_nonce(make_app, connect):
    call = await connect(make_app())
    method, url, headers, _ = signed("ListRayCluster")
    assert (await call.client.request(method, url, headers=headers)).status_code == 200
    await _expect(await call.client.request(method, url, headers=headers), 400, "SignatureNonceUsed")
    # the same nonce with a fresh signature is still a replay
    await _expect(await call.raw("ListRayCluster", nonce=headers["x-acs-signature-nonce"]), 400, "SignatureNonceUsed")


async def test_rejected_request_does_not_burn_its_nonce(make_app, connect):
    call = await connect(make_app())
    await _expect(await call.raw("ListRayCluster", secret="wrong-secret", nonce="n-1"), 400, "SignatureDoesNotMatch")
    assert (await call.raw("ListRayCluster", nonce="n-1")).status_code == 200


async def test_missing_authorization_and_headers(make_app, connect):
    call = await connect(make_app())
    method, url, headers, _ = signed("ListRayCluster")
    no_auth = {k: v for k, v in headers.items() if k != "Authorization"}
    await _expect(await call.client.request(method, url, headers=no_auth), 400, "IncompleteSignature")
    garbled = dict(headers, Authorization="HMAC-SHA1 whatever")
    await _expect(await call.client.request(method, url, headers=garbled), 400, "IncompleteSignature")
    no_nonce = {k: v for k, v in headers.items() if k != "x-acs-signature-nonce"}
    await _expect(await call.client.request(method, url, headers=no_nonce), 400, "IncompleteSignature")


async def test_unsigned_acs_header_rejected(make_app, connect):
    call = await connect(make_app())
    method, url, headers, _ = signed("ListRayCluster")
    headers["x-acs-extra"] = "sneaky"
    await _expect(await call.client.request(method, url, headers=headers), 400, "IncompleteSignature")


async def test_sts_token(make_app, connect):
    app = make_app(security_token="sts-token-value")
    call = await connect(app)
    assert (await call.raw("ListRayCluster", token="sts-token-value")).status_code == 200
    await _expect(await call.raw("ListRayCluster"), 400, "MissingSecurityToken")
    await _expect(await call.raw("ListRayCluster", token="sts-token-other"), 400, "InvalidSecurityToken.Malformed")
    method, url, headers, _ = signed("ListRayCluster", token="sts-token-value", extra_headers={"x-acs-accesskey-id": "AK-x"})
    await _expect(await call.client.request(method, url, headers=headers), 400, "InvalidSecurityToken.MismatchWithAccessKey")
    assert app.emulator.stats.rejections["MissingSecurityToken"] == 1


async def test_token_on_a_permanent_key_rejected(make_app, connect):
    call = await connect(make_app())
    await _expect(await call.raw("ListRayCluster", token="sts-token-value"), 400, "InvalidSecurityToken.MismatchWithAccessKey")


async def test_space_and_plus_in_query_like_the_sdk(make_app, connect):
    """The SDK sends a space as '+' but signs '%20'; a literal '+' travels as '%2B'."""
    call = await connect(make_app())
    await call("SubmitRayJob", body={"entrypoint": "x", "name": "a b+c"})
    method, url, headers, _ = signed("ListRayJob", query={"name": "a b+c"})
    assert "name=a%20b%2Bc" in url
    resp = await call.client.request(method, url.replace("%20", "+"), headers=headers)
    assert resp.status_code == 200 and resp.json()["totalCount"] == 1


def test_nonce_cache_forgets_old_entries():
    now = [1000.0]
    cache = NonceCache(window=900, clock=lambda: now[0])
    for i in range(100):
        assert cache.add(f"n{i}")
    assert not cache.add("n5")
    now[0] += 901
    assert cache.add("fresh") and len(cache) == 1
    assert cache.add("n5")


async def test_auth_with_access_key_matches_sdk_oracle():
    """Our signer and the official one agree, so the emulator's check is the service's."""
    utils = pytest.importorskip("alibabacloud_tea_openapi.utils")
    from darabonba.request import DaraRequest

    headers = signing.sign_headers(
        method="GET", host="h", path="/api/v1/workspaces/w/rayJob", query={"name": "a b"}, body=None,
        action="ListRayJob", access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
    )
    req = DaraRequest()
    req.method, req.pathname, req.query = "GET", "/api/v1/workspaces/w/rayJob", {"name": "a b"}
    req.headers = {k: v for k, v in headers.items() if k != "Authorization"}
    oracle = utils.Utils.get_authorization(req, "ACS3-HMAC-SHA256", signing.EMPTY_PAYLOAD_HASH, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    assert oracle == headers["Authorization"]
