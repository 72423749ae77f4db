"""``batch_s3_mysql_s3``: S3 CSV transactions joined with MySQL users -> S3 Avro (overwrite)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
