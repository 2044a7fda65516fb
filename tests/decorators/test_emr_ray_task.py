"""``@task.emr_ray`` without an emulator: its registration (``task.emr_ray`` through Airflow's
ProvidersManager), DAG files parsing (an aliased import) or failing naming the broken rule, the
arguments it refuses, its templated fields, a non-JSON argument failing before any API call,
what it sends on both paths (scripted hook), and the function never run on the worker."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.sdk import DAG, task

from airflow_provider_emr_ray.decorators.emr_ray import (
    EmrRayDecoratedOperator,
    emr_ray_task,
)
from airflow_provider_emr_ray.exceptions import EmrRayValidationError
from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
from airflow_provider_emr_ray.utils.function_source import RESULT_MARKER, SCRIPT_NAME
from tests.operators.fakes import FakeTI, ScriptedHook, ctx, with_hook

ENV = {**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
CLUSTER = {
    "clusterId": "ray-1",
    "state": "Running",
    "jobUrl": "http://127.0.0.1:1/ray-gateway",
    "submitToken": "ray-submit-token-S3CRET",
    "dashboardUrl": "https://ray.example/dashboard/?token=dash-T0KEN",
}
HEAD = {"cpu": "2", "memory": "8Gi", "queueName": "dev_queue"}


def operator_of(decorated: Any, *args: Any, **kwargs: Any) -> EmrRayDecoratedOperator:
    """The operator a call of ``decorated`` creates in a DAG."""
    with DAG(dag_id="unit_emr_ray_task", schedule=None):
        out = decorated(*args, **kwargs)
    return out.operator


# ---------------------------------------------------------------- registration


def test_the_decorator_is_registered_and_task_emr_ray_resolves_to_it() -> None:
    try:  # Airflow 3.2+: the task SDK's own providers manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # 3.0, 3.1
        from airflow.providers_manager import ProvidersManager as Manager

    from airflow_provider_emr_ray.get_provider_info import get_provider_info

    assert {
        "name": "emr_ray",
        "class-name": "airflow_provider_emr_ray.decorators.emr_ray.emr_ray_task",
    } in get_provider_info()["task-decorators"]
    # Airflow finds it through the installed distribution's apache_airflow_provider entry point
    assert "emr_ray" in Manager().taskflow_decorators
    assert task.emr_ray is emr_ray_task


def test_the_decorated_operator_is_a_submit_operator() -> None:
    @task.emr_ray(cluster_id="ray-1")
    def f(x):
        return x

    op = operator_of(f, 1)
    assert isinstance(op, EmrRayDecoratedOperator) and isinstance(
        op, EmrRayJobSubmitOperator
    )
    assert op.custom_operator_name == "@task.emr_ray"
    assert tuple(op.op_args) == (1,) and op.entrypoint == f"python {SCRIPT_NAME}"


# ---------------------------------------------------------------- DAG files


def _dagbag(folder: Path) -> Any:
    from tests.airflow_compat import DagBag

    return DagBag(
        dag_folder=str(folder)
    )  # examples are off (AIRFLOW__CORE__LOAD_EXAMPLES)


GOOD_DAG = """
from airflow.sdk import DAG
from airflow.sdk import task as tk

LIMIT = 10


class Params:
    pass


@tk.emr_ray(cluster_id="ray-1")
def train(p: Params, alpha: float = 0.5, *, epochs: int = 2) -> dict:
    import math

    return {"v": math.sqrt(alpha) * epochs}


with DAG(dag_id="tmp_emr_ray_good", schedule=None, catchup=False):
    train.partial(epochs=3).expand(alpha=[0.1, 0.2])
    train.override(task_id="single")(None, 0.3)
"""


def test_a_dag_file_with_an_aliased_import_parses(tmp_path: Path) -> None:
    (tmp_path / "good_dag.py").write_text(GOOD_DAG)
    bag = _dagbag(tmp_path)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["tmp_emr_ray_good"]  # parsed, no database needed
    mapped, single = sorted(dag.tasks, key=lambda t: t.task_id != "train")
    assert (
        mapped.task_id == "train" and mapped.operator_class is EmrRayDecoratedOperator
    )
    assert isinstance(single, EmrRayDecoratedOperator)
    # the module-level type named by the annotation is dropped; the decorator line is gone
    assert single._function_source.startswith("def train(p, alpha=0.5, *, epochs=2):")
    assert (
        "Params" not in single._function_source
        and "emr_ray" not in single._function_source
    )


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (
            "@tk.emr_ray(cluster_id='ray-1')\ndef f(x):\n    return x * LIMIT\n",
            r"f uses names defined outside it \(LIMIT\)",
        ),
        (
            "@tk.emr_ray(cluster_id='ray-1')\ndef f(x=LIMIT):\n    return x\n",
            r"f uses names defined outside it \(LIMIT\)",
        ),
        (
            "@tk.emr_ray(cluster_id='ray-1')\nasync def f(x):\n    return x\n",
            r"f: an async def cannot run as a Ray job",
        ),
        (
            "@tk.emr_ray(cluster_id='ray-1')\ndef f(x):\n    yield x\n",
            r"f: a generator \(yield\) cannot run as a Ray job",
        ),
    ],
)
def test_a_function_breaking_a_rule_is_a_dag_import_error_naming_it(
    tmp_path: Path, body: str, rule: str
) -> None:
    source = (
        "from airflow.sdk import DAG\nfrom airflow.sdk import task as tk\n\nLIMIT = 10\n\n"
        + body
    )
    source += "\nwith DAG(dag_id='tmp_emr_ray_bad', schedule=None):\n    f(1)\n"
    (tmp_path / "bad_dag.py").write_text(source)
    bag = _dagbag(tmp_path)
    assert "tmp_emr_ray_bad" not in bag.dag_ids
    ((path, error),) = bag.import_errors.items()
    assert path.endswith("bad_dag.py")
    assert "python_callable" in error and re.search(rule, error), error


def test_a_closure_variable_is_a_dag_import_error(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        from airflow.sdk import DAG
        from airflow.sdk import task as tk

        def make():
            factor = 3

            @tk.emr_ray(cluster_id="ray-1")
            def f(x):
                return x * factor

            with DAG(dag_id="tmp_emr_ray_closure", schedule=None) as dag:
                f(1)
            return dag

        dag = make()
        """
    )
    (tmp_path / "closure_dag.py").write_text(source)
    bag = _dagbag(tmp_path)
    (error,) = bag.import_errors.values()
    assert "f uses variables of the function it is defined in (factor)" in error


# ---------------------------------------------------------------- refused arguments


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entrypoint": "python x.py"}, "entrypoint"),
        ({"working_dir": "ray_code"}, "working_dir"),
        ({"wait_for_completion": False}, "wait_for_completion"),
    ],
)
def test_arguments_the_function_replaces_are_refused_naming_the_field(
    kwargs: dict, field: str
) -> None:
    @task.emr_ray(cluster_id="ray-1", **kwargs)
    def f(x):
        return x

    with pytest.raises(EmrRayValidationError) as info:
        operator_of(f, 1)
    assert field in str(info.value)


@pytest.mark.parametrize(
    "runtime_env", [{"working_dir": "/tmp"}, '{"working_dir": "oss://b/code.zip"}']
)
def test_a_runtime_env_working_dir_is_refused_before_any_call(runtime_env: Any) -> None:
    @task.emr_ray(cluster_id="ray-1", runtime_env=runtime_env)
    def f(x):
        return x

    h = ScriptedHook(clusters=[CLUSTER])
    op = with_hook(operator_of(f, 1), h)
    with pytest.raises(
        EmrRayValidationError, match=r"runtime_env\.working_dir"
    ) as info:
        op.execute(ctx())
    assert "py_modules" in str(info.value)
    assert h.calls == []


def test_template_fields() -> None:
    fields = set(EmrRayDecoratedOperator.template_fields)
    assert {"op_args", "op_kwargs"} <= fields
    expected = set(EmrRayJobSubmitOperator.template_fields) - {
        "entrypoint",
        "working_dir",
    }
    assert expected <= fields
    assert "entrypoint" not in fields and "working_dir" not in fields
    assert {
        "cluster_id",
        "runtime_env",
        "head_spec",
        "tags",
        "submission_api",
    } <= fields


def test_op_args_are_templated() -> None:
    @task.emr_ray(cluster_id="{{ params.cid }}")
    def f(x, y=None):
        return x

    op = operator_of(f, "{{ params.a }}", y="{{ params.b }}")
    from jinja2 import Environment

    op.render_template_fields(
        {"params": {"a": "A", "b": "B", "cid": "ray-9"}}, jinja_env=Environment()
    )
    assert (
        list(op.op_args) == ["A"]
        and op.op_kwargs == {"y": "B"}
        and op.cluster_id == "ray-9"
    )


# ---------------------------------------------------------------- execute on a scripted hook


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        (
            [datetime(2026, 1, 1)],
            {},
            "argument #1 (positional) is not JSON-serialisable (datetime",
        ),
        ([1], {"tags_": {1, 2}}, "argument 'tags_' is not JSON-serialisable (set"),
        (
            [float("nan")],
            {},
            "argument #1 (positional) is not JSON-serialisable (float",
        ),
    ],
)
@pytest.mark.parametrize("path", ["ray", "job_scoped"])
def test_a_non_json_argument_fails_at_execute_before_any_call(
    args: list, kwargs: dict, where: str, path: str
) -> None:
    spec = {"cluster_id": "ray-1"} if path == "ray" else {"head_spec": HEAD}

    @task.emr_ray(**spec)
    def f(x, tags_=None):
        return x

    h = ScriptedHook(clusters=[CLUSTER])
    op = with_hook(operator_of(f, *args, **kwargs), h)
    with pytest.raises(EmrRayValidationError) as info:
        op.execute(ctx())
    assert "op_args/op_kwargs" in str(info.value) and where in str(info.value)
    assert h.calls == [] and h.log_reads == []


def _capture_ray_folder(h: ScriptedHook) -> dict[str, str]:
    """Keep the files of the working_dir at submit time (the folder is removed afterwards)."""
    seen: dict[str, str] = {}
    original = h.ray_submit_job

    def ray_submit_job(cluster_id: str, **kw: Any) -> str:
        folder = Path(kw["runtime_env"]["working_dir"])
        seen.update({p.name: p.read_text() for p in folder.iterdir()})
        seen["__folder__"] = str(folder)
        return original(cluster_id, **kw)

    h.ray_submit_job = ray_submit_job  # type: ignore[method-assign]
    return seen


def test_existing_cluster_ships_a_working_dir_and_returns_the_logged_value(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran-on-the-worker"

    @task.emr_ray(
        cluster_id="ray-1", poll_interval=0.01, runtime_env={"pip": ["numpy"]}
    )
    def touch(path, *, n=1):
        import pathlib

        pathlib.Path(path).write_text("ran")
        return {"path": path, "n": n}

    op = operator_of(touch, str(marker), n=5)
    assert not marker.exists()  # parsing did not run it
    h = ScriptedHook(clusters=[CLUSTER])
    h.ray_statuses().extend(["RUNNING", "SUCCEEDED"])
    expected = {"path": str(marker), "n": 5}
    h.ray_logs = "a line\npartial" + "\n" + RESULT_MARKER + json.dumps(expected) + "\n"
    seen = _capture_ray_folder(h)
    with_hook(op, h)
    assert op.execute(ctx()) == expected
    assert not marker.exists()  # the function ran nowhere here
    (sent,) = [c[2] for c in h.calls if c[0] == "ray_submit_job"]
    assert sent["entrypoint"] == f"python {SCRIPT_NAME}"
    assert (
        sent["runtime_env"]["pip"] == ["numpy"]
        and sent["runtime_env"]["working_dir"] == seen["__folder__"]
    )
    assert set(seen) == {SCRIPT_NAME, "__folder__"}  # one script, nothing else
    assert (
        not Path(seen["__folder__"]).exists() and op.working_dir is None
    )  # removed, not kept on the operator
    assert "submit_ray_job" not in h.names()
    # the shipped script is the function: run by a Python, it writes the marker and prints the value
    (tmp_path / SCRIPT_NAME).write_text(seen[SCRIPT_NAME])
    proc = subprocess.run(
        [sys.executable, SCRIPT_NAME],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "ran"
    assert proc.stdout.splitlines()[-1] == RESULT_MARKER + json.dumps(
        expected, separators=(",", ":")
    )


def test_a_log_without_a_result_line_fails_the_task() -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    @task.emr_ray(cluster_id="ray-1", poll_interval=0.01)
    def f():
        return 1

    h = ScriptedHook(clusters=[CLUSTER])
    h.ray_statuses().append("SUCCEEDED")
    h.ray_logs = "the function called os._exit(0)\n"
    op = with_hook(operator_of(f), h)
    with pytest.raises(
        AirflowException, match=r"its log holds no return value of f\(\)"
    ):
        op.execute(ctx())


def _decode_inline(entrypoint: str) -> str:
    (packed,) = re.findall(r"b64decode\('([A-Za-z0-9+/=]+)'\)", entrypoint)
    return zlib.decompress(base64.b64decode(packed)).decode("utf-8")


def test_a_job_scoped_cluster_gets_the_script_in_the_entrypoint_and_never_runs_it(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran-on-the-worker"

    @task.emr_ray(head_spec=HEAD, deferrable=True, poll_interval=0.01)
    def touch(path):
        import pathlib

        pathlib.Path(path).write_text("ran")
        return path

    op = operator_of(touch, str(marker))
    h = ScriptedHook(clusters=[CLUSTER])
    with_hook(op, h)
    with pytest.raises(TaskDeferred):
        op.execute(ctx(FakeTI()))
    assert not marker.exists()
    (submit,) = [c[2] for c in h.calls if c[0] == "submit_ray_job"]
    entrypoint = submit["entrypoint"]
    assert (
        entrypoint.startswith('python -c "') and "touch" not in entrypoint
    )  # compressed
    assert submit.get("working_dir") in (None, "")
    assert not any(c[0] == "ray_submit_job" for c in h.calls)
    script = _decode_inline(entrypoint)
    assert "def touch(path):" in script and str(marker) in script
    (tmp_path / SCRIPT_NAME).write_text(script)
    proc = subprocess.run(
        [sys.executable, SCRIPT_NAME],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()  # the script does run the function, elsewhere


def test_submission_api_openapi_on_an_existing_cluster_uses_the_inline_entrypoint() -> (
    None
):
    @task.emr_ray(cluster_id="ray-1", submission_api="openapi", deferrable=True)
    def f(a, b):
        return a + b

    h = ScriptedHook(clusters=[CLUSTER])
    with pytest.raises(TaskDeferred):
        with_hook(operator_of(f, 2, 40), h).execute(ctx())
    (submit,) = [c[2] for c in h.calls if c[0] == "submit_ray_job"]
    script = _decode_inline(submit["entrypoint"])
    assert '{"args":[2,40],"kwargs":{}}' in script
