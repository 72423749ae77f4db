"""Structured JSON logs with the run's context, and secrets kept out of every record.

Kedro configures the handlers from ``conf/logging.yml`` (standard ``logging`` classes only, as
Kedro's allowlist of logging modules requires). :func:`install` then adds, on every handler of the
root logger, the run context (``pipeline``, ``run_id``, ``node``) and the redaction of secrets.

Every run writes JSON lines (one object per event, with its structured fields) to a log file of
its own, ``logs/<time>-<pid>.jsonl`` in the project (``SPARK_ETL_LOG_DIR`` elsewhere,
``SPARK_ETL_RUN_LOG`` names the file). The console shows the events in words on a terminal and
as JSON lines otherwise (a cluster's driver log, CI); ``SPARK_ETL_LOG_FORMAT=json|console``
chooses.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from spark_etl._secrets import MASK, is_secret_name
from spark_etl.runtime.context import RunContext, RunContextFilter
from spark_etl.vault import known_secret_values

FORMAT_ENV = "SPARK_ETL_LOG_FORMAT"
LOG_DIR_ENV = "SPARK_ETL_LOG_DIR"
RUN_LOG_ENV = "SPARK_ETL_RUN_LOG"
KEEP_ENV = "SPARK_ETL_LOG_KEEP"
#: Run logs kept in the log folder (with their ``.spark.log``); older ones are removed.
DEFAULT_KEEP = 50
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|secret[_.]?key|token|api[_.]?key|access[_.]?key)"
    r"(\s*[=:]\s*)(['\"]?)[^\s'\",;&)]+"
)
_MIN_SECRET_LENGTH = 4
#: Extras Kedro adds for its rich console handler; noise in a JSON line.
_KEDRO_CONSOLE_HINTS = ("rich_format", "markup", "highlighter")
_secrets: set[str] = set()
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def register_secret(value: Any) -> None:
    """Never let ``value`` appear in a log record (short values are ignored: too many hits)."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        _secrets.add(value)


def register_secrets_in(config: Any, under_secret_key: bool = False) -> None:
    """Register every value of a credentials mapping whose key looks secret."""
    if isinstance(config, dict):
        for key, value in config.items():
            register_secret_like = under_secret_key or is_secret_name(key)
            register_secrets_in(value, register_secret_like)
    elif under_secret_key:
        register_secret(config)


def redact(text: str) -> str:
    """``text`` with known secrets and ``password=...``-style values masked."""
    for secret in sorted(_secrets | known_secret_values(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _SECRET_PAIR.sub(r"\1\2\3***", text)


class RedactionFilter(logging.Filter):
    """Masks secrets in the message, the exception text and every string field of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record, redacted."""
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _redact_value(value))
        return True


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: (MASK if is_secret_name(k) else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time, level, logger, message and the structured fields."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
        reserved_attrs=[*RESERVED_ATTRS, *_KEDRO_CONSOLE_HINTS],
    )


def install(
    run: RunContext, root: logging.Logger | None = None, project_path: Path | None = None
) -> Path | None:
    """Add ``run``'s context and the redaction to every root handler, the console's format, and
    the run's JSON log file (under ``project_path``); return that file (``None`` if it cannot be
    written: the run goes on with the console only)."""
    for name, value in os.environ.items():
        if name.startswith("SPARK_ETL_") and is_secret_name(name):
            register_secret(value)
    root = root or logging.getLogger()
    for handler in root.handlers:
        _add_filters(handler, run)
        if _is_console(handler) and _console_wants_json(handler):
            handler.setFormatter(json_formatter())
    log_file = run_log_path(project_path)
    if log_file is None:
        return None
    for handler in root.handlers:
        if isinstance(handler, RunLogFileHandler):
            if Path(handler.baseFilename) == log_file.resolve():
                return log_file
            root.removeHandler(handler)
            handler.close()
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        prune_run_logs(log_file.parent, keep=_keep(), current=log_file)
        file_handler = RunLogFileHandler(log_file)
    except OSError as exc:
        logging.getLogger(__name__).warning("No run log file (%s): %s", log_file, exc)
        return None
    file_handler.setFormatter(json_formatter())
    _add_filters(file_handler, run)
    root.addHandler(file_handler)
    return log_file


class RunLogFileHandler(logging.FileHandler):
    """The run's JSON log file: every record at INFO or above, whatever the console shows."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=False)
        self.setLevel(logging.INFO)


def run_log_path(project_path: Path | None = None) -> Path | None:
    """The file this run logs to: ``SPARK_ETL_RUN_LOG``, else a new one in ``SPARK_ETL_LOG_DIR``
    or the project's ``logs/`` (``None`` when neither a project nor a folder is known)."""
    named = os.environ.get(RUN_LOG_ENV)
    if named:
        return Path(named)
    folder = os.environ.get(LOG_DIR_ENV)
    base = Path(folder) if folder else (project_path / "logs" if project_path else None)
    if base is None:
        return None
    return base / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.jsonl"


def prune_run_logs(folder: Path, keep: int, current: Path | None = None) -> list[Path]:
    """Remove all but the newest ``keep`` run logs of ``folder`` (and their ``.spark.log``);
    return what was removed. ``current`` (the run starting now) counts as one of them."""
    runs = sorted((p for p in folder.glob("*.jsonl") if p != current), reverse=True)
    gone = []
    for old in runs[max(keep - (current is not None), 0) :]:
        for path in (old, old.with_suffix(".spark.log")):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            gone.append(path)
    return gone


def _keep() -> int:
    value = os.environ.get(KEEP_ENV, "")
    return int(value) if value.isdigit() else DEFAULT_KEEP


def jvm_log_path() -> Path | None:
    """Where the Spark driver's own output (JVM warnings, log4j) goes: beside the run log that
    ``kedro run`` named (``None`` outside it: the output stays on the console)."""
    named = os.environ.get(RUN_LOG_ENV)
    return Path(named).with_suffix(".spark.log") if named else None


def _console_wants_json(handler: logging.Handler) -> bool:
    chosen = os.environ.get(FORMAT_ENV, "").lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    stream = getattr(handler, "stream", None) or sys.stdout
    return not (hasattr(stream, "isatty") and stream.isatty())


def _add_filters(handler: logging.Handler, run: RunContext) -> None:
    context = [f for f in handler.filters if isinstance(f, RunContextFilter)]
    if context:
        context[0].run = run  # a handler kept from an earlier session: this run's context now
    else:
        handler.addFilter(RunContextFilter(run))
    if not any(isinstance(f, RedactionFilter) for f in handler.filters):
        handler.addFilter(RedactionFilter())


def _is_console(handler: logging.Handler) -> bool:
    """A plain stream handler (``conf/logging.yml``'s console), not a file or capture one."""
    return type(handler) is logging.StreamHandler
