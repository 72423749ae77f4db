"""spark-etl's Kedro project starter: ``kedro new --starter spark-etl`` (the ``kedro.starters``
entry point), or ``kedro new --starter <this folder> --config <file>``.

The folder holds a cookiecutter template (``cookiecutter.json``, ``prompts.yml`` and
``{{ cookiecutter.repo_name }}/``): a Kedro project with one Python pipeline and one declared
pipeline, its conf (catalog, credentials from the vault, parameters, runtime, Spark, logging, the
local stack), Avro contracts, tests, a Makefile and a README.
"""

from __future__ import annotations

from importlib.resources import files

from kedro.framework.cli.starters import KedroStarterSpec

TEMPLATE = str(files("spark_etl.starter"))

starters = [KedroStarterSpec(alias="spark-etl", template_path=TEMPLATE)]
