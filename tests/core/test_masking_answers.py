"""Secrets the service returns are registered with Airflow's masker as they are parsed (issue
13, item 3): a cluster's ``submitToken``, the ``token=`` of every dashboard URL (cluster and
job, ``dashboardUrlExtra`` too) and a ``redisPassword``. So logging ``cluster.dashboard_url``
in a task, as the README allows, prints ``***`` for the token."""

from __future__ import annotations

import pytest

from airflow_provider_emr_ray import redaction, version_compat

TOKENS = {
    "dashboard": "dash-tok-1a2b3c4d",
    "submit": "submit-tok-5e6f7a8b",
    "redis": "redis-pw-9c0d1e2f",
    "job": "job-tok-3a4b5c6d",
    "extra": "extra-tok-7e8f9a0b",
}


@pytest.fixture
def masked(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(version_compat, "mask_secret", lambda secret, name=None: seen.append(secret))
    monkeypatch.setattr(redaction, "_REGISTERED", set())
    return seen


def test_a_cluster_answer_registers_its_secrets(masked) -> None:
    from airflow_provider_emr_ray.models import RayCluster

    cluster = RayCluster.model_validate(
        {
            "clusterId": "rc-1",
            "dashboardUrl": f"https://gw/workspace/w-1/raycluster/rc-1/dashboard?token={TOKENS['dashboard']}",
            "submitToken": TOKENS["submit"],
            "headSpec": {"cpu": "2", "memory": "8Gi", "gftConfig": {"redisUrl": "r:6379", "redisPassword": TOKENS["redis"]}},
        }
    )
    assert {TOKENS["dashboard"], TOKENS["submit"], TOKENS["redis"]} <= set(masked)
    assert cluster.dashboard_url.endswith(TOKENS["dashboard"])  # the attribute keeps the full URL


def test_a_job_answer_registers_its_dashboard_tokens(masked) -> None:
    from airflow_provider_emr_ray.models import RayJob

    RayJob.model_validate(
        {
            "submissionId": "rj-1",
            "dashboardUrl": f"https://gw/rayjob/rj-1/dashboard?token={TOKENS['job']}",
            "dashboardUrlExtra": [f"https://gw/x?a=1&token={TOKENS['extra']}", "https://gw/no-token"],
        }
    )
    assert {TOKENS["job"], TOKENS["extra"]} <= set(masked)


def test_urls_without_secrets_register_nothing(masked) -> None:
    for url in ("https://gw/dashboard", "https://gw/x?page=2", None, 5, "not a url = really"):
        redaction.mask_url_secrets(url)
    assert masked == []
    redaction.mask_url_secrets("https://user:url-pw-12345@gw/x")  # a user-info password is one too
    assert masked == ["url-pw-12345"]
