"""``streaming_kafka_pg``: Kafka events -> sliding event-time windows -> PostgreSQL upsert."""

from spark_etl.pipelines.streaming_kafka_pg.pipeline import create_pipeline

__all__ = ["create_pipeline"]
