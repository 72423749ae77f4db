"""The project's Python pipelines: one package per pipeline, ``nodes.py`` and ``pipeline.py``."""
