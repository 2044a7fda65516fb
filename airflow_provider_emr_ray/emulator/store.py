"""The emulator's state: Ray clusters and jobs per workspace, their lazy state machines and job processes.

Transitions are computed from timestamps whenever a record is read ("settled"), so idle
clusters and jobs cost nothing. Job processes are reconciled with ``Popen.poll()`` on reads (and
by an optional ticker under a server), which works the same under uvicorn and
``httpx.ASGITransport``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from airflow_provider_emr_ray.emulator import errors
from airflow_provider_emr_ray.emulator.config import DEFAULT_RELEASE, EmulatorConfig

CLUSTER_STATES = ("Starting", "Running", "Stopping", "Stopped", "Error")
JOB_TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled", "Timeout"})
_ALNUM = string.ascii_lowercase + string.digits
_STATE_VERSION = 1


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _cpu(value: Any) -> float:
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return 0.0


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _check_json_string(field: str, value: Any) -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise errors.invalid_parameter(f"{field} must be a JSON string.")
    try:
        json.loads(value)
    except ValueError:
        raise errors.invalid_parameter(f"{field} is not valid JSON.") from None


def _int_field(field: str, value: Any, *, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise errors.invalid_parameter(f"{field} must be an integer.")
    try:
        number = int(value)
    except ValueError:
        raise errors.invalid_parameter(f"{field} must be an integer.") from None
    if minimum is not None and number < minimum:
        raise errors.invalid_parameter(f"{field} must be at least {minimum}.")
    return number


def _head_spec(raw: Any, release: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise errors.invalid_parameter("headSpec must be an object.")
    gft = raw.get("gftConfig") or {}
    if not isinstance(gft, dict):
        raise errors.invalid_parameter("headSpec.gftConfig must be an object.")
    return {
        "queueName": str(raw.get("queueName") or "root_queue"),
        "cpu": str(raw.get("cpu") or "2"),
        "memory": str(raw.get("memory") or "8Gi"),
        "replica": _int_field("headSpec.replica", raw.get("replica"), minimum=1) or 1,
        "gpuSpec": str(raw.get("gpuSpec") or ""),
        "enableAutoScaling": bool(raw.get("enableAutoScaling", False)),
        "idleTimeoutSeconds": _int_field("headSpec.idleTimeoutSeconds", raw.get("idleTimeoutSeconds"), minimum=0)
        if raw.get("idleTimeoutSeconds") is not None
        else 60,
        "displayReleaseVersion": str(raw.get("displayReleaseVersion") or release),
        "env": raw.get("env") if _is_str(raw.get("env")) else (json.dumps(raw["env"]) if raw.get("env") else ""),
        "rayStartParams": raw.get("rayStartParams")
        if _is_str(raw.get("rayStartParams"))
        else (json.dumps(raw["rayStartParams"]) if raw.get("rayStartParams") else ""),
        "gftEnabled": bool(raw.get("gftEnabled", False)),
        "gftConfig": {
            "redisUrl": str(gft.get("redisUrl") or ""),
            "redisUsername": str(gft.get("redisUsername") or ""),
            "redisPassword": str(gft.get("redisPassword") or ""),
        },
    }


def _worker_specs(raw: Any, release: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.invalid_parameter("workerSpec must be an array.")
    if len(raw) > 50:
        raise errors.invalid_parameter("workerSpec accepts at most 50 groups.")
    out = []
    for i, group in enumerate(raw):
        if not isinstance(group, dict):
            raise errors.invalid_parameter(f"workerSpec[{i}] must be an object.")
        replica = _int_field(f"workerSpec[{i}].replica", group.get("replica"), minimum=1) or 1
        min_replica = _int_field(f"workerSpec[{i}].minReplica", group.get("minReplica"), minimum=1)
        max_replica = _int_field(f"workerSpec[{i}].maxReplica", group.get("maxReplica"), minimum=1)
        min_replica = replica if min_replica is None else min_replica
        max_replica = max(replica, min_replica) if max_replica is None else max_replica
        if min_replica > max_replica:
            raise errors.invalid_parameter(f"workerSpec[{i}].minReplica must be less than or equal to maxReplica.")
        out.append(
            {
                "groupName": str(group.get("groupName") or f"WorkerGroup{i + 1}"),
                "workerType": str(group.get("workerType") or "CPU"),
                "replica": replica,
                "minReplica": min_replica,
                "maxReplica": max_replica,
                "queueName": str(group.get("queueName") or "root_queue"),
                "cpu": str(group.get("cpu") or "2"),
                "memory": str(group.get("memory") or "8Gi"),
                "gpuSpec": str(group.get("gpuSpec") or ""),
                "displayReleaseVersion": str(group.get("displayReleaseVersion") or release),
                "env": group.get("env") if _is_str(group.get("env")) else "",
                "rayStartParams": group.get("rayStartParams") if _is_str(group.get("rayStartParams")) else "",
            }
        )
    return out


def _str_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid_parameter(f"{field} must be an array of strings.")
    return list(value)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process belongs to process group ``pgid`` (Linux ``/proc``)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        try:
            os.killpg(pgid, 0)
            return True
        except OSError:
            return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _kill_groups(procs: dict[str, subprocess.Popen], timeout: float = 5.0) -> None:
    """Kill every job process group and wait until no member is left (also used at exit/GC)."""
    pgids = []
    for proc in list(procs.values()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group, even if its leader already exited
        pgids.append(proc.pid)
    for proc in list(procs.values()):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    procs.clear()
    deadline = time.monotonic() + timeout
    for pgid in pgids:
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.005)


class Store:
    """All clusters and jobs. Thread-safe; every public method takes the lock."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.lock = threading.RLock()
        self.clusters: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        # Never leave a child behind, even when close() is forgotten.
        self._finalizer = weakref.finalize(self, _kill_groups, self._procs)
        self._kill_at: dict[str, float] = {}
        self._active: set[str] = set()
        self._json_cache: dict[str, tuple[tuple, bytes]] = {}
        self._closed = False
        self._tmp: str | None = None
        if config.data_dir:
            self.data_dir = Path(config.data_dir)
        else:
            self._tmp = tempfile.mkdtemp(prefix="emr-ray-emulator-")
            self.data_dir = Path(self._tmp)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._error_re = re.compile(config.error_name_pattern) if config.error_name_pattern else None
        self._fail_re = re.compile(config.fail_entrypoint_pattern) if config.fail_entrypoint_pattern else None
        self.state_file = Path(config.state_file) if config.state_file else None
        if self.state_file and self.state_file.exists():
            self._load()

    # ------------------------------------------------------------------ helpers
    def now_ms(self) -> int:
        return _ms(self.clock())

    def _gateway(self) -> str:
        return f"emr-ray-gateway-{self.config.region_id}.aliyuncs.com"

    def _job_gateway(self) -> str:
        return f"emr-spark-ray-gateway-{self.config.region_id}"

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text("utf-8"))
        self.clusters = data.get("clusters", {})
        self.jobs = data.get("jobs", {})
        now = self.now_ms()
        for sid, job in self.jobs.items():
            if job["status"] not in JOB_TERMINAL:
                if job.get("_launched") and self.config.execute_jobs:
                    # The driver process died with the previous emulator.
                    self._finish(job, "Failed", now, "Job driver lost: the emulator was restarted.")
                else:
                    self._active.add(sid)

    def save(self) -> None:
        """Write the state file atomically (temp file + ``os.replace``)."""
        if not self.state_file:
            return
        with self.lock:
            payload = json.dumps(
                {"version": _STATE_VERSION, "clusters": self.clusters, "jobs": self.jobs},
                separators=(",", ":"),
            )
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".emr-ray-state-", dir=str(self.state_file.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # ------------------------------------------------------------------ clusters
    def _cluster_fields(self, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "name" in body or creating:
            name = body.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 64:
                raise errors.invalid_parameter("name must be 1 to 64 characters in length.")
            out["name"] = name
        release = body.get("displayReleaseVersion")
        if release is not None or creating:
            out["displayReleaseVersion"] = str(release or DEFAULT_RELEASE)
        rel = out.get("displayReleaseVersion") or DEFAULT_RELEASE
        for key in ("description", "networkServiceName"):
            if key in body or creating:
                out[key] = str(body.get(key) or "")
        if "extraParam" in body or creating:
            _check_json_string("extraParam", body.get("extraParam"))
            out["extraParam"] = body.get("extraParam") or "{}"
        if "headSpec" in body or creating:
            out["headSpec"] = _head_spec(body.get("headSpec"), rel)
        if "workerSpec" in body or creating:
            out["workerSpec"] = _worker_specs(body.get("workerSpec"), rel)
        if "volumeIds" in body or creating:
            out["volumeIds"] = _str_list("volumeIds", body.get("volumeIds"))
        return out

    def _instances_ids(self, cid: str, worker_specs: list[dict[str, Any]]) -> list[list[str]]:
        ids = [["Head", f"{cid}-head-{_rand(5)}"]]
        for group in worker_specs:
            gname = re.sub(r"[^a-z0-9]+", "-", group["groupName"].lower()).strip("-") or "group"
            for _ in range(group["replica"]):
                ids.append(["Worker", f"{cid}-{gname}-worker-{_rand(5)}"])
        return ids

    def create_cluster(self, ws: str, body: dict[str, Any], *, fail: bool = False) -> str:
        fields = self._cluster_fields(body, creating=True)
        with self.lock:
            now = self.now_ms()
            cid = f"ray-{_rand(16)}"
            while cid in self.clusters:
                cid = f"ray-{_rand(16)}"
            cluster = {
                "clusterId": cid,
                "_ws": ws,
                **fields,
                "state": "Starting",
                "_since": now,
                "_fail": bool(fail or (self._error_re and self._error_re.search(fields["name"]))),
                "_deleting": False,
                "message": "ok",
                "creator": self.config.user_id,
                "creatorName": self.config.creator_name,
                "modifier": self.config.user_id,
                "modifierName": self.config.creator_name,
                "userId": self.config.user_id,
                "instanceId": f"{cid}-{_rand(7)}",
                "createTime": now,
                "startTime": now,
                "modifiedTime": now,
                "modified": False,
                "submitToken": secrets.token_hex(16),
                "_dashToken": secrets.token_hex(16),
                "_nodes": self._instances_ids(cid, fields["workerSpec"]),
            }
            self.clusters[cid] = cluster
            self._settle_cluster(cluster, now)
        self.save()
        return cid

    def _settle_cluster(self, c: dict[str, Any], now: int) -> bool:
        """Apply due transitions. Returns False when the cluster has vanished (deleted)."""
        cfg = self.config
        if c["state"] == "Starting":
            due = c["_since"] + _ms(cfg.cluster_start_delay)
            if now >= due:
                if c["_fail"]:
                    c["state"] = "Error"
                    c["message"] = "Ray head pod failed: container exited with code 137 (OOMKilled)."
                else:
                    c["state"] = "Running"
                    c["startTime"] = due
                    c["message"] = "ok"
                c["_since"] = due
        if c["state"] == "Stopping":
            delay = cfg.cluster_delete_delay if c["_deleting"] else cfg.cluster_stop_delay
            due = c["_since"] + _ms(delay)
            if now >= due:
                if c["_deleting"]:
                    self.clusters.pop(c["clusterId"], None)
                    return False
                c["state"] = "Stopped"
                c["_since"] = due
        return True

    def get_cluster(self, ws: str, cid: str) -> dict[str, Any]:
        with self.lock:
            c = self.clusters.get(cid)
            if c is None or c["_ws"] != ws or not self._settle_cluster(c, self.now_ms()):
                raise errors.cluster_not_found(cid)
            return c

    def list_clusters(self, ws: str, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            now = self.now_ms()
            out = []
            for c in list(self.clusters.values()):
                if c["_ws"] != ws or not self._settle_cluster(c, now):
                    continue
                if name and name not in c["name"]:
                    continue
                out.append(c)
            out.reverse()
            return out

    def update_cluster(self, ws: str, cid: str, body: dict[str, Any]) -> None:
        fields = self._cluster_fields(body, creating=False)
        with self.lock:
            c = self.get_cluster(ws, cid)
            if c["_deleting"]:
                raise errors.cluster_state_conflict(cid, "being deleted", "UpdateRayCluster")
            c.update(fields)
            if "workerSpec" in fields:
                c["_nodes"] = self._instances_ids(cid, c["workerSpec"])
            now = self.now_ms()
            c["modifiedTime"] = now
            c["modifier"] = self.config.user_id
            c["modifierName"] = self.config.creator_name
            c["modified"] = c["state"] in ("Running", "Starting")
        self.save()

    def start_cluster(self, ws: str, cid: str, *, fail: bool = False) -> None:
        with self.lock:
            c = self.get_cluster(ws, cid)
            if c["_deleting"]:
                raise errors.cluster_state_conflict(cid, "being deleted", "StartRayCluster")
            if c["state"] in ("Starting", "Running"):
                return
            if c["state"] == "Stopping":
                raise errors.cluster_state_conflict(cid, "Stopping", "StartRayCluster")
            now = self.now_ms()
            c.update(
                state="Starting",
                _since=now,
                _fail=bool(fail or (self._error_re and self._error_re.search(c["name"]))),
                modified=False,
                message="ok",
                _nodes=self._instances_ids(cid, c["workerSpec"]),
            )
            self._settle_cluster(c, now)
        self.save()

    def stop_cluster(self, ws: str, cid: str) -> None:
        with self.lock:
            c = self.get_cluster(ws, cid)
            if c["state"] in ("Stopping", "Stopped"):
                return
            now = self.now_ms()
            c.update(state="Stopping", _since=now)
            self._settle_cluster(c, now)
        self.save()

    def delete_cluster(self, ws: str, cid: str) -> None:
        with self.lock:
            c = self.get_cluster(ws, cid)
            now = self.now_ms()
            c.update(state="Stopping", _since=now, _deleting=True)
            self._settle_cluster(c, now)
        self.save()

    def force_cluster_error(self, cid: str, message: str = "Ray head pod failed.") -> None:
        """Test hook: put a cluster into ``Error`` now."""
        with self.lock:
            c = self.clusters[cid]
            c.update(state="Error", _since=self.now_ms(), message=message)
        self.save()

    def cluster_view(self, c: dict[str, Any], *, full: bool) -> dict[str, Any]:
        cid, ws = c["clusterId"], c["_ws"]
        head = c["headSpec"]
        view: dict[str, Any] = {
            "clusterId": cid,
            "name": c["name"],
            "description": c["description"],
            "displayReleaseVersion": c["displayReleaseVersion"],
            "networkServiceName": c["networkServiceName"],
            "state": c["state"],
            "message": c["message"],
            "creator": c["creator"],
            "creatorName": c["creatorName"],
            "modifier": c["modifier"],
            "modifierName": c["modifierName"],
            "userId": c["userId"],
            "instanceId": c["instanceId"],
            "createTime": c["createTime"],
            "startTime": c["startTime"],
            "modifiedTime": c["modifiedTime"],
            "modified": c["modified"],
            "dashboardUrl": f"https://{self._gateway()}/workspace/{ws}/raycluster/{cid}/dashboard?token={c['_dashToken']}",
            "grpcEndpoint": f"ray://{self._job_gateway()}-internal.emr.aliyuncs.com:80",
        }
        if full:
            view.update(
                {
                    "extraParam": c["extraParam"],
                    "volumeIds": list(c["volumeIds"]),
                    "jobUrl": f"https://{self._job_gateway()}.aliyuncs.com",
                    "jobUrlInner": f"http://{self._job_gateway()}-internal.emr.aliyuncs.com",
                    "submitToken": c["submitToken"],
                    "headSpec": dict(head, gftConfig=dict(head["gftConfig"])),
                    "workerSpec": [dict(w) for w in c["workerSpec"]],
                    "instances": self._instances(c),
                }
            )
        else:
            view["headSpec"] = {
                k: head[k]
                for k in ("queueName", "cpu", "memory", "replica", "gpuSpec", "enableAutoScaling", "idleTimeoutSeconds")
            }
            view["workerSpec"] = [
                {
                    k: w[k]
                    for k in (
                        "groupName",
                        "workerType",
                        "replica",
                        "queueName",
                        "cpu",
                        "memory",
                        "gpuSpec",
                        "minReplica",
                        "maxReplica",
                    )
                }
                for w in c["workerSpec"]
            ]
        return view

    def _instances(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        state = c["state"]
        if state == "Stopped":
            return []
        phase, container, reason, cmsg, code, msg = {
            "Starting": ("Pending", "Waiting", "ContainerCreating", "", 0, "Pod is being created."),
            "Running": ("Running", "Running", "", "", 0, "ok"),
            "Stopping": ("Running", "Terminated", "Completed", "ContainerExit", 0, "Pod is terminating."),
            "Error": ("Failed", "Terminated", "OOMKilled", "ContainerExit", 137, c["message"]),
        }.get(state, ("Unknown", "Unknown", "", "", 0, ""))
        out = []
        for node_type, node_id in c["_nodes"]:
            out.append(
                {
                    "type": node_type,
                    "instanceId": node_id,
                    "phase": phase,
                    "containerState": container,
                    "containerStateReason": reason,
                    "containerStateMessage": cmsg,
                    "containerExitCode": code,
                    "reason": "OOMKilled" if state == "Error" else "",
                    "message": msg,
                    "createTime": c["_since"] if state == "Starting" else c["startTime"],
                    "startTime": c["startTime"],
                }
            )
        return out

    # ------------------------------------------------------------------ jobs
    def submit_job(self, ws: str, body: dict[str, Any], *, fail_cluster: bool = False) -> str:
        entrypoint = body.get("entrypoint")
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise errors.invalid_parameter("entrypoint is required.")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise errors.invalid_parameter("name must be a string of at most 128 characters.")
        for key in ("runtimeEnvJson", "metadataJson", "entrypointResources", "extraParam"):
            _check_json_string(key, body.get(key))
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise errors.invalid_parameter("tags must be an array of {key, value}.")
        tags = [{"key": str(t.get("key", "")), "value": str(t.get("value", ""))} for t in tags]
        ads = _int_field("activeDeadlineSeconds", body.get("activeDeadlineSeconds"), minimum=0) or 0
        ttl = _int_field("ttlSecondsAfterFinished", body.get("ttlSecondsAfterFinished"), minimum=0) or 0
        release = str(body.get("displayReleaseVersion") or DEFAULT_RELEASE)
        cluster_id = body.get("clusterId") or None
        with self.lock:
            now = self.now_ms()
            if cluster_id:
                cluster = self.get_cluster(ws, cluster_id)
                if cluster["state"] != "Running":
                    raise errors.cluster_state_conflict(cluster_id, cluster["state"], "SubmitRayJob")
                head = dict(cluster["headSpec"])
                workers = [dict(w) for w in cluster["workerSpec"]]
                release = str(body.get("displayReleaseVersion") or cluster["displayReleaseVersion"])
            else:
                head = _head_spec(body.get("headSpec"), release)
                workers = _worker_specs(body.get("workerSpec"), release)
            sid = f"rj-{_rand(16)}"
            while sid in self.jobs:
                sid = f"rj-{_rand(16)}"
            task_biz_id = None
            for key in ("metadataJson", "extraParam"):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    task_biz_id = task_biz_id or json.loads(body.get(key) or "{}").get("taskBizId")
            job = {
                "submissionId": sid,
                "_ws": ws,
                "_clusterId": cluster_id,
                "name": name or sid,
                "entrypoint": entrypoint,
                "tags": tags,
                "displayReleaseVersion": release,
                "networkServiceName": str(body.get("networkServiceName") or ""),
                "runtimeEnvJson": body.get("runtimeEnvJson") or "",
                "workingDir": str(body.get("workingDir") or ""),
                "submissionMode": str(body.get("submissionMode") or "HTTPMode"),
                "metadataJson": body.get("metadataJson") or "",
                "entrypointNumCpus": str(body.get("entrypointNumCpus") or ""),
                "entrypointNumGpus": str(body.get("entrypointNumGpus") or ""),
                "entrypointMemory": str(body.get("entrypointMemory") or ""),
                "entrypointResources": body.get("entrypointResources") or "",
                "shutdownAfterJobFinishes": bool(body.get("shutdownAfterJobFinishes", True)),
                "ttlSecondsAfterFinished": ttl,
                "activeDeadlineSeconds": ads,
                "volumeIds": _str_list("volumeIds", body.get("volumeIds")),
                "backoffLimit": 0,
                "headSpec": head,
                "workerSpecs": workers,
                "extraParam": body.get("extraParam") or "{}",
                "creatorName": self.config.creator_name,
                "taskBizId": str(task_biz_id or f"TSK-{secrets.token_hex(16)}"),
                "status": "Submitted",
                "message": "Job is submitted.",
                "submitTime": now,
                "startTime": 0,
                "endTime": 0,
                "_since": now,
                "_failCluster": bool(
                    fail_cluster
                    or (not cluster_id and self._error_re and self._error_re.search(name or ""))
                ),
                "_dashToken": secrets.token_hex(16),
                "_launched": False,
            }
            self.jobs[sid] = job
            self._active.add(sid)
            self._settle_job(job, now)
        self.save()
        return sid

    def _finish(self, job: dict[str, Any], status: str, at: int, message: str) -> None:
        job["status"] = status
        job["message"] = message
        job["endTime"] = at
        job["_since"] = at
        if not job["startTime"]:
            job["startTime"] = at
        self._active.discard(job["submissionId"])

    def _settle_job(self, job: dict[str, Any], now: int) -> bool:
        """Apply due transitions; returns True when something was persisted-worthy changed."""
        status = job["status"]
        if status in JOB_TERMINAL:
            return False
        cfg = self.config
        sid = job["submissionId"]
        changed = False
        deadline = job["submitTime"] + job["activeDeadlineSeconds"] * 1000 if job["activeDeadlineSeconds"] else None
        if status == "Submitted":
            due = job["submitTime"] + _ms(cfg.job_submit_delay)
            if now >= due and (deadline is None or due < deadline):
                job.update(status="Pending", _since=due, message="Ray cluster is being created.")
        if job["status"] == "Pending":
            due = job["_since"] + _ms(cfg.job_pending_delay)
            if now >= due and (deadline is None or due < deadline):
                if job["_failCluster"]:
                    self._finish(job, "Failed", due, "Ray cluster failed to start: head pod OOMKilled.")
                    return True
                cid = job["_clusterId"]
                if cid and (cid not in self.clusters or self.clusters[cid]["state"] != "Running"):
                    self._finish(job, "Failed", due, f"Ray cluster {cid} is no longer running.")
                    return True
                job.update(status="Running", _since=due, startTime=due, message="Job is running.")
                if cfg.execute_jobs:
                    self._launch(job)
                    changed = True
        if job["status"] == "Running":
            if cfg.execute_jobs:
                proc = self._procs.get(sid)
                code = proc.poll() if proc is not None else None
                if proc is None and job["_launched"]:
                    self._finish(job, "Failed", now, "Job driver lost.")
                    return True
                if code is not None:
                    self._procs.pop(sid, None)
                    if code == 0:
                        self._finish(job, "Succeeded", now, "Job finished successfully.")
                    elif code < 0:
                        self._finish(job, "Failed", now, f"Job entrypoint command was killed by signal {-code} (exit code {code}).")
                    else:
                        self._finish(job, "Failed", now, f"Job entrypoint command failed with exit code {code}.")
                    return True
            else:
                end = job["startTime"] + _ms(cfg.job_run_duration)
                if now >= end and (deadline is None or end < deadline):
                    if self._fail_re and self._fail_re.search(job["entrypoint"]):
                        self._finish(job, "Failed", end, "Job entrypoint command failed with exit code 1.")
                    else:
                        self._finish(job, "Succeeded", end, "Job finished successfully.")
                    return True
        if job["status"] == "Running" and job["_clusterId"]:
            c = self.clusters.get(job["_clusterId"])
            if c is None or not self._settle_cluster(c, now) or c["state"] not in ("Running", "Starting"):
                self._kill(sid, signal.SIGKILL)
                self._procs.pop(sid, None)
                self._finish(job, "Failed", now, f"Ray cluster {job['_clusterId']} was stopped while the job was running.")
                return True
        if job["status"] == "Cancelling":
            proc = self._procs.get(sid)
            if proc is not None and proc.poll() is None:
                kill_at = self._kill_at.get(sid)
                if kill_at is not None and time.monotonic() >= kill_at:
                    self._kill(sid, signal.SIGKILL)
            gone = proc is None or proc.poll() is not None
            due = job["_since"] + _ms(cfg.job_cancel_delay)
            if gone and now >= due:
                self._procs.pop(sid, None)
                self._kill_at.pop(sid, None)
                self._finish(job, "Cancelled", max(due, job["_since"]), "Job was cancelled by the user.")
                return True
        if deadline is not None and now >= deadline and job["status"] not in JOB_TERMINAL:
            self._kill(sid, signal.SIGKILL)
            self._procs.pop(sid, None)
            self._finish(
                job,
                "Timeout",
                deadline,
                f"Job exceeded activeDeadlineSeconds ({job['activeDeadlineSeconds']} s) and was stopped.",
            )
            return True
        return changed

    def get_job(self, ws: str, sid: str) -> dict[str, Any]:
        with self.lock:
            job = self.jobs.get(sid)
            if job is None or job["_ws"] != ws:
                raise errors.job_not_found(sid)
            changed = self._settle_job(job, self.now_ms())
        if changed:
            self.save()
        return job

    def list_jobs(self, ws: str) -> list[dict[str, Any]]:
        changed = False
        with self.lock:
            now = self.now_ms()
            out = []
            for job in self.jobs.values():
                if job["_ws"] != ws:
                    continue
                changed = self._settle_job(job, now) or changed
                out.append(job)
            out.reverse()
        if changed:
            self.save()
        return out

    def cancel_job(self, ws: str, sid: str) -> bool:
        with self.lock:
            job = self.get_job(ws, sid)
            if job["status"] in JOB_TERMINAL or job["status"] == "Cancelling":
                return job["status"] == "Cancelling"
            now = self.now_ms()
            if not job["startTime"]:
                job["startTime"] = now
            job.update(status="Cancelling", _since=now, message="Job is being cancelled.")
            if self._procs.get(job["submissionId"]) is not None:
                self._kill(sid, signal.SIGTERM)
                self._kill_at[sid] = time.monotonic() + self.config.kill_grace
            self._settle_job(job, now)
        self.save()
        return True

    def tick(self) -> None:
        """Settle every active job (used by the server's background ticker)."""
        changed = False
        with self.lock:
            now = self.now_ms()
            for sid in list(self._active):
                job = self.jobs.get(sid)
                if job is None:
                    self._active.discard(sid)
                    continue
                changed = self._settle_job(job, now) or changed
        if changed:
            self.save()

    def job_cluster_state(self, job: dict[str, Any], now: int) -> str:
        cid = job["_clusterId"]
        if cid:
            c = self.clusters.get(cid)
            if c is None or not self._settle_cluster(c, now) or c["state"] in ("Stopped", "Error"):
                return "Deleted"
            return "Pending" if c["state"] == "Starting" else "Running"
        status = job["status"]
        if status == "Submitted":
            return "Submitted"
        if status == "Pending":
            return "Pending"
        if status in ("Running", "Cancelling"):
            return "Running"
        if job["_failCluster"] or (
            job["shutdownAfterJobFinishes"] and now >= job["endTime"] + job["ttlSecondsAfterFinished"] * 1000
        ):
            return "Deleted"
        return "Running"

    def _cu(self, job: dict[str, Any]) -> float:
        if job["_clusterId"]:
            return _cpu(job["entrypointNumCpus"]) or 1.0
        head = job["headSpec"]
        cu = _cpu(head["cpu"]) * head["replica"]
        for w in job["workerSpecs"]:
            cu += _cpu(w["cpu"]) * w["replica"]
        return cu

    def job_json(self, job: dict[str, Any]) -> bytes:
        """The full job view as JSON bytes, cached until anything it shows changes."""
        now = self.now_ms()
        start = job["startTime"]
        terminal = job["status"] in JOB_TERMINAL
        duration = max(0, ((job["endTime"] if terminal else now) - start) // 1000) if start else 0
        key = (
            job["status"],
            job["_since"],
            start,
            job["endTime"],
            duration,
            self.job_cluster_state(job, now),
            job["_clusterId"] in self.clusters if job["_clusterId"] else None,
        )
        cached = self._json_cache.get(job["submissionId"])
        if cached is not None and cached[0] == key:
            return cached[1]
        data = json.dumps(self.job_view(job, full=True), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self._json_cache[job["submissionId"]] = (key, data)
        return data

    def job_view(self, job: dict[str, Any], *, full: bool) -> dict[str, Any]:
        now = self.now_ms()
        start, end = job["startTime"], job["endTime"]
        terminal = job["status"] in JOB_TERMINAL
        duration = max(0, ((end if terminal else now) - start) // 1000) if start else 0
        cu_hours = round(self._cu(job) * duration / 3600.0, 4) if terminal else 0.0
        ws, sid = job["_ws"], job["submissionId"]
        if job["_clusterId"] and job["_clusterId"] in self.clusters:
            c = self.clusters[job["_clusterId"]]
            dashboard = f"https://{self._gateway()}/workspace/{ws}/raycluster/{c['clusterId']}/dashboard?token={c['_dashToken']}"
        else:
            dashboard = f"https://{self._gateway()}/workspace/{ws}/rayjob/{sid}/dashboard?token={job['_dashToken']}"
        cluster_state = self.job_cluster_state(job, now)
        if not full:
            return {
                "submissionId": sid,
                "name": job["name"],
                "status": job["status"],
                "clusterState": cluster_state,
                "creatorName": job["creatorName"],
                "cuHours": cu_hours,
                "dashboardUrl": dashboard,
                "duration": duration,
                "startTime": start,
                "endTime": end,
                "submitTime": job["submitTime"],
                "resourceQueue": job["headSpec"]["queueName"],
            }
        head = job["headSpec"]
        return {
            "submissionId": sid,
            "name": job["name"],
            "displayReleaseVersion": job["displayReleaseVersion"],
            "tags": [dict(t) for t in job["tags"]],
            "status": job["status"],
            "message": job["message"],
            "entrypoint": job["entrypoint"],
            "submitTime": job["submitTime"],
            "startTime": start,
            "endTime": end,
            "duration": duration,
            "networkServiceName": job["networkServiceName"],
            "runtimeEnvJson": job["runtimeEnvJson"],
            "workingDir": job["workingDir"],
            "submissionMode": job["submissionMode"],
            "metadataJson": job["metadataJson"],
            "entrypointNumCpus": job["entrypointNumCpus"],
            "entrypointNumGpus": job["entrypointNumGpus"],
            "entrypointMemory": job["entrypointMemory"],
            "entrypointResources": job["entrypointResources"],
            "shutdownAfterJobFinishes": job["shutdownAfterJobFinishes"],
            "ttlSecondsAfterFinished": job["ttlSecondsAfterFinished"],
            "activeDeadlineSeconds": job["activeDeadlineSeconds"],
            "volumeIds": list(job["volumeIds"]),
            "backoffLimit": job["backoffLimit"],
            "headSpec": {
                k: head[k]
                for k in (
                    "replica",
                    "enableAutoScaling",
                    "idleTimeoutSeconds",
                    "queueName",
                    "cpu",
                    "memory",
                    "gpuSpec",
                    "displayReleaseVersion",
                )
            },
            "workerSpecs": [
                {
                    k: w[k]
                    for k in (
                        "groupName",
                        "replica",
                        "minReplica",
                        "maxReplica",
                        "queueName",
                        "cpu",
                        "memory",
                        "gpuSpec",
                        "displayReleaseVersion",
                    )
                }
                for w in job["workerSpecs"]
            ],
            "extraParam": job["extraParam"],
            "creatorName": job["creatorName"],
            "dashboardUrl": dashboard,
            "logBucketName": f"ss-ray-{self.config.region_id}",
            "logPath": f"{ws}/ray/logs/{sid}/",
            "cuHours": cu_hours,
            "guHours": {"gpuSpec": head["gpuSpec"], "gpuHours": 0.0},
            "dashboardUrlExtra": [],
            "clusterState": cluster_state,
            "taskBizId": job["taskBizId"],
        }

    # ------------------------------------------------------------------ processes
    def log_dir(self, ws: str, key: str) -> Path:
        return self.data_dir / "logs" / ws / key

    def _launch(self, job: dict[str, Any]) -> None:
        sid = job["submissionId"]
        workdir = self.data_dir / "work" / sid
        workdir.mkdir(parents=True, exist_ok=True)
        local = job["workingDir"]
        if local.startswith("file://"):
            local = local[len("file://") :]
        if local and os.path.isdir(local):
            shutil.copytree(local, workdir, dirs_exist_ok=True)
        env = dict(os.environ)
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            env_vars = json.loads(job["runtimeEnvJson"] or "{}").get("env_vars") or {}
            env.update({str(k): str(v) for k, v in env_vars.items()})
        env.update(
            PYTHONUNBUFFERED="1",
            EMR_RAY_EMULATOR="1",
            EMR_RAY_SUBMISSION_ID=sid,
            RAY_JOB_SUBMISSION_ID=sid,
        )
        logdir = self.log_dir(job["_ws"], sid)
        logdir.mkdir(parents=True, exist_ok=True)
        job["_launched"] = True
        with open(logdir / f"job-driver-{sid}.log", "ab") as log:
            try:
                proc = subprocess.Popen(
                    job["entrypoint"],
                    shell=True,
                    cwd=str(workdir),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                log.write(f"failed to start the entrypoint: {exc}\n".encode())
                self._finish(job, "Failed", self.now_ms(), "Job entrypoint command could not be started.")
                return
        self._procs[sid] = proc
        job["_pid"] = proc.pid

    def _kill(self, sid: str, sig: int) -> None:
        proc = self._procs.get(sid)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def close(self) -> None:
        """Kill every job process group, reap them and drop the temporary data directory."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            _kill_groups(self._procs)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ logs
    def resolve_log_key(self, ws: str, instance_id: str) -> tuple[str, dict[str, Any] | None]:
        """Map an instanceId to (log key, cluster record or None). Raises when unknown."""
        with self.lock:
            job = self.jobs.get(instance_id)
            if job is not None and job["_ws"] == ws:
                return instance_id, None
            for c in self.clusters.values():
                if c["_ws"] != ws:
                    continue
                if instance_id in (c["clusterId"], c["instanceId"]) or any(n[1] == instance_id for n in c["_nodes"]):
                    return instance_id, c
        raise errors.instance_not_found(instance_id)

    def log_files(self, ws: str, instance_id: str) -> list[Path]:
        key, cluster = self.resolve_log_key(ws, instance_id)
        logdir = self.log_dir(ws, key)
        if cluster is not None and not logdir.exists():
            logdir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cluster["createTime"] / 1000))
            head = instance_id in (cluster["clusterId"], cluster["instanceId"]) or instance_id == cluster["_nodes"][0][1]
            (logdir / "raylet.out").write_text(f"[{stamp}] raylet started on {instance_id} (emulated)\n", "utf-8")
            if head:
                (logdir / "gcs_server.out").write_text(f"[{stamp}] GCS server started (emulated)\n", "utf-8")
        if not logdir.exists():
            return []
        return sorted(p for p in logdir.iterdir() if p.is_file())


def shell_quote(*parts: str) -> str:
    """Quote a command line for an entrypoint (``shell_quote(sys.executable, "-c", code)``)."""
    return " ".join(shlex.quote(p) for p in parts)


def job_pids(store: Store) -> list[int]:
    """Process ids of the job processes the store still tracks (for tests)."""
    return [p.pid for p in store._procs.values()]
