"""``batch_kafka_s3``: a Kafka topic's offset range -> windowed counts -> S3 Avro (append)."""

from spark_etl.pipelines.batch_kafka_s3.pipeline import create_pipeline

__all__ = ["create_pipeline"]
