"""The schema registry over schemas/: every shipped schema parses, broken files are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_etl.contracts import SchemaFileError, SchemaRegistry, UnknownSchemaError
from spark_etl.contracts.registry import SCHEMAS_ENV, default_registry, use_registry

ROOT = Path(__file__).resolve().parents[2] / "example"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.avsc"
    path.write_text(text)
    return path


def test_project_schemas_all_load() -> None:
    registry = SchemaRegistry(ROOT / "schemas")
    assert {"dead_letter", "transaction", "user_event", "user_summary", "user"} <= set(
        registry.names()
    )
    event = registry.get("user_event")
    assert event.required == ["event_id", "user_id", "event_type", "timestamp"]
    assert event.enums["event_type"][:2] == ["page_view", "click"]
    assert event.spark_schema.simpleString() == (
        "struct<event_id:string,user_id:string,event_type:string,timestamp:timestamp,"
        "properties:map<string,string>,amount:double>"
    )
    assert json.loads(event.avro_json)["name"] == "user_event"


def test_unknown_schema_suggests_close_match() -> None:
    registry = SchemaRegistry(ROOT / "schemas")
    with pytest.raises(
        UnknownSchemaError, match=r"Schema 'user_events' .* Did you mean 'user_event'"
    ):
        registry.get("user_events")


def test_file_that_is_not_json_is_named_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", '{"type": "record",\n "name": "broken",, }')
    with pytest.raises(SchemaFileError, match=rf"'{path}' is not valid JSON: .* line 2"):
        SchemaRegistry(tmp_path).load()


def test_invalid_avro_is_named_with_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad",
        json.dumps({"type": "record", "name": "bad", "fields": [{"name": "x", "type": "strnig"}]}),
    )
    with pytest.raises(SchemaFileError, match=rf"'{path}' is not a valid Avro schema: .*strnig"):
        SchemaRegistry(tmp_path).load()


def test_record_name_must_match_file(tmp_path: Path) -> None:
    write(tmp_path, "orders", json.dumps({"type": "record", "name": "order", "fields": []}))
    with pytest.raises(
        SchemaFileError, match=r"defines record 'order': name the file 'order.avsc'"
    ):
        SchemaRegistry(tmp_path).load()


def test_top_level_must_be_a_record(tmp_path: Path) -> None:
    write(tmp_path, "s", '"string"')
    with pytest.raises(SchemaFileError, match="must hold one Avro record at the top level"):
        SchemaRegistry(tmp_path).load()


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(SchemaFileError, match=rf"Schema folder '{tmp_path / 'nope'}' not found"):
        SchemaRegistry(tmp_path / "nope").names()


def test_default_registry_follows_env_then_use_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "only", json.dumps({"type": "record", "name": "only", "fields": []}))
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path))
    monkeypatch.setattr("spark_etl.contracts.registry._default", None)
    assert default_registry().names() == ["dead_letter", "only"]  # the built-in, and the folder's
    use_registry(ROOT / "schemas")
    assert "user_event" in default_registry().names()


def test_the_built_in_dead_letter_contract_cannot_be_redefined(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dead_letter",
        json.dumps(
            {"type": "record", "name": "dead_letter", "fields": [{"name": "x", "type": "string"}]}
        ),
    )
    with pytest.raises(
        SchemaFileError, match=rf"'{path}' redefines 'dead_letter', which is built into spark-etl"
    ):
        SchemaRegistry(tmp_path).load()


def test_a_project_without_its_own_dead_letter_file_has_the_built_in_one(tmp_path: Path) -> None:
    contract = SchemaRegistry(tmp_path).get("dead_letter")
    assert contract.path.parent.name == "contracts"  # shipped with spark_etl.contracts
    assert contract.avro_field_names[:3] == ["payload", "error", "stage"]
