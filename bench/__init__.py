"""spark-etl benchmarks: ``make bench`` (``python -m bench``)."""
