"""A pandera PySpark model as a catalog validator: Kedro 1.7 runs pandera's PySpark backend."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog
from kedro.validation.exceptions import DataValidationError
from pyspark.sql import SparkSession


def test_pandera_pyspark_model_validates_through_the_catalog(spark: SparkSession) -> None:
    catalog = DataCatalog.from_config(
        {
            "events": {
                "type": "kedro.io.MemoryDataset",
                "copy_mode": "assign",
                "validator": {"class": "pandera_models.Events", "on": ["save"]},
            }
        }
    )
    good = spark.createDataFrame([("a", 1.0), ("b", None)], "id string, amount double")
    catalog.save("events", good)
    assert catalog.load("events").count() == 2

    bad = spark.createDataFrame([("a", -1.0)], "id string, amount double")
    with pytest.raises(DataValidationError, match=r"amount.*greater_than_or_equal_to\(0\)"):
        catalog.save("events", bad)
