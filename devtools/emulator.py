"""Emulator delay sets (:class:`~airflow_provider_emr_ray.emulator.EmulatorConfig` keyword
arguments) shared by the tests, the fault campaign and the benchmarks. Standard library only.

``EmulatorConfig(**FAST_DELAYS)`` or ``EmulatorConfig(**SHORT_DELAYS, enable_control=True)``;
:func:`cli_args` gives the same set as command-line arguments of ``python -m
airflow_provider_emr_ray.emulator``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FAST_DELAYS", "SHORT_DELAYS", "cli_args"]

#: Every transition at once: a cluster is Running and a job finished on the next read (the
#: hook and emulator tests, the call benchmarks).
FAST_DELAYS: Mapping[str, float] = {
    "cluster_start_delay": 0.0,
    "cluster_stop_delay": 0.0,
    "cluster_delete_delay": 0.0,
    "job_submit_delay": 0.0,
    "job_pending_delay": 0.0,
    "job_run_duration": 0.0,
    "job_cancel_delay": 0.0,
}

#: Short but real waits: an operator or sensor polling every 0.1 s sees a cluster Starting for
#: a few polls and a job Running for about 15 (the fault campaign).
SHORT_DELAYS: Mapping[str, float] = {
    "cluster_start_delay": 0.8,
    "cluster_stop_delay": 0.1,
    "cluster_delete_delay": 0.0,
    "job_submit_delay": 0.1,
    "job_pending_delay": 0.1,
    "job_run_duration": 1.5,
    "job_cancel_delay": 0.1,
}


def cli_args(delays: Mapping[str, float]) -> tuple[str, ...]:
    """``delays`` as emulator command-line arguments (``{"job_run_duration": 2}`` ->
    ``("--job-run-duration", "2")``)."""
    out: list[str] = []
    for name, seconds in delays.items():
        out += [f"--{name.replace('_', '-')}", f"{seconds:g}"]
    return tuple(out)
