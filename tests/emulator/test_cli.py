"""The command line: python -m airflow_provider_emr_ray.emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from airflow_provider_emr_ray.emulator.__main__ import build_parser, config_from_args, connection_value, main
from airflow_provider_emr_ray.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_WORKSPACE,
    conn_json,
)
from airflow_provider_emr_ray.emulator.faults import FAULT_KINDS
from airflow_provider_emr_ray.emulator.processes import shell_quote
from airflow_provider_emr_ray.emulator.procgroup import pid_alive
from tests.emulator.helpers import SyncCaller, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_flags_build_the_config(tmp_path):
    args = build_parser().parse_args(
        ["--port", "0", "--access-key-id", "AK", "--access-key-secret", "SK", "--region", "cn-beijing",
         "--workspace-id", "w-1", "--delay", "0", "--no-exec", "--state-file", str(tmp_path / "s.json"),
         "--fault", "kind=500,action=GetRayJob,times=2", "--fault", '{"kind": "drop", "after": true}',
         "--enable-control", "--security-token", "tok", "--error-name-pattern", "^bad"]
    )
    cfg = config_from_args(args)
    assert (cfg.access_key_id, cfg.access_key_secret, cfg.region_id, cfg.workspace_id) == ("AK", "SK", "cn-beijing", "w-1")
    assert cfg.cluster_start_delay == cfg.job_cancel_delay == 0 and cfg.execute_jobs is False
    assert [f.kind for f in cfg.faults] == ["500", "drop"] and cfg.faults[1].after is True
    assert cfg.enable_control and cfg.security_token == "tok" and cfg.error_name_pattern == "^bad"
    conn = json.loads(connection_value(cfg, "http://127.0.0.1:9"))
    expected = conn_json(
        "http://127.0.0.1:9", login="AK", password="SK", region_id="cn-beijing", workspace_id="w-1", security_token="tok"
    )
    assert conn == json.loads(expected) and conn["extra"]["security_token"] == "tok"


def test_unknown_fault_kind_flag_is_a_usage_error(capsys):
    assert main(["--port", "0", "--fault", "kind=teapot,action=GetRayJob"]) == 2
    err = capsys.readouterr().err
    assert "unknown fault kind 'teapot'" in err
    for kind in FAULT_KINDS:
        assert kind in err


@pytest.mark.integration
def test_module_starts_prints_connection_and_serves(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_emr_ray.emulator", "--port", "0", "--delay", "0",
         "--log-level", "info", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT),
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("EMR Ray emulator listening on http://127.0.0.1:")
        endpoint = lines[1].strip().split("=", 1)[1]
        name, _, value = lines[2].strip().partition("=")
        assert name == "AIRFLOW_CONN_EMR_RAY_DEFAULT"
        conn = json.loads(value.strip("'"))
        assert conn == json.loads(conn_json(endpoint))  # the defaults
        assert (conn["login"], conn["extra"]["workspace_id"]) == (DEFAULT_ACCESS_KEY_ID, DEFAULT_WORKSPACE)
        with httpx.Client(timeout=10) as client:
            call = SyncCaller(client, endpoint)
            cid = wait_for(lambda: call("CreateRayCluster", body={"name": "cli"})["clusterId"], what="cli emulator")
            assert call("GetRayCluster", {"clusterId": cid})["state"] == "Running"
            pidfile = tmp_path / "pid"
            code = "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(60)"
            call("SubmitRayJob", body={
                "entrypoint": shell_quote(sys.executable, "-c", code),
                "runtimeEnvJson": json.dumps({"env_vars": {"PIDFILE": str(pidfile)}}),
            })
            pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="job pid"))
            assert pid_alive(pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful shutdown
    assert not pid_alive(pid)  # the lifespan shutdown killed the job's process group
    assert DEFAULT_ACCESS_KEY_SECRET not in err and DEFAULT_ACCESS_KEY_SECRET not in out.split("AIRFLOW_CONN")[0]
