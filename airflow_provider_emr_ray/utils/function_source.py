"""A Python function as a Ray job: its source, the rules it must follow, the script that runs
it on the cluster, and how its return value comes back.

The rules are those of Airflow's ``@task.virtualenv``: a plain ``def`` (not a lambda, not
``async``, not a generator), its imports inside it, and no reference to a name defined outside
it (a closure variable, a module-level constant or import): the function is run by another
Python, on the cluster, from its source alone. Decorators are removed and annotations dropped
(they may name module-level types); default values must be literals or builtins.

The source is found with :mod:`inspect` and rewritten with :mod:`ast` (any decorator, however the
import is aliased); it is never executed on the Airflow worker. Arguments and the return value
travel as JSON (the cluster's Python is another version than the worker's: pickled objects are
not portable). The script prints the return value on one line of the job's driver log, after
:data:`RESULT_MARKER`; the task reads it back from the end of the log. Standard library only.
"""

from __future__ import annotations

import ast
import builtins
import base64
import inspect
import json
import textwrap
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "INLINE_ENTRYPOINT_LIMIT",
    "RESULT_MARKER",
    "RESULT_MAX_BYTES",
    "SCRIPT_NAME",
    "FunctionSourceError",
    "encode_arguments",
    "function_source",
    "inline_entrypoint",
    "parse_result",
    "runner_script",
]

#: Starts the driver-log line that carries the function's return value (JSON).
RESULT_MARKER = "##emr-ray-task-result## "
#: Largest return value (its JSON text, bytes): a larger one fails the job with a clear error
#: (write large results to OSS and return their path).
RESULT_MAX_BYTES = 1024 * 1024
#: Largest ``python -c`` entrypoint that carries the script to a job-scoped cluster through
#: SubmitRayJob (no OSS): the API pages give no bound for ``entrypoint``; this provider keeps
#: it at 32 KiB (source and arguments compressed). Above it: an existing cluster (Ray's Jobs
#: API uploads the script) or OSS.
INLINE_ENTRYPOINT_LIMIT = 32 * 1024
#: The script's file name in the generated ``working_dir``.
SCRIPT_NAME = "__emr_ray_task__.py"


class FunctionSourceError(ValueError):
    """The function cannot run as a Ray job (names the rule it breaks)."""


def _bound_names(fn_node: ast.AST) -> set[str]:
    """Every name the function binds anywhere inside it (parameters, assignments, imports,
    nested defs and classes, loop/with/except/comprehension targets, global/nonlocal)."""
    bound: set[str] = set()
    for node in ast.walk(fn_node):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, ast.MatchAs) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return bound


class _NoAnnotations(ast.NodeTransformer):
    """Drops every annotation: arguments', returns', and local ``x: T = v`` (never evaluated
    in a function body, and naming types that exist only on the worker)."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def _function(self, node: Any) -> Any:
        node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _strip_annotations(fn_node: ast.FunctionDef) -> None:
    _NoAnnotations().visit(fn_node)
    ast.fix_missing_locations(fn_node)


def function_source(fn: Callable[..., Any]) -> str:
    """The function's source, ready to run alone: decorators removed, annotations dropped.

    :param fn: the decorated function.
    :raises FunctionSourceError: naming the rule the function breaks.
    """
    name = getattr(fn, "__name__", repr(fn))
    if not inspect.isfunction(fn):
        raise FunctionSourceError(f"{name!r} is not a plain Python function (def)")
    if name == "<lambda>":
        raise FunctionSourceError("a lambda cannot run as a Ray job: write a def")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise FunctionSourceError(f"{name}: an async def cannot run as a Ray job: write a plain def")
    if inspect.isgeneratorfunction(fn):
        raise FunctionSourceError(f"{name}: a generator (yield) cannot run as a Ray job: return a JSON value")
    outer_vars = [v for v in fn.__code__.co_freevars if v != name]  # its own name: recursion, defined by the script
    if outer_vars:
        names = ", ".join(outer_vars)
        raise FunctionSourceError(
            f"{name} uses variables of the function it is defined in ({names}): the Ray job gets the function's "
            "source only; pass them as arguments"
        )
    try:
        raw = inspect.getsource(fn)
    except (OSError, TypeError) as exc:
        raise FunctionSourceError(f"{name}: its source cannot be read ({exc}): define it in a file") from None
    tree = ast.parse(textwrap.dedent(raw))
    fn_node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if not isinstance(fn_node, ast.FunctionDef) or fn_node.name != name:
        raise FunctionSourceError(f"{name}: its source does not start with 'def {name}'")
    fn_node.decorator_list = []
    _strip_annotations(fn_node)
    bound = _bound_names(fn_node) | {name}
    known = set(dir(builtins))
    outer = sorted(
        {
            n.id
            for n in ast.walk(fn_node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound and n.id not in known
        }
    )
    if outer:
        raise FunctionSourceError(
            f"{name} uses names defined outside it ({', '.join(outer)}): the Ray job gets the function's source "
            "only; import modules inside the function and pass values as arguments"
        )
    return ast.unparse(fn_node) + "\n"


def encode_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """The call's arguments as JSON text.

    :raises FunctionSourceError: naming the first argument that is not JSON-serialisable.
    """

    def check(where: str, value: Any) -> None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise FunctionSourceError(
                f"argument {where} is not JSON-serialisable ({type(value).__name__}: {exc}); pass dicts, lists, "
                "strings, numbers, booleans or None"
            ) from None

    for i, value in enumerate(args):
        check(f"#{i + 1} (positional)", value)
    for key, value in kwargs.items():
        check(repr(key), value)
    return json.dumps({"args": list(args), "kwargs": dict(kwargs)}, separators=(",", ":"), allow_nan=False)


def runner_script(source: str, name: str, arguments: str) -> str:
    """The script the job runs: the function, its arguments, the call, the result line."""
    return f'''# Generated by airflow-provider-emr-ray (@task.emr_ray): runs {name}() and prints its
# JSON return value on one line of the driver log, after the marker.
import json as _emr_json
import sys as _emr_sys

{source}

_EMR_RAY_ARGUMENTS = {arguments!r}


class _EmrRayStdout:
    """stdout, remembering whether the function left a line unfinished."""

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, text):
        if text:
            self.at_line_start = text.endswith("\\n")
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _emr_ray_main():
    call = _emr_json.loads(_EMR_RAY_ARGUMENTS)
    out = _emr_sys.stdout = _EmrRayStdout(_emr_sys.stdout)
    result = {name}(*call["args"], **call["kwargs"])
    try:
        text = _emr_json.dumps(result, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "the return value of {name}() is not JSON-serialisable (%s: %s); return dicts, lists, strings, "
            "numbers, booleans or None" % (type(result).__name__, exc)
        ) from None
    size = len(text.encode("utf-8"))
    if size > {RESULT_MAX_BYTES}:
        raise ValueError(
            "the return value of {name}() is %d bytes of JSON, above the limit of {RESULT_MAX_BYTES} bytes; "
            "write large results to OSS and return their path" % size
        )
    _emr_sys.stderr.flush()
    out.write(("" if out.at_line_start else "\\n") + {RESULT_MARKER!r} + text + "\\n")
    out.flush()


if __name__ == "__main__":
    _emr_ray_main()
'''


def inline_entrypoint(script: str) -> str:
    """``python -c "..."`` running ``script`` (compressed, base64): the carrier of a job-scoped
    cluster's SubmitRayJob, no upload.

    :raises FunctionSourceError: above :data:`INLINE_ENTRYPOINT_LIMIT`.
    """
    packed = base64.b64encode(zlib.compress(script.encode("utf-8"), 9)).decode("ascii")
    entrypoint = (
        'python -c "import base64,zlib;exec(compile(zlib.decompress(base64.b64decode('
        f"'{packed}')),'{SCRIPT_NAME}','exec'))\""
    )
    if len(entrypoint) > INLINE_ENTRYPOINT_LIMIT:
        raise FunctionSourceError(
            f"the function and its arguments make a {len(entrypoint)}-character entrypoint, above the "
            f"{INLINE_ENTRYPOINT_LIMIT} this provider sends through SubmitRayJob to a job-scoped cluster: run it on an "
            "existing cluster (cluster_id: Ray's Jobs API uploads the code) or pass large data through OSS"
        )
    return entrypoint


def parse_result(line: str) -> Any:
    """The return value carried by a result line (``RESULT_MARKER`` + JSON)."""
    return json.loads(line[len(RESULT_MARKER) :])
