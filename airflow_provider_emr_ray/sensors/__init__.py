"""Sensors of the EMR Serverless Ray provider (see :mod:`.emr_ray`)."""
