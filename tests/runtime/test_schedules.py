"""schedules.yml: what a schedule may say, the names it uses checked against the project, and
the DAG source it becomes (run for real by Airflow in tests/deploy/test_airflow_dags.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from spark_etl.exceptions import ConfigError
from spark_etl.runtime.schedules import check_names, parse_schedules, render_dag

NIGHTLY = {
    "cron": "0 2 * * *",
    "cluster": "standalone",
    "sla": "2h",
    "notify": ["ops"],
    "pipelines": {"batch_s3_pg": {}, "batch_event_counts": {"after": ["batch_s3_pg"]}},
}
KNOWN = {
    "pipelines": {"batch_s3_pg", "batch_event_counts"},
    "clusters": {"standalone", "local"},
    "channels": {"ops"},
    "s3_datasets": {"raw_user_events"},
}


def schedule(**changes: Any) -> dict[str, Any]:
    return {"schedules": {"nightly": {**NIGHTLY, **changes}}}


def render(raw: dict[str, Any]) -> str:
    (name, parsed), *_ = parse_schedules(raw).items()
    return render_dag(
        name,
        parsed,
        project_dir=Path("/srv/etl"),
        kedro="/srv/etl/.venv/bin/kedro",
        project="my_project",
        env="prod",
    )


def test_a_cron_schedule_becomes_a_dag_of_submit_tasks_in_order() -> None:
    source = render(schedule())
    module = ast.parse(source)  # valid Python
    assert "schedule='0 2 * * *'" in source and "catchup=False" in source
    assert '"retries": 0' in source  # spark-etl's runner retries; Airflow's would stack
    assert (
        'spark_etl("submit", "--cluster", \'standalone\', "--pipeline", \'batch_s3_pg\')' in source
    )
    assert "task_batch_s3_pg >> task_batch_event_counts" in source
    assert "ENV = 'prod'" in source and "NOTIFY = ['ops']" in source
    assert "SLA = timedelta(seconds=7200.0)" in source and "on_success_callback" in source
    assert "outlets=[Asset('spark-etl://my_project/batch_s3_pg')]" in source
    assert not any(
        isinstance(n, ast.ImportFrom) and n.module == "airflow.providers.standard.sensors.bash"
        for n in module.body
    )


def test_a_files_trigger_waits_with_a_sensor_first() -> None:
    source = render(schedule(trigger={"files": "raw_user_events", "poke_every": "1m"}))
    assert 'spark_etl("arrived", "--dataset", \'raw_user_events\')' in source
    assert "prev_start_date_success or dag.start_date" in source
    assert "poke_interval=60.0" in source and 'mode="reschedule"' in source
    assert "files_arrived >> [task_batch_s3_pg]" in source  # only the first pipeline waits
    ast.parse(source)


def test_an_after_trigger_schedules_on_the_other_pipelines_assets() -> None:
    source = render(schedule(cron=None, trigger={"after": ["batch_s3_pg"]}))
    assert "schedule=[Asset('spark-etl://my_project/batch_s3_pg')]" in source
    ast.parse(source)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"cron": None}, "give cron, or a trigger"),
        ({"trigger": {"after": ["x"]}}, "give cron or trigger.after, not both"),
        (
            {"pipelines": {"a": {"after": ["b"]}, "b": {"after": ["a"]}}},
            "pipelines wait for each other in a cycle",
        ),
        (
            {"pipelines": {"batch_s3_pg": {}, "b": {"after": ["batch_s3_p"]}}},
            (
                "pipelines.b.after names 'batch_s3_p', which this schedule does not run. Did you "
                "mean 'batch_s3_pg'"
            ),
        ),
        ({"sla": "soon"}, r"schedules\.nightly\.sla: not a duration"),
        ({"pipelines": {}}, r"schedules\.nightly\.pipelines: Dictionary should have at least 1"),
        ({"colour": "red"}, r"schedules\.nightly\.colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_schedules_name_the_key(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^Invalid schedule in schedules.yml: .*{problem}"):
        parse_schedules(schedule(**changes))


def test_a_schedule_name_must_be_a_dag_id() -> None:
    with pytest.raises(ConfigError, match="schedule name 'night ly' is not a DAG id"):
        parse_schedules({"schedules": {"night ly": NIGHTLY}})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"pipelines": {"batch_s3_pgg": {}}},
            (
                "schedules.nightly.pipelines names 'batch_s3_pgg', which is not a pipeline. Did "
                "you mean 'batch_s3_pg'?"
            ),
        ),
        (
            {"cluster": "standalon"},
            (
                "schedules.nightly.cluster names 'standalon', which is not a cluster profile of "
                "clusters.yml. Did you mean 'standalone'?"
            ),
        ),
        ({"notify": ["opps"]}, "schedules.nightly.notify names 'opps', which is not a channel"),
        (
            {"trigger": {"files": "raw_events"}},
            "schedules.nightly.trigger.files names 'raw_events', which is not a S3Dataset",
        ),
    ],
)
def test_names_a_schedule_uses_must_exist(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^schedules.yml: {problem}"):
        check_names(parse_schedules(schedule(**changes)), **KNOWN)


def test_the_example_s_schedules_name_what_the_example_has() -> None:
    import yaml

    example = Path(__file__).resolve().parents[2] / "example" / "conf" / "base"
    found = parse_schedules(yaml.safe_load((example / "schedules.yml").read_text()))
    check_names(found, **{**KNOWN, "clusters": {"local"}, "channels": set()})
    assert list(found) == ["nightly"]
