"""Errors of the transforms: bad parameters, a column the input lacks, an unknown transform.

All of them are ``ConfigError`` (terminal: never retried), raised before any Spark job runs. Each
message names the transform, the parameter or column at fault, and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable

from spark_etl._suggest import closest, did_you_mean
from spark_etl.exceptions import ConfigError


class TransformError(ConfigError):
    """A transform was given parameters or inputs it cannot work with.

    Attributes:
        transform: the registered name of the transform at fault, when known.
    """

    def __init__(self, message: str, transform: str | None = None) -> None:
        super().__init__(message)
        self.transform = transform


class UnknownColumnError(TransformError):
    """A parameter names a column that the input DataFrame does not have.

    Attributes:
        column: the column as the parameters spell it (possibly dotted, ``a.b``).
        available: the columns the input does have, in order.
        closest: the existing column most like the missing one, if any.
    """

    def __init__(
        self,
        transform: str,
        column: str,
        available: Iterable[str],
        parameter: str | None = None,
        side: str = "input",
    ) -> None:
        """Build the message.

        Args:
            transform: the registered name of the transform.
            column: the missing column (its top-level part is what was looked up).
            available: the columns of the DataFrame that was checked.
            parameter: the parameter path that names the column (``aggregations.0.column``).
            side: which input was checked (``input``, or ``right`` for a join).
        """
        self.column = column
        self.available = list(available)
        top = top_level(column)
        self.closest = closest(top, self.available)
        where = f" (parameter '{parameter}')" if parameter else ""
        nested = f" (top-level column '{top}')" if top != column else ""
        hint = did_you_mean(top, self.available)
        super().__init__(
            f"Transform '{transform}'{where}: column '{column}'{nested} is not in the {side} "
            f"DataFrame, whose columns are: {', '.join(self.available) or '(none)'}.{hint} "
            "Fix the column name in the node's parameters or add the column upstream.",
            transform,
        )


class UnknownTransformError(TransformError):
    """A node asks for a transform that nothing registered.

    Attributes:
        name: the unknown name.
        registered: the names that are registered, sorted.
        closest: the registered name most like the unknown one, if any.
    """

    def __init__(self, name: str, registered: Iterable[str]) -> None:
        """Build the message.

        Args:
            name: the unknown transform name.
            registered: the registered transform names.
        """
        self.name = name
        self.registered = sorted(registered)
        self.closest = closest(name, self.registered)
        hint = did_you_mean(name, self.registered)
        super().__init__(
            f"Unknown transform '{name}'. Registered transforms: "
            f"{', '.join(self.registered) or '(none)'}.{hint} Fix the name in the node's "
            "parameters, or add the transform with @register in spark_etl.transforms.",
        )


def top_level(column: str) -> str:
    """The top-level column a (possibly nested or back-quoted) column reference starts from.

    ``a.b.c`` gives ``a``; ```a.b`.c`` gives ``a.b`` (back-quotes keep dots in a name).

    Args:
        column: the column reference as written in the parameters.

    Returns:
        The name of the top-level column.
    """
    if column.startswith("`"):
        end = column.find("`", 1)
        return column[1:end] if end > 0 else column.strip("`")
    return column.split(".", 1)[0]
