"""Notifications: settings, routing and templates; delivery to real servers on 127.0.0.1.

Email goes to an SMTP server (aiosmtpd); the generic webhook and Microsoft Teams Workflows go
to an HTTP(S) receiver, their URLs pointed at it. Telegram and Slack have their API hosts fixed
in apprise (api.telegram.org, hooks.slack.com), which cannot be reached from here: for those two
the plugin's endpoint is pointed at the receiver (the one thing mocked), and the test checks the
request apprise built for the real service.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import apprise.plugins.slack
import apprise.plugins.telegram
import pytest
from receivers import free_port, http_receiver, smtp_server

from spark_etl.exceptions import ConfigError
from spark_etl.runtime.notify import (
    NotificationHandler,
    Notifier,
    notice_of,
    parse_settings,
)

RUN = {"pipeline": "nightly", "run_id": "2026-12-01T02.00.00.000Z", "env": "prod"}


def settings(channels: dict[str, str], **more: Any) -> Any:
    routes = more.pop(
        "routes", [{"events": ["run_failed", "quality_failed"], "channels": list(channels)}]
    )
    return parse_settings(
        {
            "channels": {name: {"url": url} for name, url in channels.items()},
            "routes": routes,
            "delay_s": 0.01,
            **more,
        }
    )


def failed_run(notifier: Notifier) -> None:
    notifier.submit(
        "run_failed",
        {
            **RUN,
            "node": "load_orders",
            "error": "Dataset 'orders' broke quality rule not_null(order_id): 3 of 120 rows",
            "summary": "dataset  read  written",
            "log_file": "logs/20261201T020000Z-1.jsonl",
        },
    )
    notifier.flush()


def test_a_route_to_an_unknown_channel_or_event_is_named() -> None:
    with pytest.raises(ConfigError, match="routes\\[0\\] names channel 'pager'"):
        settings(
            {"mail": "json://127.0.0.1:9/x"},
            routes=[{"events": ["run_failed"], "channels": ["pager"]}],
        )
    with pytest.raises(ConfigError, match=r"routes\.0\.events\.0"):
        settings(
            {"mail": "json://127.0.0.1:9/x"},
            routes=[{"events": ["run_broke"], "channels": ["mail"]}],
        )


def test_a_url_apprise_cannot_send_to_is_named_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_and_notifier = Notifier(settings({"pager": "nosuchservice://t0ken-s3cret"}))
        del settings_and_notifier
    assert str(caught.value).startswith("notifications.yml: channels.pager.url is not a URL")
    assert "t0ken-s3cret" not in str(caught.value)


def test_routes_choose_channels_by_event_pipeline_and_threshold() -> None:
    notifier = Notifier(
        settings(
            {"mail": "json://127.0.0.1:9/a", "chat": "json://127.0.0.1:9/b"},
            routes=[
                {"events": ["run_failed"], "channels": ["mail", "chat"]},
                {"events": ["run_succeeded"], "channels": ["mail"], "pipelines": ["nightly"]},
                {"events": ["dead_letters"], "channels": ["chat"], "threshold": 100},
            ],
        )
    )
    assert notifier.routes_for("run_failed", RUN) == ["mail", "chat"]
    assert notifier.routes_for("run_succeeded", RUN) == ["mail"]
    assert notifier.routes_for("run_succeeded", {"pipeline": "hourly"}) == []
    assert notifier.routes_for("dead_letters", {"records": 99}) == []
    assert notifier.routes_for("dead_letters", {"records": 100}) == ["chat"]
    assert notifier.routes_for("quality_warned", RUN) == []


def test_templates_default_or_configured() -> None:
    notifier = Notifier(
        settings(
            {"mail": "json://127.0.0.1:9/a"},
            templates={"run_succeeded": {"title": "{{ pipeline }} ok", "body": "{{ summary }}"}},
        )
    )
    title, body = notifier.render(
        "run_failed", {**RUN, "node": "n1", "error": "boom", "log_file": "logs/x.jsonl"}
    )
    assert title == "[spark-etl] nightly failed (prod)"
    assert body.splitlines()[:2] == [
        "Run 2026-12-01T02.00.00.000Z of nightly failed in node n1:",
        "boom",
    ]
    assert body.endswith("The full report: logs/x.jsonl")
    assert notifier.render("run_succeeded", {"pipeline": "p", "summary": "s"}) == ("p ok", "s")


def test_log_events_become_notices() -> None:
    def record(**fields: Any) -> logging.LogRecord:
        made = logging.LogRecord("spark_etl.metrics", logging.INFO, __file__, 0, "msg", (), None)
        made.__dict__.update(fields)
        return made

    run: dict[str, Any] = dict(RUN)
    assert notice_of(record(event="node_failed", failed_node="load"), run) is None
    kind, values = notice_of(record(event="run_end", status="failed", error="boom"), run)  # type: ignore[misc]
    assert (kind, values["node"], values["error"]) == ("run_failed", "load", "boom")
    assert notice_of(record(event="run_end", status="partial"), run)[0] == "run_succeeded"  # type: ignore[index]
    quality = record(event="quality_check", passed=False, severity="warn", dataset="orders")
    assert notice_of(quality, run)[0] == "quality_warned"  # type: ignore[index]
    assert notice_of(record(event="quality_check", passed=True), run) is None
    assert notice_of(record(event="dead_letter", records=0), run) is None
    assert notice_of(record(event="streaming_lag"), run)[0] == "streaming_lag"  # type: ignore[index]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # verify=no
def test_a_failed_run_reaches_email_webhook_and_teams_workflows() -> None:
    with smtp_server() as box, http_receiver() as hook, http_receiver(tls=True) as teams:
        notifier = Notifier(
            settings(
                {
                    "mail": box.url(),
                    "hook": f"json://127.0.0.1:{hook.port}/etl-events",
                    "teams": f"workflows://127.0.0.1:{teams.port}/wf123/sig456/?verify=no",
                }
            )
        )
        failed_run(notifier)
    (mail,) = box.mails
    assert mail["Subject"] == "[spark-etl] nightly failed (prod)"
    assert mail["To"] == "ops@example.com"
    text = mail.get_payload()[0].get_payload(decode=True).decode()
    assert "failed in node load_orders:" in text and "not_null(order_id)" in text
    (posted,) = hook.requests
    assert posted.path == "/etl-events"
    assert posted.json()["title"] == "[spark-etl] nightly failed (prod)"
    assert "not_null(order_id)" in posted.json()["message"]
    (card,) = teams.requests
    assert card.path.startswith("/workflows/wf123/triggers/manual/paths/invoke")
    assert "sig=sig456" in card.path
    assert "nightly failed" in card.body.decode()
    assert sorted(c for c, _, _ in notifier.sent) == ["hook", "mail", "teams"]


def test_telegram_and_slack_send_what_their_services_expect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with http_receiver(replies={"/services/": b"ok"}) as local:  # what Slack's webhooks say
        here = f"http://127.0.0.1:{local.port}"
        # the public API hosts are out of reach: their endpoints point at the receiver
        monkeypatch.setattr(apprise.plugins.telegram.NotifyTelegram, "notify_url", f"{here}/bot")
        monkeypatch.setattr(apprise.plugins.slack.NotifySlack, "webhook_url", f"{here}/services")
        notifier = Notifier(
            settings(
                {
                    "telegram": "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100200300/",
                    "slack": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#etl",
                }
            )
        )
        failed_run(notifier)
    paths = sorted(r.path for r in local.requests)
    assert paths == [
        "/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
        "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
    ]
    telegram = next(r for r in local.requests if "sendMessage" in r.path).json()
    assert telegram["chat_id"] == -100200300 and "nightly failed" in telegram["text"]
    slack = next(r for r in local.requests if "services" in r.path).json()
    assert slack["channel"] == "#etl" and "not_null(order_id)" in str(slack)


def test_a_channel_that_fails_is_retried_logged_and_never_fails_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with http_receiver(status=500) as broken:
        url = f"json://127.0.0.1:{broken.port}/hook?token=s3cr3t-t0ken"
        notifier = Notifier(settings({"hook": url, "gone": f"json://127.0.0.1:{free_port()}/x"}))
        with caplog.at_level(logging.INFO, logger="spark_etl.metrics"):
            failed_run(notifier)
        assert len(broken.requests) == 3  # attempts: 3 (the default)
    failures = [r for r in caplog.records if getattr(r, "event", None) == "notification_failed"]
    assert sorted(getattr(r, "channel", "") for r in failures) == ["gone", "hook"]
    assert notifier.sent == []


def test_channel_urls_are_secrets_in_every_log(caplog: pytest.LogCaptureFixture) -> None:
    from spark_etl.runtime import logs

    url = "json://127.0.0.1:9/hook?token=an0ther-s3cret"
    Notifier(settings({"hook": url}))
    assert logs.redact(f"posting to {url}") == "posting to ***"


def test_the_handler_sends_one_failure_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list[str] = []
    notifier = Notifier(settings({"mail": "json://127.0.0.1:9/a"}))
    monkeypatch.setattr(notifier, "submit", lambda event, values: submitted.append(event))
    handler = NotificationHandler(notifier)
    handler.run = dict(RUN)
    end = logging.LogRecord("spark_etl.metrics", logging.ERROR, __file__, 0, "end", (), None)
    end.__dict__.update(event="run_end", status="failed", error="boom")
    report = logging.LogRecord("spark_etl.failure", logging.ERROR, __file__, 0, "boom", (), None)
    report.__dict__.update(event="run_failed")
    handler.handle(end)
    handler.handle(report)  # the command line's report of the same failure
    assert submitted == ["run_failed"]
    handler.new_run()
    handler.handle(report)  # a failure before the next run started
    assert submitted == ["run_failed", "run_failed"]


def test_a_notice_queued_just_before_exit_still_goes_out() -> None:
    """The sending thread is not a daemon: a process that ends right after a failure (the
    command line's report comes after the run's hooks) waits for it."""
    with http_receiver() as hook:
        script = (
            "from spark_etl.runtime.notify import Notifier, parse_settings\n"
            "n = Notifier(parse_settings({'channels': {'h': {'url': "
            f"'json://127.0.0.1:{hook.port}/h'}}}}, 'routes': [{{'events': ['run_failed'], "
            "'channels': ['h']}]}))\n"
            "n.submit('run_failed', {'pipeline': 'p', 'run_id': 'r', 'error': 'boom'})\n"
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        assert len(hook.requests) == 1
        assert hook.requests[0].json()["title"] == "[spark-etl] p failed"
