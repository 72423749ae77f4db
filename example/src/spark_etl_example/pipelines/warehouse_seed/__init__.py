"""``warehouse_seed``: the shop's source tables of the warehouse gallery (docs/gallery.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
