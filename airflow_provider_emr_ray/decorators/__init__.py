"""TaskFlow decorators: ``@task.emr_ray`` (:mod:`~airflow_provider_emr_ray.decorators.emr_ray`)."""
