"""The job-log arguments of the submit operator and ``RayJobSensor``, and their defaults.

Loaded at DAG parse (standard library only at module level); how they are applied (following a
log live, copying it at the end) is in :mod:`~airflow_provider_emr_ray.utils.logs`, loaded on
first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOG_BYTES", "LOG_LINES", "LOG_TAIL_LINES", "JobLogMixin"]

#: Lines copied once a wait ended (``log_lines``): the whole log up to this many lines, else its end.
LOG_LINES = 2000
#: Bytes copied once a wait ended (``log_bytes``): the whole log up to this size, else its end.
LOG_BYTES = 1024 * 1024
#: Lines of a failed job's log quoted in the task's error (``log_tail_lines``).
LOG_TAIL_LINES = 20


class JobLogMixin:
    """The job-log arguments of
    :class:`~airflow_provider_emr_ray.operators.emr_ray.EmrRayJobSubmitOperator` and
    :class:`~airflow_provider_emr_ray.sensors.emr_ray.RayJobSensor`, and how they are applied.

    :param show_logs: Copy the job's driver log into the task log, each line marked ``[ray]``
        (default True): live while a worker waits (``deferrable=False``; a sensor in ``poke``
        mode), else once the wait ended (after a deferral, on the worker; a sensor in
        ``reschedule`` mode, at its last poke), bounded by ``log_lines``/``log_bytes``. A failed
        job's last ``log_tail_lines`` lines are quoted in the task's error. False: the log is not
        read at all.
    :param log_lines: Most lines copied once the wait ended (default 2000): a longer log is
        copied from its end, after a line saying how much was left out and where the whole log is.
    :param log_bytes: Most bytes copied once the wait ended (default 1 MiB), likewise.
    :param log_tail_lines: Lines of a failed job's log quoted in the task's error (default 20;
        0: none).
    """

    def _init_job_log(self, show_logs: bool, log_lines: int, log_bytes: int, log_tail_lines: int) -> None:
        from airflow_provider_emr_ray.checks import non_negative_int, validation_error

        if not isinstance(show_logs, bool):
            raise validation_error("show_logs", f"must be True or False, got {show_logs!r}")
        self.show_logs = show_logs
        self.log_lines = non_negative_int("log_lines", log_lines)
        self.log_bytes = non_negative_int("log_bytes", log_bytes)
        self.log_tail_lines = non_negative_int("log_tail_lines", log_tail_lines)
        #: The log followed live while this task waits (:func:`~airflow_provider_emr_ray.utils.logs.follow`).
        self._live_log: Any = None
