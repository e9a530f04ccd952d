"""Custom Great Expectations expectations of katsaus. Imported by the validate stage
(and the suite script) before suites are loaded, so GX knows their types."""

from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from tasks.ingest.pii import hetu_rows


class ColumnValuesNotHetu(ColumnMapMetricProvider):
    """Per value: True when it contains no valid Finnish personal identity code."""

    condition_metric_name = "column_values.not_hetu"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return ~hetu_rows(column)


class ExpectColumnValuesToNotContainHetu(ColumnMapExpectation):
    """Expect no valid Finnish personal identity code (henkilötunnus) in a text column.

    Format, date and check character are verified; all century signs, including
    those introduced in 2023, are recognised. Always critical.
    """

    map_metric = "column_values.not_hetu"
    success_keys = ("mostly",)
