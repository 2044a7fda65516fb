"""The emulator's state: Ray clusters and jobs per workspace, their lazy state machines and persistence.

Transitions are computed from timestamps whenever a record is read ("settled"), so idle
clusters and jobs cost nothing. Job processes (:mod:`.processes`) are reconciled with
``Popen.poll()`` on reads (and by an optional ticker under a server), which works the same
under uvicorn and ``httpx.ASGITransport``.

Request bodies are validated by :mod:`.requests` before they reach a record; records are shown
through :mod:`.views`. States are those of :mod:`airflow_provider_emr_ray.states`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_emr_ray.emulator import errors, requests, sources, views
from airflow_provider_emr_ray.emulator.config import DEFAULT_RELEASE, EmulatorConfig
from airflow_provider_emr_ray.emulator.processes import JobProcesses, job_environment, runtime_env_vars, shell_quote
from airflow_provider_emr_ray.states import JOB_TERMINAL_STATUSES, ClusterState, JobClusterState, RayJobStatus

__all__ = ["Store", "shell_quote"]

_ALNUM = string.ascii_lowercase + string.digits
_STATE_VERSION = 1
#: Cluster states in which a cluster runs (or is about to run) its nodes and jobs.
_UP = frozenset({ClusterState.Starting, ClusterState.Running})
#: Cluster states in which a job on the cluster sees it as gone (``clusterState`` ``Deleted``).
_DOWN = frozenset({ClusterState.Stopped, ClusterState.Error})


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


class Store:
    """All clusters and jobs. Thread-safe; every public method takes the lock."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.lock = threading.RLock()
        self.clusters: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.processes = JobProcesses()
        self._active: set[str] = set()
        self._job_json = views.JobJsonCache()
        self._closed = False
        #: Called (under the lock) with a cluster id when the cluster begins to stop or be deleted.
        self.cluster_down_hooks: list[Callable[[str], None]] = []
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

    def now_ms(self) -> int:
        return _ms(self.clock())

    def _errors_by_name(self, name: str) -> bool:
        return bool(self._error_re and self._error_re.search(name))

    def _new_id(self, prefix: str, taken: dict[str, Any]) -> str:
        new = f"{prefix}-{_rand(16)}"
        while new in taken:
            new = f"{prefix}-{_rand(16)}"
        return new

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text("utf-8"))
        self.clusters = data.get("clusters", {})
        self.jobs = data.get("jobs", {})
        now = self.now_ms()
        for sid, job in self.jobs.items():
            if job["status"] not in JOB_TERMINAL_STATUSES:
                if job.get("_launched") and self.config.execute_jobs:
                    # The driver process died with the previous emulator.
                    self._finish(job, RayJobStatus.Failed, now, "Job driver lost: the emulator was restarted.")
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
    def _instances_ids(self, cid: str, worker_specs: list[dict[str, Any]]) -> list[list[str]]:
        ids = [["Head", f"{cid}-head-{_rand(5)}"]]
        for group in worker_specs:
            gname = re.sub(r"[^a-z0-9]+", "-", group["groupName"].lower()).strip("-") or "group"
            for _ in range(group["replica"]):
                ids.append(["Worker", f"{cid}-{gname}-worker-{_rand(5)}"])
        return ids

    def create_cluster(self, ws: str, body: dict[str, Any], *, fail: bool = False) -> str:
        fields = requests.cluster_fields(body, creating=True)
        with self.lock:
            now = self.now_ms()
            cid = self._new_id("ray", self.clusters)
            cluster = {
                "clusterId": cid,
                "_ws": ws,
                **fields,
                "state": ClusterState.Starting.value,
                "_since": now,
                "_fail": fail or self._errors_by_name(fields["name"]),
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
        if c["state"] == ClusterState.Starting:
            due = c["_since"] + _ms(cfg.cluster_start_delay)
            if now >= due:
                if c["_fail"]:
                    c["state"] = ClusterState.Error.value
                    c["message"] = "Ray head pod failed: container exited with code 137 (OOMKilled)."
                else:
                    c["state"] = ClusterState.Running.value
                    c["startTime"] = due
                    c["message"] = "ok"
                c["_since"] = due
        if c["state"] == ClusterState.Stopping:
            delay = cfg.cluster_delete_delay if c["_deleting"] else cfg.cluster_stop_delay
            due = c["_since"] + _ms(delay)
            if now >= due:
                if c["_deleting"]:
                    self.clusters.pop(c["clusterId"], None)
                    return False
                c["state"] = ClusterState.Stopped.value
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

    def _cluster_to_change(self, ws: str, cid: str, action: str) -> dict[str, Any]:
        c = self.get_cluster(ws, cid)
        if c["_deleting"]:
            raise errors.cluster_state_conflict(cid, "being deleted", action)
        return c

    def update_cluster(self, ws: str, cid: str, body: dict[str, Any]) -> None:
        fields = requests.cluster_fields(body, creating=False)
        with self.lock:
            c = self._cluster_to_change(ws, cid, "UpdateRayCluster")
            c.update(fields)
            if "workerSpec" in fields:
                c["_nodes"] = self._instances_ids(cid, c["workerSpec"])
            c["modifiedTime"] = self.now_ms()
            c["modifier"] = self.config.user_id
            c["modifierName"] = self.config.creator_name
            c["modified"] = c["state"] in _UP
        self.save()

    def start_cluster(self, ws: str, cid: str, *, fail: bool = False) -> None:
        with self.lock:
            c = self._cluster_to_change(ws, cid, "StartRayCluster")
            if c["state"] in _UP:
                return
            if c["state"] == ClusterState.Stopping:
                raise errors.cluster_state_conflict(cid, ClusterState.Stopping, "StartRayCluster")
            now = self.now_ms()
            c.update(
                state=ClusterState.Starting.value,
                _since=now,
                _fail=fail or self._errors_by_name(c["name"]),
                modified=False,
                message="ok",
                _nodes=self._instances_ids(cid, c["workerSpec"]),
            )
            self._settle_cluster(c, now)
        self.save()

    def _begin_stopping(self, ws: str, cid: str, *, deleting: bool) -> None:
        with self.lock:
            c = self.get_cluster(ws, cid)
            if not deleting and c["state"] in (ClusterState.Stopping, ClusterState.Stopped):
                return
            now = self.now_ms()
            c.update(state=ClusterState.Stopping.value, _since=now)
            if deleting:
                c["_deleting"] = True
            for hook in self.cluster_down_hooks:
                hook(cid)
            self._settle_cluster(c, now)
        self.save()

    def stop_cluster(self, ws: str, cid: str) -> None:
        self._begin_stopping(ws, cid, deleting=False)

    def delete_cluster(self, ws: str, cid: str) -> None:
        self._begin_stopping(ws, cid, deleting=True)

    # ------------------------------------------------------------------ jobs
    def submit_job(self, ws: str, body: dict[str, Any], *, fail_cluster: bool = False) -> str:
        fields = requests.job_fields(body)
        cluster_id = fields["_clusterId"]
        with self.lock:
            now = self.now_ms()
            if cluster_id:
                cluster = self.get_cluster(ws, cluster_id)
                if cluster["state"] != ClusterState.Running:
                    raise errors.cluster_state_conflict(cluster_id, cluster["state"], "SubmitRayJob")
                fields["headSpec"] = dict(cluster["headSpec"])
                fields["workerSpecs"] = [dict(w) for w in cluster["workerSpec"]]
                fields["displayReleaseVersion"] = fields["displayReleaseVersion"] or cluster["displayReleaseVersion"]
            else:
                fields["displayReleaseVersion"] = fields["displayReleaseVersion"] or DEFAULT_RELEASE
            sid = self._new_id("rj", self.jobs)
            name = fields["name"]
            job = {
                "submissionId": sid,
                "_ws": ws,
                **fields,
                "name": name or sid,
                "backoffLimit": 0,
                "creatorName": self.config.creator_name,
                "taskBizId": fields["taskBizId"] or f"TSK-{secrets.token_hex(16)}",
                "status": RayJobStatus.Submitted.value,
                "message": "Job is submitted.",
                "submitTime": now,
                "startTime": 0,
                "endTime": 0,
                "_since": now,
                "_failCluster": fail_cluster or (not cluster_id and self._errors_by_name(name or "")),
                "_dashToken": secrets.token_hex(16),
                "_launched": False,
            }
            self.jobs[sid] = job
            self._active.add(sid)
            self._settle_job(job, now)
        self.save()
        return sid

    def _finish(self, job: dict[str, Any], status: RayJobStatus, at: int, message: str) -> None:
        job["status"] = status.value
        job["message"] = message
        job["endTime"] = at
        job["_since"] = at
        if not job["startTime"]:
            job["startTime"] = at
        self._active.discard(job["submissionId"])

    def _stop_job(self, job: dict[str, Any], status: RayJobStatus, at: int, message: str) -> None:
        """Kill the job's process group (if any) and end the job."""
        self.processes.kill(job["submissionId"])
        self._finish(job, status, at, message)

    def _launch(self, job: dict[str, Any]) -> None:
        sid = job["submissionId"]
        job["_launched"] = True
        log_file = self.log_dir(job["_ws"], sid) / f"job-driver-{sid}.log"
        workdir = self.data_dir / "work" / sid
        try:
            sources.materialize_working_dir(job["workingDir"], workdir, oss_root=self.config.oss_root)
        except sources.SourceError as exc:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(f"failed to prepare the working directory: {exc}\n")
            self._finish(job, RayJobStatus.Failed, self.now_ms(), f"Job working directory could not be prepared: {exc}")
            return
        env = job_environment(sid, runtime_env_vars(job["runtimeEnvJson"]))
        pid = self.processes.start(sid, job["entrypoint"], cwd=workdir, log_file=log_file, env=env)
        if pid is None:
            self._finish(job, RayJobStatus.Failed, self.now_ms(), "Job entrypoint command could not be started.")
        else:
            job["_pid"] = pid

    def _settle_running(self, job: dict[str, Any], now: int, deadline: int | None) -> bool:
        """A Running job: its process (or, without execution, its run duration) decides its end."""
        sid = job["submissionId"]
        if self.config.execute_jobs:
            if not self.processes.tracked(sid) and job["_launched"]:
                self._finish(job, RayJobStatus.Failed, now, "Job driver lost.")
                return True
            code = self.processes.exit_code(sid)
            if code is None:
                return False
            self.processes.forget(sid)
            if code == 0:
                self._finish(job, RayJobStatus.Succeeded, now, "Job finished successfully.")
            elif code < 0:
                message = f"Job entrypoint command was killed by signal {-code} (exit code {code})."
                self._finish(job, RayJobStatus.Failed, now, message)
            else:
                self._finish(job, RayJobStatus.Failed, now, f"Job entrypoint command failed with exit code {code}.")
            return True
        end = job["startTime"] + _ms(self.config.job_run_duration)
        if now < end or (deadline is not None and end >= deadline):
            return False
        if self._fail_re and self._fail_re.search(job["entrypoint"]):
            self._finish(job, RayJobStatus.Failed, end, "Job entrypoint command failed with exit code 1.")
        else:
            self._finish(job, RayJobStatus.Succeeded, end, "Job finished successfully.")
        return True

    def _settle_job(self, job: dict[str, Any], now: int) -> bool:
        """Apply due transitions; returns True when something was persisted-worthy changed."""
        if job["status"] in JOB_TERMINAL_STATUSES:
            return False
        cfg = self.config
        sid = job["submissionId"]
        changed = False
        deadline = job["submitTime"] + job["activeDeadlineSeconds"] * 1000 if job["activeDeadlineSeconds"] else None
        if job["status"] == RayJobStatus.Submitted:
            due = job["submitTime"] + _ms(cfg.job_submit_delay)
            if now >= due and (deadline is None or due < deadline):
                job.update(status=RayJobStatus.Pending.value, _since=due, message="Ray cluster is being created.")
        if job["status"] == RayJobStatus.Pending:
            due = job["_since"] + _ms(cfg.job_pending_delay)
            if now >= due and (deadline is None or due < deadline):
                if job["_failCluster"]:
                    self._finish(job, RayJobStatus.Failed, due, "Ray cluster failed to start: head pod OOMKilled.")
                    return True
                cid = job["_clusterId"]
                if cid and (cid not in self.clusters or self.clusters[cid]["state"] != ClusterState.Running):
                    self._finish(job, RayJobStatus.Failed, due, f"Ray cluster {cid} is no longer running.")
                    return True
                job.update(status=RayJobStatus.Running.value, _since=due, startTime=due, message="Job is running.")
                if cfg.execute_jobs:
                    self._launch(job)
                    changed = True
        if job["status"] == RayJobStatus.Running and self._settle_running(job, now, deadline):
            return True
        if job["status"] == RayJobStatus.Running and job["_clusterId"]:
            c = self.clusters.get(job["_clusterId"])
            if c is None or not self._settle_cluster(c, now) or c["state"] not in _UP:
                message = f"Ray cluster {job['_clusterId']} was stopped while the job was running."
                self._stop_job(job, RayJobStatus.Failed, now, message)
                return True
        if job["status"] == RayJobStatus.Cancelling:
            self.processes.enforce_grace(sid)
            due = job["_since"] + _ms(cfg.job_cancel_delay)
            if not self.processes.running(sid) and now >= due:
                self.processes.forget(sid)
                self._finish(job, RayJobStatus.Cancelled, max(due, job["_since"]), "Job was cancelled by the user.")
                return True
        if deadline is not None and now >= deadline and job["status"] not in JOB_TERMINAL_STATUSES:
            message = f"Job exceeded activeDeadlineSeconds ({job['activeDeadlineSeconds']} s) and was stopped."
            self._stop_job(job, RayJobStatus.Timeout, deadline, message)
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
            if job["status"] in JOB_TERMINAL_STATUSES or job["status"] == RayJobStatus.Cancelling:
                return job["status"] == RayJobStatus.Cancelling
            now = self.now_ms()
            if not job["startTime"]:
                job["startTime"] = now
            job.update(status=RayJobStatus.Cancelling.value, _since=now, message="Job is being cancelled.")
            self.processes.terminate(sid, self.config.kill_grace)
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

    def job_cluster_state(self, job: dict[str, Any], now: int) -> JobClusterState:
        """A job's ``clusterState``: that of the cluster it runs on, or of its own job cluster."""
        cid = job["_clusterId"]
        if cid:
            c = self.clusters.get(cid)
            if c is None or not self._settle_cluster(c, now) or c["state"] in _DOWN:
                return JobClusterState.Deleted
            return JobClusterState.Pending if c["state"] == ClusterState.Starting else JobClusterState.Running
        status = job["status"]
        if status == RayJobStatus.Submitted:
            return JobClusterState.Submitted
        if status == RayJobStatus.Pending:
            return JobClusterState.Pending
        if status in (RayJobStatus.Running, RayJobStatus.Cancelling):
            return JobClusterState.Running
        if job["_failCluster"] or (
            job["shutdownAfterJobFinishes"] and now >= job["endTime"] + job["ttlSecondsAfterFinished"] * 1000
        ):
            return JobClusterState.Deleted
        return JobClusterState.Running

    # ------------------------------------------------------------------ views
    def _job_view_inputs(self, job: dict[str, Any]) -> dict[str, Any]:
        now = self.now_ms()
        cid = job["_clusterId"]
        return {
            "now": now,
            "cluster_state": self.job_cluster_state(job, now).value,
            "cluster": self.clusters.get(cid) if cid else None,
            "region_id": self.config.region_id,
        }

    def job_json(self, job: dict[str, Any]) -> bytes:
        """GetRayJob's answer as JSON bytes (cached until anything it shows changes)."""
        return self._job_json.render(job, **self._job_view_inputs(job))

    def job_view(self, job: dict[str, Any], *, full: bool) -> dict[str, Any]:
        """GetRayJob's answer (``full``) or a ListRayJob item."""
        return views.job_view(job, full=full, **self._job_view_inputs(job))

    def cluster_view(self, c: dict[str, Any], *, full: bool, job_url: str = "") -> dict[str, Any]:
        """GetRayCluster's answer (``full``, with ``job_url`` as ``jobUrl``/``jobUrlInner``) or a
        ListRayCluster item."""
        return views.cluster_view(c, full=full, region_id=self.config.region_id, job_url=job_url)

    # ------------------------------------------------------------------ logs
    def log_dir(self, ws: str, key: str) -> Path:
        return self.data_dir / "logs" / ws / key

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

    def close(self) -> None:
        """Kill every job process group, reap them and drop the temporary data directory."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.processes.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
