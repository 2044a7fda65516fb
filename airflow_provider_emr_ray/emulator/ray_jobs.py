"""Ray's own Jobs REST API, served as the region's gateway at every cluster's ``jobUrl``.

The service documents a second way to run code on a Running Ray cluster: Ray's Jobs API at
GetRayCluster's ``jobUrl`` (public) / ``jobUrlInner`` (VPC), authorised by the header
``ray-token: <submitToken>``. One gateway host serves every cluster of a region and picks the
cluster from the token. The emulator serves it under :data:`~.config.RAY_GATEWAY_PREFIX` on its
own port (``http://127.0.0.1:PORT/ray-gateway``; GetRayCluster's ``jobUrl`` and ``jobUrlInner``
both name it), so ``JobSubmissionClient(job_url, headers={"ray-token": token})`` works.

Endpoints, answers and error texts follow Ray 2.60's dashboard (``ray/dashboard/modules/job``:
``job_head.py`` in front of ``job_agent.py``): ``GET /api/version``, ``GET|PUT
/api/packages/{protocol}/{package_name}``, ``POST /api/jobs/``, ``GET /api/jobs/``, ``GET|DELETE
/api/jobs/{id}``, ``POST /api/jobs/{id}/stop``, ``GET /api/jobs/{id}/logs`` and the websocket
``GET /api/jobs/{id}/logs/tail``. ``{id}`` is a submission id or a driver job id. Errors are
plain text as Ray sends them; where Ray's head relays an error of its job agent (a duplicate
``submission_id``, deleting a job that has not ended) the head answers **500** with the agent's
400/500 text inside (``Request failed with status code 400: ...ValueError: Job with
submission_id X already exists...``), exactly as Ray 2.60 does.

Gateway rules (the emulator's; the service documents none): no ``ray-token`` -> 401, a token that
names no Running cluster (unknown, or its cluster is starting, stopping, stopped or deleted) ->
403. The token is never logged nor echoed. When a cluster stops or is deleted, its Jobs API jobs
are killed and forgotten with its uploaded packages (a restarted Ray head starts empty).

Execution: an entrypoint runs as a local process group (:mod:`.processes`), ``job_pending_delay``
seconds after submission, in a per-job directory holding the unpacked ``working_dir`` package
(``gcs://_ray_pkg_<hash>.zip``, uploaded before); ``py_modules`` packages go on ``PYTHONPATH``;
``env_vars`` are added to the environment. A package that is missing or not a zip, or any other
URI, fails the job with ``error_type`` ``RUNTIME_ENV_SETUP_FAILURE``; other runtime_env fields
(``pip``, ``conda``, ...) are not applied (a note goes to the job's log). Each job gets a driver
job id (``01000000``, ``02000000``... per cluster, as if its driver called ``ray.init()``). Jobs
live in memory only (not in the state file).

These jobs are not SubmitRayJob jobs: ListRayJob / GetRayJob do not show them (the service's
behaviour is not documented).
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import hmac
import json
import logging
import re
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from airflow_provider_emr_ray.emulator import sources
from airflow_provider_emr_ray.emulator.config import RAY_GATEWAY_ACTIONS, RAY_GATEWAY_PREFIX
from airflow_provider_emr_ray.emulator.processes import job_environment
from airflow_provider_emr_ray.states import RAY_JOBS_TERMINAL_STATUSES, ClusterState, RayJobsStatus

if TYPE_CHECKING:
    from airflow_provider_emr_ray.emulator.faults import FaultInjector, FaultRule, Stats
    from airflow_provider_emr_ray.emulator.store import Store

__all__ = ["RAY_JOBS_ACTIONS", "TOKEN_HEADER", "RayHttpError", "RayJobsApi", "gateway_mount"]

_log = logging.getLogger("airflow_provider_emr_ray.emulator")
#: Bytes of a log the websocket tail sends in one message.
_TAIL_CHUNK = 64 * 1024

#: The header the gateway reads the cluster's ``submitToken`` from (raw value, no ``Bearer``).
TOKEN_HEADER = "ray-token"
#: Ray Jobs API version answered by ``/api/version`` (Ray 2.60's ``CURRENT_VERSION``).
_API_VERSION = "4"
#: Ray version reported when the cluster's ``displayReleaseVersion`` names none.
_DEFAULT_RAY_VERSION = "2.47.1"
_RAY_VERSION_RE = re.compile(r"Ray (\d+\.\d+\.\d+)")
#: Characters of Ray's generated submission ids (``raysubmit_...``).
_ID_CHARS = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") - set("IloO0"))
#: runtime_env fields the emulator applies; any other is noted in the job's log and ignored.
_APPLIED_RUNTIME_ENV = frozenset({"working_dir", "py_modules", "env_vars"})
#: Lines of a failed driver's log quoted in its message (Ray's ``get_last_n_log_lines``).
_LOG_TAIL_LINES = 10
_LOG_TAIL_CHARS = 20000
#: Ray's default messages per status (``JobInfo.__post_init__``).
_MESSAGES = {
    RayJobsStatus.PENDING: "Job has not started yet.",
    RayJobsStatus.RUNNING: "Job is currently running.",
    RayJobsStatus.STOPPED: "Job was intentionally stopped.",
    RayJobsStatus.SUCCEEDED: "Job finished successfully.",
}
RUNTIME_ENV_SETUP_FAILURE = "RUNTIME_ENV_SETUP_FAILURE"
JOB_ENTRYPOINT_COMMAND_START_ERROR = "JOB_ENTRYPOINT_COMMAND_START_ERROR"
JOB_ENTRYPOINT_COMMAND_ERROR = "JOB_ENTRYPOINT_COMMAND_ERROR"


class RayHttpError(Exception):
    """An error answer: plain text with ``status``, as Ray's aiohttp handlers send it."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _traceback(exc_type: str, message: str, where: str) -> str:
    """A traceback-shaped body, as Ray's handlers answer ``traceback.format_exc()``."""
    return f'Traceback (most recent call last):\n  File "ray/dashboard/modules/job/{where}" (emulated)\n{exc_type}: {message}\n'


def _relayed(agent_status: int, exc_type: str, message: str) -> RayHttpError:
    """An error of Ray's job agent as its head relays it: 500, the agent's answer inside."""
    agent = _traceback(exc_type, message, "job_agent.py")
    return RayHttpError(500, _traceback("RuntimeError", f"Request failed with status code {agent_status}: {agent}.", "job_head.py"))


def _not_found(job_id: str) -> RayHttpError:
    return RayHttpError(404, f"Job {job_id} does not exist")


def _type_name(value: Any) -> str:
    return repr(type(value))


def _validate_submit(body: Any) -> dict[str, Any]:
    """``JobSubmitRequest`` as Ray's head parses it (None values dropped); 400 on a bad field."""

    def bad(message: str) -> RayHttpError:
        return RayHttpError(400, _traceback("TypeError", message, "utils.py"))

    if not isinstance(body, dict):
        raise bad(f"validate_request_type() argument after ** must be a mapping, not {type(body).__name__}")
    data = {k: v for k, v in body.items() if v is not None}
    allowed = (
        "entrypoint submission_id job_id runtime_env metadata entrypoint_num_cpus entrypoint_num_gpus "
        "entrypoint_memory entrypoint_resources entrypoint_label_selector"
    ).split()
    for key in data:
        if key not in allowed:
            raise bad(f"JobSubmitRequest.__init__() got an unexpected keyword argument '{key}'")
    if "entrypoint" not in data:
        raise bad("JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'")
    if not isinstance(data["entrypoint"], str):
        raise bad(f"entrypoint must be a string, got {_type_name(data['entrypoint'])}")
    for key in ("submission_id", "job_id"):
        if key in data and not isinstance(data[key], str):
            raise bad(f"{key} must be a string if provided, got {_type_name(data[key])}")
    for key in ("runtime_env", "metadata", "entrypoint_resources", "entrypoint_label_selector"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise bad(f"{key} must be a dict, got {_type_name(value)}")
        for k in value:
            if not isinstance(k, str):
                raise bad(f"{key} keys must be strings, got {_type_name(k)}")
    for v in (data.get("metadata") or {}).values():
        if not isinstance(v, str):
            raise bad(f"metadata values must be strings, got {_type_name(v)}")
    for key in ("entrypoint_num_cpus", "entrypoint_num_gpus"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], (int, float))):
            raise bad(f"{key} must be a number, got {_type_name(data[key])}")
    if "entrypoint_memory" in data and (isinstance(data["entrypoint_memory"], bool) or not isinstance(data["entrypoint_memory"], int)):
        raise bad(f"entrypoint_memory must be an integer, got {_type_name(data['entrypoint_memory'])}")
    return data


def _pending_message(job: dict[str, Any]) -> str:
    message = _MESSAGES[RayJobsStatus.PENDING]
    if any(job.get(k) for k in ("entrypoint_num_cpus", "entrypoint_num_gpus", "entrypoint_memory", "entrypoint_resources")):
        message += " It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available."
    if job.get("runtime_env"):
        message += " It may be waiting for the runtime environment to be set up."
    return message


def job_details(job: dict[str, Any]) -> dict[str, Any]:
    """A job as Ray's ``JobDetails`` (``GET /api/jobs/{id}`` and the items of ``GET /api/jobs/``)."""
    return {
        "type": "SUBMISSION",
        "job_id": job["job_id"],
        "submission_id": job["submission_id"],
        "driver_info": job["driver_info"],
        "status": job["status"],
        "entrypoint": job["entrypoint"],
        "message": job["message"],
        "error_type": job["error_type"],
        "start_time": job["start_time"],
        "end_time": job["end_time"],
        "metadata": job["metadata"],
        "runtime_env": job["runtime_env"],
        "driver_agent_http_address": job["driver_agent_http_address"],
        "driver_node_id": job["driver_node_id"],
        "driver_exit_code": job["driver_exit_code"],
    }


class RayJobsApi:
    """State of the gateway: per cluster, its Jobs API jobs and uploaded packages.

    Shares the store's lock and process table; available as ``emulator.ray_jobs``.
    """

    def __init__(self, store: Store, stats: Stats, faults: FaultInjector | None = None) -> None:
        self.store = store
        self.stats = stats
        #: The emulator's fault rules; those naming ``Ray.<action>`` apply here.
        self.faults = faults
        self.config = store.config
        #: cluster id -> submission id -> job record.
        self.jobs: dict[str, dict[str, dict[str, Any]]] = {}
        self._drivers: dict[str, int] = {}
        store.cluster_down_hooks.append(self._cluster_down)

    # ------------------------------------------------------------------ the token
    def authorise(self, token: str | None) -> str:
        """The id of the Running cluster whose ``submitToken`` is ``token``; 401 / 403 otherwise."""
        if not token:
            self.stats.ray_jobs_rejections["missing"] += 1
            raise RayHttpError(401, f"Unauthorized: the {TOKEN_HEADER} header is required.")
        store = self.store
        with store.lock:
            now = store.now_ms()
            for c in list(store.clusters.values()):
                if hmac.compare_digest(c["submitToken"].encode(), token.encode()):
                    if store._settle_cluster(c, now) and c["state"] == ClusterState.Running and not c["_deleting"]:
                        return c["clusterId"]
                    break
        self.stats.ray_jobs_rejections["invalid"] += 1
        raise RayHttpError(403, f"Forbidden: the {TOKEN_HEADER} does not authorise any running Ray cluster.")

    # ------------------------------------------------------------------ files
    def _root(self, cid: str) -> Path:
        return self.store.data_dir / "ray-gateway" / cid

    def _package_path(self, cid: str, uri: str) -> Path | None:
        protocol, sep, name = uri.partition("://")
        if not sep or not protocol or not name or "/" in name or name in (".", ".."):
            return None
        return self._root(cid) / "packages" / protocol / name

    def package_exists(self, cid: str, protocol: str, name: str) -> bool:
        path = self._package_path(cid, f"{protocol}://{name}")
        return path is not None and path.is_file()

    def upload_package(self, cid: str, protocol: str, name: str, data: bytes) -> None:
        path = self._package_path(cid, f"{protocol}://{name}")
        if path is None:
            raise RayHttpError(500, _traceback("ValueError", f"Invalid package URI {protocol}://{name}", "job_head.py"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        tmp.replace(path)

    def _log_file(self, cid: str, sid: str) -> Path:
        return self._root(cid) / "jobs" / sid / f"job-driver-{sid}.log"

    # ------------------------------------------------------------------ jobs
    def ray_version(self, cid: str) -> str:
        c = self.store.clusters.get(cid)
        found = _RAY_VERSION_RE.search(c["displayReleaseVersion"]) if c else None
        return found.group(1) if found else _DEFAULT_RAY_VERSION

    def submit(self, cid: str, body: Any) -> dict[str, str]:
        data = _validate_submit(body)
        with self.store.lock:
            jobs = self.jobs.setdefault(cid, {})
            sid = data.get("submission_id") or data.get("job_id")
            if sid is None:
                sid = "raysubmit_" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))
                while sid in jobs:
                    sid = "raysubmit_" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))
            if sid in jobs:
                raise _relayed(400, "ValueError", f"Job with submission_id {sid} already exists. Please use a different submission_id.")
            now = self.store.now_ms()
            job: dict[str, Any] = {
                "submission_id": sid,
                "job_id": None,
                "driver_info": None,
                "status": RayJobsStatus.PENDING.value,
                "entrypoint": data["entrypoint"],
                "message": "",
                "error_type": None,
                "start_time": now,
                "end_time": None,
                "metadata": data.get("metadata"),
                "runtime_env": data.get("runtime_env"),
                "driver_agent_http_address": None,
                "driver_node_id": None,
                "driver_exit_code": None,
                "entrypoint_num_cpus": data.get("entrypoint_num_cpus"),
                "entrypoint_num_gpus": data.get("entrypoint_num_gpus"),
                "entrypoint_memory": data.get("entrypoint_memory"),
                "entrypoint_resources": data.get("entrypoint_resources"),
                "_cid": cid,
                "_key": f"ray-jobs:{cid}:{sid}",
                "_stopping": False,
            }
            job["message"] = _pending_message(job)
            jobs[sid] = job
            self._settle(job, now)
        return {"job_id": sid, "submission_id": sid}

    def find(self, cid: str, job_id: str) -> dict[str, Any]:
        """A job by submission id or driver job id, settled; 404 when unknown."""
        with self.store.lock:
            jobs = self.jobs.get(cid, {})
            job = jobs.get(job_id) or next((j for j in jobs.values() if j["job_id"] == job_id), None)
            if job is None:
                raise _not_found(job_id)
            self._settle(job, self.store.now_ms())
            return job

    def list(self, cid: str) -> list[dict[str, Any]]:
        with self.store.lock:
            now = self.store.now_ms()
            jobs = list(self.jobs.get(cid, {}).values())
            for job in jobs:
                self._settle(job, now)
            return jobs

    def stop(self, cid: str, job_id: str) -> bool:
        """Ray's ``stop_job``: True when the job had not ended (its group gets SIGTERM, then
        SIGKILL after ``kill_grace``), False when it already had."""
        with self.store.lock:
            job = self.find(cid, job_id)
            if job["status"] in RAY_JOBS_TERMINAL_STATUSES:
                return False
            if job["status"] == RayJobsStatus.PENDING:
                self._end(job, RayJobsStatus.STOPPED, self.store.now_ms())
                return True
            job["_stopping"] = True
            self.store.processes.terminate(job["_key"], self.config.kill_grace)
            self._settle(job, self.store.now_ms())
            return True

    def delete(self, cid: str, job_id: str) -> bool:
        """Ray's ``delete_job``: forget a job that has ended (its log too); 500 (relayed) otherwise."""
        with self.store.lock:
            job = self.find(cid, job_id)
            sid = job["submission_id"]
            if job["status"] not in RAY_JOBS_TERMINAL_STATUSES:
                raise _relayed(
                    500, "RuntimeError", f"Attempted to delete job '{sid}', but it is in a non-terminal state {job['status']}."
                )
            del self.jobs[cid][sid]
        shutil.rmtree(self._log_file(cid, sid).parent, ignore_errors=True)
        return True

    def logs(self, cid: str, job_id: str) -> str:
        job = self.find(cid, job_id)
        return self.read_log(job)

    def read_log(self, job: dict[str, Any], offset: int = 0) -> str:
        path = self._log_file(job["_cid"], job["submission_id"])
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tick(self) -> None:
        """Settle every job that has not ended (the server's ticker)."""
        with self.store.lock:
            now = self.store.now_ms()
            for jobs in self.jobs.values():
                for job in jobs.values():
                    if job["status"] not in RAY_JOBS_TERMINAL_STATUSES:
                        self._settle(job, now)

    def terminal(self, job: dict[str, Any]) -> bool:
        with self.store.lock:
            self._settle(job, self.store.now_ms())
            return job["status"] in RAY_JOBS_TERMINAL_STATUSES

    # ------------------------------------------------------------------ state machine
    def _end(self, job: dict[str, Any], status: RayJobsStatus, now: int, message: str | None = None, **fields: Any) -> None:
        job.update(status=status.value, end_time=now, message=message or _MESSAGES[status], **fields)

    def _settle(self, job: dict[str, Any], now: int) -> None:
        procs = self.store.processes
        key = job["_key"]
        if job["status"] == RayJobsStatus.PENDING and now >= job["start_time"] + int(self.config.job_pending_delay * 1000):
            self._launch(job, now)
        if job["status"] != RayJobsStatus.RUNNING:
            return
        if job["_stopping"]:
            procs.enforce_grace(key)
        if not procs.tracked(key):
            self._end(job, RayJobsStatus.FAILED, now, "Job supervisor actor died: the job driver was lost.",
                      error_type="JOB_SUPERVISOR_ACTOR_DIED")
            return
        code = procs.exit_code(key)
        if code is None:
            return
        procs.forget(key)
        if job["_stopping"]:
            self._end(job, RayJobsStatus.STOPPED, now)
        elif code == 0:
            self._end(job, RayJobsStatus.SUCCEEDED, now, driver_exit_code=0)
        else:
            lines = self.read_log(job).splitlines()[-_LOG_TAIL_LINES:]
            tail = "\n".join(lines)[-_LOG_TAIL_CHARS:]
            if tail:
                message = f"Job entrypoint command failed with exit code {code}, last available logs (truncated to 20,000 chars):\n{tail}"
            else:
                message = f"Job entrypoint command failed with exit code {code}. No logs available."
            self._end(job, RayJobsStatus.FAILED, now, message, driver_exit_code=code, error_type=JOB_ENTRYPOINT_COMMAND_ERROR)

    def _prepare(self, job: dict[str, Any], jobdir: Path, log_file: Path) -> tuple[Path, list[str], dict[str, str]]:
        """Unpack the job's runtime_env; (cwd, PYTHONPATH entries, env_vars). Raises SourceError."""
        cid = job["_cid"]
        runtime_env = job["runtime_env"] or {}
        ignored = sorted(set(runtime_env) - _APPLIED_RUNTIME_ENV)
        if ignored:
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(f"[emulator] runtime_env fields not applied by the emulator: {', '.join(ignored)}\n")

        def unpack(uri: Any, dest: Path) -> Path:
            if not isinstance(uri, str):
                raise sources.SourceError(f"Invalid runtime_env URI {uri!r}: expected a string")
            path = self._package_path(cid, uri) if uri.startswith("gcs://") else None
            if path is None:
                raise sources.SourceError(
                    f"The emulator cannot fetch {uri} (it is offline): upload the package through the Jobs API "
                    "(a local working_dir or py_modules path given to Ray's client becomes gcs://_ray_pkg_<hash>.zip)"
                )
            if not path.is_file():
                raise sources.SourceError(
                    f"Failed to download runtime_env file package {uri} from the GCS to the Ray worker node. "
                    "The package may have prematurely been deleted from the GCS due to a long upload time or a problem "
                    "with Ray. Try increasing the upload timeout by setting RAY_RUNTIME_ENV_TEMPORARY_REFERENCE_EXPIRATION_S "
                    "to a larger value than the default 600s."
                )
            sources.unpack_zip(path, dest)
            return dest

        cwd = jobdir / "working_dir"
        if runtime_env.get("working_dir") is not None:
            unpack(runtime_env["working_dir"], cwd)
        cwd.mkdir(parents=True, exist_ok=True)
        modules = runtime_env.get("py_modules") or []
        if not isinstance(modules, list):
            raise sources.SourceError(f"py_modules must be a list of URIs, got {type(modules).__name__}")
        paths = [str(cwd)] + [str(unpack(uri, jobdir / "py_modules" / str(i))) for i, uri in enumerate(modules)]
        env_vars = runtime_env.get("env_vars") or {}
        if not isinstance(env_vars, dict):
            raise sources.SourceError(f"env_vars must be a dict, got {type(env_vars).__name__}")
        return cwd, paths, {str(k): str(v) for k, v in env_vars.items()}

    def _launch(self, job: dict[str, Any], now: int) -> None:
        cid, sid = job["_cid"], job["submission_id"]
        log_file = self._log_file(cid, sid)
        jobdir = log_file.parent
        jobdir.mkdir(parents=True, exist_ok=True)
        try:
            cwd, python_path, env_vars = self._prepare(job, jobdir, log_file)
        except sources.SourceError as exc:
            message = f"runtime_env setup failed: Failed to set up runtime environment.\n{exc}"
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(message + "\n")
            self._end(job, RayJobsStatus.FAILED, now, message, error_type=RUNTIME_ENV_SETUP_FAILURE)
            return
        env = job_environment(sid, env_vars, python_path=python_path)
        pid = self.store.processes.start(job["_key"], job["entrypoint"], cwd=cwd, log_file=log_file, env=env)
        if pid is None:
            message = f"Failed to start the job entrypoint command: see {log_file.name}."
            self._end(job, RayJobsStatus.FAILED, now, message, error_type=JOB_ENTRYPOINT_COMMAND_START_ERROR)
            return
        self._drivers[cid] = self._drivers.get(cid, 0) + 1
        driver_id = self._drivers[cid].to_bytes(4, "little").hex()
        job.update(
            status=RayJobsStatus.RUNNING.value,
            message=_MESSAGES[RayJobsStatus.RUNNING],
            job_id=driver_id,
            driver_info={"id": driver_id, "node_ip_address": "127.0.0.1", "pid": str(pid)},
            driver_agent_http_address="http://127.0.0.1:52365",
            driver_node_id=_node_id(cid),
        )

    def _cluster_down(self, cid: str) -> None:
        """The cluster stops or is deleted: kill its jobs, forget them and its packages."""
        jobs = self.jobs.pop(cid, {})
        for job in jobs.values():
            self.store.processes.kill(job["_key"])
        self._drivers.pop(cid, None)
        shutil.rmtree(self._root(cid), ignore_errors=True)


def _node_id(cid: str) -> str:
    return hashlib.sha256(cid.encode()).hexdigest()[:56]


# --------------------------------------------------------------------------- HTTP
def _json(payload: Any) -> Response:
    return Response(json.dumps(payload), media_type="application/json")


async def _version(api: RayJobsApi, cid: str, request: Request) -> Response:
    return _json({"version": _API_VERSION, "ray_version": api.ray_version(cid), "ray_commit": "emulated", "session_name": f"session_{cid}"})


async def _get_package(api: RayJobsApi, cid: str, request: Request) -> Response:
    p = request.path_params
    if not api.package_exists(cid, p["protocol"], p["package_name"]):
        return PlainTextResponse(f"Package {p['protocol']}://{p['package_name']} does not exist", status_code=404)
    return Response(b"", media_type="application/octet-stream")


async def _put_package(api: RayJobsApi, cid: str, request: Request) -> Response:
    p = request.path_params
    data = await request.body()
    api.upload_package(cid, p["protocol"], p["package_name"], data)
    return Response(b"", media_type="application/octet-stream")


async def _submit(api: RayJobsApi, cid: str, request: Request) -> Response:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise RayHttpError(500, _traceback("json.decoder.JSONDecodeError", str(exc), "utils.py")) from exc
    return _json(api.submit(cid, body))


async def _list(api: RayJobsApi, cid: str, request: Request) -> Response:
    with api.store.lock:
        return _json([job_details(j) for j in api.list(cid)])


async def _get(api: RayJobsApi, cid: str, request: Request) -> Response:
    with api.store.lock:
        return _json(job_details(api.find(cid, request.path_params["job_or_submission_id"])))


async def _stop(api: RayJobsApi, cid: str, request: Request) -> Response:
    return _json({"stopped": api.stop(cid, request.path_params["job_or_submission_id"])})


async def _delete(api: RayJobsApi, cid: str, request: Request) -> Response:
    return _json({"deleted": api.delete(cid, request.path_params["job_or_submission_id"])})


async def _logs(api: RayJobsApi, cid: str, request: Request) -> Response:
    return _json({"logs": api.logs(cid, request.path_params["job_or_submission_id"])})


_Endpoint = Callable[[RayJobsApi, str, Request], Awaitable[Response]]

#: Action name (the key of ``Stats.ray_jobs_calls``) -> (HTTP method, path under the prefix, endpoint).
#: The websocket ``TailJobLogs`` (``GET /api/jobs/{id}/logs/tail``) is counted under its name too.
RAY_JOBS_ACTIONS: dict[str, tuple[str, str, _Endpoint | None]] = {
    "GetVersion": ("GET", "/api/version", _version),
    "GetPackage": ("GET", "/api/packages/{protocol}/{package_name}", _get_package),
    "UploadPackage": ("PUT", "/api/packages/{protocol}/{package_name}", _put_package),
    "SubmitJob": ("POST", "/api/jobs/", _submit),
    "ListJobs": ("GET", "/api/jobs/", _list),
    "GetJob": ("GET", "/api/jobs/{job_or_submission_id}", _get),
    "DeleteJob": ("DELETE", "/api/jobs/{job_or_submission_id}", _delete),
    "StopJob": ("POST", "/api/jobs/{job_or_submission_id}/stop", _stop),
    "GetJobLogs": ("GET", "/api/jobs/{job_or_submission_id}/logs", _logs),
    "TailJobLogs": ("GET", "/api/jobs/{job_or_submission_id}/logs/tail", None),
}
assert set(RAY_JOBS_ACTIONS) == set(RAY_GATEWAY_ACTIONS), "config.RAY_GATEWAY_ACTIONS names the gateway's calls"


async def _fault(api: RayJobsApi, action: str) -> FaultRule | None:
    """The injected fault of this call (after its latency), if any (rules on ``Ray.<action>``)."""
    from airflow_provider_emr_ray.emulator.faults import GATEWAY_PREFIX

    if not api.faults:
        return None
    decision = api.faults.decide(GATEWAY_PREFIX + action, api.stats)
    if decision.latency:
        await asyncio.sleep(decision.latency)
    return decision.failure


def _route(api: RayJobsApi, action: str, endpoint: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        from airflow_provider_emr_ray.emulator.faults import gateway_answer

        api.stats.ray_jobs_calls[action] += 1
        failure = await _fault(api, action)
        if failure is not None and not failure.after and (answer := gateway_answer(failure, request, action)):
            return answer
        try:
            cid = api.authorise(request.headers.get(TOKEN_HEADER))
            response = await endpoint(api, cid, request)
        except RayHttpError as exc:
            response = PlainTextResponse(exc.text, status_code=exc.status)
        except Exception:  # an emulator bug: answer like aiohttp would, and keep serving
            _log.exception("unexpected error in Ray Jobs API %s", action)
            response = PlainTextResponse("500 Internal Server Error\n\nServer got itself in trouble", status_code=500)
        if failure is not None and (answer := gateway_answer(failure, request, action)):
            return answer  # after=True: the call took effect, its answer is lost
        return response

    route.__name__ = f"ray_jobs_{action}"
    return route


def _tail(api: RayJobsApi) -> Callable[[WebSocket], Awaitable[None]]:
    async def tail(websocket: WebSocket) -> None:
        api.stats.ray_jobs_calls["TailJobLogs"] += 1
        failure = await _fault(api, "TailJobLogs")
        if failure is not None and failure.kind in ("500", "503", "429", "drop", "malformed"):
            # the tail breaks: accepted, then closed with 1011 (an ASGI server answers a close
            # before the accept with 403, which would read as a rejected token)
            await websocket.accept()
            await websocket.close(code=1011)
            return
        try:
            cid = api.authorise(websocket.headers.get(TOKEN_HEADER))
            job = api.find(cid, websocket.path_params["job_or_submission_id"])
        except RayHttpError as exc:
            try:
                await websocket.send_denial_response(PlainTextResponse(exc.text, status_code=exc.status))
            except RuntimeError:  # the server does not support denial responses
                await websocket.close(code=1008)
            return
        await websocket.accept()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        path = api._log_file(cid, job["submission_id"])
        offset = 0
        try:
            while True:
                ended = api.terminal(job)  # read before the log: what the job printed is complete
                try:
                    with open(path, "rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(_TAIL_CHUNK)  # bounded: a 50 MB log goes out in pieces
                except FileNotFoundError:
                    chunk = b""
                offset += len(chunk)
                text = decoder.decode(chunk)
                if text:
                    await websocket.send_text(text)
                    if len(chunk) == _TAIL_CHUNK:
                        continue  # more is there: read on before looking at the job again
                elif ended:
                    break
                else:
                    await asyncio.sleep(0.05)
            await websocket.close(code=1000)
        except WebSocketDisconnect:
            pass

    return tail


def gateway_mount(api: RayJobsApi) -> BaseRoute:
    """The routes of the Ray Jobs API, mounted at :data:`RAY_GATEWAY_PREFIX`."""
    routes: list[BaseRoute] = []
    for action, (method, path, endpoint) in RAY_JOBS_ACTIONS.items():
        if endpoint is None:
            routes.append(WebSocketRoute(path, _tail(api), name=f"ray_jobs_{action}"))
        else:
            routes.append(Route(path, _route(api, action, endpoint), methods=[method], name=f"ray_jobs_{action}"))
    return Mount(RAY_GATEWAY_PREFIX, routes=routes)

