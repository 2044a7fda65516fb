"""Figure 4 - the lifecycle DAG under injected faults.

The fault campaign of :mod:`devtools.campaign` (its docstring has the fault mix, what is sped
up and what is counted) with at least 1,000 API calls: the example lifecycle DAG run again and
again with ``dag.test()`` against the emulator failing about 20% of the calls.
Targets: 0 task failures, 0 duplicates.

Run alone: ``python -m benchmarks.faults [--calls 1000] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks._common import Figure, print_figures, save_json, setup_airflow_env
from devtools import EXAMPLE_DAGS
from devtools.campaign import DAG_ID, CampaignResult, run_campaign


def run(quick: bool = False, calls: int | None = None, seed: int = 7) -> list[Figure]:
    setup_airflow_env("INFO")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLE_DAGS))
    calls = calls or (150 if quick else 1000)
    log_path = str(Path(tempfile.gettempdir()) / "emr-ray-bench-faults.log")
    Path(log_path).write_text("")
    res = run_campaign(calls, seed, log_path=log_path, progress=True)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(res.faults_by_kind.items()))
    per_run = f"{res.calls / max(1, len(res.runs)):.0f} calls per run"
    common = f"{len(res.runs)} runs of {DAG_ID} ({per_run}, {res.seconds:.0f} s in all), seed {seed}"
    figures = [
        Figure(
            figure="Faults: API calls made / faults injected / failing",
            ours=f"{res.calls} calls, {res.faults} faults ({res.failing_faults} failing = "
            f"{res.failing_faults / max(1, res.calls):.1%})",
            reference="–",
            ratio="–",
            target="≥ 1,000 calls, ~20% failing",
            met=res.calls >= 1000 and 0.15 <= res.failing_faults / max(1, res.calls) <= 0.25,
            details=f"{common}; by kind: {kinds}",
            section="faults",
        ),
        Figure(
            figure="Faults: hook retries / outcome-unknown calls reconciled",
            ours=f"{res.retries} retries, {res.outcome_unknown} outcome unknown",
            reference="–",
            ratio="–",
            target="(reported)",
            met=None,
            details="retries by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(res.retry_reasons.items())),
            section="faults",
        ),
        Figure(
            figure="Faults: task failures (failed tries, even if a retry recovered them)",
            ours=f"{res.task_failures} failed tries; {res.tasks_finally_failed} tasks failed for good; "
            f"{res.failed_runs} failed runs",
            reference="–",
            ratio="–",
            target="0",
            met=res.task_failures == 0,
            details=_failure_details(res),
            section="faults",
        ),
        Figure(
            figure="Faults: duplicate clusters / duplicate jobs",
            ours=f"{res.duplicate_clusters} / {res.duplicate_jobs}",
            reference="–",
            ratio="–",
            target="0 / 0",
            met=res.duplicate_clusters == 0 and res.duplicate_jobs == 0,
            details=f"creations recorded by the emulator's store, per DAG run; clusters left alive at the end: "
            f"{res.clusters_left}",
            section="faults",
        ),
    ]
    save_json("faults", {"figures": [f.to_dict() for f in figures], "summary": res.summary, "runs": [asdict(r) for r in res.runs]})
    return figures


def _failure_details(res: CampaignResult) -> str:
    failed = res.failed_tries_by_task()
    parts = [f"{k} {v}" for k, v in sorted(failed.items()) if v]
    return ("failed tries by task: " + ", ".join(parts)) if parts else "no task try failed"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: about 150 calls")
    p.add_argument("--calls", type=int, default=None, help="API calls to make at least (default 1000)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    print_figures(run(quick=args.quick, calls=args.calls, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
