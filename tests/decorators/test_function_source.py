"""``airflow_provider_emr_ray.utils.function_source`` without Airflow: the rules a function
must follow (each refusal names its rule), what passes, JSON arguments, the generated script
run by a real Python (the result line, the errors of a bad return value or a raising function)
and the ``python -c`` entrypoint of a job-scoped cluster."""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_emr_ray.utils.function_source import (
    INLINE_ENTRYPOINT_LIMIT,
    RESULT_MARKER,
    RESULT_MAX_BYTES,
    SCRIPT_NAME,
    FunctionSourceError,
    encode_arguments,
    function_source,
    inline_entrypoint,
    parse_result,
    runner_script,
)

SCALE = 3  # a module-level constant: no function may use it
ENV = {**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}


class Model:  # a module-level type: fine in annotations (dropped), not in a body
    pass


def register(fn):  # a decorator returning the function itself
    fn.registered = True
    return fn


def tagged(label):
    def deco(fn):
        fn.label = label
        return fn

    return deco


# ---------------------------------------------------------------- the rules


def test_a_lambda_is_refused() -> None:
    with pytest.raises(FunctionSourceError, match="a lambda cannot run as a Ray job"):
        function_source(lambda x: x)


def test_an_async_def_is_refused() -> None:
    async def fetch(x):
        return x

    with pytest.raises(FunctionSourceError, match=r"^fetch: an async def cannot run"):
        function_source(fetch)


def test_an_async_generator_is_refused() -> None:
    async def stream():
        yield 1

    with pytest.raises(FunctionSourceError, match="an async def cannot run"):
        function_source(stream)


def test_a_generator_is_refused() -> None:
    def numbers(n):
        yield from range(n)

    with pytest.raises(
        FunctionSourceError, match=r"^numbers: a generator \(yield\) cannot run"
    ):
        function_source(numbers)


def test_a_closure_variable_is_refused_and_named() -> None:
    factor = 2

    def scaled(x):
        return x * factor

    with pytest.raises(
        FunctionSourceError,
        match=r"scaled uses variables of the function it is defined in \(factor\)",
    ):
        function_source(scaled)


def test_a_module_level_constant_in_the_body_is_refused_and_named() -> None:
    def scaled(x):
        return x * SCALE

    with pytest.raises(
        FunctionSourceError, match=r"scaled uses names defined outside it \(SCALE\)"
    ) as info:
        function_source(scaled)
    assert "import modules inside the function" in str(info.value)


def test_a_module_level_import_in_the_body_is_refused_and_named() -> None:
    def roots(x):
        return math.sqrt(x) + json.dumps(x).count("1")

    with pytest.raises(
        FunctionSourceError, match=r"roots uses names defined outside it \(json, math\)"
    ):
        function_source(roots)


def test_a_default_value_referencing_a_module_constant_is_refused() -> None:
    def scaled(x, factor=SCALE):
        return x * factor

    with pytest.raises(
        FunctionSourceError, match=r"names defined outside it \(SCALE\)"
    ):
        function_source(scaled)


def test_a_module_level_type_used_in_the_body_is_refused() -> None:
    def build():
        return Model()

    with pytest.raises(FunctionSourceError, match=r"\(Model\)"):
        function_source(build)


def test_a_builtin_function_object_is_not_a_plain_function() -> None:
    with pytest.raises(FunctionSourceError, match="is not a plain Python function"):
        function_source(len)


# ---------------------------------------------------------------- what passes


def _run_source(source: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Execute the returned source alone (only builtins), as the cluster does, and call it."""
    namespace: dict[str, Any] = {"__name__": "__emr_ray_test__"}
    exec(compile(source, "<function>", "exec"), namespace)  # noqa: S102 - the point of the test
    return namespace[name](*args, **kwargs)


def test_imports_nested_defs_comprehensions_try_except_and_recursion_pass() -> None:
    def work(n: int, *, scale: float = 1.5, label: str = "x", **extra) -> dict:
        import json as j
        import os.path
        from collections import Counter as C

        def double(v):
            return v * 2

        class Box:
            value = 1

        squares = [i * i for i in range(n)]
        evens = {k: v for k, v in zip(range(n), squares) if k % 2 == 0}
        try:
            int("nope")
        except ValueError as err:
            message = str(err)

        def fact(k):
            return 1 if k <= 1 else k * fact(k - 1)

        for idx, (a, b) in enumerate([(1, 2)]):
            pair = a + b + idx
        with open(os.path.devnull) as handle:
            handle.read()
        total = 0
        total += double(n)
        return {
            "squares": squares,
            "evens": sorted(evens),
            "counts": dict(C("aab")),
            "err": "invalid literal" in message,
            "fact": fact(5),
            "box": Box.value,
            "pair": pair,
            "total": total,
            "scale": scale,
            "label": label,
            "extra": extra,
            "json": j.dumps([1]),
            "walrus": [y for x in range(3) if (y := x * 10)],
        }

    source = function_source(work)
    assert source.startswith("def work(n, *, scale=1.5, label='x', **extra):")
    result = _run_source(source, "work", 4, label="y", z=1)
    assert result == {
        "squares": [0, 1, 4, 9],
        "evens": [0, 2],
        "counts": {"a": 2, "b": 1},
        "err": True,
        "fact": 120,
        "box": 1,
        "pair": 3,
        "total": 8,
        "scale": 1.5,
        "label": "y",
        "extra": {"z": 1},
        "json": "[1]",
        "walrus": [10, 20],
    }


def fib(
    n,
):  # module level, as in a DAG file: its own name is a global, not a closure variable
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_a_recursive_function_passes_without_global() -> None:
    source = function_source(fib)
    assert "global" not in source
    assert _run_source(source, "fib", 10) == 55


def test_builtin_defaults_and_keyword_only_arguments_pass() -> None:
    def f(a, b=None, /, c=(1, 2), *args, d=len, e=-1.5, **kw):
        return [a, b, c, list(args), d("abc"), e, kw]

    source = function_source(f)
    assert _run_source(source, "f", 1) == [1, None, (1, 2), [], 3, -1.5, {}]
    assert _run_source(source, "f", 1, 2, 3, 4, d=str, k="v") == [
        1,
        2,
        3,
        [4],
        "abc",
        -1.5,
        {"k": "v"},
    ]


def test_other_decorators_are_stripped() -> None:
    @register
    @tagged(label=SCALE)  # a decorator may use module names: it is removed
    def decorated(x):
        return x + 1

    source = function_source(decorated)
    assert "@" not in source and "register" not in source and "SCALE" not in source
    assert source.startswith("def decorated(x):")
    assert _run_source(source, "decorated", 1) == 2


def test_annotations_naming_module_level_types_are_removed() -> None:
    def typed(
        m: Model,
        items: list[Model] | None = None,
        *rest: Model,
        k: Model = None,
        **kw: Model,
    ) -> Model:
        return [m, items, list(rest), k, kw]

    source = function_source(typed)
    assert "Model" not in source
    tree = ast.parse(source)
    fn = tree.body[0]
    assert fn.returns is None
    assert all(a.annotation is None for a in ast.walk(fn) if isinstance(a, ast.arg))
    assert _run_source(source, "typed", 1, 2, 3, k=4, z=5) == [1, 2, [3], 4, {"z": 5}]


def test_a_local_variable_annotation_naming_a_module_level_type_is_dropped() -> None:
    def local_annotation():
        x: Model = 1
        return x

    source = function_source(local_annotation)
    assert "Model" not in source and _run_source(source, "local_annotation") == 1


def test_a_recursive_function_defined_in_a_factory_passes() -> None:
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    assert _run_source(function_source(fact), "fact", 5) == 120


def test_an_indented_staticmethod_is_dedented() -> None:
    class Holder:
        @staticmethod
        def inner(v):
            return v * 3

    assert _run_source(function_source(Holder.inner), "inner", 2) == 6


def test_the_source_is_read_not_executed(tmp_path) -> None:
    marker = tmp_path / "ran"

    def writes(path):
        import pathlib

        pathlib.Path(path).write_text("ran")

    function_source(writes)
    encode_arguments([str(marker)], {})
    runner_script(
        function_source(writes), "writes", encode_arguments([str(marker)], {})
    )
    assert not marker.exists()


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("args", "kwargs", "where", "kind"),
    [
        ([1, datetime(2026, 1, 1)], {}, "#2 (positional)", "datetime"),
        ([{1, 2}], {}, "#1 (positional)", "set"),
        ([float("nan")], {}, "#1 (positional)", "float"),
        ([1], {"when": datetime(2026, 1, 1)}, "'when'", "datetime"),
        ([], {"ok": [1], "tags": {"a"}}, "'tags'", "set"),
        ([], {"limit": float("inf")}, "'limit'", "float"),
        ([[1, {"deep": object()}]], {}, "#1 (positional)", "list"),
    ],
)
def test_a_non_json_argument_is_refused_and_named(
    args: list, kwargs: dict, where: str, kind: str
) -> None:
    with pytest.raises(FunctionSourceError) as info:
        encode_arguments(args, kwargs)
    message = str(info.value)
    assert message.startswith(f"argument {where} is not JSON-serialisable ({kind}:"), (
        message
    )


def test_json_arguments_are_encoded() -> None:
    text = encode_arguments((1, "a", [True, None]), {"k": {"x": 1.5}})
    assert json.loads(text) == {
        "args": [1, "a", [True, None]],
        "kwargs": {"k": {"x": 1.5}},
    }


# ---------------------------------------------------------------- the generated script


def run_script(tmp_path, fn, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
    script = runner_script(
        function_source(fn), fn.__name__, encode_arguments(args, kwargs)
    )
    path = tmp_path / SCRIPT_NAME
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(path)],
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def result_of(proc: subprocess.CompletedProcess) -> Any:
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.startswith(RESULT_MARKER), proc.stdout
    assert proc.stdout.endswith("\n")
    return parse_result(last)


def test_the_script_prints_the_return_value_on_the_last_line(tmp_path) -> None:
    def train(alpha, data_uri="oss://b/", *, power=2, **extra):
        print("training", alpha)
        return {
            "alpha": alpha,
            "power": power,
            "uri": data_uri,
            "extra": extra,
            "text": "é\nline",
        }

    proc = run_script(tmp_path, train, 0.5, power=3, seed=7)
    assert proc.stdout.splitlines()[0] == "training 0.5"
    last = proc.stdout.splitlines()[-1]
    assert last == RESULT_MARKER + json.dumps(
        {
            "alpha": 0.5,
            "power": 3,
            "uri": "oss://b/",
            "extra": {"seed": 7},
            "text": "é\nline",
        },
        separators=(",", ":"),
    )
    assert (
        result_of(proc)["text"] == "é\nline"
    )  # a newline in the value stays on one line (JSON)


@pytest.mark.parametrize("value", [None, 42, "s", [1, [2]], True, 1.25])
def test_every_json_value_comes_back(tmp_path, value: Any) -> None:
    def echo(v):
        return v

    assert result_of(run_script(tmp_path, echo, value)) == value


def test_output_without_a_trailing_newline_still_gets_the_marker_on_its_own_line(
    tmp_path,
) -> None:
    def partial():
        import sys

        print("no newline here", end="")
        sys.stdout.write("…and more")
        return 7

    proc = run_script(tmp_path, partial)
    lines = proc.stdout.splitlines()
    assert lines == ["no newline here…and more", RESULT_MARKER + "7"]
    assert result_of(proc) == 7


def test_a_non_json_return_value_exits_non_zero_with_a_clear_message(tmp_path) -> None:
    def gives_a_set():
        return {1, 2}

    proc = run_script(tmp_path, gives_a_set)
    assert proc.returncode != 0
    assert (
        "the return value of gives_a_set() is not JSON-serialisable (set:"
        in proc.stderr
    )
    assert RESULT_MARKER not in proc.stdout


def test_a_nan_return_value_is_refused(tmp_path) -> None:
    def gives_nan():
        return float("nan")

    proc = run_script(tmp_path, gives_nan)
    assert proc.returncode != 0 and "is not JSON-serialisable (float:" in proc.stderr
    assert RESULT_MARKER not in proc.stdout


def test_a_return_value_above_the_limit_exits_non_zero_with_a_clear_message(
    tmp_path,
) -> None:
    def big(n):
        return "x" * n

    size = RESULT_MAX_BYTES  # its JSON has two quotes more: just above the limit
    proc = run_script(tmp_path, big, size)
    assert proc.returncode != 0
    assert (
        f"is {size + 2} bytes of JSON, above the limit of {RESULT_MAX_BYTES} bytes"
        in proc.stderr
    )
    assert "write large results to OSS" in proc.stderr
    assert RESULT_MARKER not in proc.stdout
    # at the limit: it comes back
    assert result_of(run_script(tmp_path, big, size - 2)) == "x" * (size - 2)


def test_a_raising_function_exits_non_zero_with_its_traceback(tmp_path) -> None:
    def divide(x):
        print("about to divide", flush=True)
        return x / 0

    proc = run_script(tmp_path, divide, 1)
    assert proc.returncode != 0
    assert proc.stdout == "about to divide\n" and RESULT_MARKER not in proc.stdout
    assert "Traceback (most recent call last)" in proc.stderr
    assert "ZeroDivisionError: division by zero" in proc.stderr
    assert (
        "in divide" in proc.stderr and "return x / 0" in proc.stderr
    )  # the function's own frame


# ---------------------------------------------------------------- the inline entrypoint


def _shell_command(entrypoint: str) -> str:
    assert entrypoint.startswith("python -c ")
    if shutil.which("python", path=ENV.get("PATH")) is None:
        entrypoint = f'"{sys.executable}"' + entrypoint.removeprefix("python")
    return entrypoint


def test_the_inline_entrypoint_round_trips_through_a_shell(tmp_path) -> None:
    def hello(name, *, punctuation="!"):
        import sys

        print("it's", '"quoted"', "$HOME `x`", file=sys.stderr)
        return f"hello {name}{punctuation}"

    script = runner_script(
        function_source(hello), "hello", encode_arguments(["ray"], {"punctuation": "?"})
    )
    entrypoint = inline_entrypoint(script)
    assert re.fullmatch(r"python -c \"[^\"$`\\]*\"", entrypoint), (
        entrypoint
    )  # nothing a shell would expand
    proc = subprocess.run(
        _shell_command(entrypoint),
        shell=True,
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == RESULT_MARKER + json.dumps("hello ray?")
    assert (
        "$HOME `x`" in proc.stderr
    )  # printed as is: the script was not touched by the shell
    # the same through bash -c
    bash = shutil.which("bash")
    if bash is not None:
        proc2 = subprocess.run(
            [bash, "-c", _shell_command(entrypoint)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc2.stdout == proc.stdout


def test_the_inline_entrypoint_carries_a_traceback_of_a_raising_function(
    tmp_path,
) -> None:
    def boom():
        raise RuntimeError("boom-7")

    entrypoint = inline_entrypoint(
        runner_script(function_source(boom), "boom", encode_arguments([], {}))
    )
    proc = subprocess.run(
        _shell_command(entrypoint),
        shell=True,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert (
        "RuntimeError: boom-7" in proc.stderr and SCRIPT_NAME in proc.stderr
    )  # the script's name in the frames


def test_an_entrypoint_above_the_limit_is_refused_naming_the_limit() -> None:
    def noop(blob):
        return len(blob)

    import random

    rng = random.Random(15)  # incompressible arguments
    blob = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in range(2 * INLINE_ENTRYPOINT_LIMIT)
    )
    script = runner_script(function_source(noop), "noop", encode_arguments([blob], {}))
    with pytest.raises(
        FunctionSourceError,
        match=rf"above the {INLINE_ENTRYPOINT_LIMIT} this provider sends",
    ) as info:
        inline_entrypoint(script)
    assert "cluster_id" in str(info.value)
    # a small one is under it
    small = inline_entrypoint(
        runner_script(function_source(noop), "noop", encode_arguments(["x"], {}))
    )
    assert len(small) <= INLINE_ENTRYPOINT_LIMIT


def test_functools_wraps_wrapper_is_refused_as_a_closure() -> None:
    """A decorator returning a wrapper hides the function: the wrapper's closure is refused."""

    def wrapping(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            return fn(*a, **k)

        return wrapper

    @wrapping
    def inner(x):
        return x

    with pytest.raises(
        FunctionSourceError,
        match=r"uses variables of the function it is defined in \(fn\)",
    ):
        function_source(inner)
