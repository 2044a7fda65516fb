"""redaction: the one URL/text redactor and the log filter."""

from __future__ import annotations

import logging
import sys

import pytest

from airflow_provider_emr_ray import redaction


@pytest.mark.parametrize(
    ("url", "stored", "logged"),
    [
        ("https://d.example/x?token=s3cr3t&a=1", "https://d.example/x?a=1", "https://d.example/x?token=***&a=1"),
        ("https://d.example/x?a=1&TOKEN=s3cr3t", "https://d.example/x?a=1", "https://d.example/x?a=1&TOKEN=***"),
        ("https://o.example/f?Signature=abc&x-acs-security-token=t", "https://o.example/f", None),
        ("redis://user:pw@redis.example:6379/0", "redis://user@redis.example:6379/0", "redis://user:***@redis.example:6379/0"),
        ("redis://:pw@redis.example", "redis://@redis.example", "redis://:***@redis.example"),
        ("https://h.example:8443/p?a=b", "https://h.example:8443/p?a=b", "https://h.example:8443/p?a=b"),
    ],
)
def test_url_forms(url: str, stored: str, logged: str | None) -> None:
    assert redaction.strip_url_secrets(url) == stored
    shown = redaction.mask_url(url)
    if logged is not None:
        assert shown == logged
    for secret in ("s3cr3t", "pw@", "abc", "=t"):
        if secret in url:
            assert secret not in redaction.strip_url_secrets(url)
            assert secret not in shown


@pytest.mark.parametrize("value", [None, 3, ["https://x?token=a"]])
def test_non_strings_unchanged(value: object) -> None:
    assert redaction.strip_url_secrets(value) is value
    assert redaction.mask_url(value) is value


@pytest.mark.parametrize(
    ("name", "secret"),
    [("submitToken", True), ("redis_password", True), ("AccessKeySecret", True), ("credential", True),
     ("dashboardUrl", False), ("tokenUrl", False), ("name", False), (3, False)],
)
def test_is_secret_key(name: object, secret: bool) -> None:
    assert redaction.is_secret_key(name) is secret


def test_redact_text_hides_known_secrets_queries_and_json_values() -> None:
    text = (
        'failed: GET https://sts.example/?Action=AssumeRole&SecurityToken=tok123 '
        '{"AccessKeySecret": "topsecretvalue", "SecurityToken": "abc"} with key longsecret-9'
    )
    out = redaction.redact_text(text, ("longsecret-9", "short"))
    for secret in ("tok123", "topsecretvalue", "longsecret-9", "AssumeRole"):
        assert secret not in out
    assert "failed: GET" in out
    assert len(redaction.redact_text("x" * 2000)) == redaction.MAX_TEXT_LENGTH + 3


def test_filter_redacts_messages_and_tracebacks() -> None:
    logger = logging.getLogger("emr-ray-test-redaction")
    flt = redaction.RedactingFilter()
    redaction.install_filter(logger.name, flt)
    redaction.install_filter(logger.name, flt)
    assert logger.filters.count(flt) == 1
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning('refresh failed {"AccessKeySecret": "%s"}', "plainsecret1")
        try:
            raise RuntimeError('boom {"SecurityToken": "tracebacktoken"}')
        except RuntimeError:
            logger.error("refresh failed", exc_info=True)
    finally:
        logger.removeHandler(handler)
    assert "plainsecret1" not in records[0].getMessage()
    formatted = logging.Formatter().format(records[1])
    assert "tracebacktoken" not in formatted
    assert "RuntimeError" in formatted and records[1].exc_info is None


def test_mask_registers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_emr_ray import version_compat

    seen: list[str] = []
    monkeypatch.setattr(version_compat, "mask_secret", seen.append)
    monkeypatch.setattr(redaction, "_REGISTERED", set())
    redaction.mask("secret-value-1")
    redaction.mask("secret-value-1")
    redaction.mask("")
    redaction.mask(None)
    assert seen == ["secret-value-1"]


def test_module_is_standard_library_only() -> None:
    import subprocess

    code = (
        "import sys; import airflow_provider_emr_ray.redaction, airflow_provider_emr_ray.states, "
        "airflow_provider_emr_ray.tags, airflow_provider_emr_ray.limits, airflow_provider_emr_ray.suggest, "
        "airflow_provider_emr_ray.version_compat; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'pydantic', 'httpx', 'pendulum'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
