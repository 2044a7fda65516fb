"""The hook's public surface as an IDE sees it: written-out methods, async twins with the very
same signature, keyword lists that match the request models, and a lazy module."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

from airflow_provider_emr_ray.hooks.emr_ray import EmrRayHook
from airflow_provider_emr_ray.hooks.specs import ClusterSpec, JobSpec
from tests.hooks.test_emr_ray import ACTIONS

#: Public methods of the hook that are Airflow plumbing, not API calls.
PLUMBING = {"close", "get_conn", "test_connection"}
#: The calls of Ray's own Jobs API at a cluster's jobUrl.
RAY_JOBS_CALLS = {"ray_submit_job", "ray_get_job", "ray_list_jobs", "ray_stop_job", "ray_delete_job",
                  "ray_get_job_logs", "ray_upload_package"}  # fmt: skip
#: Sync-only on purpose: the websocket log tail a worker follows while it waits (a trigger never
#: reads logs: the log is copied on the worker when the task resumes).
SYNC_ONLY = {"ray_open_log_tail"}


def _public(kind):
    return {
        name: member
        for name, member in vars(EmrRayHook).items()
        if not name.startswith("_") and inspect.isfunction(member) and kind(member)
    }


#: The hook's waits, built on :class:`~airflow_provider_emr_ray.utils.waiting.Wait`.
WAITS = {"wait_for_cluster", "wait_for_job"}


def test_every_sync_call_has_an_async_twin_with_the_same_signature():
    sync = _public(lambda f: not inspect.iscoroutinefunction(f))
    # the thirteen API calls, Ray's, and the hook's waits
    assert set(sync) - PLUMBING - SYNC_ONLY == set(ACTIONS) | RAY_JOBS_CALLS | WAITS
    assert SYNC_ONLY <= set(sync) and not any(hasattr(EmrRayHook, "a" + name) for name in SYNC_ONLY)
    for name in set(sync) - PLUMBING - SYNC_ONLY:
        method, twin = sync[name], getattr(EmrRayHook, "a" + name, None)
        assert twin is not None and inspect.iscoroutinefunction(twin), name
        assert inspect.signature(method) == inspect.signature(twin), name  # parameters and return
        assert inspect.signature(method).return_annotation not in (inspect.Signature.empty, "Any"), name
        assert ":param" in (method.__doc__ or "") or not list(inspect.signature(method).parameters)[1:], name
        assert twin.__doc__ == f"Async twin of :meth:`{name}`.", name


def test_no_public_method_takes_bare_args_or_kwargs():
    for name, member in {**_public(inspect.iscoroutinefunction), **_public(lambda f: True)}.items():
        for param in inspect.signature(member).parameters.values():
            assert param.kind is not param.VAR_POSITIONAL, name
            if param.kind is param.VAR_KEYWORD:
                assert str(param.annotation).startswith("Unpack["), (name, param)


@pytest.mark.parametrize(
    ("spec", "model", "own"),
    [(ClusterSpec, "RayClusterConfig", {"name"}), (JobSpec, "RayJobConfig", {"entrypoint"})],
)
def test_keyword_lists_match_the_request_models(spec, model, own):
    """Every field of the request body is a keyword of the hook (spec or explicit), and no more."""
    from airflow_provider_emr_ray import models

    fields = set(getattr(models, model).model_fields) - {"extra_fields"}
    assert set(spec.__annotations__) - {"extra_fields"} | own == fields
    assert "extra_fields" in spec.__annotations__
    assert spec.__total__ is False


def test_required_keywords_are_explicit_parameters():
    for method, required in (("create_ray_cluster", "name"), ("submit_ray_job", "entrypoint")):
        param = inspect.signature(getattr(EmrRayHook, method)).parameters[required]
        assert param.kind is param.KEYWORD_ONLY and param.default is param.empty, method


def test_importing_the_hook_loads_no_wire_library_of_its_own():
    """DAG files import the hook on every parse: httpx, pydantic, the credentials SDK, the
    models and the credential providers load on first use, beyond what Airflow itself loads."""
    code = (
        "import sys\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_emr_ray.hooks.emr_ray\n"
        "new = sorted(set(sys.modules) - before)\n"
        "bad = [m for m in new if m.startswith(('httpx', 'pydantic', 'alibabacloud'))\n"
        "       or m in ('airflow_provider_emr_ray.models', 'airflow_provider_emr_ray.client.credentials')]\n"
        "print('BAD', bad)\n"
    )
    env = {**os.environ, "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "BAD []", done.stdout
