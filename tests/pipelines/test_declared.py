"""Pipelines declared in configuration alone: validation errors, the built pipeline, a real run."""

from __future__ import annotations

import json
import re
import typing
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from datagen import transactions, transactions_csv, users
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro_run import ROOT, create_users_table, put_raw, run_pipeline
from pyspark.sql import DataFrame, SparkSession

from spark_etl.declared import (
    DeclaredPipelineError,
    build,
    load_declarations,
    project_pipelines,
    read_declarations,
    retry_overrides,
)
from spark_etl.runtime.declared_hooks import DeclaredPipelineHooks

GOOD = {
    "id": "demo_declared",
    "sources": ["events"],
    "steps": [
        {"transform": "filter", "params": {"condition": "amount > 0"}},
        {"transform": "join", "params": {"on": ["user_id"]}, "inputs": {"right": "users"}},
    ],
    "sink": {"dataset": "out", "write_mode": "overwrite"},
    "retry": {"retries": 1, "delay": 0.5},
}


def write(folder: Path, name: str, spec: Any, as_json: bool = False) -> Path:
    path = folder / (f"{name}.json" if as_json else f"{name}.yml")
    path.write_text(json.dumps(spec))  # JSON is valid YAML too
    return path


def test_a_valid_declaration_builds_one_node_per_step(tmp_path: Path) -> None:
    write(tmp_path, "demo", GOOD, as_json=True)
    (declaration,) = load_declarations(tmp_path)
    pipe = build(declaration)
    assert [n.name for n in pipe.nodes] == ["demo_declared.0_filter", "demo_declared.1_join"]
    assert pipe.datasets() == {"events", "users", "demo_declared__0_filter", "out"}
    assert pipe.inputs() == {"events", "users"}
    assert pipe.outputs() == {"out"}
    assert retry_overrides(tmp_path) == {"demo_declared": {"retries": 1, "delay": 0.5}}
    # plain functions with readable type hints: Kedro reads them on every run, and warned
    # ("Could not extract type hints") about the callable objects steps used to be
    for step in pipe.nodes:
        assert step.func.__name__ in ("apply_filter", "apply_join")
        assert typing.get_type_hints(step.func)["return"] is DataFrame


def test_the_example_declares_its_chains_of_transforms() -> None:
    declarations = load_declarations(ROOT / "conf" / "base" / "pipelines")
    assert sorted(d.id for d in declarations) == [
        "batch_completed_revenue",
        "batch_event_counts",  # the starter's
        "batch_kafka_s3",
        "batch_pg_mysql_kafka",
        "streaming_kafka_kafka",
        "streaming_kafka_pg",
        "streaming_kafka_s3",
        "warehouse",  # a combination: pipelines, no steps
    ]
    (combined,) = [d for d in declarations if d.parts]
    assert combined.parts == ["warehouse_quality", "warehouse_star", "warehouse_lake"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("sink"), r"\$: 'sink' is a required property"),
        (lambda s: s.update(sources="events"), r"\$\.sources: 'events' is not of type 'array'"),
        (lambda s: s.update(colour="red"), r"Additional properties are not allowed \('colour'"),
        (
            lambda s: s["steps"][0].update(transform="fliter"),
            r"\$\.steps\[0\]: Unknown transform 'fliter'.*filter",
        ),
        (lambda s: s["steps"][0]["params"].update(conditon="x"), r"\$\.steps\[0\]: .*conditon"),
        (
            lambda s: s["steps"][1].pop("inputs"),
            r"\$\.steps\[1\]\.inputs: transform 'join' takes the inputs \['right'\]",
        ),
        (
            lambda s: s["sink"].update(write_mode="merge"),
            r"\$\.sink\.write_mode: 'merge' is not one",
        ),
        (lambda s: s["retry"].update(retries=-1), r"\$\.retry\.retries: -1 is less than"),
        (lambda s: s.update(id="Bad Id"), r"\$\.id: 'Bad Id' does not match"),
    ],
)
def test_invalid_declarations_name_file_and_path(tmp_path: Path, change: Any, message: str) -> None:
    spec = json.loads(json.dumps(GOOD))
    change(spec)
    path = write(tmp_path, "demo", spec)
    write(tmp_path, "other", {**GOOD, "id": "other"})
    read = read_declarations([tmp_path])
    assert [d.id for d in read.found] == ["other"]  # a broken file does not stop the others
    (skipped,) = read.skipped
    assert skipped.path == path and skipped.id in ("demo_declared", "Bad Id")
    with pytest.raises(DeclaredPipelineError, match=rf"(?s){path}: .*{message}"):
        raise skipped.error


def test_unparsable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": ')
    (skipped,) = read_declarations([tmp_path]).skipped
    assert skipped.id == "broken"  # no id to read: the file's name
    assert str(skipped.error).startswith(f"{path}: not valid JSON")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD)
    second = write(tmp_path, "b", GOOD)
    read = read_declarations([tmp_path])
    assert [d.path.name for d in read.found] == ["a.yml"]
    (skipped,) = read.skipped
    assert re.match(
        rf"{second}: \$\.id: pipeline 'demo_declared' is already declared", str(skipped.error)
    )


def test_an_env_file_replaces_the_base_file_of_the_same_id(tmp_path: Path) -> None:
    base, env = tmp_path / "base", tmp_path / "prod"
    base.mkdir()
    env.mkdir()
    write(base, "demo", GOOD)
    write(base, "other", {**GOOD, "id": "other"})
    override = write(env, "demo", {**GOOD, "sink": {"dataset": "out_prod"}})
    found = {d.id: d for d in read_declarations([base, env]).found}
    assert sorted(found) == ["demo_declared", "other"]
    assert found["demo_declared"].path == override
    assert found["demo_declared"].spec["sink"]["dataset"] == "out_prod"


def test_unknown_dataset_is_named_when_the_catalog_exists(tmp_path: Path) -> None:
    path = write(tmp_path, "demo", GOOD)
    catalog = DataCatalog({"events": MemoryDataset(), "out": MemoryDataset()})
    with pytest.raises(
        DeclaredPipelineError,
        match=rf"{path}: \$\.steps\[1\]\.inputs\.right: dataset 'users' is not in "
        "the catalog",
    ):
        DeclaredPipelineHooks(tmp_path).before_pipeline_run(build(load(path)), catalog)
    fine = {**GOOD, "id": "other", "steps": GOOD["steps"][:1]}
    other = build(load(write(tmp_path, "other", fine)))
    # demo's mistake fails only runs of demo_declared: this run checks its own pipeline
    DeclaredPipelineHooks(tmp_path).before_pipeline_run(other, catalog)


def test_write_mode_must_agree_with_the_catalog(tmp_path: Path) -> None:
    path = write(tmp_path, "demo", GOOD)

    class Sink(MemoryDataset):
        write_mode = "append"

    catalog = DataCatalog({"events": MemoryDataset(), "users": MemoryDataset(), "out": Sink()})
    with pytest.raises(
        DeclaredPipelineError,
        match=rf"{path}: \$\.sink\.write_mode: 'overwrite', but the catalog entry "
        "'out' writes with 'append'",
    ):
        DeclaredPipelineHooks(tmp_path).before_pipeline_run(build(load(path)), catalog)


def load(path: Path) -> Any:
    (found,) = [d for d in load_declarations(path.parent) if d.path == path]
    return found


@pytest.mark.integration
def test_declared_pipeline_runs_end_to_end(
    spark: SparkSession, services: dict[str, str], mysql: Any
) -> None:
    ref = users(20, seed=21)
    create_users_table(mysql, ref)
    with mysql.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS country_revenue")
    txns = list(transactions(400, users=24, seed=22))
    put_raw(services, "transactions/", transactions_csv(txns))
    run_pipeline("batch_s3_mysql_s3")

    run_pipeline("batch_completed_revenue")

    country = {u.user_id: u.country for u in ref}
    expected: dict[tuple[Any, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for t in txns:
        if t.status == "completed":
            row = expected[(country.get(t.user_id), t.currency)]
            row[0] += 1
            row[1] += Decimal(t.amount)
    with mysql.cursor() as cur:
        cur.execute("SELECT country, currency, transactions, revenue FROM country_revenue")
        got = {(c, cur_): [n, rev] for c, cur_, n, rev in cur.fetchall()}
    assert got == dict(expected)


@pytest.fixture
def example_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example project configured as ``kedro`` does, from its folder."""
    monkeypatch.chdir(ROOT)
    bootstrap_project(ROOT)


def test_a_declared_combination_is_the_sum_of_its_parts(example_project: None) -> None:
    found = project_pipelines()
    names = {n.name for n in found["warehouse"].nodes}
    assert names == {
        n.name
        for part in ("warehouse_quality", "warehouse_star", "warehouse_lake")
        for n in found[part].nodes
    }
    assert "load_fact_sales" in names


def test_a_combination_lists_pipelines_and_nothing_else(tmp_path: Path) -> None:
    write(tmp_path, "nightly", {"id": "nightly", "pipelines": ["a"], "steps": GOOD["steps"]})
    write(tmp_path, "empty", {"id": "empty", "pipelines": []})
    skipped = {s.id: str(s.error) for s in read_declarations([tmp_path]).skipped}
    assert (
        "nightly.yml: $.steps: a combined pipeline (pipelines: [...]) runs other pipelines "
        "and has no steps; remove it, or remove pipelines." in skipped["nightly"]
    )
    assert "$.pipelines: [] should be non-empty" in skipped["empty"]


def test_a_combined_pipeline_is_the_sum_of_its_parts(example_project: None) -> None:
    found = project_pipelines(combined={"nightly": ["warehouse_quality", "batch_event_counts"]})
    parts = {n.name for n in found["warehouse_quality"].nodes} | {
        n.name for n in found["batch_event_counts"].nodes
    }
    assert {n.name for n in found["nightly"].nodes} == parts
    assert "stage_sales" in parts and "batch_event_counts.0_time_window" in parts


@pytest.mark.parametrize(
    ("combined", "message"),
    [
        (
            {"nightly": ["warehouse_qualty"]},
            (
                r"Combined pipeline 'nightly' lists 'warehouse_qualty', which is not a pipeline "
                r"of the project. Did you mean 'warehouse_quality'\?"
            ),
        ),
        (
            {"warehouse_star": ["warehouse_quality"]},
            r"Combined pipeline 'warehouse_star' has the name of another pipeline",
        ),
    ],
)
def test_combined_pipeline_mistakes_are_named(
    example_project: None, combined: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(DeclaredPipelineError, match=message):
        project_pipelines(combined=combined)
