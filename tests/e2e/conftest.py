"""Fixtures of the end-to-end tests: one real local Airflow + emulator per module.

The stack is :mod:`devtools.airflow_stack` (the demo's). A module says what its stack needs in a
module-level ``STACK = {...}`` (keyword arguments of :class:`~devtools.airflow_stack.AirflowStack`;
``dag_files``: DAG files copied into a DAGs folder of the stack's own, instead of the example DAGs).
"""

from __future__ import annotations

import shutil
import signal
import time

import pytest

from devtools import airflow_stack


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    """Emulator + api-server + scheduler + dag-processor + triggerer, stopped after the module.

    By default: the example DAGs; the emulator keeps a deleted cluster readable (``Stopping``) for
    10 minutes, so a test can still read its secrets (submit token, dashboard token) after the DAG
    deleted it, and ``--enable-control`` serves its call counters.
    """
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[e2e {time.monotonic() - started:6.1f}s] {message}", flush=True)

    options = dict(getattr(request.module, "STACK", {}))
    root = tmp_path_factory.mktemp("airflow-e2e")
    dag_files = options.pop("dag_files", None)
    if dag_files:
        dags = tmp_path_factory.mktemp("dags")
        for path in dag_files:
            shutil.copy(path, dags / path.name)
        options["dags_folder"] = dags
    options.setdefault(
        "emulator_args",
        (*airflow_stack.DEFAULT_EMULATOR_ARGS, "--cluster-delete-delay", "600", "--enable-control"),
    )
    # Every task that sets none gets retries=1: Airflow 3.3.2's scheduler sometimes fails a task
    # the executor already finished (apache/airflow#66374, about 1 cold run in 8). The tests count
    # these retries and fail on any retry the race does not explain.
    options.setdefault("default_task_retries", 1)
    s = airflow_stack.AirflowStack(root=root, say=say, **options)

    def on_sigterm(signum, frame):  # e.g. a CI timeout: stop the stack through the finally below
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        s.start()
        say(f"stack up on Airflow {'.'.join(map(str, s.airflow_version))}")
        yield s
    finally:
        s.stop()
        signal.signal(signal.SIGTERM, previous)
        say(f"stopped; everything it wrote is under {root}")


@pytest.fixture(scope="module")
def hook(stack):
    """An EmrRayHook on the stack's emulator (the connection given as an environment variable)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_EMR_RAY_DEFAULT", stack.connection)
        from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook

        hook = EmrRayHook("emr_ray_default")
        yield hook
        hook.close()
