"""One list call answers many waiting triggers: the shared watchers of a triggerer process.

Every trigger polling its own resource costs one signed request per trigger per interval (5,000
deferred job sensors at 30 s: ~167 GetRayJob calls per second against one account's quota). In
one event loop, the triggers that wait on resources of the same *source* share a
:class:`Watcher`, which lists them all once per round and hands each trigger its resource:

=====================  =============================================  ==========================
source                 one round                                      key (never shared across)
=====================  =============================================  ==========================
SubmitRayJob jobs      ListRayJob, pages of 100, ``submitTime``        connection id, region,
                       window from the earliest waiting job's          workspace
                       submit time
clusters               ListRayCluster, pages of 100                    connection id, region,
                                                                      workspace
Ray Jobs API jobs      ``GET /api/jobs/`` of the cluster               the above, cluster id,
                                                                      ``internal``
=====================  =============================================  ==========================

Correctness before savings (the trigger side is
:meth:`~airflow_provider_emr_ray.triggers.emr_ray.EmrRayBaseTrigger.run`):

* a round delivers to a trigger only what a list call that *started after the trigger asked*
  returned, so it never sees an older state than its own last poll;
* a resource the round did not show (pagination shifting under new submissions, an item
  without a state) or a round whose list call failed (5xx, reset) is polled by its trigger with
  its own Get call that round; a state is never concluded from missing data;
* a target or failure state seen in a list is confirmed by one Get call of the trigger, whose
  answer (all fields) builds the event;
* a listing the credentials may not do (an authorisation error, a hook without list calls):
  every trigger says so in its log, leaves, and polls on its own as before (:attr:`Watcher.refused`);
* throttling (``Throttling*``, HTTP 429, after the hook's own retries) skips the round for every
  trigger (their own Get calls would add to the throttled quota) and slows the following rounds
  down (doubling, up to :data:`MAX_SLOWDOWN` times the interval, at least the ``retry_after``
  the error carries); a successful round restores the interval;
* rounds come every ``min(poll_interval)`` of the triggers served, the first one after a random
  part of it (jitter), so thousands of triggers created in one scheduler loop do not hit the API
  in one burst; a round wakes its triggers :data:`DELIVERY_BATCH` at a time, yielding to the
  event loop in between.

A trigger leaves its watcher as soon as it ends, is cancelled or killed; the last one to leave
stops the watcher. A watcher holds nothing that must survive a triggerer restart: triggers are
re-created from their kwargs and form a new one. It uses the hook of one of the triggers it
serves (all of them read the same connection, region and workspace).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

__all__ = ["MAX_SLOWDOWN", "Subscription", "Watcher", "active_watchers", "join", "submit_time_bound"]

log = logging.getLogger(__name__)

#: The longest a throttled watcher stretches its round interval (times the interval).
MAX_SLOWDOWN = 8.0
#: Triggers woken per turn of the event loop when a round hands out its states (the loop runs
#: everything else, other triggers' timers included, between two batches).
DELIVERY_BATCH = 100
#: How much earlier than the moment a job was sent :func:`submit_time_bound` says it was
#: submitted: the service's clock may be behind the worker's. An earlier bound only lists more.
SUBMIT_TIME_SLACK_MS = 5 * 60 * 1000

#: ``lister(hook, since_ms)``: the state of every resource of the source, by id (None: the item
#: had none). Only the state: a trigger polls on while it is not an end state, and an end state
#: is confirmed by the trigger's own Get, whose full answer builds the event.
Lister = Callable[[Any, "int | None"], Awaitable[Mapping[str, "str | None"]]]


class Subscription:
    """One trigger's place in a watcher: what it waits on and the next observation it asked for."""

    __slots__ = ("watcher", "resource_id", "since", "interval", "hook", "_future")

    def __init__(self, watcher: Watcher, resource_id: str, since: int | None, interval: float, hook: Any) -> None:
        self.watcher = watcher
        self.resource_id = resource_id
        self.since = since
        self.interval = interval
        self.hook = hook
        self._future: asyncio.Future | None = None

    async def next(self) -> str | None:
        """The resource's state as the next round lists it (a round that starts after this
        call), or None when that round did not show it (or showed no state) or its list call
        failed: poll it yourself."""
        self._future = asyncio.get_running_loop().create_future()
        self.watcher._wake()  # restarts a watcher whose loop ended (e.g. cancelled at shutdown)
        try:
            return await self._future
        finally:
            self._future = None

    def _waiting(self) -> bool:
        return self._future is not None and not self._future.done()

    def _deliver(self, value: str | None) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(value)

    def leave(self) -> None:
        """Stop being served (the trigger ended, was cancelled or killed)."""
        self.watcher._leave(self)


class Watcher:
    """Lists one source's resources once per round for every :class:`Subscription` waiting.

    :param key: What the triggers served share (connection, region, workspace, source).
    :param lister: ``await lister(hook, since_ms)``: the source's resources by id.
    :param label: How log lines name the source.
    """

    def __init__(self, key: Hashable, lister: Lister, label: str) -> None:
        self.key = key
        self.lister = lister
        self.label = label
        self.loop = asyncio.get_running_loop()
        self.subs: dict[Subscription, None] = {}  # insertion-ordered set
        self.slowdown = 1.0
        #: The error of a listing these credentials may not do (authorisation, no list call):
        #: the triggers leave and poll on their own.
        self.refused: BaseException | None = None
        #: Counters: rounds run, list calls failed, rounds skipped on throttling, subscriptions told
        #: to poll on their own (not shown or failed round).
        self.stats = {"rounds": 0, "failed": 0, "throttled": 0, "not_shown": 0, "delivered": 0}
        self._task: asyncio.Task | None = None
        self._asked = asyncio.Event()
        self._last_round = -float("inf")
        self._logged_failure = False

    # ---- subscriptions -----------------------------------------------------------------------

    def _join(self, resource_id: str, since: int | None, interval: float, hook: Any) -> Subscription:
        sub = Subscription(self, resource_id, since, float(interval), hook)
        self.subs[sub] = None
        if _WATCHERS.get(self.key) is not self:
            _WATCHERS[self.key] = self
        self._start()
        return sub

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run(), name=f"emr-ray-watcher {self.label}")

    def _leave(self, sub: Subscription) -> None:
        self.subs.pop(sub, None)
        if self.subs:
            return
        if _WATCHERS.get(self.key) is self:
            del _WATCHERS[self.key]
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _wake(self) -> None:
        self._asked.set()
        if self.subs:
            self._start()

    def interval(self) -> float:
        base = min((s.interval for s in self.subs), default=0.0)
        return base * self.slowdown

    # ---- rounds ------------------------------------------------------------------------------

    def _until_next_round(self) -> float:
        return max(0.0, self._last_round + self.interval() - self.loop.time())

    async def _run(self) -> None:
        delay = random.uniform(0.0, self.interval())  # jitter: watchers formed at once spread out
        try:
            while self.subs:
                await asyncio.sleep(delay)
                waiting = [s for s in self.subs if s._waiting()]
                if not waiting:  # every trigger is busy (its own Get): sleep until one asks
                    self._asked.clear()
                    await self._asked.wait()
                    delay = self._until_next_round()
                    continue
                self._last_round = self.loop.time()
                await self._round(waiting)
                delay = self._until_next_round()
        finally:
            for sub in list(self.subs):  # stopped (cancelled): nobody is left waiting on it
                sub._deliver(None)

    async def _round(self, waiting: list[Subscription]) -> None:
        from airflow_provider_emr_ray.exceptions import EmrRayThrottlingError
        from airflow_provider_emr_ray.utils.waiting import is_transient

        self.stats["rounds"] += 1
        found: Mapping[str, str | None] | None = None
        if self.refused is None:
            sinces = [s.since for s in self.subs if s.since is not None]
            try:
                found = await self.lister(waiting[0].hook, min(sinces) if sinces else None)
            except asyncio.CancelledError:
                raise
            except EmrRayThrottlingError as exc:
                self.stats["throttled"] += 1
                self.slowdown = min(MAX_SLOWDOWN, self.slowdown * 2)
                retry_after = getattr(exc, "retry_after", None)
                base = min((s.interval for s in self.subs), default=0.0)
                if retry_after and base and retry_after > base * self.slowdown:
                    self.slowdown = min(MAX_SLOWDOWN, retry_after / base)
                log.warning(
                    "Listing %s was throttled; every waiting trigger skips this round, the next in %.1fs: %s",
                    self.label, self.interval(), exc,
                )  # fmt: skip
                return
            except Exception as exc:
                self.stats["failed"] += 1
                if not is_transient(exc):
                    self.refused = exc  # each trigger says so in its own log and polls alone
                elif not self._logged_failure:
                    self._logged_failure = True
                    log.warning("Listing %s failed; the waiting triggers poll on their own this round: %s", self.label, exc)
            else:
                self.slowdown = 1.0
        for i, sub in enumerate(waiting, 1):
            item = None if found is None else found.get(sub.resource_id)
            self.stats["delivered" if item is not None else "not_shown"] += 1
            sub._deliver(item)
            if i % DELIVERY_BATCH == 0:
                # Every delivery wakes a trigger; woken all at once, thousands of them would run in
                # one turn of the event loop and stall it for as long (0.4 s at 5,000 measured).
                await asyncio.sleep(0)


#: The watchers of the running event loops, by key (a key holds its loop).
_WATCHERS: dict[Hashable, Watcher] = {}


def join(key: Hashable, lister: Lister, label: str, *, resource_id: str, since: int | None, interval: float, hook: Any) -> Subscription:
    """Join (or form) the watcher of ``key`` in the running event loop.

    :param key: What the triggers sharing a watcher have in common (connection, region,
        workspace, source); the running loop is added to it.
    :param lister: How the watcher lists the source (``await lister(hook, since_ms)``).
    :param label: How log lines name the source.
    :param resource_id: The id the trigger waits on.
    :param since: Epoch milliseconds no later than the resource's submit time (a job's), or None.
    :param interval: The trigger's poll interval, seconds.
    :param hook: The trigger's hook (the watcher lists with one of its subscribers').
    """
    loop = asyncio.get_running_loop()
    full = (id(loop), key)
    watcher = _WATCHERS.get(full)
    if watcher is None or watcher.loop is not loop:  # none yet, or one of a closed loop of the same id
        watcher = Watcher(full, lister, label)
    return watcher._join(resource_id, since, interval, hook)


def active_watchers() -> list[Watcher]:
    """The watchers of the running event loop (for tests and benchmarks)."""
    loop = asyncio.get_running_loop()
    return [w for w in _WATCHERS.values() if w.loop is loop]


def submit_time_bound() -> int:
    """Epoch milliseconds no later than the ``submitTime`` the service gives a job sent now."""
    from airflow_provider_emr_ray.utils.clock import now

    return int(now() * 1000) - SUBMIT_TIME_SLACK_MS


# ---- the sources -----------------------------------------------------------------------------


def _value(state: Any) -> str | None:
    return None if state is None else str(state.value if hasattr(state, "value") else state)


async def list_clusters(hook: Any, since: int | None) -> dict[str, str | None]:
    """The state of every cluster of the workspace (ListRayCluster, all pages of 100), by cluster id."""
    from airflow_provider_emr_ray.limits import MAX_PAGE_SIZE

    return {c.cluster_id: _value(c.state) for c in await hook.alist_ray_clusters(page_size=MAX_PAGE_SIZE) if c.cluster_id}


async def list_jobs(hook: Any, since: int | None) -> dict[str, str | None]:
    """The status of the workspace's SubmitRayJob jobs submitted at or after ``since``
    (ListRayJob, all pages of 100), by submission id."""
    from airflow_provider_emr_ray.limits import MAX_PAGE_SIZE

    jobs = await hook.alist_ray_jobs(submit_time_start=since, page_size=MAX_PAGE_SIZE)
    return {j.submission_id: _value(j.status) for j in jobs if j.submission_id}


def ray_jobs_lister(cluster_id: str, internal: bool | None) -> Lister:
    """The lister of the jobs of Ray's Jobs API on one cluster (``GET /api/jobs/``): their
    statuses read as the provider's (``SUCCEEDED`` -> ``Succeeded``...)."""

    async def list_ray_jobs(hook: Any, since: int | None) -> dict[str, str | None]:
        from airflow_provider_emr_ray.states import ray_to_job_status
        from airflow_provider_emr_ray.utils.waiting import ray_kwargs

        jobs = await hook.aray_list_jobs(cluster_id, **ray_kwargs(internal))
        return {j.submission_id: ray_to_job_status(j.status) for j in jobs if getattr(j, "submission_id", None)}

    return list_ray_jobs
