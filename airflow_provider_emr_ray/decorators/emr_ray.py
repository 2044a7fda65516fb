"""``@task.emr_ray``: a Python function run as a Ray job, its return value in XCom.

::

    from airflow.sdk import task

    @task.emr_ray(cluster_id="{{ ti.xcom_pull('create_cluster') }}", entrypoint_num_cpus=1)
    def train(alpha: float, data_uri: str) -> dict:
        import ray
        ray.init()
        ...
        return {"alpha": alpha, "score": 0.93}

    scores = train.partial(data_uri="oss://bucket/data/").expand(alpha=[0.1, 0.3, 1.0])

The decorated operator is an
:class:`~airflow_provider_emr_ray.operators.emr_ray.EmrRayJobSubmitOperator` and takes its
arguments (``cluster_id``, or ``head_spec``/``worker_spec`` for a job-scoped cluster;
``runtime_env``, ``entrypoint_num_*``, ``tags``, ``deferrable``, ``cancel_on_kill``, ``max_wait``,
``show_logs``...), templated the same way; not ``entrypoint`` nor ``working_dir`` (the function
is the code). The function follows the rules of
:mod:`~airflow_provider_emr_ray.utils.function_source` (checked when the DAG is parsed);
its arguments and return value are JSON.

How the code travels:

* an existing cluster (``cluster_id``, ``submission_api`` ``"auto"``/``"ray"``): a generated
  ``working_dir`` holding one script, through Ray's Jobs API (uploaded once per content);
* a job-scoped cluster (``head_spec``/``worker_spec``), or ``submission_api="openapi"``: the
  script compressed into a ``python -c`` entrypoint of SubmitRayJob, no OSS (up to
  :data:`~airflow_provider_emr_ray.utils.function_source.INLINE_ENTRYPOINT_LIMIT`).

The job prints the return value on the last line of its driver log; the task reads it back
from the log's end (on both paths) and returns it (``return_value`` XCom; ``multiple_outputs``
as for ``@task``). What the function prints is in the task log (``[ray]`` lines); a raising
function fails the task with its remote traceback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, DecoratedOperator, task_decorator_factory

from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
from airflow_provider_emr_ray.utils.validation import validation_error

__all__ = ["EmrRayDecoratedOperator", "emr_ray_task"]

#: What the decorated operator does not take: the function is the code.
_NOT_TAKEN = ("entrypoint", "working_dir")


class EmrRayDecoratedOperator(DecoratedOperator, EmrRayJobSubmitOperator):
    """The operator behind ``@task.emr_ray`` (see the module's docstring).

    :param python_callable: The function run as the Ray job.
    :param op_args: Its positional arguments (JSON values). Templated.
    :param op_kwargs: Its keyword arguments (JSON values). Templated.
    """

    custom_operator_name = "@task.emr_ray"
    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *(f for f in EmrRayJobSubmitOperator.template_fields if f not in _NOT_TAKEN),
    )
    template_fields_renderers = {**DecoratedOperator.template_fields_renderers, **EmrRayJobSubmitOperator.template_fields_renderers}

    def __init__(self, *, python_callable: Callable[..., Any], op_args: Any = None, op_kwargs: Any = None, **kwargs: Any) -> None:
        from airflow_provider_emr_ray.utils.function_source import SCRIPT_NAME, FunctionSourceError, function_source

        for name in _NOT_TAKEN:
            if name in kwargs:
                raise validation_error(name, "is not an argument of @task.emr_ray: the decorated function is the job's code")
        if not kwargs.get("wait_for_completion", True):
            raise validation_error("wait_for_completion", "must be True with @task.emr_ray: its return value is the job's")
        try:
            self._function_source = function_source(python_callable)
        except FunctionSourceError as exc:
            raise validation_error("python_callable", str(exc)) from None
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            entrypoint=f"python {SCRIPT_NAME}",
            **kwargs,
        )

    def _check_runtime_env(self) -> None:
        from airflow_provider_emr_ray.operators.emr_ray import _parsed_runtime_env

        if self.runtime_env is not None and "working_dir" in _parsed_runtime_env(self.runtime_env):
            raise validation_error(
                "runtime_env.working_dir",
                "is not taken by @task.emr_ray (the function is the code): put other code in runtime_env['py_modules']",
            )

    def _ships_a_folder(self) -> bool:
        """Ray's Jobs API (a generated working_dir) or SubmitRayJob (the script in the entrypoint)."""
        return bool(self.cluster_id) and self.submission_api in ("auto", "ray") and self.head_spec is None and self.worker_spec is None

    def execute(self, context: Any) -> Any:
        """Ship the function and run it (the submit operator's ``execute``; ``DecoratedOperator``'s
        own adds only Asset in/outlets, which JSON arguments and results cannot be, and differs
        between Airflow 3.0 and 3.3)."""
        from airflow_provider_emr_ray.utils.function_source import (
            SCRIPT_NAME,
            FunctionSourceError,
            encode_arguments,
            inline_entrypoint,
            runner_script,
        )

        self._check_runtime_env()
        try:  # before any API call
            arguments = encode_arguments(self.op_args, self.op_kwargs)
        except FunctionSourceError as exc:
            raise validation_error("op_args/op_kwargs", str(exc)) from None
        script = runner_script(self._function_source, self.python_callable.__name__, arguments)
        if not self._ships_a_folder():
            try:
                self.entrypoint = inline_entrypoint(script)
            except FunctionSourceError as exc:
                raise validation_error("python_callable", str(exc)) from None
            return EmrRayJobSubmitOperator.execute(self, context)
        with tempfile.TemporaryDirectory(prefix="emr-ray-task-") as folder:
            (Path(folder) / SCRIPT_NAME).write_text(script, encoding="utf-8")
            self.working_dir = folder  # zipped and uploaded by the submit (same content: same package)
            try:
                return EmrRayJobSubmitOperator.execute(self, context)
            finally:
                self.working_dir = None  # the folder is gone: never rendered nor reused

    def _job_succeeded(self, context: Any, submission_id: str, job: dict[str, Any]) -> Any:
        """The function's return value, read from the end of the job's driver log."""
        from airflow_provider_emr_ray.utils.function_source import RESULT_MARKER, RESULT_MAX_BYTES, parse_result
        from airflow_provider_emr_ray.redaction import redact_text
        from airflow_provider_emr_ray.utils.logs import last_line_starting

        try:
            line = last_line_starting(self._log_source(submission_id, job), RESULT_MARKER, RESULT_MAX_BYTES)
        except Exception as exc:
            raise AirflowException(
                f"Ray job {submission_id} succeeded, but its log, which carries the function's return value, could not be "
                f"read: {redact_text(str(exc))}"
            ) from None
        if line is None:
            raise AirflowException(
                f"Ray job {submission_id} succeeded, but its log holds no return value of "
                f"{self.python_callable.__name__}() (did the function end the process itself, e.g. sys.exit or os._exit?)"
            )
        result = parse_result(line)
        self.log.info("%s() returned %d characters of JSON", self.python_callable.__name__, len(line) - len(RESULT_MARKER))
        return result


def emr_ray_task(python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any) -> Any:
    """``@task.emr_ray``: run the decorated function as a Ray job on EMR Serverless Spark (see
    :class:`EmrRayDecoratedOperator`).

    :param python_callable: The function (given when used as ``@task.emr_ray`` without parentheses).
    :param multiple_outputs: Push each key of a returned dict as its own XCom.
    :param kwargs: The arguments of
        :class:`~airflow_provider_emr_ray.operators.emr_ray.EmrRayJobSubmitOperator`.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=EmrRayDecoratedOperator,
        **kwargs,
    )
