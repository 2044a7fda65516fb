"""The V3 signer against Alibaba's own implementation, byte for byte."""

from __future__ import annotations

import hashlib
import random
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_emr_ray.client import signing
from airflow_provider_emr_ray.client.actions import ACTIONS, build_request

tea_utils = pytest.importorskip("alibabacloud_tea_openapi.utils")

METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD")
PATHS = (
    "/",
    "/api/v1/workspaces/w-d2d82aa09155/rayCluster",
    "/api/v1/workspaces/w-1/rayCluster/ray-k7nm8ahl5te4tg91/start",
    "/api/v1/workspaces/w 1/rayJob/rj x+y~z",
    "/api/interactive/v1/workspace/w-1/ray/ray-x-head-1/logs",
    "/a/ünïcødé/路径/ray",
    "/a/b%2Fc/d",
    "/with space/and+plus/and~tilde/and%percent",
)
VALUES = (
    "",
    "plain",
    "with space",
    "a+b",
    "tilde~ok",
    "slash/inside",
    "unicode-éß-中文-🙂",
    '{"startTime":1,"endTime":2}',
    "*star*",
    "equals=and&amp",
    "  padded  ",
    "%41literal-percent",
)
KEYS = ("pageNum", "pageSize", "name", "submissionId", "submitTime", "taskBizId", "bucketName", "path", "a b", "ключ")


class _Req:
    """The request shape ``Utils.get_authorization`` reads."""

    def __init__(self, method, pathname, query, headers):
        self.method = method
        self.pathname = pathname
        self.query = query
        self.headers = headers


def _cases(n: int = 240):
    rng = random.Random(20231122)
    for i in range(n):
        method = METHODS[i % len(METHODS)]
        path = signing.encode_path(PATHS[i % len(PATHS)])
        query = {rng.choice(KEYS): rng.choice(VALUES) for _ in range(rng.randint(0, 5))}
        if i % 7 == 0:
            query["nullValue"] = None  # dropped by both
        body_kind = i % 4
        body = None if body_kind == 0 else b"" if body_kind == 1 else ('{"name":"%s"}' % rng.choice(VALUES)).encode()
        token = "CAIS-sts-token-" + str(i) if i % 3 == 0 else None
        yield i, method, path, query, body, token


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: f"case{c[0]}")
def test_authorization_matches_official_signer(case):
    i, method, path, query, body, token = case
    headers = signing.sign_headers(
        method=method,
        host="emr-serverless-spark.cn-hangzhou.aliyuncs.com",
        path=path,
        query=query,
        body=body,
        action=("GetRayJob", "CreateRayCluster", "ListRayLogs")[i % 3],
        access_key_id="LTAI5tTestKey",
        access_key_secret=f"secret-{i}",
        security_token=token,
        extra_headers={"User-Agent": "test-agent/1.0", "X-Custom-Header": f"  value {i}  "},
    )
    ours = headers.pop("Authorization")
    payload_hash = hashlib.sha256(body or b"").hexdigest()
    assert headers["x-acs-content-sha256"] == payload_hash
    theirs = tea_utils.Utils.get_authorization(
        _Req(method, path, dict(query), headers), "ACS3-HMAC-SHA256", payload_hash, "LTAI5tTestKey", f"secret-{i}"
    )
    assert ours == theirs
    if token:
        assert headers["x-acs-security-token"] == token
        assert "x-acs-security-token" in ours


def test_case_count_is_at_least_200():
    assert len(list(_cases())) >= 200


def test_canonical_query_encodes_rfc3986():
    assert signing.canonical_query({"b": "x y", "a": "1+1~/é", "c": None}) == "a=1%2B1~%2F%C3%A9&b=x%20y"


def test_wire_query_round_trips_through_form_decoding():
    """What the hook sends decodes (as the service decodes: '+' = space) to the signed values."""
    values = {"name": "a+b c~d/é", "submitTime": '{"startTime":1}'}
    target = build_request("ListRayJob", {"workspaceId": "w-1"}, query=values).target
    assert dict(parse_qsl(urlsplit(target).query)) == values


def test_path_params_are_percent_encoded():
    prepared = build_request("GetRayCluster", {"workspaceId": "w 1", "clusterId": "ray/../x"})
    assert prepared.path == "/api/v1/workspaces/w%201/rayCluster/ray%2F..%2Fx"


def test_missing_path_param_names_it():
    with pytest.raises(ValueError, match="clusterId"):
        ACTIONS["GetRayCluster"].render_path({"workspaceId": "w-1"})


def test_parse_authorization_round_trip_and_rejections():
    sig, signed = signing.signature(
        method="GET", path="/", query=None, headers={"host": "h"}, payload_hash=signing.EMPTY_PAYLOAD_HASH, secret="S"
    )
    value = signing.authorization("AK", sig, signed)
    parts = signing.parse_authorization(value)
    assert parts["Credential"] == "AK" and parts["SignedHeaders"] == "host" and len(parts["Signature"]) == 64
    with pytest.raises(ValueError, match="algorithm"):
        signing.parse_authorization("ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=00")
    with pytest.raises(ValueError, match="Signature"):
        signing.parse_authorization("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host")


def test_signature_changes_with_every_signed_input():
    base = dict(method="GET", path="/p", query={"a": "1"}, headers={"host": "h", "x-acs-date": "d"},
                payload_hash=signing.EMPTY_PAYLOAD_HASH, secret="s")  # fmt: skip
    reference = signing.signature(**base)[0]
    for key, value in (("method", "POST"), ("path", "/q"), ("query", {"a": "2"}), ("headers", {"host": "h2", "x-acs-date": "d"}),
                       ("payload_hash", "0" * 64), ("secret", "t")):  # fmt: skip
        assert signing.signature(**{**base, key: value})[0] != reference, key
