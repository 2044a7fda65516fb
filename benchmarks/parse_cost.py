"""Figure 1 - parse cost.

A. A fresh interpreter importing ``airflow_provider_emr_ray.operators.emr_ray`` and
   ``airflow_provider_emr_ray.sensors.emr_ray`` (what a DAG file using the provider does),
   versus one importing only ``airflow.sdk`` (``from airflow.sdk import DAG, BaseOperator,
   BaseSensorOperator, conf``: what any DAG file, and our modules, need anyway). Measured: the
   CPU seconds of the whole interpreter, from start to exit (less noisy than its wall time,
   which is recorded too, with the in-process import time). The child also lists the heavy
   modules the import loaded (the credentials SDK, the emulator, the hook, the pydantic models
   must load on first use only).
B. ``DagBag(dag_folder=example_dags/)`` in a fresh interpreter, versus a DagBag of *equivalent*
   DAGs made of EmptyOperators (same dag ids, task ids, dependencies, setup/teardown marks and
   schedules), generated from the parsed examples. Measured: the DagBag fill time.

Target: at most 15% added. Run alone: ``python -m benchmarks.parse_cost [--quick]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks._common import (
    Figure,
    Summary,
    alternate,
    at_most,
    paired_ratio,
    python_env,
    quick_main,
    save_json,
)
from devtools import EXAMPLE_DAGS, REPO as ROOT
TARGET = 1.15

_BASE_IMPORT = "from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, conf"
_OURS_IMPORT = (
    _BASE_IMPORT + "\nimport airflow_provider_emr_ray.operators.emr_ray\nimport airflow_provider_emr_ray.sensors.emr_ray"
)

# Loaded on first use only: none of them may be imported by the operator and sensor modules.
HEAVY = (
    "alibabacloud_credentials",
    "alibabacloud_tea_openapi",
    "uvicorn",
    "starlette",
    "airflow_provider_emr_ray.emulator",
    "airflow_provider_emr_ray.models",
    "airflow_provider_emr_ray.hooks.emr_ray",
    "airflow_provider_emr_ray.client.credentials",
    "airflow_provider_emr_ray.triggers.emr_ray",
)

_IMPORT_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    before = set(sys.modules)
    t0, c0 = time.perf_counter(), time.process_time()
    {imports}
    t1, c1 = time.perf_counter(), time.process_time()
    heavy = [m for m in {heavy!r} if m in sys.modules]
    print(json.dumps({{"import_s": t1 - t0, "import_cpu_s": c1 - c0, "modules": len(sys.modules),
                      "heavy": heavy, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """
)

_DAGBAG_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from airflow.dag_processing.dagbag import DagBag
    t0, c0 = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder={folder!r})
    t1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({{"parse_s": t1 - t0, "parse_cpu_s": c1 - c0, "dags": sorted(bag.dag_ids),
                      "tasks": sum(len(d.tasks) for d in bag.dags.values()), "errors": list(bag.import_errors)}}))
    """
)


def _run_child(code: str, env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """Run ``code`` in a fresh interpreter; return (wall seconds of the whole process, its CPU
    seconds (user + system, from the parent's rusage of children), its JSON line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return wall, cpu, json.loads(line)


# ------------------------------------------------------------------------ equivalent DAGs


def write_equivalent_dags(folder: Path, env: dict[str, str]) -> list[str]:
    """Parse example_dags/ once and write one file per DAG with the same structure, made of
    EmptyOperators. Returns the dag ids."""
    code = textwrap.dedent(
        f"""
        import json
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(EXAMPLE_DAGS)!r})
        assert not bag.import_errors, bag.import_errors
        out = []
        for dag in bag.dags.values():
            tt = dag.timetable
            schedule = getattr(tt, "_expression", None)
            out.append({{
                "dag_id": dag.dag_id,
                "schedule": schedule,
                "tags": sorted(dag.tags),
                "tasks": [
                    {{"task_id": t.task_id, "upstream": sorted(t.upstream_task_ids),
                      "setup": bool(t.is_setup), "teardown": bool(t.is_teardown),
                      "python_task": type(t).__name__ == "_PythonDecoratedOperator",
                      "provider": type(t).__module__.startswith("airflow_provider_emr_ray")}}
                    for t in dag.tasks
                ],
            }})
        print(json.dumps(out))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    dags = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("[")][-1])
    folder.mkdir(parents=True, exist_ok=True)
    for spec in dags:
        lines = [
            "from __future__ import annotations",
            "",
            "from airflow.sdk import DAG, task",
            "from airflow.providers.standard.operators.empty import EmptyOperator",
            "",
            f"with DAG(dag_id={spec['dag_id']!r}, schedule={spec['schedule']!r}, catchup=False, tags={spec['tags']!r}):",
        ]
        names = {}
        for i, task in enumerate(spec["tasks"]):
            var = f"t{i}"
            names[task["task_id"]] = var
            if task["python_task"]:  # not the provider's: kept as it is (a @task)
                lines += [
                    f"    @task(task_id={task['task_id']!r})",
                    f"    def f{i}():",
                    "        return None",
                    f"    {var} = f{i}()",
                ]
            else:
                lines.append(f"    {var} = EmptyOperator(task_id={task['task_id']!r})")
        for task in spec["tasks"]:
            for up in task["upstream"]:
                lines.append(f"    {names[up]} >> {names[task['task_id']]}")
        for task in spec["tasks"]:
            if task["teardown"]:
                setups = [names[t["task_id"]] for t in spec["tasks"] if t["setup"]]
                lines.append(f"    {names[task['task_id']]}.as_teardown(setups=[{', '.join(setups)}])")
        (folder / f"{spec['dag_id']}_empty.py").write_text("\n".join(lines) + "\n")
    return [d["dag_id"] for d in dags]


# ---------------------------------------------------------------------------------- runs


def run(quick: bool = False) -> list[Figure]:
    env = python_env(AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR")
    rounds_import = 3 if quick else 8
    rounds_bag = 2 if quick else 5

    # A. imports -------------------------------------------------------------------------------
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "base": []}
    walls: dict[str, list[float]] = {"ours": [], "base": []}

    def child(kind: str, imports: str) -> float:
        wall, cpu, data = _run_child(_IMPORT_CHILD.format(imports=imports, heavy=HEAVY), env)
        samples[kind].append(data)
        walls[kind].append(wall)
        return cpu

    for _ in range(2):  # warm-up: byte-code cache, page cache
        child("ours", _OURS_IMPORT)
        child("base", _BASE_IMPORT)
    samples = {"ours": [], "base": []}
    walls = {"ours": [], "base": []}
    cpus = alternate({"ours": lambda: child("ours", _OURS_IMPORT), "base": lambda: child("base", _BASE_IMPORT)}, rounds_import)
    ours_c, base_c = Summary.of(cpus["ours"]), Summary.of(cpus["base"])
    ratio = paired_ratio(cpus["ours"], cpus["base"])
    wall_ratio = paired_ratio(walls["ours"], walls["base"])
    ours_imp = Summary.of([s["import_cpu_s"] for s in samples["ours"]])
    base_imp = Summary.of([s["import_cpu_s"] for s in samples["base"]])
    heavy = sorted({m for s in samples["ours"] for m in s["heavy"]})
    added = Summary.of([a - b for a, b in zip(cpus["ours"], cpus["base"])])
    figures = [
        _figure(
            "Parse cost: fresh interpreter importing operators + sensors vs `airflow.sdk` only (CPU)",
            ours_c,
            base_c,
            ratio,
            f"CPU seconds of the whole interpreter (start to exit), {rounds_import} A/B pairs; added "
            f"{added.fmt(1000, ' ms', 0)}; wall-time ratio {wall_ratio.fmt(1, '', 3)}; the import statement "
            f"alone: ours {ours_imp.fmt(1000, ' ms', 1)} vs {base_imp.fmt(1000, ' ms', 1)} CPU; heavy modules "
            f"loaded by the import: {', '.join(heavy) if heavy else 'none'} (checked: {', '.join(HEAVY)})",
            {"cpu": cpus, "walls": walls, "children": samples, "heavy_loaded": heavy},
        )
    ]

    # B. DagBag ---------------------------------------------------------------------------------
    with tempfile.TemporaryDirectory(prefix="emr-ray-bench-emptydags-") as tmp:
        empty_dir = Path(tmp)
        dag_ids = write_equivalent_dags(empty_dir, env)
        bag_samples: dict[str, list[dict[str, Any]]] = {"ours": [], "empty": []}

        def bag(kind: str, folder: Path) -> float:
            _, _, data = _run_child(_DAGBAG_CHILD.format(folder=str(folder)), env)
            if data["errors"]:
                raise RuntimeError(f"DagBag import errors in {folder}: {data['errors']}")
            bag_samples[kind].append(data)
            return data["parse_s"]

        for _ in range(2):  # warm-up: byte-code cache, page cache
            bag("ours", EXAMPLE_DAGS)
            bag("empty", empty_dir)
        bag_samples = {"ours": [], "empty": []}
        times = alternate({"ours": lambda: bag("ours", EXAMPLE_DAGS), "empty": lambda: bag("empty", empty_dir)}, rounds_bag)
    ours_b, empty_b = Summary.of(times["ours"]), Summary.of(times["empty"])
    ratio_b = paired_ratio(times["ours"], times["empty"])
    tasks = bag_samples["ours"][0]["tasks"] if bag_samples["ours"] else 0
    figures.append(
        _figure(
            "Parse cost: DagBag of example_dags/ vs equivalent EmptyOperator DAGs",
            ours_b,
            empty_b,
            ratio_b,
            f"DagBag fill time in a fresh interpreter (airflow already imported, the provider not), "
            f"{rounds_bag} A/B pairs; {len(dag_ids)} DAGs, {tasks} tasks: {', '.join(sorted(dag_ids))}",
            {"times": times, "children": bag_samples},
        )
    )
    save_json("parse_cost", [f.to_dict() for f in figures])
    return figures


def _figure(title: str, ours: Summary, ref: Summary, ratio: Summary, details: str, raw: dict[str, Any]) -> Figure:
    """A parse-cost figure: seconds shown in ms, target at most 15% added (ratio ≤ TARGET)."""
    ratio_text = f"{ratio.median:.3f} ({(ratio.median - 1) * 100:+.1f}%)"
    return at_most(
        title, ours.fmt(1000, " ms", 0), ref.fmt(1000, " ms", 0), ratio, TARGET, details, "parse",
        ratio=ratio_text, target="≤ 1.15 (≤ 15% added)", raw=raw,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return quick_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
