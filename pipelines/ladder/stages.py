"""Where a household stands on the procedure's ladder as of a date, and its next deadline.

Input: the household's dated events (stage codes and exits of DOMAIN.md, plus `arrears`
observations carrying a debt and a rent). Facts dated after the as-of date are never
used. Stages only climb within one procedure; an exit closes it, and a later event
opens a new one (history is kept by the caller).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import NamedTuple

from pipelines.ladder.legal import LegalRules, load_rules, months_after

LADDER = ("impaye", "impaye_constitue", "cdp", "assignation", "jugement", "cql",
          "cfp_demandee", "cfp_accordee", "cfp_refusee", "expulsion")
EXITS = ("sortie_dette_soldee", "sortie_plan_respecte", "sortie_fsl", "sortie_relogement",
         "sortie_depart", "desistement")
RANK = {stage: i for i, stage in enumerate(LADDER)}
RANK["cfp_refusee"] = RANK["cfp_accordee"]  # two outcomes of the same step
_CLOSED = frozenset(EXITS) | {"expulsion"}  # a procedure that has ended
_EXIT = frozenset(EXITS)


class Event(NamedTuple):
    """A household's dated fact. A named tuple: a city has millions of them, and a frozen
    dataclass took 2 µs each to build."""
    day: date
    event: str                 # a stage code, an exit, or `arrears`
    data: Mapping = MappingProxyType({})  # (the default shared, so read-only)
    # data: cdp -> lease_date; assignation -> hearing; jugement -> outcome;
    #       arrears / impaye -> debt, monthly_rent, first_unpaid


@dataclass
class Situation:
    stage: str | None = None
    stage_since: date | None = None
    next_deadline: date | None = None
    next_deadline_kind: str | None = None
    deadline_passed: bool = False
    earliest_eviction: date | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.stage is not None and self.stage not in EXITS and self.stage != "expulsion"


def _order(e: Event) -> tuple:
    return e.day, RANK.get(e.event, -1)


def situation(events: list[Event], as_of: date, rules: LegalRules | None = None) -> Situation:
    rules = rules or load_rules()
    known = [e for e in events if e.day <= as_of]
    if len(known) > 1:
        known.sort(key=_order)
    state = _State()
    apply = state.apply
    for e in known:
        apply(e, rules)
    state.implicit(as_of, rules)
    return state.deadline(as_of, rules)


class _State:
    def __init__(self):
        self.stage: str | None = None
        self.since: date | None = None
        self.facts: dict = {}
        self.warnings: list[str] = []

    def _move(self, stage: str, day: date) -> None:
        self.stage, self.since = stage, day

    def _new_procedure(self) -> None:
        self.stage, self.since, self.facts, self.warnings = None, None, {}, []

    def apply(self, e: Event, rules: LegalRules) -> None:
        if self.stage in _CLOSED:
            if e.event in _EXIT or e.event == "arrears":
                return
            self._new_procedure()  # a later signal opens a new procedure
        if e.event in _EXIT:
            self._move(e.event, e.day)
            return
        if e.event == "arrears" or e.event == "impaye":
            facts = self.facts
            for k, v in e.data.items():
                if v is not None:
                    facts[k] = v
            if "first_unpaid" not in facts:
                facts["first_unpaid"] = e.data.get("first_unpaid") or (e.day if e.event == "impaye" else None)
            if self.stage is None:
                self._move("impaye", facts["first_unpaid"] or e.day)
            if self.stage == "impaye":
                self._check_constituted(e.day, rules)
            return
        if e.event not in RANK or (self.stage in RANK and RANK[e.event] < RANK[self.stage]):
            return  # stages only climb within a procedure
        if e.event == self.stage and e.event != "jugement":
            return
        self.facts.update({f"{e.event}_{k}": v for k, v in e.data.items()})
        self.facts[e.event] = e.day
        self._move(e.event, e.day)
        if e.event == "assignation" and e.data.get("hearing"):
            deadline = rules.prefet_notice_deadline(e.data["hearing"], e.day)
            if e.day > deadline:
                self.warnings.append(f"assignation notifiée au préfet moins longtemps que requis avant l'audience "
                                     f"(au plus tard le {deadline:%d/%m/%Y})")

    def _check_constituted(self, day: date, rules: LegalRules) -> None:
        if self.stage != "impaye":
            return
        if rules.impaye_constitue_on(day, self.facts.get("debt"), self.facts.get("monthly_rent"),
                                     self.facts.get("first_unpaid")):
            self._move("impaye_constitue", day)

    def implicit(self, as_of: date, rules: LegalRules) -> None:
        """What the law makes happen without a new act: months of arrears, the préfet's silence."""
        if self.stage == "impaye":
            first = self.facts.get("first_unpaid")
            if first is not None:
                # the 2027 rule counts months since the first missed payment
                for months in range(1, 13):
                    day = months_after(first, months)
                    if day > as_of:
                        break
                    if rules.impaye_constitue_on(day, None, None, first):
                        self._move("impaye_constitue", day)
                        break
        if self.stage == "cfp_demandee":
            end = rules.cfp_decision_end(self.since)
            if as_of > end:
                self._move("cfp_refusee", end)
                self.warnings.append("silence du préfet au-delà de deux mois : refus implicite")

    def deadline(self, as_of: date, rules: LegalRules) -> Situation:
        s = Situation(self.stage, self.since, warnings=list(self.warnings))
        kind, when = None, None
        if self.stage == "impaye_constitue":
            kind, when = "signalement_caf", rules.caf_notice_end(self.since)
        elif self.stage == "cdp":
            when, warning = rules.cdp_delay_end(self.since, self.facts.get("cdp_lease_date"))
            kind = "fin_delai_cdp"
            if warning:
                s.warnings.append(warning)
        elif self.stage == "assignation" and self.facts.get("assignation_hearing"):
            kind, when = "audience", self.facts["assignation_hearing"]
        elif self.stage == "cql":
            kind, when = "fin_delai_cql", rules.cql_delay_end(self.since)
            s.earliest_eviction = rules.earliest_eviction(when)
        elif self.stage == "cfp_demandee":
            kind, when = "decision_prefet", rules.cfp_decision_end(self.since)
        elif self.stage == "cfp_accordee":
            s.earliest_eviction = rules.earliest_eviction(max(self.since, as_of))
            kind = "fin_treve" if s.earliest_eviction > max(self.since, as_of) else "expulsion_possible"
            when = s.earliest_eviction
        s.next_deadline, s.next_deadline_kind = when, kind
        s.deadline_passed = when is not None and when < as_of
        return s
