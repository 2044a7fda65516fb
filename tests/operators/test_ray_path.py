"""EmrRayJobSubmitOperator on Ray's Jobs API path (``submission_api="ray"``/``"auto"``), against
the scripted hook: which path is chosen and its errors (before any call), the deterministic
submission id, reattach and resubmit, waiting and deferral, kill, the log tail, and no token
anywhere the operator writes."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from airflow_provider_emr_ray import version_compat
from airflow_provider_emr_ray.exceptions import EmrRayOutcomeUnknownError, EmrRayValidationError
from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobSubmitOperator
from airflow_provider_emr_ray.tags import (
    RAY_SUBMISSION_ID_MAX_LENGTH,
    RAY_SUBMISSION_ID_PATTERN,
    ray_submission_id,
    workflow_id,
)
from airflow_provider_emr_ray.triggers.emr_ray import RayJobStatusTrigger
from tests.operators.fakes import FakeTI, ScriptedHook, with_hook

TOKEN = "ray-submit-token-S3CRET"
DASH_TOKEN = "dash-T0KEN"
CLUSTER = {
    "clusterId": "ray-1",
    "state": "Running",
    "jobUrl": "http://127.0.0.1:1/ray-gateway",
    "submitToken": TOKEN,
    "dashboardUrl": f"https://ray.example/dashboard/?token={DASH_TOKEN}",
}
HEAD = {"cpu": "2", "memory": "8Gi", "queueName": "dev_queue"}


@pytest.fixture
def dag_dir(tmp_path: Path) -> Path:
    """A DAG folder with ``ray_jobs/train.py`` and a module next to the DAG file."""
    (tmp_path / "ray_jobs").mkdir()
    (tmp_path / "ray_jobs" / "train.py").write_text("print('epoch 1')\n")
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "__init__.py").write_text("")
    return tmp_path


def rctx(dag_dir: Path | None = None, ti: FakeTI | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTI()}
    if dag_dir is not None:
        context["dag"] = SimpleNamespace(fileloc=str(dag_dir / "my_dag.py"))
    return context


def hook() -> ScriptedHook:
    return ScriptedHook(clusters=[CLUSTER])


def op(**kwargs: Any) -> EmrRayJobSubmitOperator:
    base: dict[str, Any] = {"task_id": "task", "entrypoint": "python train.py", "wait_for_completion": False}
    return EmrRayJobSubmitOperator(**{**base, **kwargs})


def logged(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> str:
    """What was logged, whether Airflow's structlog wrote it to stdout or stdlib logging caught it."""
    out = capsys.readouterr()
    return caplog.text + out.out + out.err


def ray_submits(h: ScriptedHook) -> list[dict[str, Any]]:
    return [c[2] for c in h.calls if c[0] == "ray_submit_job"]


# ---------------------------------------------------------------- which path


def test_auto_with_a_local_working_dir_and_a_cluster_takes_the_ray_path(dag_dir: Path) -> None:
    h = hook()
    ti = FakeTI()
    sid = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs"), h).execute(rctx(dag_dir, ti))
    assert "submit_ray_job" not in h.names()
    (sent,) = ray_submits(h)
    assert h.calls[0][1] == ("ray-1",)
    assert sent["submission_id"] == sid == ray_submission_id("dag", ti.run_id, "task", -1)
    # resolved against the DAG file's folder, absolute
    assert sent["runtime_env"] == {"working_dir": str((dag_dir / "ray_jobs").resolve())}
    assert sent["entrypoint"] == "python train.py"
    assert ti.xcoms["submissionId"] == sid and ti.xcoms["submissionApi"] == "ray"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"runtime_env": {"working_dir": "ray_jobs"}},
        {"runtime_env": '{"py_modules": ["mylib"]}'},
        {"working_dir": "oss://bucket/code.zip", "runtime_env": {"py_modules": ["mylib", "https://x/y.whl"]}},
        {"submission_api": "ray"},
        {"submission_api": "ray", "working_dir": "https://example.com/code.zip"},
    ],
)
def test_ray_path_cases(dag_dir: Path, kwargs: dict[str, Any]) -> None:
    h = hook()
    with_hook(op(cluster_id="ray-1", **kwargs), h).execute(rctx(dag_dir))
    assert len(ray_submits(h)) == 1 and "submit_ray_job" not in h.names()


def test_py_modules_are_resolved_and_urls_kept(dag_dir: Path) -> None:
    h = hook()
    with_hook(op(cluster_id="ray-1", runtime_env={"py_modules": ["mylib", "https://x/y.whl"], "pip": ["x"]}), h).execute(
        rctx(dag_dir)
    )
    env = ray_submits(h)[0]["runtime_env"]
    assert env == {"py_modules": [str((dag_dir / "mylib").resolve()), "https://x/y.whl"], "pip": ["x"]}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cluster_id": "ray-1"},
        {"cluster_id": "ray-1", "working_dir": "oss://bucket/code.zip"},
        {"cluster_id": "ray-1", "working_dir": "https://example.com/code.zip"},
        {"head_spec": HEAD, "working_dir": "oss://bucket/code.zip"},
        {"head_spec": HEAD},
        {"cluster_id": "ray-1", "submission_api": "openapi"},
    ],
)
def test_openapi_path_cases(kwargs: dict[str, Any]) -> None:
    h = hook()
    ti = FakeTI()
    with_hook(op(**kwargs), h).execute(rctx(None, ti))
    assert h.names() == ["submit_ray_job"]
    assert ti.xcoms["submissionApi"] == "openapi"


def _rejected(operator: EmrRayJobSubmitOperator, context: dict[str, Any]) -> EmrRayValidationError:
    h = with_hook(operator, hook()).hook
    with pytest.raises(EmrRayValidationError) as err:
        operator.execute(context)
    assert h.calls == []  # no API call at all
    return err.value


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"working_dir": "ray_jobs", "head_spec": HEAD}, "working_dir", "local path"),
        ({"working_dir": "ray_jobs"}, "working_dir", "cluster_id"),
        ({"runtime_env": {"py_modules": ["mylib"]}, "head_spec": HEAD}, "runtime_env.py_modules[0]", "local path"),
        ({"submission_api": "ray"}, "cluster_id", "required"),
        ({"submission_api": "ray", "cluster_id": "ray-1", "head_spec": HEAD}, "head_spec", "SubmitRayJob"),
        ({"submission_api": "ray", "cluster_id": "ray-1", "extra_param": "x"}, "extra_param", "SubmitRayJob"),
        ({"submission_api": "openapi", "cluster_id": "ray-1", "working_dir": "ray_jobs"}, "working_dir", "URL"),
        ({"submission_api": "Ray", "cluster_id": "ray-1"}, "submission_api", "one of"),
        ({"cluster_id": "ray-1", "ray_jobs_endpoint": "vpc"}, "ray_jobs_endpoint", "one of"),
    ],
)
def test_contradictions_fail_at_parse_when_literal(kwargs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(EmrRayValidationError) as err:
        op(**kwargs)
    assert err.value.field == field and words in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "rendered", "field"),
    [
        ({"working_dir": "{{ params.wd }}", "head_spec": HEAD}, {"working_dir": "ray_jobs"}, "working_dir"),
        ({"submission_api": "{{ params.api }}"}, {"submission_api": "ray"}, "cluster_id"),
        ({"submission_api": "{{ params.api }}", "cluster_id": "c"}, {"submission_api": "rayjobs"}, "submission_api"),
        ({"cluster_id": "c", "working_dir": "{{ params.wd }}"}, {"working_dir": "no_such_dir"}, "working_dir"),
        ({"cluster_id": "c", "working_dir": "{{ params.wd }}"}, {"working_dir": "/no/such/abs/dir"}, "working_dir"),
        ({"cluster_id": "c", "runtime_env": {"py_modules": ["{{ p }}"]}}, {"runtime_env": {"py_modules": ["nope"]}}, "runtime_env.py_modules[0]"),
        ({"cluster_id": "c", "ray_jobs_endpoint": "{{ e }}"}, {"ray_jobs_endpoint": "vpc"}, "ray_jobs_endpoint"),
        ({"cluster_id": "c", "working_dir": "ray_jobs", "metadata": {"n": 1}}, {}, "metadata['n']"),
        ({"cluster_id": "c", "working_dir": "ray_jobs", "runtime_env": {"working_dir": "mylib"}}, {}, "working_dir"),
    ],
)
def test_rendered_contradictions_fail_at_start_before_any_call(
    dag_dir: Path, kwargs: dict[str, Any], rendered: dict[str, Any], field: str
) -> None:
    operator = op(**kwargs)
    for name, value in rendered.items():
        setattr(operator, name, value)
    assert _rejected(operator, rctx(dag_dir)).field == field


def test_missing_local_dir_names_the_dag_folder(dag_dir: Path) -> None:
    err = _rejected(op(cluster_id="c", working_dir="missing"), rctx(dag_dir))
    assert str(dag_dir) in str(err) and "DAG file's folder" in str(err)


def test_relative_path_without_a_dag_file_is_an_error() -> None:
    err = _rejected(op(cluster_id="c", working_dir="ray_jobs"), rctx(None))
    assert "absolute" in str(err)


def test_absolute_and_home_paths(dag_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = hook()
    with_hook(op(cluster_id="c", working_dir=str(dag_dir / "ray_jobs")), h).execute(rctx(None))
    assert ray_submits(h)[0]["runtime_env"]["working_dir"] == str((dag_dir / "ray_jobs").resolve())
    monkeypatch.setenv("HOME", str(dag_dir))
    h = hook()
    with_hook(op(cluster_id="c", working_dir="~/ray_jobs"), h).execute(rctx(None))
    assert ray_submits(h)[0]["runtime_env"]["working_dir"] == str((dag_dir / "ray_jobs").resolve())


def test_submission_api_and_endpoint_are_templated() -> None:
    assert {"submission_api", "ray_jobs_endpoint", "working_dir", "cluster_id"} <= set(EmrRayJobSubmitOperator.template_fields)


@pytest.mark.parametrize(("endpoint", "internal"), [(None, None), ("public", False), ("internal", True)])
def test_endpoint_choice_reaches_every_ray_call(dag_dir: Path, endpoint: str | None, internal: bool | None) -> None:
    h = hook()
    h.ray_statuses().extend(["RUNNING", "SUCCEEDED"])
    with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", ray_jobs_endpoint=endpoint, wait_for_completion=True, poll_interval=0.01), h).execute(rctx(dag_dir))
    for name, _args, kw in h.calls:
        if name.startswith("ray_"):
            assert kw.get("internal") == internal if internal is not None else "internal" not in kw


# ---------------------------------------------------------------- the submission id


def test_submission_id_is_deterministic_and_valid() -> None:
    a = ray_submission_id("dag", "run-1", "task", -1)
    assert a == ray_submission_id("dag", "run-1", "task", -1)
    others = {
        ray_submission_id("dag", "run-2", "task", -1),
        ray_submission_id("dag", "run-1", "task", 0),
        ray_submission_id("dag", "run-1", "task", 1),
        ray_submission_id("dag", "run-1", "other", -1),
        ray_submission_id("dag2", "run-1", "task", -1),
        ray_submission_id("dag", "run-1", "task", -1, attempt=1),
    }
    assert a not in others and len(others) == 6
    for sid in (a, *others, ray_submission_id("D" * 300, "r" * 300, "Täsk.ü/x" * 40, 12345, 999), ray_submission_id("...", "r", "___", -1)):
        assert len(sid) <= RAY_SUBMISSION_ID_MAX_LENGTH and RAY_SUBMISSION_ID_PATTERN.match(sid), sid
    assert ray_submission_id("dag", "r", "task", -1, 2).endswith("-r2")


def test_same_id_on_every_try_and_differs_per_map_index(dag_dir: Path) -> None:
    ids = []
    for try_number in (1, 2, 3):
        h = hook()
        ids.append(with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir, FakeTI(try_number=try_number))))
    assert len(set(ids)) == 1
    mapped = {
        with_hook(op(cluster_id="c", working_dir="ray_jobs"), hook()).execute(rctx(dag_dir, FakeTI(map_index=i)))
        for i in (0, 1, 2)
    }
    assert len(mapped) == 3 and ids[0] not in mapped
    other_run = with_hook(op(cluster_id="c", working_dir="ray_jobs"), hook()).execute(rctx(dag_dir, FakeTI(run_id="other")))
    assert other_run != ids[0]


def test_metadata_carries_the_airflow_tags_user_tags_and_metadata(dag_dir: Path) -> None:
    h = hook()
    ti = FakeTI(try_number=2, map_index=4)
    with_hook(
        op(cluster_id="c", working_dir="ray_jobs", tags={"team": "ml"}, metadata='{"owner": "me"}', name="train"), h
    ).execute(rctx(dag_dir, ti))
    meta = ray_submits(h)[0]["metadata"]
    assert meta == {
        "owner": "me",
        "team": "ml",
        "airflow_dag_id": "dag",
        "airflow_run_id": ti.run_id,
        "airflow_task_id": "task",
        "airflow_map_index": "4",
        "workflowId": workflow_id("dag", ti.run_id),
        "name": "train",
        "airflow_try_number": "2",
    }
    assert ti.xcoms["tags"]["workflowId"] == workflow_id("dag", ti.run_id)
    assert "airflow_try_number" not in ti.xcoms["tags"]


# ---------------------------------------------------------------- reattach and resubmit


def _previous(h: ScriptedHook, sid: str, status: str, try_number: int = 1) -> None:
    h._ray_store()[sid] = {"submission_id": sid, "status": status, "metadata": {"airflow_try_number": str(try_number)}}


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "SUCCEEDED"])
def test_retry_reattaches_to_a_live_or_succeeded_job(dag_dir: Path, status: str, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    ti = FakeTI(try_number=2)
    h = hook()
    sid = ray_submission_id("dag", ti.run_id, "task", -1)
    _previous(h, sid, status)
    with caplog.at_level(logging.INFO):
        assert with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir, ti)) == sid
    assert len(h._ray_store()) == 1  # exactly one job
    assert h.names()[:2] == ["ray_submit_job", "ray_get_job"]
    assert "Reattaching to Ray job" in logged(capsys, caplog)


@pytest.mark.parametrize("status", ["FAILED", "STOPPED"])
def test_failed_previous_job_gets_a_new_deterministic_id(dag_dir: Path, status: str, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    ti = FakeTI(try_number=3)
    h = hook()
    base = ray_submission_id("dag", ti.run_id, "task", -1)
    _previous(h, base, status, 1)
    _previous(h, base + "-r1", "FAILED", 2)
    with caplog.at_level(logging.INFO):
        sid = with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir, ti))
    assert sid == ray_submission_id("dag", ti.run_id, "task", -1, attempt=2) == base + "-r2"
    assert h._ray_store()[sid]["metadata"]["airflow_try_number"] == "3"
    assert "submitting a new job" in logged(capsys, caplog)
    # and the next retry reattaches to it (same choice, deterministic)
    h._ray_store()[sid]["status"] = "RUNNING"
    assert with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir, FakeTI(try_number=4))) == sid
    assert len(h._ray_store()) == 3


def test_lost_submit_answer_reattaches_exactly_one_job(dag_dir: Path) -> None:
    h = hook()
    h.ray_script().append("lost")  # stored, answer lost
    ti = FakeTI()
    sid = with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir, ti))
    assert list(h._ray_store()) == [sid]
    assert h.names()[:2] == ["ray_submit_job", "ray_get_job"]
    assert ti.xcoms["submissionId"] == sid


def test_lost_answer_of_a_job_that_already_failed_is_still_this_tries_job(dag_dir: Path) -> None:
    """This try's own job (its try number in the metadata) is never resubmitted: its failure is reported."""
    h = hook()
    h.ray_script().append("lost")
    h.ray_statuses().append("FAILED")
    with pytest.raises(AirflowException, match="ended Failed"):
        with_hook(op(cluster_id="c", working_dir="ray_jobs", wait_for_completion=True, poll_interval=0.01), h).execute(rctx(dag_dir))
    assert len(h._ray_store()) == 1


def test_unknown_outcome_with_nothing_stored_resends_under_the_same_id(dag_dir: Path) -> None:
    h = hook()
    h.ray_script().append(EmrRayOutcomeUnknownError("timeout before anything", action="RaySubmitJob"))
    sid = with_hook(op(cluster_id="c", working_dir="ray_jobs"), h).execute(rctx(dag_dir))
    assert [c["submission_id"] for c in ray_submits(h)] == [sid, sid]
    assert len(h._ray_store()) == 1


def test_unknown_outcome_every_time_fails_the_try(dag_dir: Path) -> None:
    h = hook()
    h.ray_script().extend([EmrRayOutcomeUnknownError("t", action="RaySubmitJob")] * 10)
    operator = with_hook(op(cluster_id="c", working_dir="ray_jobs"), h)
    with pytest.raises(AirflowException, match="may or may not have taken effect"):
        operator.execute(rctx(dag_dir))
    assert len(ray_submits(h)) == operator.resend_limit


# ---------------------------------------------------------------- waiting, deferral, kill


def test_sync_wait_success_pushes_the_same_keys(dag_dir: Path) -> None:
    h = hook()
    h.ray_statuses().extend(["PENDING", "RUNNING", "SUCCEEDED"])
    ti = FakeTI()
    sid = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, poll_interval=0.01), h).execute(rctx(dag_dir, ti))
    assert set(ti.xcoms) == {"submissionId", "submissionApi", "tags", "dashboardUrl"}
    assert ti.xcoms["dashboardUrl"] == "https://ray.example/dashboard/"
    assert ti.xcoms["tags"]["workflowId"] == workflow_id("dag", ti.run_id)
    assert sid == ti.xcoms["submissionId"]


def test_failing_entrypoint_copies_the_log_tail(dag_dir: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    h = hook()
    h.ray_statuses().append("FAILED")
    h.ray_logs = "\n".join(f"line {i}" for i in range(100)) + "\nTraceback: ZeroDivisionError"
    operator = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, poll_interval=0.01, log_tail_lines=3), h)
    with caplog.at_level(logging.INFO), pytest.raises(AirflowException, match=r"ended Failed \(Ray: FAILED\)") as info:
        operator.execute(rctx(dag_dir))
    assert str(info.value).endswith("Last 3 lines of its log:\nline 98\nline 99\nTraceback: ZeroDivisionError")
    text = logged(capsys, caplog)
    assert "[ray] line 0" in text and "[ray] Traceback: ZeroDivisionError" in text  # the whole log, live
    sid = ray_submits(h)[0]["submission_id"]
    assert ("ray_get_job_logs", ("ray-1", sid), {}) in h.calls  # no websocket on the scripted hook: GET /logs
    assert ("ray_open_log_tail", ("ray-1", sid), {}) in h.log_reads


def test_deadline_stops_the_job(dag_dir: Path) -> None:
    h = hook()
    h.ray_statuses().append("RUNNING")
    operator = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, poll_interval=0.01, max_wait=0.05), h)
    with pytest.raises(AirflowException, match="still Running .*the job was stopped"):
        operator.execute(rctx(dag_dir))
    names = h.names()
    assert "ray_stop_job" in names and "cancel_ray_job" not in names
    assert names[names.index("ray_stop_job") + 1 :] == ["ray_get_job_logs"]  # then the rest of its log


def test_deferral_carries_the_cluster_and_path_never_the_token(dag_dir: Path) -> None:
    h = hook()
    ti = FakeTI()
    operator = with_hook(
        op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, deferrable=True, ray_jobs_endpoint="internal"), h
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(rctx(dag_dir, ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, RayJobStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert kwargs["submission_api"] == "ray" and kwargs["cluster_id"] == "ray-1" and kwargs["internal"] is True
    assert kwargs["cancel_on_kill"] and kwargs["cancel_on_timeout"]
    assert TOKEN not in repr(kwargs) and DASH_TOKEN not in repr(kwargs) and TOKEN not in repr(deferred.value.kwargs)
    assert deferred.value.kwargs["submission_api"] == "ray"
    # resume: success, and on failure the log tail comes from the Ray path
    sid = ti.xcoms["submissionId"]
    done = {"outcome": "success", "state": "Succeeded", "submission_id": sid, "job": {"status": "Succeeded", "tags": {"workflowId": "w"}}}
    assert operator.execute_complete(rctx(dag_dir, ti), done, **deferred.value.kwargs) == sid
    failed = {"outcome": "failure", "state": "Failed", "message": "boom", "submission_id": sid, "job": {"status": "Failed", "rayStatus": "FAILED"}}
    fresh = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs"), hook())
    fresh.hook.ray_logs = "step 1\nValueError: boom\n"
    with pytest.raises(AirflowException, match="boom") as info:
        fresh.execute_complete(rctx(dag_dir, ti), failed, **deferred.value.kwargs)
    assert str(info.value).endswith("Last 2 lines of its log:\nstep 1\nValueError: boom")
    assert fresh.hook.names() == ["ray_get_job_logs"]


def test_kill_while_deferred_stops_the_job(dag_dir: Path) -> None:
    """The trigger the operator deferred to stops the job on kill (3.3's on_kill)."""
    import asyncio

    h = hook()
    operator = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, deferrable=True), h)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(rctx(dag_dir))
    classpath, kwargs = deferred.value.trigger.serialize()
    rebuilt = with_hook(RayJobStatusTrigger(**kwargs), h)  # as the triggerer rebuilds it
    asyncio.run(rebuilt.on_kill())
    sid = kwargs["submission_id"]
    assert h.calls[-1] == ("ray_stop_job", ("ray-1", sid), {})
    assert h._ray_store()[sid]["status"] == "STOPPED"


def test_on_kill_in_the_worker_stops_the_job(dag_dir: Path) -> None:
    h = hook()
    h.ray_statuses().append("RUNNING")
    operator = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=False), h)
    sid = operator.execute(rctx(dag_dir))
    operator.on_kill()
    assert h.calls[-1] == ("ray_stop_job", ("ray-1", sid), {})


def test_trigger_timeout_backstop_stops_a_ray_job() -> None:
    h = hook()
    operator = with_hook(EmrRayJobSubmitOperator(task_id="task", entrypoint="e", cluster_id="ray-1", submission_api="ray"), h)
    ti = FakeTI()
    ti.xcoms.update(submissionId="af-x", submissionApi="ray")
    with pytest.raises(version_compat.task_deferral_timeout()):
        operator.resume_execution("__fail__", {"error": "Trigger timeout"}, rctx(None, ti))
    assert h.calls == [("ray_stop_job", ("ray-1", "af-x"), {})]


def test_no_token_in_xcom_rendered_fields_or_logs(dag_dir: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    h = hook()
    h.ray_statuses().extend(["RUNNING", "FAILED"])
    h.ray_logs = "some output"
    ti = FakeTI()
    operator = with_hook(op(cluster_id="ray-1", working_dir="ray_jobs", wait_for_completion=True, poll_interval=0.01), h)
    with caplog.at_level(logging.DEBUG), pytest.raises(AirflowException):
        operator.execute(rctx(dag_dir, ti))
    written = repr(ti.xcoms) + logged(capsys, caplog) + repr({f: getattr(operator, f) for f in operator.template_fields})
    assert TOKEN not in written and DASH_TOKEN not in written
    assert re.search(r"ray\.example/dashboard", ti.xcoms["dashboardUrl"])


# ---------------------------------------------------------------- the cancel operator


def test_cancel_operator_stops_a_ray_job_and_skips_ended_ones() -> None:
    from airflow_provider_emr_ray.operators.emr_ray import EmrRayJobCancelOperator

    h = hook()
    _previous(h, "af-x", "RUNNING")
    assert with_hook(EmrRayJobCancelOperator(task_id="c", submission_id="af-x", cluster_id="ray-1"), h).execute(rctx()) is True
    assert h.names() == ["ray_get_job", "ray_stop_job"] and h._ray_store()["af-x"]["status"] == "STOPPED"
    assert with_hook(EmrRayJobCancelOperator(task_id="c", submission_id="af-x", cluster_id="ray-1"), h).execute(rctx()) is False
    assert h.names().count("ray_stop_job") == 1
    with pytest.raises(AirflowException, match="does not exist"):
        with_hook(EmrRayJobCancelOperator(task_id="c", submission_id="nope", cluster_id="ray-1"), h).execute(rctx())
    # openapi: CancelRayJob as before
    h2 = ScriptedHook(jobs=[{"submissionId": "s", "status": "Running"}])
    op2 = EmrRayJobCancelOperator(task_id="c", submission_id="s", cluster_id="ray-1", submission_api="openapi")
    assert with_hook(op2, h2).execute(rctx()) is True and h2.names() == ["get_ray_job", "cancel_ray_job"]
    with pytest.raises(EmrRayValidationError) as err:
        EmrRayJobCancelOperator(task_id="c", submission_id="s", submission_api="ray")
    assert err.value.field == "cluster_id"
