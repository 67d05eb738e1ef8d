"""Great Expectations on each loaded batch, with the suite derived from the source's contract.

The row rules of the contract decide, in SQL, which lines are quarantined (fast, every
line). Great Expectations then validates the batch that was loaded, independently,
with the same contract turned into expectations: row-level expectations name any line
that got through anyway (those lines are then quarantined), and batch-level ones flag a
suspicious file (half the usual volume, a date in the future). GX cannot read DuckDB
tables today (STYLE.md), so the batch reaches it as a pandas frame; dates are given as
yyyymmdd integers so that bounds compare without type surprises.
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
    unexpected_lines: list[int] = field(default_factory=list)
    observed: object = None
    level: str = "row"  # row | batch

    def as_dict(self) -> dict:
        return {"expectation": self.expectation, "column": self.column, "success": self.success,
                "unexpected_count": self.unexpected_count, "unexpected_lines": self.unexpected_lines[:50],
                "observed": None if self.observed is None else str(self.observed), "level": self.level}


@dataclass
class ValidationReport:
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failing_lines(self) -> dict[int, list[str]]:
        lines: dict[int, list[str]] = {}
        for o in self.outcomes:
            if o.level == "row" and not o.success:
                for ln in o.unexpected_lines:
                    lines.setdefault(ln, []).append(f"{o.expectation}({o.column})")
        return lines

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def _yyyymmdd(value) -> int:
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return d.year * 10000 + d.month * 100 + d.day


def _bound(value):
    if value == "today":
        return {"$PARAMETER": "today"}
    if isinstance(value, date):
        return _yyyymmdd(value)
    return value


def build_expectations(contract: Contract) -> list:
    """The contract as a list of GX expectations (row level, then batch level)."""
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
        if rule.rule == "required_when":
            values = ", ".join(repr(v) for v in rule.when_in)
            out.append(E.ExpectColumnValuesToNotBeNull(
                column=rule.column, row_condition=f"{rule.when_column} in [{values}]", condition_parser="pandas"))
        else:
            a, b = (rule.other, rule.column) if rule.rule == "not_after" else (rule.column, rule.other)
            out.append(E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=rule.rule != "after", ignore_row_if="either_value_is_missing"))
    # batch level
    out.append(E.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": "min_rows"}))
    for col in contract.columns:
        if col.kind == "date" and col.maximum == "today":
            out.append(E.ExpectColumnMaxToBeBetween(column=col.name, max_value={"$PARAMETER": "today"}))
    return out


@lru_cache(maxsize=None)
def _validation_definition(source: str):
    """One ephemeral GX context per process; one suite and validation definition per source."""
    import great_expectations as gx

    from pipelines.contracts import load_contract

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = _context()
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"vigie_{source}"))
    for expectation in build_expectations(load_contract(source)):
        suite.add_expectation(expectation)
    asset = ctx.data_sources.add_pandas(f"batches_{source}").add_dataframe_asset(source)
    batch = asset.add_batch_definition_whole_dataframe("loaded_batch")
    return ctx.validation_definitions.add(gx.ValidationDefinition(name=f"validate_{source}", data=batch, suite=suite))


@lru_cache(maxsize=1)
def _context():
    import os

    import great_expectations as gx

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    return gx.get_context(mode="ephemeral")


def gx_frame(df: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Dates as yyyymmdd integers, amounts as floats."""
    out = df.copy()
    for col in contract.columns:
        if col.name not in out:
            continue
        if col.kind == "date":
            s = pd.to_datetime(out[col.name])
            out[col.name] = (s.dt.year * 10000 + s.dt.month * 100 + s.dt.day).astype("Int64").astype("float64")
        elif col.kind == "amount":
            out[col.name] = pd.to_numeric(out[col.name]).astype("float64")
    return out


def validate_batch(df: pd.DataFrame, contract: Contract, as_of: date, min_rows: int) -> ValidationReport:
    """Run the source's suite on a loaded batch (a frame with a `line_number` column)."""
    import tqdm  # GX draws a progress bar per validation; keep the console for ours

    definition = _validation_definition(contract.source)
    frame = gx_frame(df, contract)
    disabled = getattr(tqdm.tqdm, "_vigie_quiet", False)
    if not disabled:
        _quiet_tqdm()
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters={"today": _yyyymmdd(as_of), "min_rows": int(min_rows)},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [LINE],
                       "partial_unexpected_count": 0},
    )
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        kwargs = cfg.kwargs
        column = kwargs.get("column") or (
            f"{kwargs['column_A']} >= {kwargs['column_B']}" if "column_A" in kwargs else None)
        index_list = r.result.get("unexpected_index_list") or []
        lines = sorted({int(item[LINE]) for item in index_list if isinstance(item, dict) and LINE in item})
        level = "batch" if cfg.type in ("expect_table_row_count_to_be_between", "expect_column_max_to_be_between") else "row"
        failed_to_run = bool(r.exception_info and any(
            (v or {}).get("raised_exception") for v in (r.exception_info.values() if isinstance(r.exception_info, dict) and "raised_exception" not in r.exception_info else [r.exception_info])))
        if failed_to_run:
            raise RuntimeError(f"Great Expectations could not run {cfg.type} on {column}")
        outcomes.append(ExpectationOutcome(cfg.type, column, bool(r.success), r.result.get("unexpected_count"),
                                           lines, r.result.get("observed_value"), level))
    return ValidationReport(all(o.success for o in outcomes), outcomes)


def _quiet_tqdm():
    """GX prints a 'Calculating Metrics' bar on each run; silence it once per process."""
    import functools

    import tqdm
    import tqdm.auto

    original = tqdm.tqdm.__init__

    @functools.wraps(original)
    def init(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    tqdm.tqdm.__init__ = init
    tqdm.tqdm._vigie_quiet = True
    tqdm.auto.tqdm = tqdm.tqdm


def expected_min_rows(previous_rows: int | None, ratio: float) -> int:
    if not previous_rows or ratio <= 0:
        return 0
    return math.ceil(previous_rows * ratio)
