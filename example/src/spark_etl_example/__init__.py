"""Spark ETL Example: Spark ETL pipelines on Kedro and spark-etl."""

__version__ = "0.1.0"
