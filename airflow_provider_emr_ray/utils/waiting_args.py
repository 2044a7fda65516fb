"""The waiting arguments of the operators and sensors: defaults, checks, and their one description.

Loaded when a DAG file imports the operators; the poll step itself
(:mod:`~airflow_provider_emr_ray.utils.waiting`) is loaded with the first wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_emr_ray.utils.validation import non_negative_int, positive_seconds, validation_error

if TYPE_CHECKING:
    from airflow_provider_emr_ray.utils.resources import ResourceKind
    from airflow_provider_emr_ray.utils.waiting import Wait

#: Transient errors (throttling, 5xx, connection) tolerated in a row while waiting, on top of
#: the hook's own retries, before a wait gives up.
DEFAULT_MAX_TRANSIENT_ERRORS = 5
#: Seconds between two polls.
DEFAULT_POLL_INTERVAL = 30.0


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

    def _new_wait(
        self, context: Mapping[str, Any], kind: ResourceKind, resource_id: str, targets: Iterable[str], failures: Iterable[str]
    ) -> tuple[Wait, bool]:
        """A wait starting now, and whether its deadline is the task's ``execution_timeout``
        (rather than ``max_wait``)."""
        from airflow_provider_emr_ray.utils.clock import deadline_after, earliest, execution_deadline
        from airflow_provider_emr_ray.utils.waiting import Wait

        by_max_wait = deadline_after(self.max_wait)
        by_exec = execution_deadline(context, getattr(self, "execution_timeout", None))
        deadline = earliest(by_max_wait, by_exec)
        wait = Wait(
            kind,
            resource_id,
            log=self.log,  # type: ignore[attr-defined]
            targets=targets,
            failures=failures,
            poll_interval=self.poll_interval,
            deadline=deadline,
            max_transient_errors=self.max_transient_errors,
        )
        return wait, deadline is not None and deadline == by_exec
