"""The fault campaign: the lifecycle DAG under injected faults (issue 7).

``example_dags/example_emr_ray_lifecycle.py`` (create cluster -> submit job -> deferrable
RayJobSensor -> report -> delete cluster as a teardown) runs again and again with ``dag.test()``
against the emulator (served on a loopback socket in a thread of this process, so dropped
connections are real socket drops) until at least ``min_calls`` API calls were made. About 20% of
the calls fail, chosen at random with a fixed seed by the emulator's fault rules:

==============================  ======  ========================================================
rule                            chance  effect
==============================  ======  ========================================================
``500``                         5%      HTTP 500 InternalError, nothing done
``500``, ``after``              3%      the call takes effect, then HTTP 500 (answer lost)
``503``                         4%      HTTP 503 ServiceUnavailable
``429``                         5%      HTTP 429 ``Throttling.User`` with ``Retry-After: 1``
``drop``                        3%      connection closed without an answer, nothing done
``drop``, ``after``             2%      the call takes effect, then the connection is closed
``latency``                     5%      0.25 s added (not a failure)
==============================  ======  ========================================================

(1 - 0.95·0.97·0.96·0.95·0.97·0.98 = 19.5% of calls fail.) The calls that take effect before
their answer is lost are the dangerous ones: a client that re-sends CreateRayCluster or
SubmitRayJob then makes a second cluster or job.

What is changed for speed, in memory only: the DAG's poll/poke intervals (10 s) become 0.1 s,
the emulator's delays are :data:`devtools.emulator.SHORT_DELAYS` (cluster start 0.8 s, job run
1.5 s), the hook's backoff starts at 0.1 s instead of 0.5 s (``RetryPolicy(base_delay=0.1,
max_delay=2)``; ``Retry-After`` is still honoured), and every task gets ``retries=2`` with a
0.2 s ``retry_delay``, so that a task failure is recovered and counted rather than ending the run.

Reported: runs, API calls, faults injected (by kind), hook retries (counted by a
``RetryPolicy`` subclass), create/submit calls whose outcome was unknown (the hook never re-sends
them; the operators look the resource up and decide), task failures (every failed try, even
one its retry recovered; and tasks that finally failed), duplicates (more than one cluster
created, or more than one job submitted, by one run: the emulator's store records every
creation), and clusters left behind.
Targets: 0 task failures, 0 duplicates.

Used by ``tests/test_fault_run.py`` (about 100 calls) and by ``python -m benchmarks.faults``
(1,000 calls, the figures of ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from devtools import EXAMPLE_DAGS
from devtools.emulator import SHORT_DELAYS

__all__ = ["FAULT_MIX", "CampaignResult", "RunRecord", "fault_rules", "load_lifecycle_dag", "run_campaign"]

DAG_ID = "example_emr_ray_lifecycle"

#: (rule, probability). Failing rules are tried in this order; at most one fails a call.
FAULT_MIX: list[tuple[dict[str, Any], float]] = [
    ({"kind": "500"}, 0.05),
    ({"kind": "500", "after": True}, 0.03),
    ({"kind": "503"}, 0.04),
    ({"kind": "429", "retry_after": 1}, 0.05),
    ({"kind": "drop"}, 0.03),
    ({"kind": "drop", "after": True}, 0.02),
    ({"kind": "latency", "latency": 0.25}, 0.05),
]


@dataclass
class RunRecord:
    run_id: str
    state: str
    seconds: float
    calls: int
    tries: dict[str, int]
    states: dict[str, str]
    clusters_created: int
    jobs_submitted: int


@dataclass
class CampaignResult:
    """What a campaign counted (the clean first run excluded)."""

    runs: list[RunRecord] = field(default_factory=list)
    #: API calls the emulator answered (or dropped), in all and per action.
    calls: int = 0
    calls_by_action: dict[str, int] = field(default_factory=dict)
    #: Faults injected, in all and per kind; ``failing_faults``: all but the added latencies.
    faults: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    failing_faults: int = 0
    #: The hook's retries (by the reason before the first ``:``) and the create/submit calls
    #: whose outcome stayed unknown (left to the operators' reconciliation).
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    outcome_unknown: int = 0
    #: Failed tries (even those a retry recovered), tasks failed for good, runs not successful.
    task_failures: int = 0
    tasks_finally_failed: int = 0
    failed_runs: int = 0
    #: Clusters / jobs created beyond one per run, clusters still alive at the end.
    duplicate_clusters: int = 0
    duplicate_jobs: int = 0
    clusters_left: int = 0
    seconds: float = 0.0
    log_path: str = ""

    @property
    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("runs")
        d["n_runs"] = len(self.runs)
        return d

    def failed_tries_by_task(self) -> Counter[str]:
        """Failed tries per task over every run: each try before the last, and the last if the
        task failed for good."""
        failed: Counter[str] = Counter()
        for run in self.runs:
            for task_id, tries in run.tries.items():
                failed[task_id] += max(0, tries - 1) + (1 if run.states.get(task_id) == "failed" else 0)
        return failed


def fault_rules(seed: int) -> list[dict[str, Any]]:
    return [dict(rule, action="*", probability=p, seed=seed + i) for i, (rule, p) in enumerate(FAULT_MIX)]


@contextlib.contextmanager
def _instrumented(store: Any, counters: dict[str, Any]) -> Any:
    """Count hook retries (a RetryPolicy subclass injected into every hook of this process) and
    every cluster / job the emulator creates, labelled with the DAG run being executed."""
    from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError
    from airflow_provider_emr_ray.hooks import emr_ray as hook_module
    from airflow_provider_emr_ray.client.retry import RetryPolicy

    class CountingPolicy(RetryPolicy):
        __slots__ = ()

        def decide(self, action, idempotent, outcome, retry_number):  # type: ignore[override]
            decision = super().decide(action, idempotent, outcome, retry_number)
            if decision.delay is not None:
                counters["retries"] += 1
                counters["retry_reasons"][decision.reason.split(":")[0]] += 1
            elif isinstance(decision.error, EmrRayOutcomeUnknownError):
                counters["outcome_unknown"] += 1
            return decision

    policy = CountingPolicy(max_retries=5, base_delay=0.1, max_delay=2.0)
    original_init = hook_module.EmrRayHook.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("retry_policy", policy)
        original_init(self, *args, **kwargs)

    original_create, original_submit = store.create_cluster, store.submit_job

    def create_cluster(ws, body, **kw):
        cid = original_create(ws, body, **kw)
        counters["created"].append((counters["run"], body.get("name"), cid))
        return cid

    def submit_job(ws, body, **kw):
        sid = original_submit(ws, body, **kw)
        counters["submitted"].append((counters["run"], body.get("name"), sid))
        return sid

    hook_module.EmrRayHook.__init__ = init  # type: ignore[method-assign]
    store.create_cluster, store.submit_job = create_cluster, submit_job
    try:
        yield
    finally:
        hook_module.EmrRayHook.__init__ = original_init  # type: ignore[method-assign]
        store.create_cluster, store.submit_job = original_create, original_submit


@contextlib.contextmanager
def _output_to(path: str | None) -> Any:
    """Send this process's stdout/stderr (file descriptors) to ``path`` while DAGs run."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def load_lifecycle_dag(poll: float = 0.1, retries: int = 2) -> Any:
    """The example lifecycle DAG from example_dags/, with short waits and task retries."""
    from tests.airflow_compat import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    if bag.import_errors:
        raise RuntimeError(f"example_dags/ has import errors: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    for task in dag.tasks:
        if hasattr(task, "poll_interval"):
            task.poll_interval = poll
        if hasattr(task, "poke_interval"):
            task.poke_interval = poll
        task.retries = retries
        task.retry_delay = timedelta(seconds=0.2)
    return dag


_DB_READY = False
_BUNDLES_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"


@contextlib.contextmanager
def _examples_bundle() -> Any:
    """``dag.test()`` serialises the DAG from a configured DAG bundle: when example_dags/ is not
    the DAGs folder (the test suite's is tests/dags), add it as a local bundle meanwhile."""
    from airflow import settings

    if Path(settings.DAGS_FOLDER).resolve() == EXAMPLE_DAGS.resolve():
        yield
        return
    previous = os.environ.get(_BUNDLES_ENV)
    os.environ[_BUNDLES_ENV] = json.dumps(
        [
            {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
            {
                "name": "emr-ray-example-dags",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(EXAMPLE_DAGS), "refresh_interval": 0},
            },
        ]
    )
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_BUNDLES_ENV, None)
        else:
            os.environ[_BUNDLES_ENV] = previous


def run_campaign(
    min_calls: int = 1000,
    seed: int = 7,
    *,
    log_path: str | None = None,
    max_runs: int = 500,
    progress: bool = False,
) -> CampaignResult:
    """Run the lifecycle DAG until ``min_calls`` API calls were made. Airflow's environment
    (AIRFLOW_HOME, ...) must be set before airflow is first imported."""
    global _DB_READY
    from airflow_provider_emr_ray.emulator import EmulatorConfig, serve_in_thread
    from airflow_provider_emr_ray.emulator.config import conn_json

    if not _DB_READY:
        from airflow.utils import db

        with _output_to(log_path):
            db.initdb()
        _DB_READY = True

    config = EmulatorConfig(**SHORT_DELAYS, execute_jobs=False, enable_control=True)
    result = CampaignResult(log_path=log_path or "")
    counters: dict[str, Any] = {
        "retries": 0,
        "retry_reasons": Counter(),
        "outcome_unknown": 0,
        "created": [],
        "submitted": [],
        "run": None,
    }
    dag = load_lifecycle_dag()
    started = time.perf_counter()
    with serve_in_thread(config) as server:
        emu = server.emulator
        conn = conn_json(
            server.endpoint,
            login=config.access_key_id,
            password=config.access_key_secret,
            region_id=config.region_id,
            workspace_id=config.workspace_id,
            timeout=10,
        )
        previous_conn = os.environ.get("AIRFLOW_CONN_EMR_RAY_DEFAULT")
        os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = conn
        try:
            with _instrumented(emu.store, counters), _examples_bundle():
                # One clean run first: the one-off start of dag.test()'s execution API, untimed.
                with _output_to(log_path):
                    dag.test()
                emu.stats.reset()
                counters.update(retries=0, retry_reasons=Counter(), outcome_unknown=0, created=[], submitted=[])
                for rule in fault_rules(seed):
                    emu.add_fault(rule)
                while emu.stats.snapshot()["totalCalls"] < min_calls and len(result.runs) < max_runs:
                    before = emu.stats.snapshot()["totalCalls"]
                    label = f"run-{len(result.runs)}"
                    counters["run"] = label
                    t0 = time.perf_counter()
                    with _output_to(log_path):
                        dr = dag.test()
                    tis = dr.get_task_instances()
                    record = RunRecord(
                        run_id=dr.run_id,
                        state=str(dr.state),
                        seconds=round(time.perf_counter() - t0, 2),
                        calls=emu.stats.snapshot()["totalCalls"] - before,
                        tries={ti.task_id: ti.try_number for ti in tis},
                        states={ti.task_id: str(ti.state) for ti in tis},
                        clusters_created=sum(1 for r, _, _ in counters["created"] if r == label),
                        jobs_submitted=sum(1 for r, _, _ in counters["submitted"] if r == label),
                    )
                    result.runs.append(record)
                    if progress:
                        print(
                            f"  [faults] {label}: {record.state} in {record.seconds:.1f} s, {record.calls} calls "
                            f"(total {emu.stats.snapshot()['totalCalls']}), tries {record.tries}",
                            flush=True,
                        )
                emu.clear_faults()
        finally:
            if previous_conn is None:
                os.environ.pop("AIRFLOW_CONN_EMR_RAY_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_EMR_RAY_DEFAULT"] = previous_conn
        snap = emu.stats.snapshot()
        with emu.store.lock:
            live = [c for c in emu.store.clusters.values() if not c.get("_deleting")]
    result.seconds = round(time.perf_counter() - started, 1)
    result.calls = snap["totalCalls"]
    result.calls_by_action = snap["calls"]
    result.faults = snap["totalFaults"]
    result.faults_by_kind = snap["faultsByKind"]
    result.failing_faults = result.faults - snap["faultsByKind"].get("latency", 0)
    result.retries = counters["retries"]
    result.retry_reasons = dict(counters["retry_reasons"])
    result.outcome_unknown = counters["outcome_unknown"]
    result.task_failures = sum(result.failed_tries_by_task().values())
    for run in result.runs:
        result.tasks_finally_failed += sum(1 for state in run.states.values() if state == "failed")
        result.failed_runs += 0 if run.state == "success" else 1
        result.duplicate_clusters += max(0, run.clusters_created - 1)
        result.duplicate_jobs += max(0, run.jobs_submitted - 1)
    result.clusters_left = len(live)
    return result
