"""The shared watchers (``triggers/watchers.py``): many waiting triggers, one list call per round.

Against a scripted async hook whose jobs and clusters change state per list round, so that each
test says exactly which round shows what; rounds run back to back (``poll_interval=0``) and
the tests synchronise on the hook's calls, never on time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from airflow_provider_emr_ray.exceptions import EmrRayAuthError, EmrRayServerError, EmrRayThrottlingError
from airflow_provider_emr_ray.models import RayCluster, RayJob, RayJobDetails
from airflow_provider_emr_ray.triggers import watchers
from airflow_provider_emr_ray.triggers.emr_ray import EmrRayClusterStateTrigger, RayJobStatusTrigger
from tests.operators.fakes import with_hook

SUBMITTED = 1_700_000_000_000


class ListingHook:
    """Resources whose state is a script per list round: ``jobs[sid][r]`` is what round ``r``
    (and any Get after it) shows; the last entry stays. With no list rounds (a trigger polling
    alone), the ``k``-th Get of a resource shows entry ``k``. A list answer can leave ids out
    (``hidden[r]``) or fail (``failures[r]``, an exception)."""

    def __init__(self, jobs: dict[str, list[str]] | None = None, clusters: dict[str, list[str]] | None = None) -> None:
        self.jobs = jobs or {}
        self.clusters = clusters or {}
        self.hidden: dict[int, set[str]] = {}
        self.failures: dict[int, BaseException] = {}
        self.lists: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.listed = asyncio.Event()

    def _round(self, rid: str) -> int:
        return max(0, len(self.lists) - 1, self.gets.count(rid) - 1)

    @staticmethod
    def _at(script: list[str], r: int) -> str:
        return script[min(r, len(script) - 1)]

    async def _list(self, kind: str, scripts: dict[str, list[str]], **kw: Any) -> list[dict[str, Any]]:
        self.lists.append({"kind": kind, **kw})
        r = len(self.lists) - 1
        self.listed.set()
        await asyncio.sleep(0)
        if r in self.failures:
            raise self.failures[r]
        return [(sid, self._at(s, r)) for sid, s in scripts.items() if sid not in self.hidden.get(r, set())]

    async def alist_ray_jobs(self, **kw: Any) -> list[RayJob]:
        found = await self._list("jobs", self.jobs, **kw)
        return [RayJob.model_validate({"submissionId": sid, "status": st, "submitTime": SUBMITTED}) for sid, st in found]

    async def alist_ray_clusters(self, **kw: Any) -> list[RayCluster]:
        found = await self._list("clusters", self.clusters, **kw)
        return [RayCluster.model_validate({"clusterId": cid, "state": st}) for cid, st in found]

    async def aray_list_jobs(self, cluster_id: str, **kw: Any) -> list[RayJobDetails]:
        found = await self._list("ray", self.jobs, cluster_id=cluster_id, **kw)
        ray = {"Running": "RUNNING", "Succeeded": "SUCCEEDED", "Failed": "FAILED", "Pending": "PENDING"}
        return [RayJobDetails.model_validate({"submission_id": sid, "status": ray[st]}) for sid, st in found]

    async def aget_ray_job(self, submission_id: str) -> RayJob:
        self.gets.append(submission_id)
        status = self._at(self.jobs[submission_id], self._round(submission_id))
        return RayJob.model_validate(
            {"submissionId": submission_id, "status": status, "submitTime": SUBMITTED, "duration": 7, "cuHours": 0.25}
        )

    async def aget_ray_cluster(self, cluster_id: str) -> RayCluster:
        self.gets.append(cluster_id)
        state = self._at(self.clusters[cluster_id], self._round(cluster_id))
        return RayCluster.model_validate({"clusterId": cluster_id, "state": state, "jobUrl": "https://job.example"})

    async def aray_get_job(self, cluster_id: str, submission_id: str, **kw: Any) -> RayJobDetails:
        self.gets.append(submission_id)
        status = self._at(self.jobs[submission_id], self._round(submission_id)).upper()
        return RayJobDetails.model_validate({"submission_id": submission_id, "status": status})


def job_trigger(sid: str, hook: Any, **kw: Any) -> RayJobStatusTrigger:
    kw.setdefault("submit_time", SUBMITTED)
    kw.setdefault("poll_interval", 0)
    return with_hook(RayJobStatusTrigger(submission_id=sid, **kw), hook)


async def first_events(triggers: list[Any]) -> list[dict[str, Any]]:
    """Every trigger run to its end (like the triggerer): the payloads, one per trigger."""

    async def run(t: Any) -> list[dict[str, Any]]:
        return [e.payload async for e in t.run()]

    runs = await asyncio.gather(*(run(t) for t in triggers))
    assert all(len(r) == 1 for r in runs), runs  # exactly one event each
    return [r[0] for r in runs]


def test_many_triggers_share_one_list_call_per_round() -> None:
    n = 50
    jobs = {f"s{i}": ["Running"] * (1 + i % 5) + ["Succeeded" if i % 2 else "Failed"] for i in range(n)}
    hook = ListingHook(jobs=jobs)

    async def scenario() -> list[dict[str, Any]]:
        events = await first_events([job_trigger(sid, hook) for sid in jobs])
        assert watchers.active_watchers() == []  # the last trigger to leave stopped it
        return events

    events = asyncio.run(scenario())
    for sid, event in zip(jobs, events):
        expected = jobs[sid][-1]
        assert event["state"] == expected and event["submission_id"] == sid
        assert event["outcome"] == ("success" if expected == "Succeeded" else "failure")
        assert event["job"]["duration"] == 7 and event["job"]["cuHours"] == 0.25  # built from the Get
    # Rounds: as many as the slowest job needs (6), one list call each, windowed on the submit time.
    assert 6 <= len(hook.lists) <= 7, len(hook.lists)
    assert {(c["kind"], c["submit_time_start"]) for c in hook.lists} == {("jobs", SUBMITTED)}
    # Gets: exactly one per trigger, the one that confirms the end state seen in a list.
    assert sorted(hook.gets) == sorted(jobs)


def test_a_job_the_list_did_not_show_is_polled_on_its_own_that_round() -> None:
    hook = ListingHook(jobs={"a": ["Running", "Running", "Succeeded"], "b": ["Running", "Running", "Running", "Succeeded"]})
    hook.hidden = {0: {"a"}, 1: {"a", "b"}}
    events = asyncio.run(first_events([job_trigger("a", hook), job_trigger("b", hook)]))
    assert [e["state"] for e in events] == ["Succeeded", "Succeeded"]
    # round 0: a not shown -> Get a; round 1: both hidden -> Get a, Get b; round 2: a ends -> Get a;
    # round 3: b ends -> Get b. Never an end concluded from a missing item.
    assert hook.gets == ["a", "a", "b", "a", "b"]


def test_a_failed_list_call_falls_back_to_one_get_each_then_lists_again() -> None:
    hook = ListingHook(jobs={"a": ["Running", "Running", "Succeeded"], "b": ["Running", "Running", "Succeeded"]})
    hook.failures = {0: EmrRayServerError("boom", status=503)}
    events = asyncio.run(first_events([job_trigger("a", hook), job_trigger("b", hook)]))
    assert [e["state"] for e in events] == ["Succeeded", "Succeeded"]
    assert sorted(hook.gets[:2]) == ["a", "b"]  # the failed round: each its own Get
    assert sorted(hook.gets[2:]) == ["a", "b"]  # then only the confirmations
    assert len(hook.lists) == 3


def test_throttling_skips_the_round_for_everyone_and_slows_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ListingHook(jobs={"a": ["Running", "Running", "Succeeded"]})
    hook.failures = {0: EmrRayThrottlingError("slow down", status=429, code="Throttling.User")}
    seen: list[float] = []

    async def scenario() -> list[dict[str, Any]]:
        trig = job_trigger("a", hook)
        task = asyncio.create_task(first_events([trig]))
        while len(hook.lists) < 2:
            await hook.listed.wait()
            hook.listed.clear()
            (watcher,) = watchers.active_watchers()
            seen.append(watcher.slowdown)
        return await task

    events = asyncio.run(scenario())
    assert events[0]["state"] == "Succeeded"
    assert hook.gets == ["a"]  # no Get of its own in the throttled round: only the confirmation
    assert seen[0] == 1.0 and seen[1] == 2.0  # the round after the throttled one was slowed down
    assert len(hook.lists) == 3


def test_a_refused_listing_makes_each_trigger_poll_alone(caplog: pytest.LogCaptureFixture, capsys) -> None:
    hook = ListingHook(jobs={"a": ["Running"] * 3 + ["Succeeded"], "b": ["Running", "Succeeded"]})
    hook.failures = {0: EmrRayAuthError("no permission for ListRayJob", status=403, code="Forbidden.RAM")}
    caplog.set_level(logging.WARNING)
    events = asyncio.run(first_events([job_trigger("a", hook), job_trigger("b", hook)]))
    assert [e["state"] for e in events] == ["Succeeded", "Succeeded"]
    assert len(hook.lists) == 1  # never listed again
    out = capsys.readouterr()
    # One channel: the records when stdlib logging caught them, else what structlog printed
    # (Airflow 3.0 echoes the records to stdout too: reading both would count each line twice).
    records = [r.getMessage() for r in caplog.records if "polling it on its own" in r.getMessage()]
    text = "\n".join(records) if records else out.out + out.err
    assert text.count("polling it on its own") == 2 and "Forbidden.RAM" in text


def test_an_end_state_seen_in_a_list_is_confirmed_by_a_get() -> None:
    """The list says Succeeded, the Get (the authority) still says Running: no event yet."""
    hook = ListingHook(jobs={"a": ["Running", "Running", "Succeeded"]})
    original = hook.alist_ray_jobs

    async def ahead(**kw: Any) -> list[RayJob]:
        found = await original(**kw)
        if len(hook.lists) == 1:
            return [RayJob.model_validate({"submissionId": "a", "status": "Succeeded", "submitTime": SUBMITTED})]
        return found

    hook.alist_ray_jobs = ahead  # type: ignore[method-assign]
    (event,) = asyncio.run(first_events([job_trigger("a", hook)]))
    assert event["state"] == "Succeeded"
    assert hook.gets == ["a", "a"]  # round 0's Succeeded was not believed; round 2's was confirmed


def test_a_round_in_flight_is_not_delivered_to_a_trigger_that_asked_after_it_started() -> None:
    gate = asyncio.Event()
    hook = ListingHook(jobs={"a": ["Running", "Succeeded"], "b": ["Running", "Succeeded"]})
    original = hook.alist_ray_jobs

    async def slow(**kw: Any) -> list[RayJob]:
        found = await original(**kw)
        if len(hook.lists) == 1:
            await gate.wait()
        return found

    hook.alist_ray_jobs = slow  # type: ignore[method-assign]

    async def scenario() -> None:
        a = asyncio.create_task(first_events([job_trigger("a", hook)]))
        await hook.listed.wait()  # round 0 in flight, for a only
        b = asyncio.create_task(first_events([job_trigger("b", hook)]))
        for _ in range(5):
            await asyncio.sleep(0)
        (watcher,) = watchers.active_watchers()
        assert len(watcher.subs) == 2
        gate.set()
        await asyncio.gather(a, b)
        assert watcher.stats["delivered"] + watcher.stats["not_shown"] == 3  # a twice, b once (round 1)

    asyncio.run(scenario())


def test_a_cancelled_trigger_leaves_at_once_and_the_last_stops_the_watcher() -> None:
    hook = ListingHook(jobs={"a": ["Running"], "b": ["Running"]})

    async def scenario() -> None:
        ta = asyncio.create_task(first_events([job_trigger("a", hook, poll_interval=3600)]))
        tb = asyncio.create_task(first_events([job_trigger("b", hook, poll_interval=3600)]))
        for _ in range(5):
            await asyncio.sleep(0)
        (watcher,) = watchers.active_watchers()
        assert {s.resource_id for s in watcher.subs} == {"a", "b"}
        ta.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ta
        assert {s.resource_id for s in watcher.subs} == {"b"}
        tb.cancel()
        with pytest.raises(asyncio.CancelledError):
            await tb
        assert watchers.active_watchers() == [] and not watcher.subs
        await asyncio.sleep(0)
        assert watcher._task is not None and watcher._task.done()

    asyncio.run(scenario())
    assert hook.lists == [] and hook.gets == []  # the hour-long first round never came


def test_connections_regions_workspaces_and_clusters_never_share_a_watcher() -> None:
    hook = ListingHook(jobs={"a": ["Running"]}, clusters={"c": ["Starting"]})

    async def scenario() -> set[Any]:
        triggers = [
            job_trigger("a", hook, poll_interval=3600),
            job_trigger("a", hook, poll_interval=3600, emr_ray_conn_id="other"),
            job_trigger("a", hook, poll_interval=3600, region_id="cn-beijing"),
            job_trigger("a", hook, poll_interval=3600, workspace_id="w-2"),
            job_trigger("a", hook, poll_interval=3600, submission_api="ray", cluster_id="c1"),
            job_trigger("a", hook, poll_interval=3600, submission_api="ray", cluster_id="c2"),
            job_trigger("a", hook, poll_interval=3600, submission_api="ray", cluster_id="c2", internal=True),
            with_hook(EmrRayClusterStateTrigger(cluster_id="c", poll_interval=3600), hook),
            job_trigger("a", hook, poll_interval=3600),  # the one pair that shares
        ]
        tasks = [asyncio.create_task(first_events([t])) for t in triggers]
        for _ in range(5):
            await asyncio.sleep(0)
        keys = [w.key[1] for w in watchers.active_watchers()]
        sizes = sorted(len(w.subs) for w in watchers.active_watchers())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert sizes == [1] * 7 + [2]
        return set(keys)

    keys = asyncio.run(scenario())
    assert len(keys) == 8


def test_clusters_and_ray_jobs_are_listed_per_source() -> None:
    hook = ListingHook(jobs={"r1": ["Pending", "Running", "Succeeded"]}, clusters={"c1": ["Starting", "Running"], "c2": ["Starting", "Starting", "Error"]})

    async def scenario() -> list[dict[str, Any]]:
        return await first_events(
            [
                with_hook(EmrRayClusterStateTrigger(cluster_id="c1", poll_interval=0), hook),
                with_hook(EmrRayClusterStateTrigger(cluster_id="c2", poll_interval=0), hook),
                job_trigger("r1", hook, submission_api="ray", cluster_id="c1", submit_time=None),
            ]
        )

    c1, c2, r1 = asyncio.run(scenario())
    assert (c1["outcome"], c1["state"], c1["cluster"]["jobUrl"]) == ("success", "Running", "https://job.example")
    assert (c2["outcome"], c2["state"]) == ("failure", "Error")
    assert (r1["outcome"], r1["state"], r1["job"]["rayStatus"]) == ("success", "Succeeded", "SUCCEEDED")
    kinds = [c["kind"] for c in hook.lists]
    assert set(kinds) == {"clusters", "ray"} and all("submit_time_start" not in c for c in hook.lists)
    assert sorted(hook.gets) == ["c1", "c2", "r1"]  # the confirmations only: no first Get


def test_a_job_without_a_submit_time_gets_it_from_its_first_get() -> None:
    hook = ListingHook(jobs={"a": ["Running", "Running", "Succeeded"]})
    (event,) = asyncio.run(first_events([job_trigger("a", hook, submit_time=None)]))
    assert event["state"] == "Succeeded"
    assert hook.gets == ["a", "a"]  # its first look, then the confirmation
    assert {c["submit_time_start"] for c in hook.lists} == {SUBMITTED}


def test_the_deadline_ends_a_shared_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    hook = ListingHook(jobs={"a": ["Running"]})
    (event,) = asyncio.run(first_events([job_trigger("a", hook, poll_interval=3600, deadline=time.time() + 0.05)]))
    assert event["outcome"] == "timeout" and event["state"] == "Running"
    assert hook.gets == ["a"]  # the deadline's last look


def test_serialisation_carries_submit_time_and_shared_poll() -> None:
    _, kwargs = RayJobStatusTrigger(submission_id="s", submit_time=SUBMITTED, shared_poll=False).serialize()
    assert kwargs["submit_time"] == SUBMITTED and kwargs["shared_poll"] is False
    assert RayJobStatusTrigger(**kwargs).serialize()[1] == kwargs
    _, default = RayJobStatusTrigger(submission_id="s").serialize()
    assert "submit_time" not in default and "shared_poll" not in default  # shared by default
    _, cluster = EmrRayClusterStateTrigger(cluster_id="c", shared_poll=False).serialize()
    assert cluster["shared_poll"] is False


def test_submit_time_bound_is_before_now_by_the_slack() -> None:
    import time

    before = int(time.time() * 1000)
    bound = watchers.submit_time_bound()
    assert before - watchers.SUBMIT_TIME_SLACK_MS - 1000 <= bound <= before - watchers.SUBMIT_TIME_SLACK_MS + 1000


def test_a_throttled_round_honours_retry_after_and_a_good_round_restores_the_pace() -> None:
    hook = ListingHook(jobs={"a": ["Running"]})

    async def scenario() -> list[float]:
        sub = watchers.join(("t",), watchers.list_jobs, "t", resource_id="a", since=SUBMITTED, interval=2.0, hook=hook)
        watcher = sub.watcher
        watcher._task.cancel()  # driven by hand below: no timed rounds
        throttled = EmrRayThrottlingError("slow down", status=429, code="Throttling.User")
        throttled.retry_after = 10.0
        hook.failures = {0: throttled, 1: EmrRayThrottlingError("again", status=429)}
        paces = []
        for _ in range(3):
            await watcher._round([sub])
            paces.append(watcher.interval())
        sub.leave()
        return paces

    # 2 s interval: Retry-After 10 s stretches it to 10 s; a second throttle doubles, capped at 8x; a good round: 2 s.
    assert asyncio.run(scenario()) == [10.0, 2.0 * watchers.MAX_SLOWDOWN, 2.0]
