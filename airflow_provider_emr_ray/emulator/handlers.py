"""The API actions: one handler per action of :data:`airflow_provider_emr_ray.client.actions.ACTIONS`.

:data:`HANDLERS` is the dispatch table (action name -> handler). :func:`check_handlers`, run by
:func:`~.app.create_app`, makes sure every action has exactly one handler and no handler lacks
an action, so a new action cannot be routed to nothing. A handler gets the authenticated call
(:class:`Call`) and returns the answer's payload without ``requestId``, as a dict or as JSON
bytes; it raises :class:`~.errors.ApiError` to answer an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_emr_ray.emulator import errors, requests
from airflow_provider_emr_ray.emulator.config import ray_job_url

if TYPE_CHECKING:
    from starlette.requests import Request

    from airflow_provider_emr_ray.emulator.app import Emulator
    from airflow_provider_emr_ray.emulator.store import Store

#: Where the emulator's own routes live (log links, fault control, stats).
CONTROL_PREFIX = "/__emulator__"


@dataclass(frozen=True)
class Call:
    """One authenticated API call, as a handler sees it."""

    emu: Emulator
    request: Request
    #: The workspace (checked to exist).
    ws: str
    query: dict[str, str]
    body: bytes
    #: An injected ``cluster_error`` fault applies: the cluster this call creates/starts goes to Error.
    cluster_error: bool = False

    @property
    def store(self) -> Store:
        return self.emu.store

    def param(self, name: str) -> str:
        """A path parameter (``clusterId``, ``submissionId``, ``instanceId``)."""
        return self.request.path_params[name]

    def json(self) -> dict[str, Any]:
        return requests.json_body(self.body)


Handler = Callable[[Call], "dict[str, Any] | bytes"]


# --------------------------------------------------------------------------- clusters
def create_ray_cluster(call: Call) -> dict[str, Any]:
    return {"clusterId": call.store.create_cluster(call.ws, call.json(), fail=call.cluster_error)}


def update_ray_cluster(call: Call) -> dict[str, Any]:
    call.store.update_cluster(call.ws, call.param("clusterId"), call.json())
    return {"clusterId": call.param("clusterId")}


def get_ray_cluster(call: Call) -> dict[str, Any]:
    store = call.store
    with store.lock:
        cluster = store.get_cluster(call.ws, call.param("clusterId"))
        return store.cluster_view(cluster, full=True, job_url=ray_job_url(_base_url(call)))


def list_ray_cluster(call: Call) -> dict[str, Any]:
    store = call.store
    found, total = requests.page(call.query, store.list_clusters(call.ws, name=call.query.get("name") or None))
    with store.lock:
        return {"rayClusters": [store.cluster_view(c, full=False) for c in found], "totalCount": total}


def start_ray_cluster(call: Call) -> dict[str, Any]:
    call.json()
    call.store.start_cluster(call.ws, call.param("clusterId"), fail=call.cluster_error)
    return {}


def stop_ray_cluster(call: Call) -> dict[str, Any]:
    call.json()
    call.store.stop_cluster(call.ws, call.param("clusterId"))
    return {}


def delete_ray_cluster(call: Call) -> dict[str, Any]:
    call.store.delete_cluster(call.ws, call.param("clusterId"))
    return {}


# --------------------------------------------------------------------------- jobs
def submit_ray_job(call: Call) -> dict[str, Any]:
    return {"submissionId": call.store.submit_job(call.ws, call.json(), fail_cluster=call.cluster_error)}


def get_ray_job(call: Call) -> bytes:
    store = call.store
    with store.lock:
        return store.job_json(store.get_job(call.ws, call.param("submissionId")))


def list_ray_job(call: Call) -> dict[str, Any]:
    query, store = call.query, call.store
    start, end = requests.submit_time_range(query.get("submitTime"))
    name, sid, biz = query.get("name"), query.get("submissionId"), query.get("taskBizId")
    selected = [
        j
        for j in store.list_jobs(call.ws)
        if (not name or name in j["name"])
        and (not sid or j["submissionId"] == sid)
        and (not biz or j["taskBizId"] == biz)
        and (start is None or j["submitTime"] >= start)
        and (end is None or j["submitTime"] <= end)
    ]
    found, total = requests.page(query, selected)
    with store.lock:
        return {"totalCount": total, "rayJobs": [store.job_view(j, full=False) for j in found]}


def cancel_ray_job(call: Call) -> dict[str, Any]:
    return {"success": call.store.cancel_job(call.ws, call.param("submissionId"))}


# --------------------------------------------------------------------------- logs
def _log_objects(call: Call, instance_id: str) -> list[dict[str, Any]]:
    base = f"{call.ws}/ray/logs/{instance_id}/"
    out = []
    for path in call.store.log_files(call.ws, instance_id):
        st = path.stat()
        out.append(
            {
                "name": path.name,
                "path": base + path.name,
                "size": st.st_size,
                "isDir": False,
                "timeModified": int(st.st_mtime * 1000),
            }
        )
    return out


def list_ray_logs(call: Call) -> dict[str, Any]:
    ws, query, instance_id = call.ws, call.query, call.param("instanceId")
    objects = _log_objects(call, instance_id)
    base = f"{ws}/ray/logs/{instance_id}/"
    prefix = query.get("prefix") or ""
    marker = query.get("marker") or ""
    max_keys = requests.int_query(query, "maxKeys", 100, 1, 1000)
    if prefix:
        full = prefix if prefix.startswith(f"{ws}/") else base + prefix
        objects = [o for o in objects if o["path"].startswith(full)]
    if marker:
        objects = [o for o in objects if o["path"] > marker]
    truncated = len(objects) > max_keys
    objects = objects[:max_keys]
    return {
        "code": "OK",
        "message": "success",
        "data": {
            "bucketName": query.get("bucketName") or f"ss-ray-{call.emu.config.region_id}",
            "prefix": prefix or base,
            "marker": marker,
            "nextMarker": objects[-1]["path"] if truncated and objects else "",
            "maxKeys": max_keys,
            "delimiter": query.get("delimiter") or "",
            "isTruncated": truncated,
            "objectList": objects,
        },
    }


def _base_url(call: Call) -> str:
    """The emulator's address as the caller reached it (``public_endpoint`` when configured): the
    base of GetRayLog access URLs and of GetRayCluster's ``jobUrl``."""
    if call.emu.config.public_endpoint:
        return call.emu.config.public_endpoint.rstrip("/")
    host = call.request.headers.get("host") or "127.0.0.1"
    return f"{call.request.url.scheme}://{host}"


def get_ray_log(call: Call) -> dict[str, Any]:
    wanted = call.query.get("path")
    if not wanted:
        raise errors.invalid_parameter("path is required.")
    instance_id = call.param("instanceId")
    for obj in _log_objects(call, instance_id):
        if wanted in (obj["path"], obj["name"]):
            expires = int(time.time() + call.emu.config.log_url_ttl)
            link = f"{quote(call.ws)}/{quote(instance_id)}/{quote(obj['name'])}"
            sig = call.emu.sign_log_link(link, expires)
            url = f"{_base_url(call)}{CONTROL_PREFIX}/logs/{link}?Expires={expires}&Signature={sig}"
            return {"code": "OK", "message": "success", "data": {"accessUrl": url}}
    raise errors.log_not_found(wanted)


# --------------------------------------------------------------------------- the table
#: Action name -> handler; checked against ``ACTIONS`` by :func:`check_handlers`.
HANDLERS: dict[str, Handler] = {
    "CreateRayCluster": create_ray_cluster,
    "UpdateRayCluster": update_ray_cluster,
    "GetRayCluster": get_ray_cluster,
    "ListRayCluster": list_ray_cluster,
    "StartRayCluster": start_ray_cluster,
    "StopRayCluster": stop_ray_cluster,
    "DeleteRayCluster": delete_ray_cluster,
    "SubmitRayJob": submit_ray_job,
    "GetRayJob": get_ray_job,
    "ListRayJob": list_ray_job,
    "CancelRayJob": cancel_ray_job,
    "ListRayLogs": list_ray_logs,
    "GetRayLog": get_ray_log,
}


def check_handlers(handlers: Mapping[str, Handler], actions: Mapping[str, Any]) -> None:
    """Raise ``RuntimeError`` unless ``handlers`` has exactly one handler per action of ``actions``."""
    missing = [name for name in actions if name not in handlers]
    extra = [name for name in handlers if name not in actions]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"actions without a handler: {', '.join(missing)}")
        if extra:
            parts.append(f"handlers without an action: {', '.join(extra)}")
        raise RuntimeError(f"emulator dispatch table does not match client.actions.ACTIONS ({'; '.join(parts)})")
