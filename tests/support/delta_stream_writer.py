"""A streaming query writing a Delta table through ``DeltaDataset``, for the test of a query
killed after its sink committed a micro-batch and before Spark marked the batch done.

    python delta_stream_writer.py SOURCE TABLE CHECKPOINT [--die-after-first-batch]

Upserts the JSON files of the folder SOURCE (``id``, ``v``; one file per micro-batch) into the
Delta table TABLE with the checkpoint CHECKPOINT until they are all read (``available-now``),
then prints ``done``. With ``--die-after-first-batch`` the process (its JVM with it) exits at once
after the sink wrote micro-batch 0, as a SIGKILL would leave it: the table has the batch's
commit, the checkpoint has the batch's offsets and no commit for it.
"""

from __future__ import annotations

import os
import sys

from spark_etl.datasets import DeltaDataset
from spark_etl.runtime.spark import get_spark

KILLED = 137  # the exit status of a process killed by SIGKILL


def main(source: str, table: str, checkpoint: str, die: bool) -> None:
    spark = get_spark(
        {
            "spark.master": "local[1]",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "1g",
            "spark.sql.shuffle.partitions": "1",
        }
    )
    if die:
        write = DeltaDataset._save_micro_batch

        def write_then_die(self: DeltaDataset, batch: object, batch_id: int) -> None:
            write(self, batch, batch_id)  # type: ignore[arg-type]
            if batch_id == 0:
                sys.stdout.write("batch 0 written\n")
                sys.stdout.flush()
                os._exit(KILLED)

        DeltaDataset._save_micro_batch = write_then_die  # type: ignore[method-assign]
    events = (
        spark.readStream.schema("id LONG, v STRING").option("maxFilesPerTrigger", 1).json(source)
    )
    sink = DeltaDataset(
        path=table,
        write_mode="upsert",
        key_columns=["id"],
        streaming={"checkpoint_location": checkpoint, "trigger": "available-now"},
    )
    sink.save(events)
    assert sink.query is not None
    sink.query.awaitTermination()
    sys.stdout.write("done\n")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], "--die-after-first-batch" in sys.argv[4:])
