"""Apache Airflow provider for Ray on Alibaba Cloud EMR Serverless Spark.

Nothing heavy is imported here: DAG files import this package on every parse.
"""

__version__ = "0.1.0"

#: The Airflow connection type of the EMR Serverless Spark API, and the connection used when none
#: is named (by the hook, the operators, the sensors and the triggers alike).
CONN_TYPE = "emr_ray"
DEFAULT_CONN_ID = "emr_ray_default"
