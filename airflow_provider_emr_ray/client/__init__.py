"""The wire: the API's action table and request builder (``actions``), the V3 signer
(``signing``), the retry policy (``retry``), credential providers (``credentials``) and the
I/O-free steps of one call that the hook's sync and async drivers perform (``exchange``).

Nothing here imports Airflow (the exception family in :mod:`airflow_provider_emr_ray.exceptions`
derives from ``AirflowException``, so Airflow marks the task failed with its message; it is the
one Airflow name the wire raises).
"""
