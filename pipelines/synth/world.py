"""Households climbing (and mostly leaving) the ladder of DOMAIN.md, as dated true events.

Rates are calibrated loosely on DOMAIN.md: most arrears resolve; about 60 % of
commandements lead to a summons (fewer when the debt is small in months of rent); about 1 in 7 eviction decisions ends with the police;
no eviction during the trêve hivernale (1 Nov - 31 Mar).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from pipelines.synth.people import Household, make_household


@dataclass
class Event:
    day: date
    kind: str           # a stage code or exit of DOMAIN.md, or snapshot / fsl
    data: dict = field(default_factory=dict)


def add_months(d: date, months: float) -> date:
    return d + timedelta(days=int(round(months * 30.44)))


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def in_treve(d: date) -> bool:
    return d.month >= 11 or d.month <= 3


def after_treve(d: date, rng: random.Random) -> date:
    if not in_treve(d):
        return d
    year = d.year + 1 if d.month >= 11 else d.year
    return date(year, 4, 1) + timedelta(days=rng.randint(0, 60))


class World:
    """Simulates `n` households whose first unpaid rent falls between warm-up start and end."""

    def __init__(self, n: int, start: date, end: date, seed: int):
        self.rng = random.Random(seed)
        self.start, self.end = start, end
        self.warmup = start - timedelta(days=300)
        self.counters = {"cdp": 0, "proc": 0, "fsl": 0}
        self.households: list[Household] = []
        for i in range(1, n + 1):
            hh = make_household(self.rng, i, self.start)
            self._simulate(hh)
            self.households.append(hh)

    # ------------------------------------------------------------------ helpers
    def _id(self, kind: str, d: date) -> str:
        self.counters[kind] += 1
        prefix = {"cdp": "CDP", "proc": "PR", "fsl": "FSL"}[kind]
        return f"{prefix}-{d.year}-{self.counters[kind]:06d}"

    def _emit(self, hh: Household, day: date, kind: str, **data) -> bool:
        """Record an event if it happens before the end of the period."""
        if day > self.end:
            return False
        hh.events.append(Event(day, kind, data))
        return True

    # ------------------------------------------------------------------ trajectory
    def _simulate(self, hh: Household) -> None:
        rng = self.rng
        span = (self.end - self.warmup).days - 45
        first_unpaid = self.warmup + timedelta(days=rng.randint(0, span))
        # leases: a share signed after the 2023-07-29 reform (6-week CDP delay)
        hh.lease_date = min(hh.lease_date if rng.random() < 0.7 else
                            first_unpaid - timedelta(days=rng.randint(120, 1400)),
                            first_unpaid - timedelta(days=90))
        self._emit(hh, first_unpaid, "impaye")
        social = hh.bailleur_type == "social"
        # share of the rent left unpaid each month: the deeper the hole, the less often it closes
        unpaid_share = rng.uniform(0.35, 1.0) * (0.6 if hh.apl else 1.0)
        debt_per_month = hh.monthly_rent * unpaid_share
        # months of arrears before the landlord's bailiff acts (private landlords act later, more often)
        resolve_early = rng.random() < (0.62 if social else 0.45) + 0.3 * (0.55 - unpaid_share)
        months_in_arrears = rng.randint(1, 6) if resolve_early else rng.randint(3, 9)
        plan = social and rng.random() < 0.18
        plan_kept = plan and rng.random() < 0.55
        if social:
            self._snapshots(hh, first_unpaid, months_in_arrears, debt_per_month, plan, plan_kept,
                            escalates=not (resolve_early or plan_kept))
        if resolve_early or plan_kept:
            exit_day = add_months(first_unpaid, months_in_arrears)
            self._emit(hh, exit_day, "sortie_plan_respecte" if plan_kept else "sortie_dette_soldee")
            return
        # ---- commandement de payer
        cdp_day = add_months(first_unpaid, months_in_arrears)
        debt = round(debt_per_month * months_in_arrears, 2)
        num_acte = self._id("cdp", cdp_day)
        if not self._emit(hh, cdp_day, "cdp", num_acte=num_acte, debt=debt, months=months_in_arrears):
            return
        if rng.random() < 0.05:  # the act re-sent later with an updated debt
            self._emit(hh, cdp_day + timedelta(days=rng.randint(20, 50)), "cdp_resent", num_acte=num_acte,
                       debt=round(debt * 1.08, 2), months=months_in_arrears + 1)
        fsl_filed = rng.random() < 0.22
        if fsl_filed:
            granted = self._fsl(hh, cdp_day + timedelta(days=rng.randint(5, 60)), debt)
            if granted:
                return
        # a debt of few months of rent is settled after the commandement more often than a large one
        if rng.random() < min(0.6, max(0.08, 0.6 - 0.07 * debt / hh.monthly_rent)):
            self._emit(hh, cdp_day + timedelta(days=rng.randint(20, 120)), "sortie_dette_soldee")
            return
        # ---- assignation (after the CDP delay), hearing >= 42 days later
        num_proc = self._id("proc", cdp_day)
        ref = num_acte if rng.random() < 0.8 else ""
        assign_day = cdp_day + timedelta(days=rng.randint(65, 150))
        hearing = assign_day + timedelta(days=rng.randint(50, 120))
        debt = round(debt + debt_per_month * (assign_day - cdp_day).days / 30.44, 2)
        common = dict(num_procedure=num_proc, ref_cdp=ref, debt=debt)
        if not self._emit(hh, assign_day, "assignation", hearing=hearing, **common):
            return
        if rng.random() < 0.06:
            self._emit(hh, assign_day + timedelta(days=rng.randint(10, 40)), "desistement", **common)
            return
        if not fsl_filed and rng.random() < 0.15:
            if self._fsl(hh, assign_day + timedelta(days=rng.randint(5, 30)), debt):
                return
        outcome = self._pick({"resiliation_expulsion": 0.65, "delais_accordes": 0.2, "rejet": 0.05, "radiation": 0.1})
        if not self._emit(hh, hearing, "jugement", issue=outcome, **common):
            return
        if outcome != "resiliation_expulsion":
            if outcome == "delais_accordes" and rng.random() < 0.6:
                self._emit(hh, add_months(hearing, rng.randint(6, 18)), "sortie_plan_respecte")
            return
        if rng.random() < 0.3:  # 2-3 times as many households leave before the police come
            self._emit(hh, hearing + timedelta(days=rng.randint(30, 200)), "sortie_depart")
            return
        cql_day = hearing + timedelta(days=rng.randint(30, 120))
        if not self._emit(hh, cql_day, "cql", **common):
            return
        if rng.random() < 0.35:
            self._emit(hh, cql_day + timedelta(days=rng.randint(20, 150)), "sortie_depart")
            return
        req_day = cql_day + timedelta(days=rng.randint(62, 130))
        if not self._emit(hh, req_day, "requisition_cfp", **common):
            return
        decision_day = req_day + timedelta(days=rng.randint(20, 58))
        if rng.random() < 0.3:
            self._emit(hh, decision_day, "refus_cfp", **common)
            return
        if not self._emit(hh, decision_day, "octroi_cfp", **common):
            return
        if rng.random() < 0.35:
            self._emit(hh, decision_day + timedelta(days=rng.randint(5, 60)), "sortie_depart")
            return
        eviction = after_treve(decision_day + timedelta(days=rng.randint(15, 75)), rng)
        self._emit(hh, eviction, "expulsion_effective", **common)

    def _pick(self, weights: dict) -> str:
        r = self.rng.random() * sum(weights.values())
        for k, w in weights.items():
            r -= w
            if r <= 0:
                return k
        return k

    def _snapshots(self, hh, first_unpaid, months, per_month, plan, plan_kept, escalates) -> None:
        """Monthly landlord snapshots (first of the month) while the tenancy is in arrears."""
        count = months if not escalates else months + self.rng.randint(2, 10)
        cdp_day = add_months(first_unpaid, months)
        d = next_month(first_unpaid)
        for k in range(1, count + 1):
            self._emit(hh, d, "snapshot", solde=round(per_month * k, 2), first_unpaid=first_unpaid,
                       plan=plan and k >= 2, plan_kept=(plan_kept if plan and k >= 2 else None),
                       stage="amiable" if d < cdp_day else "cdp")
            d = next_month(d)

    def _fsl(self, hh, depot: date, debt: float) -> bool:
        rng = self.rng
        num = self._id("fsl", depot)
        if not self._emit(hh, depot, "fsl_depot", num_dossier=num, debt=debt):
            return False
        decision_day = depot + timedelta(days=rng.randint(40, 110))
        decision = self._pick({"accord": 0.6, "refus": 0.3, "ajourne": 0.1})
        amount = round(min(debt, 11000.0), 2) if decision == "accord" else None
        if not self._emit(hh, decision_day, "fsl_decision", num_dossier=num, decision=decision, amount=amount, debt=debt):
            return False
        if decision == "accord":
            self._emit(hh, decision_day, "sortie_fsl")  # FSL granted: the procedure ends with the decision
            return True
        return False
