"""A faithful local emulator of the EMR Serverless Spark Ray API (API version 2023-08-08).

Use it in-process with ``httpx.ASGITransport(app=create_app(config))``, on a real loopback socket
with :func:`serve_in_thread`, or from the command line::

    python -m airflow_provider_emr_ray.emulator --port 0      # or: emr-ray-emulator

Layout (one concern per module):

* ``app`` - the Starlette app: routing from ``client.actions.ACTIONS``, authentication, faults,
  dispatch, the emulator's own routes (log links, ``/__emulator__/faults`` and ``/stats``);
* ``handlers`` - one handler per API action, in one table checked against ``ACTIONS`` at start-up;
* ``requests`` - request bodies and query parameters, validated and defaulted as the service does;
* ``store`` - clusters and jobs, their lazy state machines and the state file;
* ``views`` - how a stored cluster or job is rendered as the API's JSON;
* ``processes`` / ``procgroup`` - job entrypoints as local process groups;
* ``sources`` - job code: a SubmitRayJob ``workingDir`` URL (``oss://`` through ``oss_root``) and
  Ray's uploaded packages, unpacked into a job's directory;
* ``ray_jobs`` - Ray's own Jobs REST API at ``jobUrl`` (under ``RAY_GATEWAY_PREFIX``), by ``ray-token``;
* ``faults`` - the table of fault kinds, ``FaultRule`` and the injector;
* ``auth`` - signature verification; ``errors`` / ``responses`` - the answers;
* ``config`` - ``EmulatorConfig``, the default local credentials and ``conn_json()``;
* ``server`` / ``__main__`` - serving with uvicorn (in a thread, or from the command line).

Error codes returned (HTTP status, code):

* authentication (Alibaba Cloud common OpenAPI codes): 400 ``IncompleteSignature`` (missing or
  malformed ``Authorization``/``x-acs-*`` headers, unsigned ``x-acs-*`` header), 404
  ``InvalidAccessKeyId.NotFound``, 400 ``SignatureDoesNotMatch`` (also for a wrong
  ``x-acs-content-sha256``), 400 ``InvalidTimeStamp.Format``, 400 ``InvalidTimeStamp.Expired``
  (``x-acs-date`` more than 15 minutes away), 400 ``SignatureNonceUsed``, 400
  ``MissingSecurityToken``, 400 ``InvalidSecurityToken.Malformed``, 400
  ``InvalidSecurityToken.MismatchWithAccessKey``, 404 ``InvalidAction.NotFound`` (unknown route
  or ``x-acs-action`` not matching it), 400 ``InvalidVersion``;
* resources (the emulator's choice; the service publishes no Ray error table): 404
  ``Workspace.NotFound``, ``RayCluster.NotFound``, ``RayJob.NotFound``, ``RayInstance.NotFound``,
  ``RayLog.NotFound``; 400 ``IncorrectRayClusterStatus`` (e.g. SubmitRayJob on a cluster that is
  not Running); 400 ``InvalidParameter`` (validation: name length, ``pageSize`` 1-100 on both
  ListRayCluster, as documented, and ListRayJob, which documents no bound: the emulator applies
  ListRayCluster's, as the provider asks, so a client asking for more fails here too; bad JSON...);
* injected faults: 500 ``InternalError``, 503 ``ServiceUnavailable``, 429 ``Throttling.User``
  with ``Retry-After``.

Ray's own Jobs API (``RAY_GATEWAY_PREFIX``, ``/ray-gateway``; :mod:`.ray_jobs`) answers as Ray
2.60's dashboard does (plain-text errors: 404 ``Job X does not exist``, 400 for a bad submit body,
500 with the agent's text relayed for a duplicate ``submission_id`` or deleting a job that has not
ended), behind the gateway's ``ray-token`` check (401 missing, 403 not a Running cluster's token).
Fault rules do not apply to it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it. Imported on first access (PEP 562), so that the
#: light modules (``config``, ``procgroup``) can be imported without starlette and uvicorn.
_EXPORTS = {
    "DEFAULT_ACCESS_KEY_ID": "config",
    "DEFAULT_ACCESS_KEY_SECRET": "config",
    "DEFAULT_REGION": "config",
    "DEFAULT_WORKSPACE": "config",
    "EmulatorConfig": "config",
    "FakeClock": "config",
    "conn_json": "config",
    "RAY_GATEWAY_PREFIX": "config",
    "ray_job_url": "config",
    "FaultRule": "faults",
    "ConnectionDropped": "faults",
    "Emulator": "app",
    "EmulatorApp": "app",
    "create_app": "app",
    "ServerHandle": "server",
    "serve_in_thread": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
