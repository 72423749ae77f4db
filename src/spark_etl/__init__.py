"""spark-etl: a Kedro framework for Spark ETL pipelines with Avro data contracts."""

__version__ = "0.2.0"
