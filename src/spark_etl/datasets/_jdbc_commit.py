"""The commit of a JDBC write: the staged batch moves into the target in one transaction.

An upsert committed with ``MERGE`` (``upsert_statement: merge``) is committed again with
``INSERT ... ON CONFLICT`` when ``MERGE`` refuses what ``ON CONFLICT`` settles or names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from spark_etl._jvm import is_jvm_error, java_error_chain, sql_state
from spark_etl.datasets._jdbc_connection import Bound, in_transaction

# The JDBC dataset's log lines, under its name wherever its helpers live: logging configs and
# filters name the dataset's logger.
logger = logging.getLogger("spark_etl.datasets.jdbc")

# MERGE refused what ON CONFLICT settles or names: a key twice in the batch (21000 if it is in
# the target, 23505 if new), a key another transaction inserted meanwhile (23505), a row
# another one changed or deleted meanwhile (40001).
_MERGE_RETRIED_STATES = ("21000", "23505", "40001")


def commit_staged(
    conn: Any,
    statements: list[str] | list[Bound],
    *,
    on_conflict: list[str] | None,
    refused: Callable[[Exception], Exception],
    table: str,
) -> list[int]:
    """Run the commit's ``statements`` in one transaction on ``conn``; their update counts.

    Args:
        conn: the driver's connection.
        statements: the commit from the staging table into the target.
        on_conflict: when ``statements`` is an upsert's ``MERGE``, the same upsert with
            ``INSERT ... ON CONFLICT``, run instead when ``MERGE`` fails for what it settles
            (a key another transaction inserted or changed meanwhile) or names better (a key
            twice in the batch); ``None`` otherwise.
        refused: the error to raise for a commit the database refused (rolled back).
        table: the target, for the log.

    Raises:
        Exception: ``refused``'s error, chained to the database's.
    """
    try:
        return in_transaction(conn, statements)
    except Exception as exc:
        if not is_jvm_error(exc):
            raise
        if on_conflict is None or sql_state(exc) not in _MERGE_RETRIED_STATES:
            raise refused(exc) from exc
        logger.info(
            "MERGE into %s refused (%s); committing with INSERT ... ON CONFLICT instead",
            table,
            java_error_chain(exc)[0],
        )
        try:
            return in_transaction(conn, on_conflict)
        except Exception as again:
            if not is_jvm_error(again):
                raise
            raise refused(again) from again
