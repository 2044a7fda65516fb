"""Fixtures of the end-to-end tests: one real local Airflow + emulator per module.

The stack is :mod:`devtools.airflow_stack` (the demo's).
"""

from __future__ import annotations

import signal
import time

import pytest

from devtools import airflow_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Emulator + api-server + scheduler + dag-processor + triggerer, stopped after the module.

    The emulator keeps a deleted cluster readable (``Stopping``) for 10 minutes, so the test can
    still read its secrets (submit token, dashboard token) after the DAG deleted it, and
    ``--enable-control`` serves its call counters.
    """
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[e2e {time.monotonic() - started:6.1f}s] {message}", flush=True)

    root = tmp_path_factory.mktemp("airflow-e2e")
    s = airflow_stack.AirflowStack(
        root=root,
        say=say,
        emulator_args=(*airflow_stack.DEFAULT_EMULATOR_ARGS, "--cluster-delete-delay", "600", "--enable-control"),
        # Every task gets retries=1 (tasks that set none): Airflow 3.3.2's scheduler sometimes
        # fails a task the executor already finished (apache/airflow#66374, about 1 cold run in 8).
        # The test counts these retries and fails on any retry the race does not explain.
        default_task_retries=1,
    )
    def on_sigterm(signum, frame):  # e.g. a CI timeout: stop the stack through the finally below
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        signal.signal(signal.SIGTERM, previous)
        say(f"stopped; everything it wrote is under {root}")
