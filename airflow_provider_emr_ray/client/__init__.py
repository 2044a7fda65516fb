"""The wire: the API's action table and request builder (``actions``), the V3 signer
(``signing``), the retry policy (``retry``) and credential providers (``credentials``).

Nothing here imports Airflow (the exception family in :mod:`airflow_provider_emr_ray.exceptions`
derives from ``AirflowException``, so Airflow marks the task failed with its message).
"""
