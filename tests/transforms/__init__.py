"""Tests of spark_etl.transforms (a package: its module names do not clash with others)."""
