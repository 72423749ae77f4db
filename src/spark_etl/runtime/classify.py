"""One place that decides whether a failure is worth retrying.

spark-etl's own errors say so themselves (``EtlError.transient``). Everything else is read from the
chain of causes: Kedro's wrappers (``DatasetError``) are looked through, and Java exceptions from
Spark, the JDBC drivers and the Kafka client are classified by their class names and SQLStates.
Unknown errors are terminal: retrying a bug only delays the report.
"""

from __future__ import annotations

from typing import Literal

from kedro.validation.exceptions import DataValidationError

from spark_etl._jvm import UNREACHABLE, is_jvm_error, java_error_chain, sql_state
from spark_etl.contracts.guards import MARK as GUARD_MARK
from spark_etl.exceptions import EtlError, causes

ErrorKind = Literal["transient", "terminal"]

#: Java exception names (or message fragments) of failures that may go away by themselves.
TRANSIENT_JAVA = (
    *UNREACHABLE,
    "java.net.SocketException",
    "java.io.EOFException",
    "org.apache.kafka.common.errors.TimeoutException",
    "org.apache.kafka.common.errors.LeaderNotAvailableException",
    "org.apache.kafka.common.errors.NotLeaderOrFollowerException",
    "org.apache.kafka.common.errors.NetworkException",
    "org.apache.kafka.common.errors.DisconnectException",
    "CommunicationsException",  # MySQL Connector/J: the server went away
    "AWSClientIOException",
    "software.amazon.awssdk.core.exception.SdkClientException: Unable to execute HTTP request",
)
#: Failures that look like connection errors but are configuration mistakes. A data check that
#: fired inside a Spark job (its marker, ``GUARD_MARK``) is terminal too.
TERMINAL_JAVA = ("No suitable driver", "java.lang.ClassNotFoundException")
#: SQLState classes of transient database failures: connection exceptions (08), operator
#: intervention such as a server shutting down or starting (57P0x), and serialization or deadlock
#: failures (40001, 40P01), which succeed when re-run.
TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01", "HYT00")


def classify(exc: BaseException) -> ErrorKind:
    """``transient`` (retry) or ``terminal`` (report at once) for any exception."""
    for error in causes(exc):
        if isinstance(error, EtlError):
            return "transient" if error.transient else "terminal"
        if isinstance(error, DataValidationError):
            return "terminal"
        if is_jvm_error(error):
            return _classify_java(error)
    return "terminal"


def _classify_java(error: BaseException) -> ErrorKind:
    chain = " | ".join(java_error_chain(error))
    if GUARD_MARK in chain or any(name in chain for name in TERMINAL_JAVA):
        return "terminal"
    state = sql_state(error)
    if state is not None:
        return "transient" if state.startswith(TRANSIENT_SQLSTATES) else "terminal"
    return "transient" if any(name in chain for name in TRANSIENT_JAVA) else "terminal"


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may help."""
    return classify(exc) == "transient"
