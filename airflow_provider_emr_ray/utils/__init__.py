"""The Airflow kit shared by the operators, the sensors and the triggers, one concept a module.

* :mod:`.connection`: the connection arguments (``emr_ray_conn_id``, ``region_id``,
  ``workspace_id``) and the hook built from them on first use.
* :mod:`.waiting`: the one poll step (state-change log, transient errors, target / failure /
  deadline decision) behind the synchronous wait, the trigger's loop and the sensor's poke;
  deadlines and durations; the five waiting arguments of the operators.
* :mod:`.resources`: what a cluster or a job looks like in XCom and in trigger events.
* :mod:`.validation`: argument checks (templates, JSON objects, numbers, the request models).
* :mod:`.logs`: the tail of a failed job's driver log.

Module-level imports are ``airflow.sdk`` and the standard library (plus the stdlib-only
modules of this package): DAG files import the operators, and so these modules, on every parse.
"""
