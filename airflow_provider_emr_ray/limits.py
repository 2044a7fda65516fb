"""The service's bounds on names, sizes and counts: each number written once, with its source.

Read by the request models, the tag rules, the hook, the operators and the emulator (which
enforces the same bounds). Standard library only.
"""

from __future__ import annotations

#: Ray cluster name: "The name must be 1 to 64 characters in length" (CreateRayCluster page).
MAX_CLUSTER_NAME_LENGTH = 64
#: Ray job name. The API pages document no bound; 128 is what this provider (and its emulator)
#: enforce (no behaviour change from 0.1.0). A default job name longer than this is cut and ends
#: with a hash (:func:`airflow_provider_emr_ray.tags.fit`).
MAX_JOB_NAME_LENGTH = 128
#: Worker groups of one cluster (``workerSpec`` "up to 50 groups", CreateRayCluster page).
MAX_WORKER_GROUPS = 50
#: Tag keys and values. The Ray API pages document no bound; these are Alibaba Cloud's resource
#: tag rules ("a tag key/value can be up to 128 characters in length").
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 128
#: ``pageSize`` of ListRayCluster: 1 to 100 (ListRayCluster page). ListRayJob documents no
#: maximum; the provider asks it for pages of the same size.
MAX_PAGE_SIZE = 100
#: ``replica`` / ``minReplica`` / ``maxReplica`` of a head or worker group. The API pages
#: document no maximum; this provider's bound, far above any account's quota, keeps an absurd
#: value (a typo of a few zeros) from reaching the service (or stalling the emulator).
MAX_REPLICA = 10_000
#: Durations the API takes as integer seconds (``idleTimeoutSeconds``, ``activeDeadlineSeconds``,
#: ``ttlSecondsAfterFinished``). No documented maximum; this provider's bound is the largest
#: 32-bit integer (about 68 years).
MAX_SECONDS = 2**31 - 1
#: ``max_retries`` of a connection or hook: retries of one transient failure. This provider's
#: bound (with the default backoff, 100 retries already wait hours).
MAX_RETRIES = 100
