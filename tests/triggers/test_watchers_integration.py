"""Shared watchers against the served emulator: real hooks, real ListRayJob pages, real jobs
(each runs until the test opens its gate file).

Twenty ``RayJobStatusTrigger``s run in one event loop as the triggerer runs them; the emulator's
call counters show one list call per round for all of them and one GetRayJob per trigger (the
confirmation of its end), and a failed list round costs at most one fallback Get per trigger.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest


pytestmark = pytest.mark.integration

N = 20
POLL = 0.3


@pytest.fixture(autouse=True)
def _no_faults(emulator: Any):
    emulator.emulator.clear_faults()
    yield
    emulator.emulator.clear_faults()


def _submit(n: int, gate: Any) -> tuple[list[str], int]:
    """``n`` jobs that run until the file ``gate`` exists: the test opens it once the rounds it
    counts have happened, so no job ends early on a slow machine."""
    from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
    from airflow_provider_emr_ray.triggers.watchers import submit_time_bound

    hook = EmrRayHook()
    try:
        cluster_id = hook.create_ray_cluster(name="watchers-it", head_spec={"cpu": 2, "memory": "8Gi"})
        deadline = time.monotonic() + 30
        while hook.get_ray_cluster(cluster_id).state != "Running":
            assert time.monotonic() < deadline, "the cluster did not start"
            time.sleep(0.1)
        since = submit_time_bound()
        sids = [
            hook.submit_ray_job(
                entrypoint=f"python -c 'import os, time; [time.sleep(0.05) for _ in iter(lambda: os.path.exists(\"{gate}\"), True)]'",
                name=f"watchers-it-{i}",
                cluster_id=cluster_id,
            )
            for i in range(n)
        ]
    finally:
        hook.close()
    return sids, since


def _run(sids: list[str], since: int, gate: Any, opened_when: Any, counters: Any = dict) -> list[list[dict[str, Any]]]:
    """Run one trigger per job in one event loop; create ``gate`` (the jobs end) as soon as
    ``opened_when()`` is true (checked every 10 ms, on the emulator's counters)."""
    from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger

    async def one(sid: str) -> list[dict[str, Any]]:
        trigger = RayJobStatusTrigger(submission_id=sid, poll_interval=POLL, submit_time=since)
        return [e.payload async for e in trigger.run()]

    async def main() -> list[list[dict[str, Any]]]:
        from airflow_provider_emr_ray.triggers import watchers

        tasks = []
        for sid in sids:  # started as the triggerer starts triggers: one at a time
            tasks.append(asyncio.create_task(one(sid)))
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert [len(w.subs) for w in watchers.active_watchers()] == [len(sids)]  # one watcher for all
        deadline = time.monotonic() + 60
        while not opened_when():
            assert time.monotonic() < deadline, f"the rounds the test waits for did not happen in 60 s ({counters()})"
            await asyncio.sleep(0.01)  # observing the emulator's counters, not standing in for them
        gate.write_text("open")
        return await asyncio.gather(*tasks)

    return asyncio.run(main())


def _calls(emulator: Any) -> tuple[int, int]:
    calls = emulator.emulator.stats.calls
    return calls["ListRayJob"], calls["GetRayJob"]


def test_one_list_call_per_round_answers_every_trigger(emulator: Any, emr_ray_conn: str, tmp_path) -> None:
    gate = tmp_path / "gate"
    sids, since = _submit(N, gate)
    lists0, gets0 = _calls(emulator)
    started = time.monotonic()
    runs = _run(sids, since, gate, lambda: _calls(emulator)[0] >= lists0 + 2,  # two rounds with all Running
                lambda: dict(emulator.emulator.stats.calls))
    wall = time.monotonic() - started
    lists, gets = (a - b for a, b in zip(_calls(emulator), (lists0, gets0)))
    assert all(len(r) == 1 for r in runs)  # exactly one event each
    for sid, (event,) in zip(sids, runs):
        assert (event["outcome"], event["state"], event["submission_id"]) == ("success", "Succeeded", sid)
        assert event["job"]["endTime"] and event["job"]["submitTime"] >= since  # the Get's full fields
    assert gets == N  # one confirmation Get per trigger, no other
    assert 1 <= lists <= wall / POLL + 2  # one page per round (N < 100), rounds every POLL seconds


def test_a_failed_list_round_costs_at_most_one_get_per_trigger(emulator: Any, emr_ray_conn: str, tmp_path) -> None:
    """The triggers that round served poll on their own (one GetRayJob each, never two); which
    triggers a round serves depends on the machine's timing, so the count is bounded, not fixed."""
    gate = tmp_path / "gate"
    sids, since = _submit(N, gate)
    lists0, gets0 = _calls(emulator)
    # The connection allows one retry: two 503s fail the first round's list call.
    emulator.emulator.add_fault(kind="503", action="ListRayJob", times=2)
    # the jobs end once the failed round and two successful rounds after it happened
    runs = _run(sids, since, gate,
                lambda: emulator.emulator.stats.faults["ListRayJob"] >= 2 and _calls(emulator)[0] >= lists0 + 4,
                lambda: (dict(emulator.emulator.stats.calls), dict(emulator.emulator.stats.faults), gets0))  # fmt: skip
    lists, gets = (a - b for a, b in zip(_calls(emulator), (lists0, gets0)))
    assert [r[0]["state"] for r in runs] == ["Succeeded"] * N and all(len(r) == 1 for r in runs)
    assert emulator.emulator.stats.faults["ListRayJob"] >= 2
    fallbacks = gets - N  # the confirmations are one Get per trigger, as without the failure
    assert 1 <= fallbacks <= N, (gets, N)  # the failed round: at most one Get per trigger, all Running
    assert lists >= 3  # the failed call and its retry, then the rounds that followed
