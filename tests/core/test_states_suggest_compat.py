"""states, suggest and version_compat."""

from __future__ import annotations

import pytest

from airflow_provider_emr_ray import states, suggest, version_compat


def test_state_sets_partition_the_statuses() -> None:
    assert states.JOB_TERMINAL_STATUSES == states.JOB_SUCCESS_STATUSES | states.JOB_FAILURE_STATUSES
    assert not states.JOB_ACTIVE_STATUSES & states.JOB_TERMINAL_STATUSES
    assert set(states.JOB_STATUSES) == states.JOB_ACTIVE_STATUSES | states.JOB_TERMINAL_STATUSES
    assert set(states.CLUSTER_STATES) == states.CLUSTER_LIVE_STATES | states.CLUSTER_FAILURE_STATES
    assert "Running" in states.CLUSTER_LIVE_STATES and states.ClusterState.Running == "Running"
    assert states.ordered(states.JOB_FAILURE_STATUSES, states.JOB_STATUSES) == ("Failed", "Cancelled", "Timeout")
    assert {str(o) for o in states.WaitOutcome} == {"success", "failure", "timeout", "error"}


@pytest.mark.parametrize(
    ("name", "known", "hint"),
    [
        ("memroy", ["memory", "cpu"], "memory"),
        ("maxReplicas", ["min_replica", "max_replica"], "max_replica"),
        ("group-name", ["group_name"], "group_name"),
        ("zzzz", ["cpu"], None),
    ],
)
def test_did_you_mean(name: str, known: list[str], hint: str | None) -> None:
    text = suggest.did_you_mean(name, known)
    if hint is None:
        assert text == ""
    else:
        assert text == f"; did you mean '{hint}'?"


def test_version_probe_matches_the_installed_airflow() -> None:
    import airflow

    major, minor, _ = version_compat.airflow_version()
    assert airflow.__version__.startswith(f"{major}.{minor}")
    assert version_compat.AIRFLOW_V_3_3_PLUS() is ((major, minor) >= (3, 3))


async def test_amask_secret_reaches_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.log as sdk_log

    seen: list[str] = []

    async def native(secret: str) -> None:
        seen.append(secret)

    monkeypatch.setattr(sdk_log, "amask_secret", native, raising=False)
    await version_compat.amask_secret("s-1")
    monkeypatch.delattr(sdk_log, "amask_secret")
    monkeypatch.setattr(version_compat, "mask_secret", seen.append)
    await version_compat.amask_secret("s-2")
    assert seen == ["s-1", "s-2"]
