"""Development tools shared by the tests, the demo and the benchmarks (not part of the wheel).

* :mod:`devtools.airflow_stack` - a real local Airflow 3 plus the emulator, started, driven and
  stopped from Python (the demo, the end-to-end tests; ``python -m devtools.airflow_stack``);
* :mod:`devtools.demo` - the demo run by ``bash scripts/demo.sh`` (``python -m devtools.demo``);
* :mod:`devtools.campaign` - the fault campaign: the lifecycle DAG against an emulator failing
  about 20% of the calls (``tests/test_fault_run.py``, ``python -m benchmarks.faults``);
* :mod:`devtools.env` - the isolated Airflow environment of a test or benchmark process;
* :mod:`devtools.emulator` - the emulator delay sets (``FAST_DELAYS``: immediate; ``SHORT_DELAYS``).

The process-group helpers are :mod:`airflow_provider_emr_ray.emulator.procgroup`, the
``emr_ray`` connection JSON is :func:`airflow_provider_emr_ray.emulator.config.conn_json`: the
package's own, used from here. Nothing in ``airflow_provider_emr_ray`` imports ``devtools``
(``pyproject.toml`` packages only ``airflow_provider_emr_ray*``). Run the tools from the
repository root (``python -m devtools....``), where ``devtools`` is importable.

Standard library only at import time (this module and :mod:`devtools.env`).
"""

from pathlib import Path

#: The repository root (the checkout holding ``devtools/``).
REPO = Path(__file__).resolve().parents[1]
#: The example DAGs the demo, the end-to-end tests and the fault campaign run.
EXAMPLE_DAGS = REPO / "example_dags"
