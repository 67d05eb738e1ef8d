"""Great Expectations on each loaded batch, with suites derived from the source's contract.

The contract's row rules decide, in SQL, which lines are quarantined (every line, fast).
Great Expectations then validates what was loaded, independently, with the same
contract turned into two suites:

- the row suite, on the loaded lines (all of them up to GX_ROW_SAMPLE lines in one call,
  a seeded random sample beyond): it names any line that got through anyway, and that
  line is then quarantined;
- the batch suite, on one row per file: volume against the partner's previous file,
  share of lines set aside, no date in the future.

GX cannot read DuckDB tables today (STYLE.md), so batches reach it as pandas frames;
dates are given as yyyymmdd numbers so that bounds compare without type surprises.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import pandas as pd

from pipelines.contracts import PARIS_POSTAL_CODES, Contract

LINE = "line_number"


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None = None
    unexpected: list[tuple] = field(default_factory=list)  # (ingest_id, line) or (file_path,)
    observed: object = None
    level: str = "row"  # row | batch

    def as_dict(self) -> dict:
        return {"expectation": self.expectation, "column": self.column, "success": self.success,
                "unexpected_count": self.unexpected_count, "unexpected": [list(u) for u in self.unexpected[:50]],
                "observed": None if self.observed is None else str(self.observed), "level": self.level}


def _yyyymmdd(value) -> int:
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return d.year * 10000 + d.month * 100 + d.day


def _bound(value):
    if value == "today":
        return {"$PARAMETER": "today"}
    if isinstance(value, date):
        return _yyyymmdd(value)
    return value


def build_row_expectations(contract: Contract) -> list:
    """The contract's row rules as GX expectations."""
    import great_expectations as gx

    E = gx.expectations
    out = []
    for col in contract.columns:
        name = col.name
        if col.required:
            out.append(E.ExpectColumnValuesToNotBeNull(column=name))
        if col.kind == "enum":
            out.append(E.ExpectColumnValuesToBeInSet(column=name, value_set=list(col.values)))
        if col.kind == "postal_code_paris":
            out.append(E.ExpectColumnValuesToBeInSet(column=name, value_set=list(PARIS_POSTAL_CODES)))
        if col.minimum is not None or col.maximum is not None:
            out.append(E.ExpectColumnValuesToBeBetween(
                column=name, min_value=_bound(col.minimum), max_value=_bound(col.maximum),
                strict_min=col.exclusive_min, strict_max=col.exclusive_max))
    for rule in contract.cross_rules:
        if rule.rule == "exists_in":
            continue  # a lookup in the warehouse: checked by the SQL rules only
        if rule.rule == "required_when":
            values = ", ".join(repr(v) for v in rule.when_in)
            out.append(E.ExpectColumnValuesToNotBeNull(
                column=rule.column, row_condition=f"{rule.when_column} in [{values}]", condition_parser="pandas"))
        else:
            a, b = (rule.other, rule.column) if rule.rule == "not_after" else (rule.column, rule.other)
            out.append(E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=rule.rule != "after", ignore_row_if="either_value_is_missing"))
    return out


def future_date_columns(contract: Contract) -> list[str]:
    return [c.name for c in contract.columns if c.kind == "date" and c.maximum == "today"]


def build_batch_expectations(contract: Contract) -> list:
    """Checks on each file as a whole, run on a frame with one row per file."""
    import great_expectations as gx

    E = gx.expectations
    out = [
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rows_loaded", column_B="min_rows", or_equal=True),
        E.ExpectColumnValuesToBeBetween(column="quarantine_share", min_value=0,
                                        max_value=contract.max_quarantine_share),
    ]
    for name in future_date_columns(contract):
        out.append(E.ExpectColumnValuesToBeBetween(column=f"max_{name}", max_value={"$PARAMETER": "today"}))
    return out


@lru_cache(maxsize=None)
def _suite(source: str, level: str):
    """One suite per source and level, per process, stored whole in the ephemeral GX context."""
    import great_expectations as gx

    from pipelines.contracts import load_contract

    contract = load_contract(source)
    build = build_row_expectations if level == "row" else build_batch_expectations
    # the suite stored whole, once: adding expectations one by one re-serialised it each time (0.23 -> 0.08 s)
    return _context().suites.add(gx.ExpectationSuite(name=f"vigie_{source}_{level}", expectations=build(contract)))


@lru_cache(maxsize=1)
def _whole_frame():
    """One pandas data source, asset and batch definition (the frame given at each run) for every
    suite: each one added re-serialised the context's whole configuration (about 25 ms a source)."""
    return _context().data_sources.add_pandas("vigie_loaded").add_dataframe_asset("loaded") \
        .add_batch_definition_whole_dataframe("loaded")


@lru_cache(maxsize=1)
def _context():
    import os

    import great_expectations as gx

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    try:  # GX draws a 'Calculating Metrics' bar per run; Vigie draws its own
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # an older layout: the bars are only cosmetic
        pass
    return ctx


def yyyymmdd_sql(column: str) -> str:
    """A date column as its yyyymmdd number, in DuckDB."""
    return f'(year("{column}") * 10000 + month("{column}") * 100 + day("{column}"))'


def gx_select_sql(contract: Contract) -> str:
    """The contract's columns as the row suite reads them: dates as yyyymmdd numbers, amounts and
    integers as doubles, cast by DuckDB (GX checks a range on numpy float64/int64 in one step, on
    anything else value by value in Python; bounds compare without type surprises)."""
    out = []
    for col in contract.columns:
        if col.kind == "date":
            out.append(f"cast({yyyymmdd_sql(col.name)} as double) as {col.ident}")
        elif col.kind in ("amount", "integer"):
            out.append(f"cast({col.ident} as double) as {col.ident}")
        else:
            out.append(col.ident)
    return ", ".join(out)


def _run(source: str, level: str, frame: pd.DataFrame, index_columns: list[str], as_of: date) -> list[ExpectationOutcome]:
    """The suite on `frame`: a yes/no pass first (BOOLEAN_ONLY, about half the time of COMPLETE on
    a 50 000-line sample), the full pass naming the failing lines only when one fails."""
    # Batch.validate: the suite on the frame, its results returned and not stored (a validation
    # definition's run also checked the suite against the context's store and stored every result:
    # 12-15 % of a run, and 13 ms a suite to create one per process)
    suite, batch = _suite(source, level), _whole_frame().get_batch(batch_parameters={"dataframe": frame})
    parameters = {"today": _yyyymmdd(as_of)}
    quick = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"}, expectation_parameters=parameters)
    if all(r.success for r in quick.results):
        return [ExpectationOutcome(r.expectation_config.type, _column(r.expectation_config.kwargs), True, 0,
                                   level=level) for r in quick.results]
    result = batch.validate(suite, expectation_parameters=parameters,
                            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns,
                                           "partial_unexpected_count": 0})
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        column = _column(cfg.kwargs)
        info = r.exception_info or {}
        raised = info.get("raised_exception") if "raised_exception" in info else any(
            isinstance(v, dict) and v.get("raised_exception") for v in info.values())
        if raised:
            raise RuntimeError(f"Great Expectations could not run {cfg.type} on {column}: {info}")
        items = [item for item in (r.result.get("unexpected_index_list") or []) if isinstance(item, dict)]
        outcomes.append(ExpectationOutcome(
            cfg.type, column, bool(r.success), r.result.get("unexpected_count"),
            [tuple(item[c] for c in index_columns) for item in items], r.result.get("observed_value"), level))
    return outcomes


def _column(kwargs) -> str | None:
    return kwargs.get("column") or (f"{kwargs['column_A']} >= {kwargs['column_B']}" if "column_A" in kwargs else None)


def validate_rows(df: pd.DataFrame, contract: Contract, as_of: date) -> list[ExpectationOutcome]:
    """Row-level suite on loaded rows (columns ingest_id, line_number and the contract's, as
    `gx_select_sql` selects them)."""
    if df.empty:
        return []
    return _run(contract.source, "row", df, ["ingest_id", LINE], as_of)


def validate_files(summary: pd.DataFrame, contract: Contract, as_of: date) -> list[ExpectationOutcome]:
    """Batch-level suite on one row per file (file_path, rows_loaded, min_rows, quarantine_share, max_<date>)."""
    if summary.empty:
        return []
    return _run(contract.source, "batch", summary, ["file_path"], as_of)


def expected_min_rows(previous_rows: int | None, ratio: float) -> int:
    if not previous_rows or ratio <= 0:
        return 0
    return math.ceil(previous_rows * ratio)
