"""The dated legal rules of rules/procedure.yaml, as functions of dates.

Each function takes the date that decides which version applies (a lease's signature,
an act's date, the evaluation date) so that the 2014, 2020, 2023 and 2027 changes
apply exactly when the law says.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from dateutil.relativedelta import relativedelta

from vigie.config import RULES_DIR


def _d(text) -> date | None:
    if text is None or isinstance(text, date):
        return text
    return date.fromisoformat(str(text))


def add(day: date, delay: dict) -> date:
    return _shift(day, delay.get("months", 0), delay.get("weeks", 0), delay.get("days", 0), 1)


def subtract(day: date, delay: dict) -> date:
    return _shift(day, delay.get("months", 0), delay.get("weeks", 0), delay.get("days", 0), -1)


@lru_cache(maxsize=1 << 16)
def _shift(day: date, months: int, weeks: int, days: int, sign: int) -> date:
    """`day` moved by a delay (cached: a hearing or an act's day with its version's delay is
    asked once per event, and relativedelta costs 30 µs; a city's events fall on a few thousand days)."""
    delta = relativedelta(months=months, weeks=weeks, days=days)
    return day + delta if sign > 0 else day - delta


def months_after(day: date, months: int) -> date:
    """`day` plus whole months (end of month kept: 31 January + 1 month = 28/29 February)."""
    return _shift(day, months, 0, 0, 1)


def _version(versions: list[dict], on: date, prefix: str) -> dict:
    for v in versions:
        lo, hi = _d(v.get(f"{prefix}from")), _d(v.get(f"{prefix}to"))
        if (lo is None or on >= lo) and (hi is None or on <= hi):
            return v
    raise LookupError(f"no rule version for {on}")


# The rules are pure functions of their dates, and a city's events fall on a few thousand
# days: each answer is worked out once per rules object and day (a million situations
# asked the same questions again and again).
_per_date = lru_cache(maxsize=1 << 16)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, for the per-date caches
class LegalRules:
    doc: dict

    # ---------------------------------------------------------------- delays
    @_per_date
    def cdp_delay_end(self, cdp_day: date, lease_day: date | None) -> tuple[date, str | None]:
        """End of the tenant's delay to pay; a warning when the lease date is unknown."""
        rule = self.doc["cdp_delay"]
        if lease_day is not None:
            return add(cdp_day, _version(rule["versions"], lease_day, "lease_")["delay"]), None
        ends = [add(cdp_day, v["delay"]) for v in rule["versions"]]
        chosen = min(ends) if rule.get("unknown_lease", "shortest") == "shortest" else max(ends)
        return chosen, "date du bail inconnue : délai le plus court retenu"

    @_per_date
    def prefet_notice_deadline(self, hearing: date, act_day: date) -> date:
        """Last day the préfet must have the summons, counted back from the hearing."""
        rule = _version(self.doc["prefet_notice_before_hearing"]["versions"], act_day, "acts_")
        return subtract(hearing, rule["delay"])

    @_per_date
    def cql_delay_end(self, cql_day: date) -> date:
        return add(cql_day, _version(self.doc["cql_delay"]["versions"], cql_day, "")["delay"])

    @_per_date
    def cfp_decision_end(self, request_day: date) -> date:
        return add(request_day, _version(self.doc["cfp_decision_delay"]["versions"], request_day, "")["delay"])

    @_per_date
    def caf_notice_end(self, constituted_day: date) -> date:
        return add(constituted_day, _version(self.doc["caf_notice_delay"]["versions"], constituted_day, "")["delay"])

    # ---------------------------------------------------------------- trêve hivernale
    @_per_date
    def treve_containing(self, day: date) -> tuple[date, date] | None:
        """(first day, last day) of the trêve that covers `day`, or None."""
        for start_year in (day.year - 1, day.year):
            start, end = self._treve(start_year)
            if start <= day <= end:
                return start, end
        return None

    def _treve(self, start_year: int) -> tuple[date, date]:
        rule = self.doc["treve"]
        for exc in rule.get("exceptions", []):
            if exc["winter_starting"] == start_year:
                base = self._treve_version(start_year + 1)
                return _md(start_year, base["start"]), _d(exc["end"])
        v = self._treve_version(start_year + 1)
        return _md(start_year, v["start"]), _md(start_year + 1, v["end"])

    def _treve_version(self, end_year: int) -> dict:
        for v in self.doc["treve"]["versions"]:
            lo, hi = v.get("ends_in_year_from"), v.get("ends_in_year_to")
            if (lo is None or end_year >= lo) and (hi is None or end_year <= hi):
                return v
        raise LookupError(end_year)

    @_per_date
    def earliest_eviction(self, day: date) -> date:
        """`day`, or the day after the trêve that covers it."""
        treve = self.treve_containing(day)
        return day if treve is None else treve[1] + relativedelta(days=1)

    # ---------------------------------------------------------------- impayé constitué
    @_per_date
    def _impaye_rule(self, on: date) -> dict:
        return _version(self.doc["impaye_constitue"]["versions"], on, "")

    def impaye_constitue_on(self, on: date, debt: float | None, monthly_rent: float | None,
                            first_unpaid: date | None) -> bool:
        """Whether arrears are 'constituted' on `on`, under the rule in force that day."""
        v = self._impaye_rule(on)
        if v["rule"] == "rent_multiple":
            return debt is not None and monthly_rent is not None and monthly_rent > 0 and \
                debt >= v["rent_multiple"] * monthly_rent
        months_ok = first_unpaid is not None and on >= months_after(first_unpaid, v["months_unpaid"])
        return months_ok or (debt is not None and debt > v["amount_above"])


def _md(year: int, month_day: str) -> date:
    month, day = (int(x) for x in month_day.split("-"))
    return date(year, month, day)


@lru_cache(maxsize=None)
def load_rules(path: Path | None = None) -> LegalRules:
    path = path or RULES_DIR / "procedure.yaml"
    return LegalRules(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
