"""Comparing the ladder with the synthetic city's truth (tests and notebooks only)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

import pandas as pd

from pipelines.ladder.stages import EXITS, Event, situation

TRUTH_EVENTS = {"impaye": "impaye", "cdp": "cdp", "assignation": "assignation", "jugement": "jugement",
                "cql": "cql", "requisition_cfp": "cfp_demandee", "octroi_cfp": "cfp_accordee",
                "refus_cfp": "cfp_refusee", "expulsion_effective": "expulsion", "desistement": "desistement",
                "sortie_fsl": "sortie_fsl", "sortie_dette_soldee": "sortie_dette_soldee",
                "sortie_plan_respecte": "sortie_plan_respecte", "sortie_depart": "sortie_depart"}
# what no partner file records: a household leaving on its own; arrears settled once a procedure is open
INVISIBLE = {"sortie_depart"}


def family(stage: str | None) -> str:
    if stage is None or stage in EXITS or stage == "expulsion":
        return "closed"
    return "impaye" if stage in ("impaye", "impaye_constitue") else stage


def truth_situations(events: pd.DataFrame, bailleur_type: dict[str, str], as_of: date) -> dict[str, str | None]:
    """Stage family per truth household as of `as_of`, or None where the files cannot show it."""
    by_household = defaultdict(list)
    for hid, day, kind in zip(events["household_id"], events["event_date"], events["event"]):
        if kind in TRUTH_EVENTS:
            by_household[hid].append(Event(date.fromisoformat(day), TRUTH_EVENTS[kind]))
    out = {}
    for hid, evs in by_household.items():
        known = sorted((e for e in evs if e.day <= as_of), key=lambda e: e.day)
        if not known:
            continue
        last = known[-1].event
        court = any(e.event != "impaye" for e in known)
        visible = last not in INVISIBLE and not (
            last in ("sortie_dette_soldee", "sortie_plan_respecte") and (court or bailleur_type.get(hid) != "social"))
        out[hid] = family(situation(evs, as_of).stage) if visible else None
    return out
