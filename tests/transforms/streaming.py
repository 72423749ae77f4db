"""Run a transform on a real file stream, one JSON file per micro-batch, into a memory sink."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession


def run_stream(
    spark: SparkSession,
    tmp_path: Path,
    schema: str,
    batches: list[list[dict[str, Any]]],
    transform: Callable[[DataFrame], DataFrame],
    output_mode: str = "append",
) -> DataFrame:
    """Write each batch as one JSON file, stream them in order and return what the sink got."""
    source = tmp_path / "in"
    source.mkdir()
    start = time.time() - len(batches)
    for index, rows in enumerate(batches):
        path = source / f"part-{index:03d}.json"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        os.utime(path, (start + index, start + index))
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).json(str(source))
    name = f"transforms_{uuid.uuid4().hex[:10]}"
    query = (
        transform(stream)
        .writeStream.format("memory")
        .queryName(name)
        .outputMode(output_mode)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None
    return spark.table(name)
