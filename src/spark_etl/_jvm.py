"""Private helpers for the JVM side of Spark: the session in use, the Java exception behind a
Python one."""

from __future__ import annotations

from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkRuntimeError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Observation, SparkSession

_MAX_DEPTH = 20
#: Java exception names and message words of a server that did not answer, whatever the system:
#: each dataset adds its client's own, the runtime classifies them as transient.
UNREACHABLE = (
    "java.net.ConnectException",
    "java.net.SocketTimeoutException",
    "java.net.NoRouteToHostException",
    "java.net.UnknownHostException",
    "Connection refused",
    "Connection reset",
)


def current_session() -> SparkSession | None:
    """This thread's active session, else the process's default one (a run started on another
    thread than the session: a scheduler's worker, a notebook's background job), else None."""
    try:
        return SparkSession.active()
    except PySparkRuntimeError:
        return None


def java_exception(exc: BaseException) -> Any | None:
    """The Java throwable behind ``exc`` (py4j's error, or pyspark's converted one), if any."""
    if isinstance(exc, Py4JJavaError):
        return exc.java_exception
    if isinstance(exc, CapturedException):
        return getattr(exc, "_origin", None)
    return None


def is_jvm_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the JVM."""
    return java_exception(exc) is not None


def _throwables(exc: BaseException) -> list[Any]:
    found: list[Any] = []
    current = java_exception(exc)
    while current is not None and len(found) < _MAX_DEPTH:
        found.append(current)
        current = current.getCause()
    return found


def java_error_chain(exc: BaseException) -> list[str]:
    """``ClassName: message`` for the Java exception and each of its causes, outermost first."""
    return [f"{t.getClass().getName()}: {t.getMessage()}" for t in _throwables(exc)]


def error_text(exc: BaseException) -> str:
    """The message of ``exc`` and of every Java exception behind it, one per line."""
    return "\n".join([str(exc), *java_error_chain(exc)])


def sql_state(exc: BaseException) -> str | None:
    """The SQLState of the first ``java.sql.SQLException`` in the chain, if any."""
    for throwable in _throwables(exc):
        try:  # only java.sql.SQLException and its subclasses have it; py4j raises for the rest
            state = throwable.getSQLState()
        except Exception:
            continue
        if state:
            return str(state)
    return None


def observed(observation: Observation) -> dict[str, Any] | None:
    """The metrics of ``observation``, or ``None`` if no job ran over the observed plan (never
    blocks, unlike ``Observation.get``)."""
    java = observation._jo
    if java is None or not java.future().isCompleted():
        return None
    if java.getRow().schema() is None:  # completed empty: a MERGE of no rows never ran its source
        return None
    return dict(observation.get)


def micro_batch_observed(query: Any, name: str) -> dict[str, Any] | None:
    """The metrics ``observe(name, ...)`` collected in the micro-batch ``query`` is running
    (called from its ``foreachBatch``, after the batch's plan ran); ``None`` if the plan has no
    such observation."""
    execution = query._jsq.streamingQuery().lastExecution()
    found = execution.observedMetrics().get(name)
    if found.isEmpty():
        return None
    row = found.get()
    names = row.schema().fieldNames()
    return {str(field): row.get(i) for i, field in enumerate(names)}


def jvm_time_zone(spark: Any) -> str:
    """The driver JVM's default time zone (the zone JDBC drivers send timestamps' wall-clock
    time in)."""
    return str(jvm_of(spark).java.util.TimeZone.getDefault().getID())


def jvm_of(spark: Any) -> Any:
    """The py4j gateway's JVM view of a classic (non-Connect) SparkSession."""
    gateway_jvm = getattr(spark, "_jvm", None)
    if gateway_jvm is None:
        raise RuntimeError(
            "This dataset needs a classic SparkSession with a JVM (not Spark Connect)."
        )
    return gateway_jvm


def hadoop_conf(spark: Any) -> Any:
    """The Hadoop configuration shared by the session's filesystems."""
    return spark._jsc.hadoopConfiguration()
