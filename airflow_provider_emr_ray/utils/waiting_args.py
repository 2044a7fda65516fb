"""The waiting arguments of the operators and sensors: defaults, checks, and their one description.

Loaded when a DAG file imports the operators; the poll step itself
(:mod:`~airflow_provider_emr_ray.utils.waiting`) is loaded with the first wait.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import timedelta

from airflow.providers.common.compat.sdk import conf

from airflow_provider_emr_ray.utils.validation import checkable, non_negative_int, positive_seconds, validation_error


#: Transient errors (throttling, 5xx, connection) tolerated in a row while waiting, on top of
#: the hook's own retries, before a wait gives up.
DEFAULT_MAX_TRANSIENT_ERRORS = 5
#: Seconds between two polls.
DEFAULT_POLL_INTERVAL = 30.0


#: ``submission_api`` of the job submit operator and the job sensor: ``auto``, ``openapi``
#: (SubmitRayJob / GetRayJob of the EMR Serverless Spark API) or ``ray`` (Ray's own Jobs API at
#: the cluster's ``jobUrl``).
SUBMISSION_API_CHOICES = ("auto", "openapi", "ray")
#: ``ray_jobs_endpoint``: the cluster's ``jobUrl`` (``public``) or ``jobUrlInner`` (``internal``,
#: VPC only); None lets the connection choose.
RAY_JOBS_ENDPOINTS = {"public": False, "internal": True}


def wait_states(
    target_states: str | Sequence[str] | None,
    failure_states: str | Sequence[str] | None,
    *,
    targets: Sequence[str],
    failures: Sequence[str],
    known: Collection[str],
    normal: Callable[[Iterable[str]], Sequence[str]] = tuple,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The target and failure states of a wait (a sensor's, the hook's ``wait_for_*``).

    Each given state must be one of ``known`` (a state or a list of states; the error names the
    field), ``normal`` puts them in one vocabulary, ``target_states`` names at least one, and the
    two do not overlap. Not given: the kind's ``targets``, and its ``failures`` less the targets
    (so waiting for ``Failed`` needs no ``failure_states``).
    """

    def given(field: str, value: str | Sequence[str] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple, set, frozenset)):
            raise validation_error(field, f"must be a state or a list of states, got {value!r}")
        for state in values:
            check_choice(field, state, tuple(known))
        return tuple(normal(str(v) for v in values))

    wanted = given("target_states", target_states)
    if wanted is None:
        wanted = tuple(targets)
    if not wanted:
        raise validation_error("target_states", "must name at least one state")
    failing = given("failure_states", failure_states)
    if failing is None:
        failing = tuple(s for s in failures if s not in wanted)
    overlap = sorted(set(wanted) & set(failing))
    if overlap:
        raise validation_error("failure_states", f"overlaps target_states: {overlap}")
    return wanted, failing


def check_choice(field: str, value: object, choices: object) -> None:
    """``value`` must be one of ``choices`` (an error naming ``field`` otherwise)."""
    if value not in choices:  # type: ignore[operator]
        raise validation_error(field, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")  # type: ignore[call-overload]


def ray_internal(ray_jobs_endpoint: str | None) -> bool | None:
    """The hook's ``internal`` argument of a ``ray_jobs_endpoint`` (validated)."""
    if ray_jobs_endpoint is None or ray_jobs_endpoint == "":
        return None
    check_choice("ray_jobs_endpoint", ray_jobs_endpoint, tuple(RAY_JOBS_ENDPOINTS))
    return RAY_JOBS_ENDPOINTS[ray_jobs_endpoint]


def existing_job_api(
    submission_api: object, cluster_id: object, ray_jobs_endpoint: object, *, rendered: bool
) -> str | None:
    """The API of an existing job (the job sensor's and the cancel operator's rule): ``"auto"``
    is ``"ray"`` with a ``cluster_id``, ``"openapi"`` without; None at parse while templated.
    ``"ray"`` needs ``cluster_id``; errors name the field."""
    if checkable(ray_jobs_endpoint, rendered):
        ray_internal(ray_jobs_endpoint)  # type: ignore[arg-type]
    if not checkable(submission_api, rendered):
        return None
    check_choice("submission_api", submission_api, SUBMISSION_API_CHOICES)
    has_cluster = cluster_id is not None and cluster_id != ""
    if submission_api == "auto":
        return "ray" if has_cluster else "openapi" if rendered or cluster_id is None else None
    if submission_api == "ray" and not has_cluster:
        raise validation_error("cluster_id", "is required with submission_api='ray' (the job's cluster)")
    return str(submission_api)


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (the default of ``deferrable``)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class WaitingMixin:
    """The waiting arguments of the operators that wait for a state after acting.

    :param wait_for_completion: Wait for the state the operator leads to (default True).
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds (or a timedelta) between two polls (default 30).
    :param max_wait: Longest wait, in seconds or a timedelta (None: no limit but the task's
        ``execution_timeout``, which also ends a deferred wait).
    :param max_transient_errors: Transient API errors (throttling, 5xx, connection) tolerated
        in a row while waiting, on top of the hook's retries (default 5).
    """

    wait_for_completion: bool
    deferrable: bool
    poll_interval: float
    max_wait: float | None
    max_transient_errors: int

    def _init_waiting(
        self,
        wait_for_completion: bool,
        deferrable: bool,
        poll_interval: float | timedelta,
        max_wait: float | timedelta | None,
        max_transient_errors: int,
    ) -> None:
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        interval = positive_seconds("poll_interval", poll_interval)
        if interval is None:
            raise validation_error("poll_interval", "is required")
        self.poll_interval = interval
        self.max_wait = positive_seconds("max_wait", max_wait)
        self.max_transient_errors = non_negative_int("max_transient_errors", max_transient_errors)
