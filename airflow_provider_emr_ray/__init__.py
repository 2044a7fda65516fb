"""Apache Airflow provider for Ray on Alibaba Cloud EMR Serverless Spark.

Nothing heavy is imported here: DAG files import this package on every parse.
"""

__version__ = "0.1.0"
