"""OpenLineage translation (unit): the Spark properties common-compat's helpers fill, read as
the Ray job's environment variables; user variables never overwritten; nothing without the
OpenLineage provider (a subprocess in which it cannot be imported); nothing at parse time.

The end-to-end check with the real provider is ``tests/operators/test_openlineage_integration.py``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_emr_ray.utils import openlineage as ol

S = "spark.openlineage."
PARENT_PROPS = {
    f"{S}parentJobNamespace": "default",
    f"{S}parentJobName": "nightly.train",
    f"{S}parentRunId": "01935a4e-0000-7000-8000-000000000001",
    f"{S}rootParentRunId": "01935a4e-0000-7000-8000-000000000002",
    f"{S}rootParentJobName": "nightly",
    f"{S}rootParentJobNamespace": "default",
}


def test_parent_run_reads_as_the_three_variables() -> None:
    env = ol._parent_vars(PARENT_PROPS)
    assert env[ol.PARENT_ID] == "default/nightly.train/01935a4e-0000-7000-8000-000000000001"
    assert env[ol.ROOT_PARENT_ID] == "default/nightly/01935a4e-0000-7000-8000-000000000002"
    context = json.loads(env[ol.CONTEXT])["parent"]
    assert context["run"] == {"runId": "01935a4e-0000-7000-8000-000000000001"}
    assert context["job"]["name"] == "nightly.train" and context["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert context["root"]["run"] == {"runId": "01935a4e-0000-7000-8000-000000000002"}
    # the task's own DAG run is the root: marked as a DAG job
    assert context["root"]["job"] == {"namespace": "default", "name": "nightly", "facets": {"jobType": ol._DAG_JOB_TYPE}}


def test_an_inherited_root_is_not_marked_as_this_dags() -> None:
    props = {**PARENT_PROPS, f"{S}rootParentJobName": "upstream_dag", f"{S}rootParentJobNamespace": "other"}
    context = json.loads(ol._parent_vars(props)[ol.CONTEXT])["parent"]
    assert context["root"]["job"] == {"namespace": "other", "name": "upstream_dag"}
    assert ol._parent_vars(props)[ol.ROOT_PARENT_ID].startswith("other/upstream_dag/")


@pytest.mark.parametrize("missing", [f"{S}parentRunId", f"{S}rootParentJobName", f"{S}parentJobName"])
def test_incomplete_parent_properties_add_nothing(missing: str) -> None:
    assert ol._parent_vars({k: v for k, v in PARENT_PROPS.items() if k != missing}) == {}
    assert ol._parent_vars({}) == {}  # the helper without the provider returns what it was given


def test_http_transport_reads_as_url_endpoint_and_key() -> None:
    props = {
        f"{S}transport.type": "http",
        f"{S}transport.url": "http://marquez:5000",
        f"{S}transport.endpoint": "api/v1/lineage",
        f"{S}transport.timeoutInMillis": "5000",
        f"{S}transport.auth.type": "api_key",
        f"{S}transport.auth.apiKey": "Bearer k-123",
    }
    assert ol._transport_vars(props) == {ol.URL: "http://marquez:5000", ol.ENDPOINT: "api/v1/lineage", ol.API_KEY: "k-123"}
    del props[f"{S}transport.auth.apiKey"], props[f"{S}transport.endpoint"]
    assert ol._transport_vars(props) == {ol.URL: "http://marquez:5000"}


def test_composite_transport_gives_its_first_http_transport(caplog: pytest.LogCaptureFixture) -> None:
    props = {
        f"{S}transport.type": "composite",
        f"{S}transport.continueOnFailure": "True",
        f"{S}transport.transports.zeta.type": "http",
        f"{S}transport.transports.zeta.url": "http://z:1",
        f"{S}transport.transports.alpha.type": "http",
        f"{S}transport.transports.alpha.url": "http://a:1",
        f"{S}transport.transports.alpha.auth.apiKey": "Bearer a-key",
    }
    with caplog.at_level(logging.INFO, logger=ol.__name__):
        assert ol._transport_vars(props) == {ol.URL: "http://a:1", ol.API_KEY: "a-key"}
    assert "2 HTTP transports" in caplog.text and "'alpha'" in caplog.text


@pytest.mark.parametrize(
    "props",
    [
        {},
        {f"{S}transport.type": "console"},
        {f"{S}transport.type": "composite", f"{S}transport.continueOnFailure": "True"},
        {f"{S}transport.type": "http", f"{S}transport.endpoint": "api/v1/lineage"},  # no url
    ],
)
def test_no_usable_http_transport_adds_nothing(props: dict) -> None:
    assert ol._transport_vars(props) == {}


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """common-compat's two helpers replaced by ones that fill known properties (and record calls)."""
    from airflow.providers.common.compat.openlineage.utils import spark

    calls: list[str] = []

    def parent(props: dict, context: object) -> dict:
        calls.append("parent")
        return {**props, **PARENT_PROPS}

    def transport(props: dict, context: object) -> dict:
        calls.append("transport")
        return {**props, f"{S}transport.type": "http", f"{S}transport.url": "http://ol:1", f"{S}transport.auth.apiKey": "Bearer s3cr3t-key"}

    monkeypatch.setattr(spark, "inject_parent_job_information_into_spark_properties", parent)
    monkeypatch.setattr(spark, "inject_transport_information_into_spark_properties", transport)
    return calls


def test_lineage_env_vars_adds_what_is_asked_and_masks_the_key(helpers: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_emr_ray.redaction.mask", masked.append)
    env = ol.lineage_env_vars({}, {"USER_VAR": "x"}, parent=True, transport=False)
    assert set(env) == {ol.PARENT_ID, ol.ROOT_PARENT_ID, ol.CONTEXT} and helpers == ["parent"]
    assert masked == []
    env = ol.lineage_env_vars({}, {}, parent=True, transport=True)
    assert env[ol.URL] == "http://ol:1" and env[ol.API_KEY] == "s3cr3t-key"
    assert masked == ["s3cr3t-key"]
    assert ol.lineage_env_vars({}, {}, parent=False, transport=False) == {} and helpers == ["parent", "parent", "transport"]


@pytest.mark.parametrize(
    ("user", "skipped"),
    [
        ({"OPENLINEAGE_PARENT_ID": "mine"}, "parent"),
        ({"OPENLINEAGE_ROOT_PARENT_RUN_ID": "mine"}, "parent"),
        ({"OPENLINEAGE_CONTEXT": "{}"}, "parent"),
        ({"OPENLINEAGE_URL": "http://mine"}, "transport"),
        ({"OPENLINEAGE_CONFIG": "/etc/ol.yml"}, "transport"),
        ({"OPENLINEAGE__TRANSPORT__TYPE": "console"}, "transport"),
    ],
)
def test_a_user_variable_of_a_group_leaves_that_group_out(
    helpers: list[str], user: dict, skipped: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=ol.__name__):
        env = ol.lineage_env_vars({}, user, parent=True, transport=True)
    parent_keys, transport_keys = {ol.PARENT_ID, ol.ROOT_PARENT_ID, ol.CONTEXT}, {ol.URL, ol.API_KEY}
    assert set(env) == (transport_keys if skipped == "parent" else parent_keys)
    assert helpers == (["transport"] if skipped == "parent" else ["parent"])  # the skipped helper not even called
    what = "parent job" if skipped == "parent" else "transport"
    assert f"OpenLineage {what} information not injected" in caplog.text
    assert next(iter(user)) in caplog.text
    merged = ol.with_env_vars({"env_vars": user, "pip": ["x"]}, env)
    assert merged["pip"] == ["x"] and all(merged["env_vars"][k] == v for k, v in user.items())


def test_a_failing_helper_never_fails_the_job(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from airflow.providers.common.compat.openlineage.utils import spark

    def broken(props: dict, context: object) -> dict:
        raise RuntimeError("listener not configured")

    monkeypatch.setattr(spark, "inject_parent_job_information_into_spark_properties", broken)
    with caplog.at_level(logging.WARNING, logger=ol.__name__):
        assert ol.lineage_env_vars({}, {}, parent=True, transport=False) == {}
    assert "not injected: listener not configured" in caplog.text


def test_with_env_vars_keeps_user_values_and_copies() -> None:
    runtime_env = {"env_vars": {ol.PARENT_ID: "mine"}, "working_dir": "oss://b/c.zip"}
    out = ol.with_env_vars(runtime_env, {ol.PARENT_ID: "theirs", ol.CONTEXT: "{}"})
    assert out["env_vars"] == {ol.PARENT_ID: "mine", ol.CONTEXT: "{}"}
    assert runtime_env["env_vars"] == {ol.PARENT_ID: "mine"}  # the operator's own value untouched
    assert ol.with_env_vars({}, {ol.CONTEXT: "{}"}) == {"env_vars": {ol.CONTEXT: "{}"}}


def test_code_datasets_and_source() -> None:
    found = ol.code_datasets(["oss://bucket/a/b.zip", None, "", "./local/dir", "oss://bucket/a/b.zip", "s3://x"])
    assert found == [("oss://bucket", "a/b.zip"), ("file", "./local/dir"), ("s3://x", "/")]
    assert ol.source_namespace("cn-hangzhou", "w-1") == "emr-serverless-spark://cn-hangzhou/w-1"
    assert ol.source_namespace(None, None) == "emr-serverless-spark://unknown/unknown"


# ---- without the OpenLineage provider, and at parse time: in a fresh interpreter -------------

_BLOCK_OPENLINEAGE = textwrap.dedent(
    """
    import importlib.abc, sys

    # As if the OpenLineage provider were not installed: its code and its client cannot be
    # imported (its package and provider-info entry point stay findable, as Airflow's providers
    # manager lists the installed distributions' entry points).
    REGISTERED = ("airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in REGISTERED:
                return None
            if name == "openlineage" or name.startswith(("openlineage.", "airflow.providers.openlineage.")):
                raise ModuleNotFoundError(f"blocked: {name}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_without_the_provider_nothing_is_injected_or_imported() -> None:
    code = _BLOCK_OPENLINEAGE + textwrap.dedent(
        """
        from airflow_provider_emr_ray.utils.openlineage import lineage_env_vars
        env = lineage_env_vars({}, {}, parent=True, transport=True)
        assert env == {}, env
        loaded = [m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage"))]
        assert not [m for m in loaded if m not in REGISTERED], loaded
        print("ok")
        """
    )
    out = _run(code)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:] + out.stdout
    logged = out.stdout + out.stderr  # common-compat's fallbacks say why, once per group
    assert "Skipping the injection of OpenLineage parent job information" in logged
    assert "Skipping the injection of OpenLineage transport information" in logged


def test_parsing_a_dag_imports_no_openlineage(tmp_path) -> None:
    """The provider installed (the test extra): parsing a DAG file building the submit operator
    and the decorator with OpenLineage parameters loads neither it nor our OpenLineage module."""
    dag_file = tmp_path / "ol_dag.py"
    dag_file.write_text(textwrap.dedent(
        """
        import sys
        from airflow.sdk import DAG, task
        from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
        with DAG("d", schedule=None):
            EmrRayJobSubmitOperator(task_id="j", entrypoint="python x.py", cluster_id="c-1",
                                    openlineage_inject_parent_job_info=True, openlineage_inject_transport_info=True)

            @task.emr_ray(cluster_id="c-1")
            def f():
                return 1

            f()
        # Airflow's providers manager reads every provider's registration (looking up task.emr_ray)
        registered = ("airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info")
        loaded = [m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage"))
                  or m == "airflow_provider_emr_ray.utils.openlineage"]
        assert not [m for m in loaded if m not in registered], loaded
        print("ok")
        """
    ))  # fmt: skip
    out = _run(f"import runpy; runpy.run_path({str(dag_file)!r})")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:] + out.stdout
