"""``batch_s3_pg``: raw user events on S3 -> checked -> summarised per user -> PostgreSQL upsert."""

from spark_etl.pipelines.batch_s3_pg.pipeline import create_pipeline

__all__ = ["create_pipeline"]
