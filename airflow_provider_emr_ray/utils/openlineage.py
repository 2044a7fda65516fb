"""OpenLineage: the Ray job linked to the Airflow task that submitted it.

Two halves, both loaded only when used (never at DAG parse), both a no-op without the
OpenLineage provider (``apache-airflow-providers-openlineage``):

* **Injection** (:func:`lineage_env_vars`, :func:`with_env_vars`), when the submit operator or
  ``@task.emr_ray`` is asked to (``openlineage_inject_parent_job_info`` /
  ``openlineage_inject_transport_info``, defaults from ``[openlineage]
  spark_inject_parent_job_info`` / ``spark_inject_transport_info`` as for the official Spark-job
  operators): environment variables of the Ray job's ``runtime_env.env_vars`` that the
  OpenLineage clients read.

  - parent and root run: ``OPENLINEAGE_PARENT_ID`` and ``OPENLINEAGE_ROOT_PARENT_ID``
    (``{namespace}/{job name}/{run id}``, the format of the provider's ``lineage_parent_id`` macro
    that the OpenLineage Python integrations read), and ``OPENLINEAGE_CONTEXT``, the JSON the
    Databricks operators pass (``{"parent": {"run", "job", "root": {"run", "job"}}}``);
  - transport (one HTTP transport: the Python client's ``OPENLINEAGE_URL``,
    ``OPENLINEAGE_ENDPOINT`` and ``OPENLINEAGE_API_KEY``; timeout, compression and custom
    headers are not passed). The API key is registered with the secrets masker.

  The values come from ``apache-airflow-providers-common-compat``'s OpenLineage helpers (the
  Spark-property ones, which the provider fills and which log a warning and add nothing without
  it), translated to these names. Variables the user set are never overwritten: any user
  variable of a group (``OPENLINEAGE_PARENT*``, ``OPENLINEAGE_ROOT_PARENT*``,
  ``OPENLINEAGE_CONTEXT``; ``OPENLINEAGE_URL``, ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``,
  ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT*``) leaves that whole group out, logged.

* **Facets** (:func:`operator_lineage`), for the provider's
  ``get_openlineage_facets_on_complete`` / ``_on_failure``: an ``ExternalQueryRunFacet``
  keyed by the submission id with the workspace as its source
  (:func:`source_namespace`), an ``ErrorMessageRunFacet`` when the job failed, and the
  ``working_dir`` / ``py_modules`` locations as input datasets (:func:`code_datasets`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

#: The variables of each group (user variables of a group leave the whole group out).
PARENT_ID = "OPENLINEAGE_PARENT_ID"
ROOT_PARENT_ID = "OPENLINEAGE_ROOT_PARENT_ID"
CONTEXT = "OPENLINEAGE_CONTEXT"
URL, ENDPOINT, API_KEY = "OPENLINEAGE_URL", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_API_KEY"
_PARENT_PREFIXES = ("OPENLINEAGE_PARENT", "OPENLINEAGE_ROOT_PARENT", CONTEXT)
_TRANSPORT_PREFIXES = (URL, ENDPOINT, API_KEY, "OPENLINEAGE_CONFIG", "OPENLINEAGE__TRANSPORT")

#: The config options giving the parameters' defaults (those of the official Spark-job operators).
CONFIG_SECTION = "openlineage"
PARENT_OPTION = "spark_inject_parent_job_info"
TRANSPORT_OPTION = "spark_inject_transport_info"

_SPARK = "spark.openlineage."
_TASK_JOB_TYPE = {"processingType": "BATCH", "integration": "AIRFLOW", "jobType": "TASK"}
_DAG_JOB_TYPE = {"processingType": "BATCH", "integration": "AIRFLOW", "jobType": "DAG"}

log = logging.getLogger(__name__)


def inject_default(option: str) -> bool:
    """The default of an ``openlineage_inject_*`` parameter: ``[openlineage] <option>``, False."""
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean(CONFIG_SECTION, option, fallback=False)


def _user_has(env_vars: Mapping[str, Any], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(k for k in env_vars if str(k).startswith(prefixes))


def _parent_vars(props: Mapping[str, Any]) -> dict[str, str]:
    """The parent-run variables from the Spark properties of common-compat's helper."""
    try:
        namespace = props[f"{_SPARK}parentJobNamespace"]
        name = props[f"{_SPARK}parentJobName"]
        run_id = props[f"{_SPARK}parentRunId"]
        root_namespace = props.get(f"{_SPARK}rootParentJobNamespace") or namespace
        root_name = props[f"{_SPARK}rootParentJobName"]
        root_run_id = props[f"{_SPARK}rootParentRunId"]
    except KeyError:  # the OpenLineage provider is not installed: the helper added nothing
        return {}
    root_job: dict[str, Any] = {"namespace": root_namespace, "name": root_name}
    if name.startswith(f"{root_name}."):  # the DAG run itself is the root (not one it inherited)
        root_job["facets"] = {"jobType": dict(_DAG_JOB_TYPE)}
    context = {
        "parent": {
            "run": {"runId": run_id},
            "job": {"namespace": namespace, "name": name, "facets": {"jobType": dict(_TASK_JOB_TYPE)}},
            "root": {"run": {"runId": root_run_id}, "job": root_job},
        }
    }
    return {
        PARENT_ID: f"{namespace}/{name}/{run_id}",
        ROOT_PARENT_ID: f"{root_namespace}/{root_name}/{root_run_id}",
        CONTEXT: json.dumps(context, separators=(",", ":")),
    }


def _transport_vars(props: Mapping[str, Any]) -> dict[str, str]:
    """One HTTP transport's variables from the Spark properties of common-compat's helper."""
    prefix = f"{_SPARK}transport."
    kind = props.get(f"{prefix}type")
    if kind == "composite":  # its HTTP transports: spark.openlineage.transport.transports.<name>.<key>
        names = sorted({k[len(f"{prefix}transports.") :].split(".")[0] for k in props if k.startswith(f"{prefix}transports.")})
        if not names:
            return {}
        if len(names) > 1:
            log.info("OpenLineage: the composite transport has %d HTTP transports; the Ray job gets %r only", len(names), names[0])
        prefix = f"{prefix}transports.{names[0]}."
    elif kind != "http":
        return {}
    key = props.get(f"{prefix}auth.apiKey")  # the provider gives its bearer header value
    key = key.removeprefix("Bearer ") if isinstance(key, str) else key  # the Python client adds it
    found = {URL: props.get(f"{prefix}url"), ENDPOINT: props.get(f"{prefix}endpoint"), API_KEY: key}
    return {k: str(v) for k, v in found.items() if v} if found[URL] else {}


def lineage_env_vars(
    context: Any, user_env_vars: Mapping[str, Any], *, parent: bool, transport: bool, logger: Any = log
) -> dict[str, str]:
    """The OpenLineage variables to add to the Ray job's ``runtime_env.env_vars`` (none that the
    user set: see the module docstring). Imports the OpenLineage helpers only when asked.

    :param context: The task's Airflow context.
    :param user_env_vars: The ``env_vars`` of the user's runtime env.
    :param parent: Add the parent and root run.
    :param transport: Add the HTTP transport.
    :param logger: Where to say what was added or left out (the task's logger).
    """
    if not (parent or transport):
        return {}
    try:
        from airflow.providers.common.compat.openlineage.utils.spark import (
            inject_parent_job_information_into_spark_properties,
            inject_transport_information_into_spark_properties,
        )
    except ImportError as exc:  # a common-compat without these helpers
        logger.warning("OpenLineage information not injected: %s", exc)
        return {}

    added: dict[str, str] = {}
    for wanted, prefixes, inject, translate, what in (
        (parent, _PARENT_PREFIXES, inject_parent_job_information_into_spark_properties, _parent_vars, "parent job"),
        (transport, _TRANSPORT_PREFIXES, inject_transport_information_into_spark_properties, _transport_vars, "transport"),
    ):
        if not wanted:
            continue
        own = _user_has(user_env_vars, prefixes)
        if own:
            logger.info("OpenLineage %s information not injected: runtime_env.env_vars already sets %s", what, ", ".join(own))
            continue
        try:
            values = translate(inject({}, context))
        except Exception as exc:  # lineage never fails the job
            logger.warning("OpenLineage %s information not injected: %s", what, exc)
            continue
        added.update(values)
    if added.get(API_KEY):
        from airflow_provider_emr_ray.redaction import mask

        mask(added[API_KEY])
    if added:
        logger.info("OpenLineage: the Ray job's runtime_env.env_vars get %s", ", ".join(sorted(added)))
    return added


def mask_transport_key(context: Any) -> None:
    """Register the transport's API key with the secrets masker again: a task resumed after a
    deferral runs in a new process, where the job's log it copies may show the key."""
    try:
        from airflow.providers.common.compat.openlineage.utils.spark import (
            inject_transport_information_into_spark_properties,
        )

        key = _transport_vars(inject_transport_information_into_spark_properties({}, context)).get(API_KEY)
    except Exception as exc:  # lineage never fails the task
        log.debug("OpenLineage transport key not read: %s", exc)
        return
    if key:
        from airflow_provider_emr_ray.redaction import mask

        mask(key)


def with_env_vars(runtime_env: Mapping[str, Any], added: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``runtime_env`` whose ``env_vars`` also hold ``added`` (user values kept)."""
    env = dict(runtime_env)
    env["env_vars"] = {**added, **(env.get("env_vars") or {})}
    return env


# ---- facets --------------------------------------------------------------------------------


def source_namespace(region_id: str | None, workspace_id: str | None) -> str:
    """The OpenLineage source of a workspace's jobs: ``emr-serverless-spark://<region>/<workspace>``."""
    return f"emr-serverless-spark://{region_id or 'unknown'}/{workspace_id or 'unknown'}"


def code_datasets(locations: Iterable[Any]) -> list[tuple[str, str]]:
    """``(namespace, name)`` of each code location: ``oss://bucket/a/b.zip`` ->
    ``("oss://bucket", "a/b.zip")``, a local path -> ``("file", path)``; duplicates once."""
    found: list[tuple[str, str]] = []
    for location in locations:
        if not isinstance(location, str) or not location:
            continue
        parts = urlsplit(location)
        if parts.scheme and parts.netloc:
            item = (f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/")
        else:
            item = ("file", location)
        if item not in found:
            found.append(item)
    return found


def operator_lineage(
    *, submission_id: str | None, source: str, code: Iterable[Any], error: str | None = None
) -> Any:
    """The ``OperatorLineage`` of a job submit (the OpenLineage provider is installed: it calls).

    :param submission_id: The job's submission id (no run facet without it).
    :param source: :func:`source_namespace` of the job's workspace.
    :param code: The ``working_dir`` and ``py_modules`` locations.
    :param error: The job's failure, as the task's error said it.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ErrorMessageRunFacet,
        ExternalQueryRunFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facets: dict[str, Any] = {}
    if submission_id:
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=submission_id, source=source)
    if error:
        run_facets["errorMessage"] = ErrorMessageRunFacet(message=error, programmingLanguage="python")
    inputs = [Dataset(namespace=namespace, name=name) for namespace, name in code_datasets(code)]
    return OperatorLineage(inputs=inputs, run_facets=run_facets)
