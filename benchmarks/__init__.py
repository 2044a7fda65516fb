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
