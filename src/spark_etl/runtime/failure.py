"""What a failed run tells the person who started it: what is wrong, where, what to do.

``kedro run`` (``spark_etl.cli.run``) turns the exception that ended a run into a short block on
stderr, a :class:`Failure`: the first line says what is wrong and where (the message of spark-etl's
own error, which names the file, dataset, node, field or record), the next ones say what to do, and
the exit code says which kind of failure it was. The Python and Java traceback goes to the run's
log file, not to the screen, unless asked for (``--verbose`` or ``SPARK_ETL_TRACEBACK=1``).

Exit codes (``docs/errors.md``): 2 configuration (catalog, parameters, declared pipelines, schema
files, credentials and the vault), 3 data (a contract or quality rule failed, the sink refused the
rows: nothing was written), 4 a server stayed unreachable after the retries, 5 a node or the
pipeline ran past its timeout, 1 anything else.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path

from kedro.validation.exceptions import DataValidationError
from pydantic import ValidationError

from spark_etl import declared
from spark_etl._jvm import is_jvm_error, java_error_chain, sql_state
from spark_etl._suggest import did_you_mean
from spark_etl.contracts.exceptions import ContractViolationError, GuardFiredError
from spark_etl.datasets.exceptions import (
    SourceMissingError,
    UndecodableRecordsError,
    WriteRejectedError,
)
from spark_etl.exceptions import (
    AuthenticationError,
    ConfigError,
    EtlError,
    SourceUnavailableError,
    causes,
)
from spark_etl.runtime.classify import classify
from spark_etl.runtime.timeouts import RunTimeoutError
from spark_etl.vault.exceptions import VaultError

TRACEBACK_ENV = "SPARK_ETL_TRACEBACK"
#: The attribute of a run's final error naming the nodes a resumed run starts from (set by the
#: retrying runner).
RESUME_FROM = "spark_etl_resume_from"
#: Lines of an error message shown on the screen; the log file has them all.
_MAX_LINES = 14


class ExitCode(IntEnum):
    """The exit codes of ``kedro run`` (0 is success)."""

    FAILED = 1
    CONFIG = 2
    DATA = 3
    UNREACHABLE = 4
    TIMEOUT = 5


_TODO = {
    ExitCode.CONFIG: "Fix the configuration named above, then run again.",
    ExitCode.DATA: (
        "Nothing was written to the failing dataset. Correct the data at its source, or the "
        "contract or rule that refused it, then run again."
    ),
    ExitCode.UNREACHABLE: (
        "The server stayed unreachable through the retries. Check that it is up (for the local "
        "stack: `kedro services status`) and that the endpoint in conf/ is right, then run again."
    ),
    ExitCode.TIMEOUT: (
        "A write the cancelled jobs had started was not committed; outputs of nodes that "
        "finished stand. Raise the limit in conf/<env>/runtime.yml if the work needs longer, or "
        "find what took the time in the log file and the Spark UI, then run again."
    ),
    ExitCode.FAILED: (
        "This is an error spark-etl does not recognise. The full trace is in the log file; "
        "run again with --verbose to see it here."
    ),
}
_KIND = {
    ExitCode.CONFIG: "configuration",
    ExitCode.DATA: "data",
    ExitCode.UNREACHABLE: "unreachable",
    ExitCode.TIMEOUT: "timeout",
    ExitCode.FAILED: "unexpected",
}
#: Kedro's and OmegaConf's errors about the project's own files (exception class names).
_CONFIG_ERRORS = (
    "MissingConfigException",
    "ParserError",
    "ScannerError",
    "InterpolationResolutionError",
    "UnsupportedInterpolationType",
    "InterpolationKeyError",
    "ConfigKeyError",
    "DatasetNotFoundError",
    "KedroCliError",
    "ConstructorError",
)
_DATASET = re.compile(r"Failed to instantiate dataset '([^']+)'")
_FULL_KEY = re.compile(r"full_key: (\S+)")
_PIPELINE = re.compile(r"Failed to find the pipeline named '([^']+)'")


@dataclass(frozen=True)
class Failure:
    """A failed run, told for a person."""

    code: ExitCode
    message: str  # what is wrong and where (its first line is the block's first line)
    todo: str
    #: the nodes a run of only what did not finish starts from (``--from-nodes``)
    resume_from: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``configuration``, ``data``, ``unreachable``, ``timeout`` or ``unexpected``."""
        return _KIND[self.code]

    def block(self, log_file: Path | None = None, command: str | None = None) -> str:
        """The lines ``kedro run`` ends with; ``command`` is the run's own command line, for
        the line that resumes it (without it, the options to add are named)."""
        text = self.message.strip().replace(f"{Path.cwd()}/", "")  # paths as the user typed them
        lines = text.splitlines() or ["(no message)"]
        if len(lines) > _MAX_LINES:
            lines = [*lines[:_MAX_LINES], f"... ({len(lines) - _MAX_LINES} more lines in the log)"]
        lines[0] = f"Error: {lines[0]}"
        out = [*lines, "", f"What to do: {self.todo}"]
        if self.resume_from:
            nodes = f'--from-nodes "{",".join(self.resume_from)}"'
            out.append(
                "Nodes that finished keep their outputs; to run only what did not finish: "
                + (f"{command} {nodes}" if command else f"add {nodes} to the command line")
            )
        where = f"; the full report is in {_shown(log_file)}" if log_file is not None else ""
        out.append(f"(exit code {int(self.code)}: {self.kind} error{where})")
        return "\n".join(out)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def explain(exc: BaseException, catalog_files: list[Path] | None = None) -> Failure:
    """The :class:`Failure` behind ``exc``: spark-etl's own error where there is one.

    Args:
        exc: what ended the run.
        catalog_files: the run's catalog files, to name the one that declares a dataset that
            could not be created.
    """
    found = _explained(exc, catalog_files)
    resume = next((getattr(e, RESUME_FROM) for e in causes(exc) if hasattr(e, RESUME_FROM)), ())
    return replace(found, resume_from=tuple(resume)) if resume else found


def _explained(exc: BaseException, catalog_files: list[Path] | None) -> Failure:
    chain = list(causes(exc))
    missing = _PIPELINE.search(str(exc))
    if missing is not None:
        return _unknown_pipeline(missing.group(1), str(exc))
    own = next((e for e in chain if isinstance(e, EtlError | DataValidationError)), None)
    if own is not None:
        message = _with_dataset(str(own), chain, catalog_files)
        return Failure(_code_of(own, chain), message, _TODO[_code_of(own, chain)])
    unknown = _unknown_argument(chain, catalog_files)
    if unknown is not None:
        return unknown
    config = next(
        (e for e in chain if type(e).__name__ in _CONFIG_ERRORS or isinstance(e, ValidationError)),
        None,
    )
    if config is not None:
        return Failure(ExitCode.CONFIG, _config_message(config), _TODO[ExitCode.CONFIG])
    java = next((e for e in chain if is_jvm_error(e)), None)
    if java is not None:
        return _java_failure(java)
    message = f"{type(exc).__name__}: {exc}"
    return Failure(ExitCode.FAILED, message, _TODO[ExitCode.FAILED])


def headline(exc: BaseException) -> str:
    """The first line of :func:`explain`'s message: a failure in one line, for log events."""
    return explain(exc).message.strip().splitlines()[0]


_ARGUMENT = re.compile(r"got an unexpected keyword argument '(\w+)'")
_CONSTRUCTOR = re.compile(
    r"Dataset '([^']+)' must only contain arguments valid for the "
    r"constructor of '([\w.]+)'"
)


def _unknown_argument(chain: list[BaseException], files: list[Path] | None) -> Failure | None:
    """A catalog entry with a key its dataset type does not take (Kedro's ``TypeError``)."""
    for error in chain:
        text = str(error)
        argument, entry = _ARGUMENT.search(text), _CONSTRUCTOR.search(text)
        if argument is None or entry is None:
            continue
        name, type_name, key = entry.group(1), entry.group(2), argument.group(1)
        known = _parameters_of(type_name)
        source = _declared_in(name, files or [])
        where = f" ({source})" if source else ""
        hint = did_you_mean(key, known) if known else ""
        message = (
            f"Catalog entry '{name}'{where}: {type_name.rsplit('.', 1)[-1]} has no option "
            f"'{key}'.{hint}"
        )
        if known:
            message += f"\nIts options: {', '.join(known)}."
        return Failure(ExitCode.CONFIG, message, _TODO[ExitCode.CONFIG])
    return None


def _parameters_of(type_name: str) -> list[str]:
    """The keyword arguments a dataset class takes (empty if it cannot be imported)."""
    module, _, name = type_name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
        parameters = inspect.signature(cls.__init__).parameters
    except (ImportError, AttributeError, ValueError, TypeError):
        return []
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p, spec in parameters.items() if p != "self" and spec.kind in named]


_READ_FILE = re.compile(r"while reading file (\S+?)\.?\s")
_RECORD = re.compile(r"Malformed records are detected in record parsing: (\[.*?\])")
_CAST = re.compile(r"The value (.+?) of the type \"(\w+)\" cannot be cast to \"(\w+)\"")


def _java_failure(java: BaseException) -> Failure:
    """A Java error spark-etl did not translate: a record that does not parse, else the
    innermost Java message."""
    names = java_error_chain(java)
    malformed = _malformed_record(names)
    if malformed is not None:
        return malformed
    message = names[-1] if names else str(java).splitlines()[0]
    refused = _refused_privilege(java, message)
    if refused is not None:
        return refused
    code = ExitCode.UNREACHABLE if classify(java) == "transient" else ExitCode.FAILED
    return Failure(code, message, _TODO[code])


#: MySQL's "INSERT command denied to user ..." (its SQLSTATE, 42000, is every syntax error too)
_MYSQL_DENIED = re.compile(r"command denied to user|Access denied for user .* to database")


def _refused_privilege(java: BaseException, message: str) -> Failure | None:
    """A database that refused the run's user a privilege (PostgreSQL's 42501, MySQL's
    ``command denied``): a matter of grants, not of data or of spark-etl."""
    if sql_state(java) != "42501" and not _MYSQL_DENIED.search(message):
        return None
    said = message.split(": ", 1)[1] if message.startswith("org.") and ": " in message else message
    todo = (
        "The database refused the user of the dataset's credentials: grant that user the "
        "privilege named above on the table (or use credentials that have it), then run again. "
        "The refused write was not committed."
    )
    return Failure(ExitCode.CONFIG, f"The database refused a privilege: {said}", todo)


def _malformed_record(names: list[str]) -> Failure | None:
    """A source record its schema cannot parse (``mode: FAILFAST``): the file, the record and
    the value, rather than the Java chain."""
    text = "\n".join(names)
    if "MALFORMED_RECORD_IN_PARSING" not in text:
        return None
    file, found, cast = _READ_FILE.search(text), _RECORD.search(text), _CAST.search(text)
    record = found.group(1) if found else None
    parts = ["A source record does not parse as its schema says"]
    if file is not None:
        parts.append(f"in {file.group(1)}")
    if record is not None:
        parts.append(f"(record {record})")
    message = " ".join(parts)
    if cast is not None:
        message += f": the value {cast.group(1)} is not a {cast.group(3)}"
    message += "."
    todo = (
        "Correct the record at the source, or the schema in the dataset's load_args. To go on "
        "past bad records, read with mode: PERMISSIVE (nulls) or DROPMALFORMED instead of "
        "FAILFAST."
    )
    return Failure(ExitCode.DATA, message, todo)


def _unknown_pipeline(name: str, kedro_message: str) -> Failure:
    """A pipeline the registry does not have: its declared file was skipped, or a typo."""
    skipped = declared.read_declarations().skipped_for(name)
    if skipped is not None:
        message = f"Pipeline '{name}' is not registered: its file has an error. {skipped.error}"
        return Failure(ExitCode.CONFIG, message, _TODO[ExitCode.CONFIG])
    matches = kedro_message.split("Did you mean one of these instead?", 1)
    close = [m.strip() for m in matches[1].split()] if len(matches) > 1 else []
    hint = f" Did you mean {' or '.join(repr(m) for m in close)}?" if close else ""
    message = f"There is no pipeline named '{name}'.{hint}"
    todo = "Name a registered pipeline (`kedro registry list` lists them), then run again."
    if "," in name:  # `--pipeline a,b` takes one name; `--pipelines a,b` takes a list
        todo = f"To run several pipelines, use --pipelines {name} (plural). " + todo
    return Failure(ExitCode.CONFIG, message, todo)


def _code_of(own: BaseException, chain: list[BaseException]) -> ExitCode:
    data = (
        ContractViolationError,
        GuardFiredError,
        DataValidationError,
        WriteRejectedError,
        UndecodableRecordsError,
        SourceMissingError,
    )
    if isinstance(own, data):
        return ExitCode.DATA
    if isinstance(own, RunTimeoutError):
        return ExitCode.TIMEOUT
    if isinstance(own, SourceUnavailableError) or any(
        isinstance(e, EtlError) and e.transient for e in chain
    ):
        return ExitCode.UNREACHABLE
    if isinstance(own, ConfigError | VaultError | AuthenticationError):
        return ExitCode.CONFIG
    return ExitCode.FAILED


def _with_dataset(message: str, chain: list[BaseException], files: list[Path] | None) -> str:
    """``message`` with the dataset Kedro could not create, and the file that declares it."""
    for error in chain:
        found = _DATASET.search(str(error))
        if found is None:
            continue
        name = found.group(1)
        if f"'{name}'" in message:
            return message
        source = _declared_in(name, files or [])
        where = f" ({source})" if source else ""
        return f"Catalog entry '{name}'{where}: {message}"
    return message


def _declared_in(name: str, files: list[Path]) -> str | None:
    """``file:line`` of the catalog file that declares ``name`` (the last one wins, as in Kedro's
    environments)."""
    entry = re.compile(rf"^{re.escape(name)}\s*:")
    found = None
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, start=1):
            if entry.match(line):
                found = f"{_shown(path)}:{number}"
    return found


def _config_message(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    key = _FULL_KEY.search(text)
    if key is not None and key.group(1) not in first:
        first = f"{first} (at {key.group(1)})"
    rest = [line for line in text.splitlines()[1:] if line.strip() and "full_key" not in line]
    rest = [line for line in rest if not line.strip().startswith("object_type")]
    return "\n".join([first, *rest])
