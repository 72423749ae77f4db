"""``batch_s3_pg``: raw user events on S3 -> checked -> summarised per user -> PostgreSQL upsert."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
