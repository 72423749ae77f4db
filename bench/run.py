"""``make bench``: each benchmark runs spark-etl and a hand-written baseline on the same data in the
same run, and reports records/s for both and their ratio, peak driver memory and CPU time.

    python -m bench [--scale 1.0] [--only batch_simple,upsert_pg,...] [--out bench/results]

``--scale 1`` is the full size (10M events, 1M upsert rows); CI runs ``--scale 0.0001`` once to
prove the benchmarks still work. Results: ``<out>/<name>.json`` and ``<out>/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from spark_etl_example.sample_data import connect_postgres

from bench import data, realtime, reference
from bench.delta import bench_upsert_delta
from bench.scd2 import bench_scd2_pg
from bench.streaming import EXAMPLE, StreamPlan, StreamResult, counted_events, run_stream
from spark_etl.contracts import default_registry, guarded, use_registry
from spark_etl.contracts.quality import QualityLedger, QualityRules
from spark_etl.datasets import JDBCDataset, S3Dataset
from spark_etl.runtime.spark import get_spark
from spark_etl.stack import read_local_stack
from spark_etl.transforms import apply

#: Rounds of the batch-simple runs (baseline, without and with checks, interleaved); each figure is
#: the median. One run of 1M records on the S3 server takes about a second and varies by 20 %.
ROUNDS = 5
#: Rounds of the upsert runs (each on a freshly reset table); a round of 1M rows takes a minute.
UPSERT_ROUNDS = 5
CHECKPOINT_MANAGER = "spark.sql.streaming.checkpointFileManagerClass"
FULL = {
    "events": 10_000_000,
    "users": 100_000,
    "upsert_rows": 1_000_000,
    "s3_events": 1_000_000,
    "scd2_rows": 1_000_000,
}


@dataclass
class Result:
    """One benchmark's outcome."""

    name: str
    records: int
    framework_s: float
    baseline_s: float
    baseline: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def framework_rps(self) -> float:
        """Records per second through spark-etl."""
        return self.records / self.framework_s

    @property
    def baseline_rps(self) -> float:
        """Records per second of the baseline."""
        return self.records / self.baseline_s

    @property
    def ratio(self) -> float:
        """spark-etl's throughput over the baseline's (1.0: as fast)."""
        return self.framework_rps / self.baseline_rps


class Probe:
    """Peak RSS, CPU seconds and spill of the driver (this Python process and Spark's JVM) since
    the probe started. ``fresh_peak``: reset both processes' peak RSS first
    (``/proc/<pid>/clear_refs``), so that a benchmark's peak is its own, not an earlier one's."""

    def __init__(self, spark: SparkSession, *, fresh_peak: bool = False) -> None:
        self.spark = spark
        self.jvm_pid = int(spark._jvm.ProcessHandle.current().pid())  # type: ignore[union-attr]
        if fresh_peak:
            for pid in (os.getpid(), self.jvm_pid):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.cpu0 = self.cpu()
        self.stage0 = self.last_stage()

    def cpu(self) -> float:
        """CPU seconds used so far by this process and the JVM."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in (os.getpid(), self.jvm_pid):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def last_stage(self) -> int:
        """The id of the session's latest stage (-1: none yet)."""
        found = self._stage_list()
        return int(found.apply(0).stageId()) if found.size() else -1

    def spilled_since(self, stage: int) -> tuple[int, int]:
        """Bytes spilled in memory and on disk by the stages after ``stage`` (Spark's task
        metrics, from the session's status store, which keeps them without the UI)."""
        found = self._stage_list()
        memory = disk = 0
        for i in range(found.size()):  # the latest stage first: stop at the first older one
            data = found.apply(i)
            if int(data.stageId()) <= stage:
                break
            memory += int(data.memoryBytesSpilled())
            disk += int(data.diskBytesSpilled())
        return memory, disk

    def _stage_list(self) -> Any:
        jvm, context = self.spark._jvm, self.spark.sparkContext
        assert jvm is not None
        store = context._jsc.sc().statusStore()  # type: ignore[union-attr]
        return store.stageList(  # every status, no details, no quantiles, every task status
            jvm.java.util.ArrayList(),
            False,
            False,
            context._gateway.new_array(jvm.double, 0),  # type: ignore[union-attr]
            jvm.java.util.ArrayList(),
        )

    def report(self) -> dict[str, float]:
        """Peak RSS (MiB) of both processes, the CPU seconds used and the MiB spilled (in memory
        and on disk, Spark's task metrics) by the stages that ran since the probe started."""
        peak = status_kib((os.getpid(), self.jvm_pid), "VmHWM")
        memory, disk = self.spilled_since(self.stage0)
        return {
            "driver_peak_rss_mib": round(peak / 1024, 1),
            "driver_cpu_s": round(self.cpu() - self.cpu0, 1),
            "spill_memory_mib": round(memory / 2**20, 1),
            "spill_disk_mib": round(disk / 2**20, 1),
        }


def project_spark_conf() -> dict[str, Any]:
    """The example project's Spark properties (``example/conf/base/spark.yml``)."""
    path = EXAMPLE / "conf" / "base" / "spark.yml"
    return dict(yaml.safe_load(path.read_text()))


def bench_session(spark_conf: dict[str, str] | None = None) -> tuple[dict[str, str], SparkSession]:
    """The benchmarks' settings (the example's local stack, then this process's environment) and
    Spark session (``spark_conf``: settings besides the benchmarks' own); the example's schemas
    are the contracts."""
    env = {**read_local_stack(EXAMPLE), **os.environ}
    use_registry(EXAMPLE / "schemas")
    spark = get_spark(
        {
            "spark.master": "local[*]",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "6g",
            "spark.sql.shuffle.partitions": "8",
            "spark.sql.session.timeZone": "UTC",
            "spark.app.name": "spark-etl-bench",
            # both streaming queries checkpoint as the project's runs do (conf/base/spark.yml)
            CHECKPOINT_MANAGER: project_spark_conf()[CHECKPOINT_MANAGER],
            **(spark_conf or {}),
        }
    )
    return env, spark


def status_kib(pids: tuple[int, ...], field: str) -> int:
    """The sum of ``field`` (``VmRSS``, ``VmHWM``: KiB) of the processes' ``/proc/<pid>/status``."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total


def upsert_sink(
    url: str, table: str, credentials: dict[str, str], key: str, **options: Any
) -> JDBCDataset:
    """The framework's sink of the upsert benchmarks (``options``: ``bulk_load``,
    ``upsert_statement``)."""
    return JDBCDataset(
        url=url,
        table=table,
        credentials=credentials,
        write_mode="upsert",
        key_columns=[key],
        **options,
    )


def timed(action: Callable[[], Any]) -> float:
    """Wall seconds of ``action``."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_rounds(
    spark: SparkSession,
    actions: list[Callable[[], Any]],
    rounds: int,
    setups: list[Callable[[], Any]] | None = None,
    *,
    spills: list[float] | None = None,
) -> tuple[list[float], list[float]]:
    """Median wall seconds and median CPU seconds (this process and Spark's JVM) of each action
    over ``rounds`` rounds, the actions interleaved in each round, each round starting with the
    next one, so that a slow spell of the machine (or a database still flushing the previous
    action's writes) weighs on all of them alike. ``setups[i]`` runs, untimed, before each run
    of ``actions[i]``. CPU seconds leave out the time the virtual machine's cores were taken by
    others (steal), which swings wall times by 20 % here. ``spills``: if given, receives each
    action's MiB spilled to disk (Spark's task metrics; the most of its rounds)."""
    walls: list[list[float]] = [[] for _ in actions]
    cpus: list[list[float]] = [[] for _ in actions]
    spilled: list[list[int]] = [[] for _ in actions]
    probe = Probe(spark)
    for round_no in range(rounds):
        for step in range(len(actions)):
            i = (round_no + step) % len(actions)
            if setups:
                setups[i]()
            before = probe.last_stage() if spills is not None else -1
            cpu0 = probe.cpu()
            walls[i].append(timed(actions[i]))
            cpus[i].append(probe.cpu() - cpu0)
            if spills is not None:
                spilled[i].append(probe.spilled_since(before)[1])
    if spills is not None:
        spills.extend(round(max(s) / 2**20, 1) for s in spilled)
    return [statistics.median(t) for t in walls], [statistics.median(t) for t in cpus]


# ---- 1 and 5: batch simple, with and without contract and quality checks ----------------------
def _simple_steps(df: DataFrame) -> DataFrame:
    df = apply(df, "filter", {"condition": "event_type <> 'signup'"})
    df = apply(
        df,
        "derive",
        {"columns": {"amount_eur": "coalesce(amount, 0D) * 0.92", "day": "to_date(timestamp)"}},
    )
    return apply(
        df, "select", {"columns": ["event_id", "user_id", "event_type", "day", "amount_eur"]}
    )


def _simple_baseline(df: DataFrame) -> DataFrame:
    return (
        df.filter(F.col("event_type") != "signup")
        .withColumn("amount_eur", F.coalesce("amount", F.lit(0.0)) * 0.92)
        .withColumn("day", F.to_date("timestamp"))
        .select("event_id", "user_id", "event_type", "day", "amount_eur")
    )


def bench_batch_simple(
    spark: SparkSession, rows: int, where: str, creds: dict[str, Any] | None, name: str
) -> list[Result]:
    """Avro -> filter + map -> Avro, through datasets and transforms vs plain PySpark."""
    source = f"{where}/{name}/in"
    S3Dataset(path=source, credentials=creds).save(data.user_events(spark, rows))  # setup
    out = f"{where}/{name}/out"
    contract = default_registry().get("user_event")
    rules = QualityRules(
        [
            {"rule": "not_null", "columns": ["event_id", "user_id"]},
            {"rule": "range", "column": "amount_eur", "min": 0},
        ],
        dataset=name,
    )

    ledger = QualityLedger({name})  # as the contract hook's, for a spark-etl sink in the catalog

    def framework(checked: bool) -> None:
        events = S3Dataset(path=source, credentials=creds).load()
        if checked:  # what the contract hook attaches to a dataset that names a schema
            events = guarded(events, contract, "events", every_row=True)
        result = _simple_steps(events)
        if checked:
            ledger.expect_save(name)  # as the contract hook does right before the catalog saves
            result = rules.validate(result)
        S3Dataset(path=out + ("_checked" if checked else ""), credentials=creds).save(result)

    def baseline() -> None:
        (
            _simple_baseline(spark.read.format("avro").load(source))
            .write.mode("overwrite")
            .format("avro")
            .option("compression", "snappy")
            .save(out + "_baseline")
        )

    framework(False)  # warm-up: JIT, file listing, connections
    framework(True)
    spills: list[float] = []
    (base_s, plain_s, checked_s), (base_cpu, plain_cpu, checked_cpu) = median_rounds(
        spark,
        [baseline, lambda: framework(False), lambda: framework(True)],
        ROUNDS,
        spills=spills,
    )
    base_spill, plain_spill, checked_spill = spills
    simple = Result(
        name,
        rows,
        plain_s,
        base_s,
        "hand-written PySpark, same plan",
        extra={
            "cpu_s": round(plain_cpu, 2),
            "cpu_ratio": round(base_cpu / plain_cpu, 3),
            "spill_disk_mib": {"framework": plain_spill, "baseline": base_spill},
        },
    )
    checks = Result(
        f"{name}_checks",
        rows,
        checked_s,
        plain_s,
        f"{name} without contract and quality checks",
        notes="ratio < 1 is the cost of the checks",
        extra={
            "check_overhead_pct": round((checked_s / plain_s - 1) * 100, 1),
            "cpu_s": round(checked_cpu, 2),
            "cpu_ratio": round(plain_cpu / checked_cpu, 3),
            "spill_disk_mib": {"framework": checked_spill, "baseline": plain_spill},
        },
    )
    return [simple, checks]


# ---- 2: batch complex ---------------------------------------------------------------------------
def bench_batch_complex(
    spark: SparkSession, rows: int, users: int, env: dict[str, str], where: str
) -> Result:
    """Events joined with users from MySQL, aggregated per user, upserted into PostgreSQL."""
    source = f"{where}/complex/in"
    data.user_events(spark, rows, users=users).write.mode("overwrite").format("avro").save(source)
    my_props = {
        "user": env["SPARK_ETL_MYSQL_USER"],
        "password": env["SPARK_ETL_MYSQL_PASSWORD"],
        "driver": "com.mysql.cj.jdbc.Driver",
    }
    data.users(spark, users).write.mode("overwrite").jdbc(
        env["SPARK_ETL_MYSQL_URL"], "bench_users", properties=my_props
    )
    pg = {"user": env["SPARK_ETL_PG_USER"], "password": env["SPARK_ETL_PG_PASSWORD"]}
    with connect_postgres(env) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_user_totals_baseline")
    aggregations = [
        {"function": "count", "alias": "events"},
        {"function": "sum", "column": "amount", "alias": "amount", "round": 2},
    ]

    def framework() -> None:
        events = S3Dataset(path=source).load()
        ref = JDBCDataset(
            url=env["SPARK_ETL_MYSQL_URL"],
            table="bench_users",
            credentials={"user": my_props["user"], "password": my_props["password"]},
        ).load()
        joined = apply(events, "join", {"on": ["user_id"], "broadcast": True}, right=ref)
        result = apply(
            joined, "aggregate", {"group_by": ["user_id", "country"], "aggregations": aggregations}
        )
        upsert_sink(env["SPARK_ETL_PG_URL"], "bench_user_totals", pg, "user_id").save(result)

    def baseline() -> None:
        events = spark.read.format("avro").load(source)
        ref = spark.read.jdbc(env["SPARK_ETL_MYSQL_URL"], "bench_users", properties=my_props)
        result = (
            events.join(F.broadcast(ref), "user_id")
            .groupBy("user_id", "country")
            .agg(F.count(F.lit(1)).alias("events"), F.round(F.sum("amount"), 2).alias("amount"))
        )
        # by hand, an upsert is: Spark fills a staging table, one statement merges it
        result.write.mode("overwrite").jdbc(
            env["SPARK_ETL_PG_URL"],
            "bench_user_totals_stage",
            properties={**pg, "driver": "org.postgresql.Driver", "reWriteBatchedInserts": "true"},
        )
        with connect_postgres(env) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_user_totals_baseline (user_id text PRIMARY KEY,"
                " country text, events bigint, amount double precision)"
            )
            conn.execute(
                "INSERT INTO bench_user_totals_baseline SELECT user_id, country, events, amount "
                "FROM bench_user_totals_stage ON CONFLICT (user_id) DO UPDATE SET country = "
                "EXCLUDED.country, events = EXCLUDED.events, amount = EXCLUDED.amount"
            )
            conn.execute("DROP TABLE bench_user_totals_stage")

    framework()  # warm-up
    spills: list[float] = []
    (framework_s, baseline_s), _ = median_rounds(spark, [framework, baseline], 1, spills=spills)
    return Result(
        "batch_complex",
        rows,
        framework_s,
        baseline_s,
        "hand-written PySpark: JDBC into a staging table, then INSERT ... ON CONFLICT",
        extra={"spill_disk_mib": {"framework": spills[0], "baseline": spills[1]}},
    )


def bench_delta(spark: SparkSession, rows: int, root: str, s3: dict[str, Any]) -> Result:
    """Half updates, half inserts into a Delta table on S3: DeltaDataset vs DeltaTable.merge."""
    found = bench_upsert_delta(spark, rows, root, s3, median_rounds)
    return Result(
        "upsert_delta",
        rows,
        found.pop("framework_s"),
        found.pop("baseline_s"),
        "hand-written DeltaTable.merge: update all when matched, insert all otherwise",
        notes="spark-etl adds the repeated-key guard, the changed-row condition and the writer "
        "lease",
        extra=found,
    )


def bench_scd2(spark: SparkSession, rows: int, env: dict[str, str]) -> Result:
    """A tenth of a dimension's rows changed: JDBCDataset scd2 vs the two SQL statements."""
    pg = {"user": env["SPARK_ETL_PG_USER"], "password": env["SPARK_ETL_PG_PASSWORD"]}
    conn = connect_postgres(env)
    conn.autocommit = True
    try:
        found = bench_scd2_pg(
            spark,
            rows,
            url=env["SPARK_ETL_PG_URL"],
            credentials=pg,
            conn=conn,
            median_rounds=median_rounds,
        )
    finally:
        conn.close()
    return Result(
        "scd2_pg",
        rows,
        found.pop("framework_s"),
        found.pop("baseline_s"),
        "one connection: COPY into a staging table, then UPDATE ... FROM and INSERT ... SELECT "
        "in one transaction",
        notes="spark-etl with bulk_load: true; it also refuses a batch with a repeated key",
        extra=found,
    )


# ---- 3: upsert against the database's own limit --------------------------------------------------
def _upsert_rows(spark: SparkSession, rows: int, offset: int) -> DataFrame:
    """The upsert batch, cached in Spark's memory before any clock starts: the baseline's CSV
    payload is built before its clock starts too, so neither side pays for making the data."""
    batch = spark.range(offset, offset + rows).select(
        F.format_string("k%09d", F.col("id")).alias("id"),
        (F.col("id") % 1000).alias("qty"),
        (F.col("id") * 0.5).alias("price"),
    )
    batch.cache().count()
    return batch


def _csv(frame: DataFrame) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in frame.toLocalIterator():
        writer.writerow(row)
    return out.getvalue().encode()


#: What the upsert rows of the table measure, and the ratios of their other variants.
_UPSERT_HEADLINE = "with `bulk_load: true`, and `upsert_statement: merge` on PostgreSQL"
_UPSERT_NOTES = [
    ("on_conflict_ratio", "with `bulk_load: true` and the default `INSERT ... ON CONFLICT`"),
    ("inserts_ratio", "with batched inserts and the default statement (the defaults)"),
]

#: The framework's upserts: (name, sink options); the first one's is the headline ratio.
UpsertVariants = list[tuple[str, dict[str, Any]]]
_UPSERT_PG: UpsertVariants = [
    ("bulk", {"bulk_load": True, "upsert_statement": "merge"}),
    ("on_conflict", {"bulk_load": True}),
    ("inserts", {}),
]
_UPSERT_MYSQL: UpsertVariants = [("bulk", {"bulk_load": True}), ("inserts", {})]


def _upsert_result(
    name: str, rows: int, spark: SparkSession, runs: dict[str, tuple[Callable[[], Any], ...]]
) -> Result:
    """Rounds of the upserts (the framework's variants, then the database's own limit), each on
    a freshly reset table; the ratio is the first variant's, the others' are in extra
    (``<variant>_s``, ``<variant>_ratio``)."""
    names = list(runs)
    walls, cpus = median_rounds(
        spark, [runs[n][1] for n in names], UPSERT_ROUNDS, [runs[n][0] for n in names]
    )
    baseline = walls[-1]
    extra: dict[str, Any] = {"rounds": UPSERT_ROUNDS}
    for variant, wall in zip(names[1:-1], walls[1:-1], strict=True):
        extra[f"{variant}_s"] = round(wall, 3)
        extra[f"{variant}_ratio"] = round(baseline / wall, 3)
    extra["cpu_s"] = dict(zip(names, [round(c, 2) for c in cpus], strict=True))
    return Result(name, rows, walls[0], baseline, "", extra=extra)


def _upsert_runs(
    url: str,
    credentials: dict[str, str],
    batch: DataFrame,
    reset: Callable[[str], Callable[[], None]],
    baseline: Callable[[], None],
    *,
    variants: UpsertVariants,
) -> dict[str, tuple[Callable[[], Any], ...]]:
    """The upserts of one database (``variants``, then the baseline), each with the reset of
    its own table (``bench_upsert_<name>``)."""

    def save(table: str, options: dict[str, Any]) -> Callable[[], None]:
        return lambda: upsert_sink(url, table, credentials, "id", **options).save(batch)

    runs: dict[str, tuple[Callable[[], Any], ...]] = {
        name: (reset(f"bench_upsert_{name}"), save(f"bench_upsert_{name}", options))
        for name, options in variants
    }
    runs["baseline"] = (reset("bench_upsert_baseline"), baseline)
    return runs


def _rows_after(run: Callable[[str], list[tuple[Any, ...]]], names: list[str]) -> list[int]:
    """The rows left in each upsert's table (500 old + 500 updated + 500 new per 1,000)."""
    return [int(run(f"SELECT count(*) FROM bench_upsert_{name}")[0][0]) for name in names]


def bench_upsert_pg(spark: SparkSession, rows: int, env: dict[str, str]) -> Result:
    """Half updates, half inserts into PostgreSQL: JDBCDataset upsert vs COPY + ON CONFLICT."""
    pg = {"user": env["SPARK_ETL_PG_USER"], "password": env["SPARK_ETL_PG_PASSWORD"]}
    url = env["SPARK_ETL_PG_URL"]
    batch = _upsert_rows(spark, rows, rows // 2)  # half of it already in the table
    payload = _csv(batch)
    conn = connect_postgres(env)

    def reset(table: str) -> Callable[[], None]:
        def run() -> None:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(
                f"CREATE TABLE {table} (id text PRIMARY KEY, qty bigint, price double precision)"
            )
            conn.execute(
                f"INSERT INTO {table} SELECT 'k' || lpad(g::text, 9, '0'), g % 1000, "
                f"g * 0.25 FROM generate_series(0, {rows - 1}) g"
            )
            conn.execute(f"VACUUM ANALYZE {table}")

        return run

    def baseline() -> None:
        with conn.transaction():
            conn.execute(
                "CREATE TEMP TABLE stage (id text, qty bigint, price double precision) "
                "ON COMMIT DROP"
            )
            with conn.cursor().copy("COPY stage FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(payload)
            conn.execute(
                "INSERT INTO bench_upsert_baseline SELECT * FROM stage ON CONFLICT (id) DO "
                "UPDATE SET qty = EXCLUDED.qty, price = EXCLUDED.price"
            )

    conn.autocommit = True
    runs = _upsert_runs(url, pg, batch, reset, baseline, variants=_UPSERT_PG)
    result = _upsert_result("upsert_pg", rows, spark, runs)
    result.baseline = "one connection: COPY into a staging table, then INSERT ... ON CONFLICT"
    result.notes = (
        "spark-etl with bulk_load: true and upsert_statement: merge; extra.on_conflict_ratio: "
        "bulk_load with INSERT ... ON CONFLICT (the default statement); extra.inserts_ratio: "
        "batched inserts and ON CONFLICT (the defaults)"
    )
    result.extra["rows_after"] = _rows_after(lambda sql: conn.execute(sql).fetchall(), list(runs))
    conn.close()
    batch.unpersist()
    return result


def bench_upsert_mysql(spark: SparkSession, rows: int, env: dict[str, str], tmp: Path) -> Result:
    """The same into MariaDB: JDBCDataset upsert vs LOAD DATA LOCAL INFILE + ON DUPLICATE KEY."""
    creds = {"user": env["SPARK_ETL_MYSQL_USER"], "password": env["SPARK_ETL_MYSQL_PASSWORD"]}
    url = env["SPARK_ETL_MYSQL_URL"]
    batch = _upsert_rows(spark, rows, rows // 2)
    path = tmp / "upsert.csv"
    path.write_bytes(_csv(batch))
    conn = pymysql.connect(
        host=env["SPARK_ETL_MYSQL_HOST"],
        port=int(env["SPARK_ETL_MYSQL_PORT"]),
        database=env["SPARK_ETL_MYSQL_DB"],
        autocommit=True,
        local_infile=True,
        **creds,
    )

    def reset(table: str) -> Callable[[], None]:
        def run() -> None:
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(
                    f"CREATE TABLE {table} (id VARCHAR(16) PRIMARY KEY, qty BIGINT, price DOUBLE)"
                )
                cur.execute(
                    f"INSERT INTO {table} SELECT CONCAT('k', LPAD(seq, 9, '0')), seq % 1000, "
                    f"seq * 0.25 FROM seq_0_to_{rows - 1}"
                )

        return run

    def baseline() -> None:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE stage (id VARCHAR(16), qty BIGINT, price DOUBLE)")
            cur.execute(
                f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE stage FIELDS TERMINATED BY ','"
            )
            cur.execute(
                "INSERT INTO bench_upsert_baseline SELECT * FROM stage ON DUPLICATE KEY "
                "UPDATE qty = VALUES(qty), price = VALUES(price)"
            )
            cur.execute("DROP TEMPORARY TABLE stage")

    runs = _upsert_runs(url, creds, batch, reset, baseline, variants=_UPSERT_MYSQL)
    result = _upsert_result("upsert_mysql", rows, spark, runs)
    result.baseline = "one connection: LOAD DATA LOCAL INFILE, then INSERT ... ON DUPLICATE KEY"
    result.notes = "spark-etl with bulk_load: true; extra.inserts_ratio: batched inserts (default)"

    def run(sql: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    result.extra["rows_after"] = _rows_after(run, list(runs))
    conn.close()
    batch.unpersist()
    return result


# ---- 4: streaming -------------------------------------------------------------------------------
def warm_up_streaming(
    spark: SparkSession, env: dict[str, str], tmp: Path, plan: StreamPlan
) -> None:
    """One unmeasured run of each query before the measured ones, so that neither pays the
    session's JIT and class loading in its numbers: the first streaming run of a session took
    over a minute to settle (batches of 1.3-2.1 s for 30 s after its warm-up, then 0.7 s), and the
    query run second inherited a warm JVM."""
    short = replace(plan, seconds=min(plan.seconds, 30.0), warmup_s=0.0)
    for framework in (True, False):
        run_stream(spark, env, tmp / f"stream-warm-up-{framework}", short, framework=framework)


def bench_streams(
    spark: SparkSession, env: dict[str, str], tmp: Path, streams: tuple[StreamPlan, ...]
) -> list[Result]:
    """The warm-up, then each plan's pair of measured runs."""
    if streams:
        warm_up_streaming(spark, env, tmp, streams[0])
    return [result for plan in streams for result in bench_streaming(spark, env, tmp, plan)]


def bench_streaming(
    spark: SparkSession, env: dict[str, str], tmp: Path, plan: StreamPlan
) -> list[Result]:
    """streaming_kafka_pg and the hand-written query, each under the same fixed-rate producer."""
    pipeline = run_stream(spark, env, tmp / f"stream-{plan.rate}", plan, framework=True)
    baseline = run_stream(spark, env, tmp / f"stream-{plan.rate}-base", plan, framework=False)
    return [_stream_result(_stream_name(plan), plan, pipeline, baseline)]


_HAND_WRITTEN_STREAM = "hand-written Structured Streaming: from_avro, same windows, psycopg upsert"


def _stream_result(
    name: str,
    plan: StreamPlan,
    run_: StreamResult,
    baseline: StreamResult,
    how: str = "",
    *,
    baseline_is: str = _HAND_WRITTEN_STREAM,
) -> Result:
    """The result of one streaming run of the pipeline against the baseline's run."""
    return Result(
        name,
        run_.records,
        run_.seconds,
        baseline.seconds * run_.records / max(baseline.records, 1),
        baseline_is,
        notes=(
            f"producer at {plan.rate:,} events/s for {plan.warmup_s:g} s warm-up + "
            f"{plan.seconds:g} s measured; trigger {plan.trigger}" + (f"; {how}" if how else "")
        ),
        extra={"streaming": asdict(run_), "baseline_streaming": asdict(baseline)},
    )


def _stream_name(plan: StreamPlan) -> str:
    return f"streaming_{plan.rate // 1000}k" if plan.rate >= 1000 else f"streaming_{plan.rate}"


def bench_small_batches(
    spark: SparkSession, env: dict[str, str], tmp: Path, fastest: StreamPlan, warm_up: bool
) -> list[Result]:
    """streaming_kafka_pg at the fastest streaming rate with a 0 s trigger (micro-batches back
    to back, a few dozen window rows each), its sink upserting each batch through a staging
    table (the default) and in one statement (small_batch_rows: 10000), against the
    hand-written query; ``warm_up``: first one unmeasured run of each (unless the streaming
    runs did)."""
    plan = replace(fastest, trigger="0 seconds")
    if warm_up:
        warm_up_streaming(spark, env, tmp, plan)
    name = f"{_stream_name(plan)}_t0"
    runs = {
        name: run_stream(spark, env, tmp / "t0", plan, framework=True),
        f"{name}_direct": run_stream(
            spark, env, tmp / "t0-direct", replace(plan, small_batch_rows=10_000), framework=True
        ),
    }
    baseline = run_stream(spark, env, tmp / "t0-base", plan, framework=False)
    how = {
        name: "each micro-batch through a staging table (the default)",
        f"{name}_direct": "each micro-batch upserted in one statement (small_batch_rows: 10000)",
    }
    return [_stream_result(name, plan, run_, baseline, how[name]) for name, run_ in runs.items()]


def bench_real_time(
    spark: SparkSession, env: dict[str, str], tmp: Path, slowest: StreamPlan
) -> list[Result]:
    """streaming_kafka_kafka (``bench.realtime``) at the slowest streaming rate: its sink in
    Real-Time Mode against the same pipeline in micro-batches back to back."""
    plans = {
        trigger: realtime.RealTimePlan(slowest.rate, slowest.seconds, slowest.warmup_s, trigger)
        for trigger in ("real-time", realtime.MICRO_BATCH)
    }
    runs = {
        trigger: realtime.run_real_time(spark, env, tmp / f"realtime-{n}", plan)
        for n, (trigger, plan) in enumerate(plans.items())
    }
    result = _stream_result(
        f"{_stream_name(slowest)}_realtime",
        replace(slowest, trigger="real-time"),
        runs["real-time"],
        runs[realtime.MICRO_BATCH],
        "streaming_kafka_kafka (Kafka -> filter, derive, contract -> Kafka), each record's "
        "latency to the broker's append to the output topic",
        baseline_is=f"the same pipeline in micro-batches (trigger {realtime.MICRO_BATCH})",
    )
    return [result]


def bench_reference_data(
    spark: SparkSession, env: dict[str, str], tmp: Path, fastest: StreamPlan, warm_up: bool
) -> list[Result]:
    """The stream joined with 100,000 users' segments in PostgreSQL (``bench.reference``) at the
    fastest streaming rate: the reference dataset cached against read by every micro-batch;
    ``warm_up``: first one unmeasured run of each query (unless the streaming runs did)."""
    reference.seed_reference(env)
    runs: dict[bool, StreamResult] = {}
    counted: dict[str, float] = {}
    for cached in (True, False):
        with reference.reference_pipeline(env, cached=cached) as pipeline:
            plan = replace(fastest, pipeline=pipeline)
            if warm_up:
                short = replace(plan, seconds=min(plan.seconds, 30.0), warmup_s=0.0)
                run_stream(spark, env, tmp / f"reference-warm-up-{cached}", short, framework=True)
            runs[cached] = run_stream(spark, env, tmp / f"reference-{cached}", plan, framework=True)
            counted["cached" if cached else "uncached"] = counted_events(env, reference.SINK_TABLE)
    result = _stream_result(
        f"{_stream_name(fastest)}_reference",
        fastest,
        runs[True],
        runs[False],
        f"joined with {reference.USERS:,} users in PostgreSQL, cache: {reference.CACHE}",
        baseline_is="the same pipeline, its reference dataset read by every micro-batch (no cache)",
    )
    # every event found its user's segment, in both runs: the sink's windows count them all
    produced = {
        "cached" if cached else "uncached": int(run_.extra["producer"]["produced"])
        for cached, run_ in runs.items()
    }
    result.extra.update({"events_counted": counted, "events_produced": produced})
    return [result]


# ---- driver -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Cores and memory of this machine."""
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(
    scale: float,
    only: set[str] | None,
    out: Path,
    streams: tuple[StreamPlan, ...] = (StreamPlan(50_000), StreamPlan(100_000)),
    *,
    spark_conf: dict[str, str] | None = None,
    sizes: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Run the benchmarks at ``scale`` of the full size and the streaming runs of ``streams``;
    write and return their results. ``spark_conf``: settings of the session besides the
    benchmark's own (an experiment's; each result records them); ``sizes``: sizes of
    :data:`FULL` to use as given instead (the batch scale curve's events)."""
    unknown = sorted((only or set()) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"bench: no benchmark {', '.join(unknown)}; --only takes {BENCHMARKS}")
    env, spark = bench_session(spark_conf)
    size = {k: max(int(v * scale), 1_000) for k, v in FULL.items()} | (sizes or {})
    tmp = Path(tempfile.mkdtemp(prefix="spark-etl-bench-"))
    s3 = {
        "access_key": env["SPARK_ETL_S3_ACCESS_KEY"],
        "secret_key": env["SPARK_ETL_S3_SECRET_KEY"],
        "endpoint": env["SPARK_ETL_S3_ENDPOINT"],
        "path_style_access": True,
    }

    def at_fastest(bench: Callable[..., list[Result]]) -> list[Result]:
        """``bench`` at the fastest streaming rate, warmed up unless the streaming runs did."""
        if not streams:
            return []
        fastest = max(streams, key=lambda p: p.rate)
        return bench(spark, env, tmp, fastest, warm_up=bool(only) and "streaming" not in only)

    plan: dict[str, Callable[[], list[Result]]] = {
        "batch_simple": lambda: bench_batch_simple(
            spark, size["events"], str(tmp), None, "batch_simple"
        ),
        # under the lake bucket `make services` creates (the tests' own bucket may not exist)
        "batch_simple_s3": lambda: bench_batch_simple(
            spark, size["s3_events"], "s3a://spark-etl-example-lake/bench", s3, "batch_simple_s3"
        ),
        "batch_complex": lambda: [
            bench_batch_complex(spark, size["events"], size["users"], env, str(tmp))
        ],
        "upsert_pg": lambda: [bench_upsert_pg(spark, size["upsert_rows"], env)],
        "upsert_mysql": lambda: [bench_upsert_mysql(spark, size["upsert_rows"], env, tmp)],
        "upsert_delta": lambda: [
            bench_delta(spark, size["upsert_rows"], "s3a://spark-etl-example-lake/bench", s3)
        ],
        "scd2_pg": lambda: [bench_scd2(spark, size["scd2_rows"], env)],
        "streaming": lambda: bench_streams(spark, env, tmp, streams),
        "streaming_reference": lambda: at_fastest(bench_reference_data),
        "streaming_small_batches": lambda: at_fastest(bench_small_batches),
        "streaming_realtime": lambda: (
            bench_real_time(spark, env, tmp, min(streams, key=lambda p: p.rate)) if streams else []
        ),
    }
    assert tuple(plan) == BENCHMARKS
    out.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for name, bench in plan.items():
            if only and name not in only:
                continue
            probe = Probe(spark, fresh_peak=True)
            for result in bench():
                record = _record(result, probe.report(), scale)
                if spark_conf:
                    record["spark_conf"] = spark_conf
                (out / f"{result.name}.json").write_text(json.dumps(record, indent=2) + "\n")
                results.append(record)
                print(  # noqa: T201 - the command's progress report
                    f"bench: {result.name}: {record['framework_rps']:,.0f} rec/s vs "
                    f"{record['baseline_rps']:,.0f} rec/s (ratio {record['ratio']:.2f})"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (out / "README.md").write_text(table(recorded(out)))
    return results


#: The order of the table's rows (the order the benchmarks run in).
_ORDER = (
    "batch_simple",
    "batch_simple_checks",
    "batch_simple_s3",
    "batch_simple_s3_checks",
    "batch_complex",
    "upsert_pg",
    "upsert_mysql",
    "upsert_delta",
    "scd2_pg",
    "streaming",
)
#: What ``--only`` takes: each runs one benchmark (the ``*_checks`` rows come with theirs; the
#: small micro-batches report rows of the streaming family).
BENCHMARKS = (
    *(n for n in _ORDER if not n.endswith("_checks")),
    "streaming_reference",
    "streaming_small_batches",
    "streaming_realtime",
)


def recorded(out: Path) -> list[dict[str, Any]]:
    """Every benchmark's latest result in ``out`` (``<name>.json``), in the table's order: a run
    of some benchmarks (``--only``) keeps the others' rows."""
    records = [(f.stem, json.loads(f.read_text())) for f in out.glob("*.json")]
    latest = [r for stem, r in records if stem == r["name"]]  # not a renamed variant's file

    def position(record: dict[str, Any]) -> tuple[int, float, str]:
        name = record["name"]
        family = next((i for i, n in enumerate(_ORDER) if name == n), None)
        if family is None and name.startswith("streaming_"):
            return len(_ORDER) - 1, record["extra"]["streaming"]["extra"]["rate"], name
        return (len(_ORDER) if family is None else family), 0, name

    return sorted(latest, key=position)


def _record(result: Result, probe: dict[str, float], scale: float) -> dict[str, Any]:
    return {
        **asdict(result),
        "framework_rps": round(result.framework_rps, 1),
        "baseline_rps": round(result.baseline_rps, 1),
        "ratio": round(result.ratio, 3),
        "scale": scale,
        **probe,
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


_CPU_NOTE = (
    "median CPU seconds of the driver JVM and Python; unlike wall time, not swayed by the "
    "virtual machine's steal"
)


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table of the README."""
    if not results:
        return "No benchmark ran.\n"
    first = results[0]
    m = first["machine"]
    dates = sorted({r["date"] for r in results})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    lines = [
        (
            f"Run {when} at scale {first['scale']} on {m['cores']} cores, "
            f"{m['memory_gib']} GiB ({m['platform']})."
        ),
        "",
        (
            "| benchmark | records | spark-etl rec/s | baseline rec/s | ratio | peak RSS MiB | "
            "CPU s | baseline |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['records']:,} | {r['framework_rps']:,.0f} | "
            f"{r['baseline_rps']:,.0f} | {r['ratio']:.2f} | {r['driver_peak_rss_mib']:,.0f} | "
            f"{r['driver_cpu_s']} | {r['baseline']} |"
        )
    streaming = [r for r in results if "streaming" in r["extra"]]
    if streaming:
        lines += [
            "",
            (
                "| streaming | events/s offered | sustained events/s | latency p50 / p95 / p99 s "
                "| baseline p50 / p95 / p99 s | batch p50 s | stages p50 ms |"
            ),
            "|---|---:|---:|---|---|---:|---|",
        ]
        for r in streaming:
            run_, base = r["extra"]["streaming"], r["extra"]["baseline_streaming"]
            lat, blat = run_["latency_s"], base["latency_s"]
            stages = ", ".join(
                f"{k} {v}"
                for k, v in run_["extra"]["stages_ms_p50"].items()
                if k in {"addBatch", "queryPlanning", "walCommit", "commitOffsets"}
            )
            lines.append(
                f"| {r['name']} | {run_['extra']['rate']:,} | {r['framework_rps']:,.0f} | "
                f"{lat['p50']} / {lat['p95']} / {lat['p99']} | "
                f"{blat['p50']} / {blat['p95']} / {blat['p99']} | "
                f"{run_['batch_duration_s']['p50']} | {stages} |"
            )
    cpu = ", ".join(
        f"{r['name']} {r['extra']['cpu_ratio']:.2f}" for r in results if "cpu_ratio" in r["extra"]
    )
    if cpu:
        lines.extend(["", f"CPU-time ratios of the same runs ({_CPU_NOTE}): {cpu}."])
    if any(r["name"].startswith("upsert_") for r in results):
        lines.extend(["", f"Upsert rows: spark-etl {_UPSERT_HEADLINE}."])
    for key, how in _UPSERT_NOTES:
        ratios = ", ".join(
            f"{r['name']} {r['extra'][key]:.2f}" for r in results if key in r["extra"]
        )
        if ratios:
            lines.extend(["", f"Upsert ratios {how}: {ratios}."])
    overhead = [r for r in results if "check_overhead_pct" in r["extra"]]
    for r in overhead:
        lines.append("")
        lines.append(
            f"Contract + quality checks on {r['name'].removesuffix('_checks')}: "
            f"{r['extra']['check_overhead_pct']} % overhead."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--events", type=int, help="events of batch_simple and batch_complex (instead of scaled)"
    )
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--stream-rates", default="50000,100000", help="events/s of the streaming runs"
    )
    parser.add_argument("--stream-seconds", type=float, default=60.0)
    parser.add_argument("--stream-warmup", type=float, default=30.0)
    parser.add_argument("--stream-trigger", default="1 second")
    parser.add_argument(
        "--stream-on-decode-error",
        default="dead_letter",
        choices=["dead_letter", "fail"],
        help="the pipeline's on_decode_error (fail: no dead-letter side query)",
    )
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the benchmarks' Spark session (repeatable; recorded in the results)",
    )
    args = parser.parse_args()
    bad = [setting for setting in args.spark_conf if "=" not in setting]
    if bad:
        parser.error(
            f"--spark-conf takes KEY=VALUE (spark.sql.shuffle.partitions=2); got {bad[0]!r}"
        )
    spark_conf = dict(setting.split("=", 1) for setting in args.spark_conf)
    streams = tuple(
        StreamPlan(
            int(rate),
            args.stream_seconds,
            args.stream_warmup,
            args.stream_trigger,
            on_decode_error=args.stream_on_decode_error,
        )
        for rate in args.stream_rates.split(",")
        if rate
    )
    only = set(filter(None, args.only.split(","))) or None
    sizes = {"events": args.events} if args.events else None
    run(args.scale, only, args.out, streams, spark_conf=spark_conf, sizes=sizes)


if __name__ == "__main__":
    main()
