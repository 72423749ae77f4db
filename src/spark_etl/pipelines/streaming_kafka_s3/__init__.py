"""``streaming_kafka_s3``: Kafka events -> validated and cleaned -> S3 Avro (append)."""

from spark_etl.pipelines.streaming_kafka_s3.pipeline import create_pipeline

__all__ = ["create_pipeline"]
