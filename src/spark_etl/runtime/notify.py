"""Notifications: the run's events sent to people, on the channels ``notifications.yml`` names.

::

    # conf/<env>/notifications.yml
    channels:                      # apprise URLs (https://github.com/caronc/apprise/wiki)
      ops_mail: {url: "${vault:notify.smtp_url}"}      # mailtos://user:pass@smtp.example.com?to=...
      teams: {url: "${vault:notify.teams_workflow}"}   # workflows://...  (Teams Workflows)
      telegram: {url: "${vault:notify.telegram}"}      # tgram://bot_token/chat_id
    routes:
      - {events: [run_failed], channels: [ops_mail, teams]}
      - {events: [run_succeeded], channels: [ops_mail], pipelines: [nightly_orders]}
      - {events: [quality_failed, quality_warned], channels: [teams]}
      - {events: [dead_letters], channels: [telegram], threshold: 100}
      - {events: [streaming_lag], channels: [telegram]}
    templates:                     # Jinja2 (sandboxed); the defaults are below
      run_failed: {title: "{{ pipeline }} failed", body: "{{ error }}"}

The log is the source: a handler on the ``spark_etl`` loggers turns their events (``run_end``,
``quality_check``, ``dead_letter``, ``streaming_lag``) into notifications, and a thread sends
them through apprise, each channel retried with backoff (tenacity); the run's end waits for them
(at most ``timeout_s``). A channel that fails is logged (``notification_failed``) and never fails
the run. Channel URLs carry tokens: they are registered as secrets, so no log shows them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import apprise
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from spark_etl._validation import problems
from spark_etl.exceptions import ConfigError
from spark_etl.runtime import logs

logger = logging.getLogger("spark_etl.metrics")
#: The notification thread ends after this long with nothing to send.
_IDLE_S = 2.0

EventName = Literal[
    "run_failed",
    "run_succeeded",
    "quality_failed",
    "quality_warned",
    "dead_letters",
    "streaming_lag",
    "schedule_failed",
    "sla_missed",
]

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "run_failed": {
        "title": "[spark-etl] {{ pipeline }} failed{% if env %} ({{ env }}){% endif %}",
        "body": (
            "Run {{ run_id }} of {{ pipeline }} failed"
            "{% if node %} in node {{ node }}{% endif %}:\n{{ error }}\n"
            "{% if summary %}\n{{ summary }}\n{% endif %}"
            "{% if log_file %}\nThe full report: {{ log_file }}{% endif %}"
        ),
    },
    "run_succeeded": {
        "title": "[spark-etl] {{ pipeline }} succeeded{% if status == 'partial' %} "
        "(with dead letters){% endif %}",
        "body": "Run {{ run_id }} of {{ pipeline }} ended {{ status }} in {{ duration_s }} s."
        "{% if summary %}\n{{ summary }}{% endif %}",
    },
    "quality_failed": {
        "title": "[spark-etl] {{ pipeline }}: quality rule failed on {{ dataset }}",
        "body": "{{ message }}\n(run {{ run_id }})",
    },
    "quality_warned": {
        "title": "[spark-etl] {{ pipeline }}: quality warning on {{ dataset }}",
        "body": "{{ message }}\n(run {{ run_id }})",
    },
    "dead_letters": {
        "title": "[spark-etl] {{ pipeline }}: {{ records }} record(s) dead-lettered",
        "body": "{{ message }}\n(run {{ run_id }})",
    },
    "streaming_lag": {
        "title": "[spark-etl] {{ pipeline }}: the stream is falling behind",
        "body": "{{ message }}\n(run {{ run_id }})",
    },
    # sent by an orchestrator (`kedro spark-etl notify`, the generated Airflow DAGs)
    "schedule_failed": {
        "title": "[spark-etl] {{ pipeline }} failed in schedule {{ schedule }}",
        "body": (
            "Task {{ pipeline }} of {{ dag }} failed on Airflow"
            "{% if logical_date %} (run of {{ logical_date }}){% endif %}"
            "{% if exit_code %} with exit code {{ exit_code }}{% endif %}.\n"
            "{% if error %}{{ error }}\n{% endif %}"
            "{% if log_url %}The task's log: {{ log_url }}{% endif %}"
        ),
    },
    "sla_missed": {
        "title": "[spark-etl] schedule {{ schedule }} missed its SLA",
        "body": (
            "{{ dag }}{% if logical_date %} (run of {{ logical_date }}){% endif %} had not "
            "finished {{ sla }} after it started."
        ),
    },
}


class Channel(BaseModel):
    """One destination: an apprise URL (or several)."""

    model_config = ConfigDict(extra="forbid")
    url: str | list[str]

    def urls(self) -> list[str]:
        """The URLs, as a list."""
        return [self.url] if isinstance(self.url, str) else list(self.url)


class Route(BaseModel):
    """Which events go to which channels (of which pipelines)."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventName]
    channels: list[str]
    pipelines: list[str] | None = None
    #: dead_letters: notify from this many records of one batch
    threshold: int = Field(default=1, ge=1)


class Template(BaseModel):
    """A notification's title and body (Jinja2)."""

    model_config = ConfigDict(extra="forbid")
    title: str
    body: str


class NotificationSettings(BaseModel):
    """``notifications.yml``."""

    model_config = ConfigDict(extra="forbid")
    channels: dict[str, Channel] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    templates: dict[EventName, Template] = Field(default_factory=dict)
    attempts: int = Field(default=3, ge=1)
    delay_s: float = Field(default=2.0, ge=0)
    timeout_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotificationSettings:
        for i, route in enumerate(self.routes):
            for name in route.channels:
                if name not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none"
                    raise ValueError(
                        f"routes[{i}] names channel '{name}', which channels does not define "
                        f"(defined: {known})"
                    )
        return self


def parse_settings(raw: dict[str, Any]) -> NotificationSettings:
    """Validated settings, or a ConfigError that names the key and what is wrong."""
    try:
        return NotificationSettings(**raw)
    except ValidationError as exc:
        raise ConfigError(f"notifications.yml: {problems(exc)}.") from None


@dataclass
class Notice:
    """A notification to send: the event, its values (for the templates), its channels."""

    event: str
    values: dict[str, Any]
    channels: list[str] = field(default_factory=list)


class Notifier:
    """Renders and sends notices on a thread of its own."""

    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self._templates = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
        self._queue: queue.Queue[Notice] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._flush_at_exit = False
        self._lock = threading.Lock()
        #: what was sent: (channel, event, title), for the run's log and tests
        self.sent: list[tuple[str, str, str]] = []
        self._targets: dict[str, apprise.Apprise] = {}
        for name, channel in settings.channels.items():
            # sequential sends: apprise's thread pool cannot start while the interpreter exits
            # (the command line's failure report is sent then); built now, so that the
            # plugins are imported before any exit
            target = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
            for i, url in enumerate(channel.urls()):
                logs.register_secret(url)
                if not target.add(url):
                    raise ConfigError(
                        f"notifications.yml: channels.{name}.url"
                        f"{'' if isinstance(channel.url, str) else f'[{i}]'} is not a URL apprise "
                        "can send to (see https://github.com/caronc/apprise/wiki for each "
                        "service's form)."
                    )
            self._targets[name] = target

    def routes_for(self, event: str, values: dict[str, Any]) -> list[str]:
        """The channels ``event`` goes to, by the routes."""
        names: list[str] = []
        for route in self.settings.routes:
            if event not in route.events:
                continue
            if route.pipelines is not None and values.get("pipeline") not in route.pipelines:
                continue
            if event == "dead_letters" and int(values.get("records") or 0) < route.threshold:
                continue
            names += [c for c in route.channels if c not in names]
        return names

    def submit(self, event: str, values: dict[str, Any], also: Iterable[str] = ()) -> None:
        """Queue ``event`` for the channels its routes name, and those in ``also`` (none:
        nothing happens).

        Raises:
            ConfigError: for a channel of ``also`` that notifications.yml does not define.
        """
        channels = self.routes_for(event, values)
        for name in also:
            if name not in self._targets:
                known = ", ".join(sorted(self._targets)) or "none"
                raise ConfigError(
                    f"notifications.yml defines no channel '{name}' (defined: {known})."
                )
            if name not in channels:
                channels.append(name)
        if not channels:
            return
        with self._lock:
            self._queue.put(Notice(event, values, channels))
            if self._thread is None:
                # not a daemon: the thread ends once the queue is idle
                self._thread = threading.Thread(target=self._work, name="spark-etl-notify")
                self._thread.start()
            if not self._flush_at_exit:
                _before_thread_pools_stop(self.flush)
                self._flush_at_exit = True

    def render(self, event: str, values: dict[str, Any]) -> tuple[str, str]:
        """The title and body of ``event``."""
        chosen = self.settings.templates.get(event)  # type: ignore[call-overload]
        template = chosen.model_dump() if chosen is not None else DEFAULT_TEMPLATES[event]
        title = self._templates.from_string(template["title"]).render(**values)
        body = self._templates.from_string(template["body"]).render(**values)
        return title.strip(), body.strip()

    def flush(self) -> None:
        """Wait (at most ``timeout_s``) until every queued notice was sent or given up."""
        deadline = time.monotonic() + self.settings.timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._queue.unfinished_tasks:
            logger.warning(
                "Notifications still unsent after %.0f s; the run ends without them",
                self.settings.timeout_s,
                extra={"event": "notification_failed", "reason": "timeout"},
            )

    def _work(self) -> None:
        while True:
            try:
                notice = self._queue.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self._send(notice)
            except Exception as exc:  # a template or a channel must never stop the worker
                logger.warning(
                    "Notification %s could not be sent: %s",
                    notice.event,
                    exc,
                    extra={"event": "notification_failed", "reason": str(exc)},
                )
            finally:
                self._queue.task_done()

    def _send(self, notice: Notice) -> None:
        title, body = self.render(notice.event, notice.values)
        for name in notice.channels:
            target = self._targets[name]
            retrying = Retrying(
                stop=stop_after_attempt(self.settings.attempts),
                wait=wait_exponential(multiplier=self.settings.delay_s, max=30),
                retry=retry_if_result(lambda ok: not ok),
            )
            try:
                retrying(target.notify, title=title, body=body)
            except RetryError:
                logger.warning(
                    "Notification %s to channel %s failed %d time(s); the run goes on",
                    notice.event,
                    name,
                    self.settings.attempts,
                    extra={"event": "notification_failed", "channel": name},
                )
                continue
            self.sent.append((name, notice.event, title))
            logger.info(
                "Notification %s sent to %s",
                notice.event,
                name,
                extra={"event": "notification_sent", "channel": name, "notice": notice.event},
            )


def _before_thread_pools_stop(flush: Callable[[], None]) -> None:
    """Run ``flush`` when the interpreter starts to exit, before the thread pools stop.

    A failure report comes after the run's hooks, and the process may end right after it.
    apprise sends through ``concurrent.futures`` pools, which refuse new work once the
    interpreter's exit has begun: a non-daemon sending thread alone would then fail every
    attempt. Python stops those pools in a callback of ``threading``'s exit (the private
    ``threading._register_atexit``, which ``concurrent.futures`` uses itself); such callbacks run
    newest first, so one registered now, after apprise's pools, runs before they stop.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # another Python: the sending thread still keeps the process alive
        return
    with contextlib.suppress(RuntimeError):  # the exit has already begun
        register(flush)


class NotificationHandler(logging.Handler):
    """Turns the run's log events into notices (attached to the ``spark_etl`` loggers)."""

    def __init__(self, notifier: Notifier) -> None:
        super().__init__(level=logging.INFO)
        self.notifier = notifier
        self.run: dict[str, Any] = {}
        self._failure_told = False

    def new_run(self) -> None:
        """Forget the last run's failure (a session may run several times)."""
        self._failure_told = False

    def emit(self, record: logging.LogRecord) -> None:
        """Submit the notice ``record`` stands for, if any (one failure per run: the command
        line's ``run_failed`` report only for a failure the run's end did not tell)."""
        try:
            found = notice_of(record, self.run)
            if found is None:
                return
            if found[0] == "run_failed":
                if self._failure_told:
                    return
                self._failure_told = True
            self.notifier.submit(*found)
        except Exception:  # a notification must never break logging
            self.handleError(record)


def notice_of(record: logging.LogRecord, run: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The event and values a log record stands for (``None``: none)."""
    fields = dict(record.__dict__)
    kind = fields.get("event")
    if kind == "node_failed":
        run["node"] = fields.get("failed_node")  # named in the run's failure notice
        return None
    values = {**run, **{k: v for k, v in fields.items() if v is not None and k in _FIELDS}}
    values["message"] = logs.redact(record.getMessage())
    event: str | None = None
    if kind == "run_failed":  # the command line's report of a failure, also before any run
        event, values["error"] = "run_failed", values["message"]
    elif kind == "run_end":
        text = values["message"]
        values["summary"] = text.split("\n", 1)[1] if "\n" in text else ""
        values["node"] = fields.get("failed_node") or run.get("node")
        if fields.get("failure"):
            values["error"] = logs.redact(str(fields["failure"]))
        event = "run_failed" if fields.get("status") == "failed" else "run_succeeded"
    elif kind == "quality_check" and fields.get("passed") is False:
        event = "quality_failed" if fields.get("severity") == "fail" else "quality_warned"
    elif kind == "dead_letter" and int(fields.get("records") or 0) > 0:
        event = "dead_letters"
    elif kind == "streaming_lag":
        event = "streaming_lag"
    return (event, values) if event is not None else None


_FIELDS = {
    "pipeline",
    "run_id",
    "status",
    "duration_s",
    "error",
    "error_kind",
    "dataset",
    "rule",
    "severity",
    "records",
    "sink",
    "log_file",
    "env",
}
