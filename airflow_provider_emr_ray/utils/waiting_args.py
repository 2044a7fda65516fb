"""The waiting arguments of the operators and sensors: defaults, checks, and their one description.

Loaded when a DAG file imports the operators; the poll step itself
(:mod:`~airflow_provider_emr_ray.utils.waiting`) is loaded with the first wait.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.compat.sdk import conf

from airflow_provider_emr_ray.utils.validation import non_negative_int, positive_seconds, validation_error


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
