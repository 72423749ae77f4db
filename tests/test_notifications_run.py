"""Notifications of unattended runs, as ``kedro run`` sends them: a run that fails in a node and
a run that cannot start both reach the mailbox (a real SMTP server on 127.0.0.1) and the webhook
(a real HTTP receiver), named with pipeline, node and the error's first line; the channel URL
never shows in the output or the run's log."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from kedro_run import LAKE_BUCKET, ROOT, Env, clear_prefix, s3_client
from pyspark.sql import SparkSession
from receivers import Mailbox, Receiver, http_receiver, smtp_server
from spark_etl_example.sample_data import user_events

from spark_etl.contracts import default_registry
from spark_etl.datasets import S3Dataset

pytestmark = pytest.mark.integration


def notifications(box: Mailbox, hook: Receiver) -> dict[str, Any]:
    return {
        "channels": {
            "ops_mail": {"url": box.url()},
            "chat": {"url": f"json://127.0.0.1:{hook.port}/etl?token=hook-s3cret"},
        },
        "routes": [
            {"events": ["run_failed"], "channels": ["ops_mail", "chat"]},
            {"events": ["quality_failed"], "channels": ["chat"]},
        ],
        "delay_s": 0.1,
    }


def wait_for(found: list[Any], count: int) -> None:
    deadline = time.monotonic() + 20
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def body(mail: Any) -> str:
    return str(mail.get_payload()[0].get_payload(decode=True).decode())


def test_a_run_that_fails_in_a_node_notifies_mail_and_webhook(
    conf_env: Env, spark: SparkSession, services: dict[str, str], s3_credentials: dict[str, Any]
) -> None:
    name = f"notify-{conf_env.name}"
    contract = default_registry().get("user_event")
    rows = [
        (e.event_id, e.user_id, e.event_type, e.timestamp.replace(tzinfo=None), None, 5.0)
        for e in user_events(20, users=4, seed=51)
    ]
    source = S3Dataset(
        path=f"s3a://{LAKE_BUCKET}/{name}/in/",
        file_format="avro",
        credentials=s3_credentials,
        metadata={"schema": "user_event"},
    )
    source.save(spark.createDataFrame(rows, contract.spark_schema))
    strict = {
        "class": "spark_etl.contracts.quality.QualityRules",
        "on": ["save"],
        "options": {
            "dataset": "events_out",
            "rules": [{"rule": "range", "column": "amount", "min": 100, "severity": "fail"}],
        },
    }
    conf_env.write(
        "catalog.yml",
        {
            "events_in": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": f"s3a://{LAKE_BUCKET}/{name}/in/",
                "file_format": "avro",
                "credentials": "s3",
                "metadata": {"schema": "user_event"},
            },
            "events_out": {
                "type": "spark_etl.datasets.S3Dataset",
                "path": f"s3a://{LAKE_BUCKET}/{name}/out/",
                "file_format": "avro",
                "credentials": "s3",
                "validator": strict,
            },
        },
    )
    conf_env.write(
        "pipelines/copy_events.yml",
        {
            "id": "copy_events",
            "sources": ["events_in"],
            "steps": [{"transform": "select", "params": {"columns": ["event_id", "amount"]}}],
            "sink": {"dataset": "events_out"},
        },
    )
    try:
        with smtp_server() as box, http_receiver() as hook:
            conf_env.write("notifications.yml", notifications(box, hook))
            done = conf_env.run("copy_events")
            wait_for(box.mails, 1)
            wait_for(hook.requests, 2)
        assert done.returncode == 3, done.stderr
        (mail,) = box.mails
        assert mail["Subject"] == f"[spark-etl] copy_events failed ({conf_env.name})"
        text = body(mail)
        assert "failed in node copy_events.0_select:" in text, text
        assert "range(amount, 100.0..None)" in text and "events_out" in text
        assert "The full report: " in text
        posted = sorted(r.json()["title"] for r in hook.requests)
        assert posted == [
            f"[spark-etl] copy_events failed ({conf_env.name})",
            "[spark-etl] copy_events: quality rule failed on events_out",
        ]
        log_file = ROOT / done.stderr.strip().splitlines()[-1].rsplit("is in ", 1)[1].rstrip(")")
        logged = log_file.read_text()
        assert "hook-s3cret" not in logged and "hook-s3cret" not in done.stdout + done.stderr
        sent = [json.loads(x) for x in logged.splitlines() if '"notification_sent"' in x]
        assert sorted(e["channel"] for e in sent) == ["chat", "chat", "ops_mail"]
    finally:
        clear_prefix(s3_client(services), LAKE_BUCKET, f"{name}/")


def test_a_run_that_cannot_start_notifies_too(conf_env: Env) -> None:
    entry = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())["user_summary"]
    conf_env.write("catalog.yml", {"user_summary": {**entry, "write_mode": "upsrt"}})
    with smtp_server() as box, http_receiver() as hook:
        conf_env.write("notifications.yml", notifications(box, hook))
        done = conf_env.run("batch_s3_pg")
        wait_for(box.mails, 1)
    assert done.returncode == 2, done.stderr
    (mail,) = box.mails
    assert mail["Subject"] == f"[spark-etl] batch_s3_pg failed ({conf_env.name})"
    assert "unknown write_mode 'upsrt'" in body(mail)
    assert [r.json()["title"] for r in hook.requests] == [mail["Subject"]], done.stdout[-3000:]
