"""A Great Expectations suite (JSON in ``conf/``) as a Kedro catalog validator.

::

    transactions:
      type: spark_etl.datasets.S3Dataset
      ...
      validator:
        class: spark_etl.contracts.gx.ExpectationSuiteValidator
        on: [save]
        options:
          suite: conf/base/expectations/transactions.json   # an exported GX 1.x suite
          dataset: transactions

The suite runs on the Spark DataFrame itself (GX's Spark execution engine, an ephemeral context:
nothing is written); a failed expectation halts with Kedro's ``DataValidationError`` naming each
expectation, column and unexpected count, and every result is logged as a ``quality_check`` event.
Needs the ``gx`` extra (``pip install spark-etl[gx]``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.validation.exceptions import CheckFailure, DataValidationError
from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)


class ExpectationSuiteValidator:
    """Validates Spark DataFrames with a GX expectation suite read from a JSON file.

    Args:
        suite: path of the suite's JSON (``name`` and ``expectations``, as GX 1.x exports it).
        dataset: the catalog name, for messages and log events.
    """

    def __init__(self, suite: str, dataset: str = "<dataset>") -> None:
        self.dataset = dataset
        self.path = Path(suite)
        try:
            self._spec = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataValidationError(
                f"Expectation suite '{self.path}' of dataset '{dataset}' cannot be read: {exc}.",
                dataset_name=dataset,
            ) from exc
        self._suite = self._build_suite()

    def _build_suite(self) -> Any:
        # No usage analytics leave the machine; GX reads this when it is imported.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx  # noqa: PLC0415 - an optional dependency

        try:
            return gx.ExpectationSuite(**self._spec)
        except Exception as exc:  # GX raises many kinds for a malformed suite
            raise DataValidationError(
                f"Expectation suite '{self.path}' of dataset '{self.dataset}' is not a valid "
                f"GX suite: {exc}.",
                dataset_name=self.dataset,
            ) from exc

    def validate(self, data: DataFrame) -> DataFrame:
        """Run the suite; return ``data`` unchanged when every expectation holds.

        Raises:
            DataValidationError: listing the failed expectations.
        """
        if data.isStreaming:
            return data
        result = self._run(data)
        failures = []
        for outcome in result.results:
            config = outcome.expectation_config
            column = config.kwargs.get("column")
            unexpected = int(outcome.result.get("unexpected_count") or 0)
            logger.log(
                logging.INFO if outcome.success else logging.WARNING,
                "Expectation %s on %s: %s",
                config.type,
                self.dataset,
                "passed" if outcome.success else "failed",
                extra={
                    "event": "quality_check",
                    "dataset": self.dataset,
                    "rule": config.type,
                    "column": column,
                    "passed": bool(outcome.success),
                    "failing": unexpected,
                    "severity": "fail",
                    "suite": str(self.path),
                },
            )
            if not outcome.success:
                examples = list(outcome.result.get("partial_unexpected_list") or [])[:5]
                failures.append(
                    CheckFailure(
                        message=config.type,
                        check=config.type,
                        column=column,
                        failure_count=max(unexpected, 1),
                        failure_examples=examples,
                    )
                )
        if failures:
            raise DataValidationError(
                f"Dataset '{self.dataset}' failed {len(failures)} expectation(s) of suite "
                f"'{self.path}'.",
                dataset_name=self.dataset,
                failures=failures,
            )
        return data

    def _run(self, data: DataFrame) -> Any:
        import great_expectations as gx  # noqa: PLC0415
        from great_expectations.data_context.types.base import (  # noqa: PLC0415
            ProgressBarsConfig,
        )

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_spark(name="spark_etl")
        asset = source.add_dataframe_asset(name=self.dataset)
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": data}
        )
        return batch.validate(self._suite, result_format="SUMMARY")
