"""Ordinary mistakes, made the way a user makes them: ``kedro run`` in the example project.

Each run gets a Kedro environment of its own (``conf/<env>/``, removed afterwards) holding the
mistake. The checks are what the user reads: the first line of stderr names what is wrong and
where, the block is short, no traceback is printed, the exit code says the kind of failure, the
full trace is in the run's log file, and the target was not touched.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kedro_run import KEDRO, LAKE_BUCKET, RAW_BUCKET, ROOT, Env, clear_prefix, put_raw, s3_client

pytestmark = pytest.mark.integration

#: The longest error block: what is wrong (a few lines), what to do, the exit code line.
MAX_LINES = 12


def failed(done: subprocess.CompletedProcess[str], code: int) -> list[str]:
    """The error block's lines, after the checks every failure must pass."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr + done.stdout[-3000:]
    assert lines and lines[0].startswith("Error: "), done.stderr
    assert len(lines) <= MAX_LINES, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "at org.apache" not in done.stderr + done.stdout  # no Java stack frame either
    log_file = ROOT / lines[-1].rsplit("the full report is in ", 1)[1].rstrip(")")
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    (failure,) = [r for r in records if r.get("event") == "run_failed"]
    assert "Traceback" in failure["exc_info"]  # the full trace is kept in the run's log
    return lines


HEADER = "event_id,user_id,event_type,timestamp,properties,amount"


@pytest.fixture
def own_data(conf_env: Env, services: dict[str, str]) -> Iterator[Any]:
    """``batch_s3_pg`` of this env reads and writes S3 under a prefix of its own: returns a
    function that puts raw CSV rows there (and the S3 client)."""
    s3 = s3_client(services)
    prefix = f"first_contact/{conf_env.name}"
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())
    raw, events = catalog["raw_user_events"], catalog["user_events"]
    raw["path"] = f"s3a://{RAW_BUCKET}/{prefix}/raw/"
    events["path"] = f"s3a://{LAKE_BUCKET}/{prefix}/user_events/"
    conf_env.write("catalog.yml", {"raw_user_events": raw, "user_events": events})

    def put(rows: list[str]) -> str:
        put_raw(services, f"{prefix}/raw/", "\n".join([HEADER, *rows, ""]))
        return f"{prefix}/user_events/"

    try:
        yield put, s3
    finally:
        clear_prefix(s3, RAW_BUCKET, prefix)
        clear_prefix(s3, LAKE_BUCKET, prefix)


def table_rows(pg: Any, table: str) -> list[tuple[Any, ...]] | None:
    """Every row of ``table`` (``None`` if there is no such table yet, as on a fresh machine)."""
    if pg.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        return None
    return list(pg.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall())


def summary_rows(pg: Any) -> list[tuple[Any, ...]] | None:
    return table_rows(pg, "user_summary")


def user_summary(**changes: Any) -> dict[str, Any]:
    entry = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())["user_summary"]
    return {"user_summary": {**entry, **changes}}


def test_a_write_mode_typo_names_the_file_and_the_choices(conf_env: Env, pg: Any) -> None:
    before = summary_rows(pg)
    conf_env.write("catalog.yml", user_summary(write_mode="upsrt"))
    lines = failed(conf_env.run("batch_s3_pg"), 2)
    assert lines[0] == (
        f"Error: Catalog entry 'user_summary' (conf/{conf_env.name}/catalog.yml:1): "
        "JDBCDataset: unknown write_mode 'upsrt'; use one of append, overwrite, upsert, scd2."
    )
    assert lines[-1].startswith("(exit code 2: configuration error;")
    assert summary_rows(pg) == before


def test_an_unknown_catalog_key_gets_a_did_you_mean(conf_env: Env) -> None:
    entry = user_summary()
    entry["user_summary"]["key_colums"] = entry["user_summary"].pop("key_columns")
    conf_env.write("catalog.yml", entry)
    lines = failed(conf_env.run("batch_s3_pg"), 2)
    assert lines[0] == (
        f"Error: Catalog entry 'user_summary' (conf/{conf_env.name}/catalog.yml:1): "
        "JDBCDataset has no option 'key_colums'. Did you mean 'key_columns'?"
    )


def test_an_unknown_pipeline_gets_a_did_you_mean(conf_env: Env) -> None:
    lines = failed(conf_env.run("batch_s3_pq"), 2)
    assert lines[0].startswith("Error: There is no pipeline named 'batch_s3_pq'. Did you mean")
    assert "'batch_s3_pg'" in lines[0]


def test_a_vault_id_typo_names_the_id(conf_env: Env) -> None:
    conf_env.write(
        "credentials.yml",
        {"postgres": {"user": "spark_etl_example", "password": "${vault:postgres.pasword}"}},
    )
    lines = failed(conf_env.run("batch_s3_pg"), 2)
    assert "postgres.pasword" in lines[0] and "postgres.password" in "\n".join(lines)


def test_a_broken_declared_file_fails_only_its_own_pipeline(
    conf_env: Env, own_data: Any, pg: Any
) -> None:
    put, _ = own_data
    base = (ROOT / "conf" / "base" / "pipelines" / "batch_event_counts.yml").read_text()
    conf_env.write("pipelines/batch_event_counts.yml", base.replace("time_window", "tw"))
    before = table_rows(pg, "daily_event_counts")

    lines = failed(conf_env.run("batch_event_counts"), 2)
    assert lines[0].startswith(
        "Error: Pipeline 'batch_event_counts' is not registered: its file has an error. "
        f"conf/{conf_env.name}/pipelines/batch_event_counts.yml: $.steps[0]: Unknown transform "
        "'tw'"
    )
    # the broken env file stands for its pipeline: the base file did not run in its place
    assert table_rows(pg, "daily_event_counts") == before

    put(
        [
            "fc-1,user-90001,click,2026-01-01T00:00:00Z,{},1.5",
            "fc-2,user-90001,purchase,2026-01-01T00:01:00Z,{},10.0",
            "fc-3,user-90002,click,2026-01-01T00:02:00Z,{},2.0",
        ]
    )
    other = conf_env.run("batch_s3_pg")  # another pipeline of the same conf runs as before
    assert other.returncode == 0, other.stderr + other.stdout[-3000:]
    assert other.stderr == ""
    events = [json.loads(line) for line in other.stdout.splitlines() if line.startswith("{")]
    skipped = [e for e in events if e.get("event") == "declared_pipeline_skipped"]
    assert [s["pipeline"] for s in skipped] == ["batch_event_counts"]
    (end,) = [e for e in events if e.get("event") == "run_end"]
    assert {k: (w["records"], w["write_mode"]) for k, w in end["writes"].items()} == {
        "user_events": (3, "overwrite"),
        "user_summary": (2, "upsert"),
    }
    assert "counts: user_events: 3 in = 3 written" in end["message"]
    pg.execute("DELETE FROM user_summary WHERE user_id IN ('user-90001', 'user-90002')")


def test_a_quality_failure_is_a_data_error_and_writes_nothing(conf_env: Env, own_data: Any) -> None:
    put, s3 = own_data
    written = put(
        ["e1,u1,click,2026-01-01T00:00:00Z,{},1.0", "e2,,click,2026-01-01T00:00:00Z,{},2.0"]
    )
    lines = failed(conf_env.run("batch_s3_pg"), 3)
    text = "\n".join(lines)
    assert "user_events" in lines[0] and "user_id" in text
    assert s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=written).get("KeyCount", 0) == 0


def test_a_later_node_s_column_typo_is_found_before_the_first_write(
    conf_env: Env, own_data: Any
) -> None:
    put, s3 = own_data
    written = put(["fc-1,user-90001,click,2026-01-01T00:00:00Z,{},1.5"])
    params = yaml.safe_load((ROOT / "conf/base/parameters_batch_s3_pg.yml").read_text())
    params["batch_s3_pg"]["summary"]["aggregate"]["aggregations"][1]["column"] = "amout"
    conf_env.write("parameters_batch_s3_pg.yml", params)

    lines = failed(conf_env.run("batch_s3_pg"), 2)
    assert lines[0] == (
        "Error: Pipeline 'batch_s3_pg' would fail; nothing was run (1 problem found):"
    )
    assert lines[1].startswith("  - node 'summarise_users': Transform 'aggregate'")
    assert "'amout'" in lines[1] and "Did you mean 'amount'?" in lines[1]
    # the first node (extract, an overwrite of user_events) never ran
    assert s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=written).get("KeyCount", 0) == 0

    check = subprocess.run(  # the same check without a run: every problem of every pipeline
        [KEDRO, "check", "--env", conf_env.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert check.returncode == 2, check.stderr + check.stdout[-2000:]
    assert "batch_s3_pg: 1 problem" in check.stdout
    assert "node 'summarise_users': Transform 'aggregate'" in check.stdout
    # this env's user_events has no files yet: a run of batch_event_counts would find nothing
    assert (
        "batch_event_counts: 1 problem(s)\n  - dataset 'user_events': S3Dataset: there is "
        "nothing to read at" in check.stdout
    )
    assert "streaming_kafka_s3: 3 node(s) checked, no problem" in check.stdout

    typo = subprocess.run(
        [KEDRO, "check", "--pipelines", "batch_s3_pq", "--env", conf_env.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert typo.returncode == 2, typo.stderr + typo.stdout[-2000:]
    assert (
        "batch_s3_pq: 1 problem(s)\n  - there is no pipeline named 'batch_s3_pq'. "
        "Did you mean 'batch_s3_pg'?"
    ) in typo.stdout
    assert "Traceback" not in typo.stdout + typo.stderr


def test_an_unreachable_server_after_the_retries(conf_env: Env) -> None:
    conf_env.write("runtime.yml", {"retry": {"default": {"retries": 1, "delay": 0.2}}})
    conf_env.write("catalog.yml", user_summary(url="jdbc:postgresql://127.0.0.1:9/nowhere"))
    done = conf_env.run("batch_s3_pg", "--from-nodes", "summarise_users")
    lines = failed(done, 4)
    assert "127.0.0.1:9" in lines[0]
    assert lines[-1].startswith("(exit code 4: unreachable error;")


def test_verbose_prints_the_traceback_too(conf_env: Env) -> None:
    conf_env.write("catalog.yml", user_summary(write_mode="upsrt"))
    done = conf_env.run("batch_s3_pg", "--verbose")
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-4].startswith("Error: Catalog entry 'user_summary'")
