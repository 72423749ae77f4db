"""A pandera PySpark model, as a user would keep one next to the pipeline that uses it."""

from __future__ import annotations

import pandera.pyspark as pa
import pyspark.sql.types as T


class Events(pa.DataFrameModel):
    """Ids present, amounts not negative."""

    id: T.StringType = pa.Field(nullable=False)  # type: ignore[valid-type]
    amount: T.DoubleType = pa.Field(ge=0, nullable=True)  # type: ignore[valid-type]
