"""Command line: ``python -m airflow_provider_emr_ray.emulator`` / ``emr-ray-emulator``."""

from __future__ import annotations

import argparse
import sys

from airflow_provider_emr_ray.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_REGION,
    DEFAULT_WORKSPACE,
    EmulatorConfig,
    conn_json,
    ray_job_url,
)
from airflow_provider_emr_ray.emulator.faults import FaultRule


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emr-ray-emulator",
        description="Local emulator of the EMR Serverless Spark Ray API (2023-08-08).",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    p.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID)
    p.add_argument("--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET)
    p.add_argument("--security-token", default=None, help="require this STS token on every request")
    p.add_argument("--region", default=DEFAULT_REGION)
    p.add_argument("--workspace-id", default=DEFAULT_WORKSPACE)
    p.add_argument("--extra-workspace", action="append", default=[], help="another existing workspace (repeatable)")
    p.add_argument("--cluster-start-delay", type=float, default=2.0, help="Starting -> Running, seconds")
    p.add_argument("--cluster-stop-delay", type=float, default=1.0, help="Stopping -> Stopped, seconds")
    p.add_argument("--cluster-delete-delay", type=float, default=0.0, help="Delete -> gone, seconds")
    p.add_argument("--job-submit-delay", type=float, default=0.5, help="Submitted -> Pending, seconds")
    p.add_argument("--job-pending-delay", type=float, default=1.0, help="Pending -> Running, seconds")
    p.add_argument("--job-run-duration", type=float, default=2.0, help="run time of a job when execution is off")
    p.add_argument("--job-cancel-delay", type=float, default=0.5, help="Cancelling -> Cancelled, seconds")
    p.add_argument("--delay", type=float, default=None, help="set every delay above at once (0: immediate)")
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--exec", dest="execute_jobs", action="store_true", default=True, help="run entrypoints (default)")
    ex.add_argument("--no-exec", dest="execute_jobs", action="store_false", help="do not run entrypoints")
    p.add_argument("--fail-pattern", default=EmulatorConfig.fail_entrypoint_pattern,
                   help="with --no-exec, entrypoints matching this regex fail")
    p.add_argument("--error-name-pattern", default=None, help="clusters whose name matches go to Error")
    p.add_argument("--state-file", default=None, help="JSON file the state survives restarts in")
    p.add_argument("--data-dir", default=None, help="job working directories and logs (default: a temp dir)")
    p.add_argument("--oss-root", default=None, metavar="DIR",
                   help="local stand-in for OSS: SubmitRayJob workingDir oss://bucket/key is read from DIR/bucket/key "
                        "(a folder, or a zip that is unpacked); without it oss:// working dirs fail the job")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="fault rule, e.g. kind=500,action=GetRayJob,times=2[,after=true] or a JSON object (repeatable)")
    p.add_argument("--enable-control", action="store_true", help="serve /__emulator__/faults and /__emulator__/stats")
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    p.add_argument("--access-log", action="store_true", help="enable uvicorn's access log (off by default)")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    delays = {
        "cluster_start_delay": args.cluster_start_delay,
        "cluster_stop_delay": args.cluster_stop_delay,
        "cluster_delete_delay": args.cluster_delete_delay,
        "job_submit_delay": args.job_submit_delay,
        "job_pending_delay": args.job_pending_delay,
        "job_run_duration": args.job_run_duration,
        "job_cancel_delay": args.job_cancel_delay,
    }
    if args.delay is not None:
        delays = {k: args.delay for k in delays}
    return EmulatorConfig(
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        security_token=args.security_token,
        region_id=args.region,
        workspace_id=args.workspace_id,
        extra_workspaces=tuple(args.extra_workspace),
        execute_jobs=args.execute_jobs,
        fail_entrypoint_pattern=args.fail_pattern or None,
        error_name_pattern=args.error_name_pattern,
        state_file=args.state_file,
        data_dir=args.data_dir,
        oss_root=args.oss_root,
        faults=[FaultRule.parse(spec) for spec in args.fault],
        enable_control=args.enable_control,
        **delays,
    )


def connection_value(config: EmulatorConfig, endpoint: str) -> str:
    """The ``AIRFLOW_CONN_EMR_RAY_DEFAULT`` JSON for an emulator at ``endpoint``."""
    return conn_json(
        endpoint,
        login=config.access_key_id,
        password=config.access_key_secret,
        region_id=config.region_id,
        workspace_id=config.workspace_id,
        security_token=config.security_token or None,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"emr-ray-emulator: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from airflow_provider_emr_ray.emulator.app import create_app
    from airflow_provider_emr_ray.emulator.server import bind_socket, uvicorn_config

    app = create_app(config)
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    endpoint = f"http://{shown}:{port}"
    print(f"EMR Ray emulator listening on {endpoint}", flush=True)
    print(f"EMR_RAY_EMULATOR_ENDPOINT={endpoint}", flush=True)
    print(f"AIRFLOW_CONN_EMR_RAY_DEFAULT='{connection_value(config, endpoint)}'", flush=True)
    print(f"EMR_RAY_EMULATOR_RAY_JOB_URL={ray_job_url(endpoint)}", flush=True)
    server = uvicorn.Server(uvicorn_config(app, log_level=args.log_level, access_log=args.access_log))
    try:
        server.run(sockets=[sock])
    finally:
        app.emulator.close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
