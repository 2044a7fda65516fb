"""Benchmarks and fault-injection figures of airflow-provider-emr-ray (issue 7).

Run everything and regenerate ``benchmarks/RESULTS.md``::

    python -m benchmarks            # full run (< 15 minutes on 2 cores)
    python -m benchmarks --quick    # smoke run (figures are indicative only)

Each benchmark is a module runnable alone (``python -m benchmarks.parse_cost`` ...):

* :mod:`benchmarks.parse_cost` - DAG-file import and DagBag parse cost;
* :mod:`benchmarks.call_overhead` - client CPU per GetRayCluster, signatures per second;
* :mod:`benchmarks.trigger_scale` - 100 / 1,000 / 5,000 RayJobStatusTriggers in one event loop;
* :mod:`benchmarks.faults` - the lifecycle DAG against an emulator failing 20% of calls.

The machine is shared and noisy: every figure compares ours with its reference in the same run,
alternating A/B, and reports the median with its spread. No benchmark is a timed test.
"""

import os as _os
import sys as _sys

#: Measure a scratch copy of the package instead of this checkout (prototyping a change):
#: ``EMR_RAY_BENCH_PACKAGE=/tmp/proto python -m benchmarks`` (the directory holding
#: ``airflow_provider_emr_ray/``). Inherited by every benchmark subprocess.
PACKAGE_OVERRIDE = _os.environ.get("EMR_RAY_BENCH_PACKAGE") or None
if PACKAGE_OVERRIDE and PACKAGE_OVERRIDE not in _sys.path:
    _sys.path.insert(0, PACKAGE_OVERRIDE)
