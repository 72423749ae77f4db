"""A second process writing a Delta table, for the tests of writers taking turns.

    python delta_writer.py PATH FIRST_ID BATCHES ROWS   (the S3 credentials in the environment)

Once its session is up it prints ``ready`` and waits for a line on its standard input (so the
test's writes and its own start together, however long its JVM took to start); then it appends
BATCHES batches of ROWS rows with ids from FIRST_ID on to the table at PATH, each a commit of its
own, through ``DeltaDataset``, and prints ``done`` at the end.
"""

from __future__ import annotations

import json
import os
import sys

from spark_etl.datasets import DeltaDataset
from spark_etl.runtime.spark import get_spark


def main(path: str, first: int, batches: int, rows: int) -> None:
    spark = get_spark(
        {"spark.master": "local[1]", "spark.ui.enabled": "false", "spark.driver.memory": "1g"}
    )
    credentials = json.loads(os.environ["DELTA_WRITER_CREDENTIALS"])
    ds = DeltaDataset(path=path, credentials=credentials, writer_lease={"wait": "5m"})
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    for batch in range(batches):
        start = first + batch * rows
        ds.save(spark.range(start, start + rows).selectExpr("id", "'writer' AS source"))
    sys.stdout.write("done\n")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
