"""``batch_pg_mysql_kafka``: PostgreSQL activity joined with MySQL users -> Kafka (Avro)."""

from spark_etl.pipelines.batch_pg_mysql_kafka.pipeline import create_pipeline

__all__ = ["create_pipeline"]
