"""Households' timelines seen as of past dates: what the warehouse knew then, and what
happened next (the label). The same code builds the features of today's open cases, so
training and scoring cannot drift apart.

Point-in-time rule: everything in a snapshot's features comes from facts dated on or
before its as-of date; only the label looks past it.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines.ladder.cases import load_timelines  # noqa: F401  (training and scoring read them from here)
from pipelines.ladder.legal import LegalRules, load_rules
from pipelines.ladder.stages import EXITS, RANK, Event, situation
from pipelines.memory import paused_gc

HORIZON_DAYS = 183  # "within 6 months"
_CLOSED = frozenset(EXITS) | {"expulsion"}  # a procedure that ended

# The next procedural step, by stage (issue 4): what counts as moving on toward eviction.
_COURT = {"assignation", "cql", "cfp_demandee", "cfp_accordee", "cfp_refusee", "expulsion"}
_POLICE = {"cfp_accordee", "expulsion"}
NEXT_STEP = {
    "impaye": _COURT | {"jugement"}, "impaye_constitue": _COURT | {"jugement"}, "cdp": _COURT | {"jugement"},
    "assignation": {"jugement_expulsion", "cql", "cfp_demandee", "cfp_accordee", "cfp_refusee", "expulsion"},
    "jugement": _POLICE, "cql": _POLICE, "cfp_demandee": _POLICE, "cfp_refusee": _POLICE,
    "cfp_accordee": {"expulsion"},
}


def _kind(e: Event) -> str:
    if e.event == "jugement" and e.data.get("outcome") == "resiliation_expulsion":
        return "jugement_expulsion"
    return e.event


def moved_on(events: list[Event], stage: str, as_of: date, horizon_days: int = HORIZON_DAYS) -> bool:
    """Did the household take the next procedural step after `as_of`, within the horizon?"""
    targets = NEXT_STEP.get(stage, set())
    end = as_of + timedelta(days=horizon_days)
    return any(as_of < e.day <= end and (_kind(e) in targets or e.event in targets) for e in events)


def _months(debt, rent) -> float | None:
    return None if debt is None or not rent else debt / rent


def timeline_features(events: list[Event], as_of: date, rules: LegalRules, known_situation=None) -> dict | None:
    """Features from one household's own events as of a date; None when no situation is open.
    `known_situation`: its situation as of that date, already computed (`open_situations`)."""
    known = [e for e in events if e.day <= as_of]
    if not known:
        return None
    s = known_situation or situation(known, as_of, rules)
    if not s.open:
        return None
    # one pass over the known events (ordered by day): the last debt and rent reported by the
    # as-of date and by 91 days before it, the last first unpaid month, the procedures closed
    before = as_of - timedelta(days=91)
    debt = rent = debt_before = rent_before = first_unpaid = procedure_start = None
    earlier, judged, still_before = 0, False, True
    for e in known:
        data = e.data
        if still_before and e.day > before:
            still_before = False
        value = data.get("debt")
        if value is not None:
            debt = value
            if still_before:
                debt_before = value
        value = data.get("monthly_rent")
        if value:
            rent = value
            if still_before:
                rent_before = value
        value = data.get("first_unpaid")
        if value:
            first_unpaid = value
        if e.event in _CLOSED:
            earlier += 1
            procedure_start = e.day if procedure_start is None else max(procedure_start, e.day)
        elif e.event == "jugement":
            judged = True
    months, months_before = _months(debt, rent), _months(debt_before, rent_before or rent)
    judgment = [e for e in known if e.event == "jugement" and (procedure_start is None or e.day > procedure_start)] \
        if judged else []
    treve = rules.treve_containing(as_of)
    return {
        "stage": s.stage, "stage_rank": RANK[s.stage], "stage_since": s.stage_since,
        "days_in_stage": (as_of - s.stage_since).days if s.stage_since else None,
        "next_deadline": s.next_deadline, "next_deadline_kind": s.next_deadline_kind,
        "days_to_deadline": (s.next_deadline - as_of).days if s.next_deadline else None,
        "days_to_treve_end": (treve[1] - as_of).days if treve else 0,
        "debt": debt, "monthly_rent": rent, "debt_months": months,
        "debt_trend_3m": None if months is None or months_before is None else months - months_before,
        "months_since_first_unpaid": (as_of - first_unpaid).days / 30.44 if first_unpaid else None,
        "earlier_procedures": earlier,
        "judgment_eviction": None if not judgment else float(judgment[-1].data.get("outcome") == "resiliation_expulsion"),
    }


def monthly_dates(first: date, last: date) -> list[date]:
    out, d = [], date(first.year, first.month, 1)
    while d <= last:
        out.append(d)
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


@paused_gc()
def snapshots(timelines: dict[str, list[Event]], dates: list[date], with_label: bool,
              horizon_days: int = HORIZON_DAYS, rules: LegalRules | None = None, progress=None,
              situations: dict | None = None) -> pd.DataFrame:
    """One row per (household, as-of date) whose situation was open then. `situations`: the open
    situations as of the single date given, already computed (those of `cases`)."""
    rules = rules or load_rules()
    if situations is not None and len(dates) != 1:
        raise ValueError("situations already computed are for one date")
    rows = []
    for hid, events in timelines.items():
        for d in dates:
            if events[0].day > d or (situations is not None and hid not in situations):
                continue
            f = timeline_features(events, d, rules, situations.get(hid) if situations is not None else None)
            if f is None:
                continue
            f["household_id"], f["as_of"] = hid, d
            if with_label:
                f["label"] = int(moved_on(events, f["stage"], d, horizon_days))
            rows.append(f)
        if progress:
            progress()
    return pd.DataFrame(rows)
