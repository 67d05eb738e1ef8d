"""The ladder's legal rules, one scenario per row, each naming the rule it exercises."""
from __future__ import annotations

from datetime import date as d

import pytest

from pipelines.ladder.stages import Event, situation

OLD_LEASE, NEW_LEASE = d(2015, 3, 1), d(2023, 9, 1)


def cdp(day, lease=OLD_LEASE):
    return Event(day, "cdp", {"lease_date": lease})


def assign(day, hearing):
    return Event(day, "assignation", {"hearing": hearing})


def arrears(day, debt, rent, first):
    return Event(day, "arrears", {"debt": debt, "monthly_rent": rent, "first_unpaid": first})


# (rule, events, as_of, stage, stage_since, deadline, deadline kind, a word expected in the warnings)
SCENARIOS = [
    ("cdp delay: lease before 2023-07-29 -> 2 months",
     [cdp(d(2024, 3, 10), OLD_LEASE)], d(2024, 3, 20), "cdp", d(2024, 3, 10), d(2024, 5, 10), "fin_delai_cdp", None),
    ("cdp delay: lease signed 2023-07-28 (last day of the old rule) -> 2 months",
     [cdp(d(2024, 3, 10), d(2023, 7, 28))], d(2024, 3, 20), "cdp", d(2024, 3, 10), d(2024, 5, 10), "fin_delai_cdp", None),
    ("cdp delay: lease signed 2023-07-29 (first day of loi 2023-668) -> 6 weeks",
     [cdp(d(2024, 3, 10), d(2023, 7, 29))], d(2024, 3, 20), "cdp", d(2024, 3, 10), d(2024, 4, 21), "fin_delai_cdp", None),
    ("cdp delay: lease after 2023-07-29 -> 6 weeks",
     [cdp(d(2025, 1, 6), NEW_LEASE)], d(2025, 1, 7), "cdp", d(2025, 1, 6), d(2025, 2, 17), "fin_delai_cdp", None),
    ("cdp delay: unknown lease date -> the shorter delay, said in a warning",
     [cdp(d(2025, 1, 6), None)], d(2025, 1, 7), "cdp", d(2025, 1, 6), d(2025, 2, 17), "fin_delai_cdp", "bail inconnue"),
    ("cdp delay: passed, no summons yet -> deadline shown as passed",
     [cdp(d(2024, 1, 10))], d(2024, 6, 1), "cdp", d(2024, 1, 10), d(2024, 3, 10), "fin_delai_cdp", None),
    ("summons: next deadline is the hearing",
     [cdp(d(2024, 1, 10)), assign(d(2024, 4, 2), d(2024, 6, 20))], d(2024, 4, 5), "assignation", d(2024, 4, 2),
     d(2024, 6, 20), "audience", None),
    ("préfet notice: 42 days counted back from the hearing (act after 2023-07-29), respected",
     [assign(d(2024, 4, 2), d(2024, 5, 14))], d(2024, 4, 3), "assignation", d(2024, 4, 2), d(2024, 5, 14), "audience", None),
    ("préfet notice: 41 days before the hearing breaks the 42-day rule",
     [assign(d(2024, 4, 3), d(2024, 5, 14))], d(2024, 4, 4), "assignation", d(2024, 4, 3), d(2024, 5, 14), "audience", "préfet"),
    ("préfet notice: acts before 2023-07-29 needed 2 months, 50 days breaks it",
     [assign(d(2023, 3, 1), d(2023, 4, 20))], d(2023, 3, 2), "assignation", d(2023, 3, 1), d(2023, 4, 20), "audience", "préfet"),
    ("préfet notice: acts before 2023-07-29 with 2 months and a day are fine",
     [assign(d(2023, 3, 1), d(2023, 5, 2))], d(2023, 3, 2), "assignation", d(2023, 3, 1), d(2023, 5, 2), "audience", None),
    ("judgment: eviction ordered, no fixed deadline until the CQL",
     [assign(d(2024, 1, 5), d(2024, 3, 5)), Event(d(2024, 3, 5), "jugement", {"outcome": "resiliation_expulsion"})],
     d(2024, 3, 6), "jugement", d(2024, 3, 5), None, None, None),
    ("CQL: 2 months before force can be requested",
     [Event(d(2024, 5, 2), "cql")], d(2024, 5, 3), "cql", d(2024, 5, 2), d(2024, 7, 2), "fin_delai_cql", None),
    ("CQL crossing the trêve: delay ends in December, eviction not before 1 April",
     [Event(d(2024, 10, 15), "cql")], d(2024, 10, 16), "cql", d(2024, 10, 15), d(2024, 12, 15), "fin_delai_cql", None),
    ("police request: the préfet has 2 months",
     [Event(d(2024, 6, 3), "cfp_demandee")], d(2024, 6, 4), "cfp_demandee", d(2024, 6, 3), d(2024, 8, 3), "decision_prefet", None),
    ("police request: silence of the préfet for 2 months is a refusal",
     [Event(d(2024, 6, 3), "cfp_demandee")], d(2024, 8, 10), "cfp_refusee", d(2024, 8, 3), None, None, "silence"),
    ("police granted during the trêve: next deadline is 1 April (trêve since 2014 ends 31 March)",
     [Event(d(2024, 12, 2), "cfp_accordee")], d(2024, 12, 3), "cfp_accordee", d(2024, 12, 2), d(2025, 4, 1), "fin_treve", None),
    ("police granted in summer: eviction possible now",
     [Event(d(2024, 6, 20), "cfp_accordee")], d(2024, 6, 21), "cfp_accordee", d(2024, 6, 20), d(2024, 6, 21), "expulsion_possible", None),
    ("trêve before 2014 ended 15 March: granted in February 2012 -> 16 March",
     [Event(d(2012, 2, 1), "cfp_accordee")], d(2012, 2, 2), "cfp_accordee", d(2012, 2, 1), d(2012, 3, 16), "fin_treve", None),
    ("trêve 2014 (ALUR): granted in February 2014 -> 1 April",
     [Event(d(2014, 2, 1), "cfp_accordee")], d(2014, 2, 2), "cfp_accordee", d(2014, 2, 1), d(2014, 4, 1), "fin_treve", None),
    ("trêve extended to 10 July in 2020",
     [Event(d(2020, 2, 10), "cfp_accordee")], d(2020, 4, 15), "cfp_accordee", d(2020, 2, 10), d(2020, 7, 11), "fin_treve", None),
    ("impayé constitué until 2026: debt of 2 months' rent",
     [Event(d(2025, 1, 5), "impaye"), arrears(d(2025, 2, 1), 1300.0, 650.0, d(2025, 1, 5))], d(2025, 2, 2),
     "impaye_constitue", d(2025, 2, 1), d(2025, 4, 1), "signalement_caf", None),
    ("impayé constitué until 2026: 1.9 months of rent is not enough",
     [Event(d(2025, 1, 5), "impaye"), arrears(d(2025, 2, 1), 1235.0, 650.0, d(2025, 1, 5))], d(2025, 2, 2),
     "impaye", d(2025, 1, 5), None, None, None),
    ("impayé constitué from 2027 (décret 2026-84): debt above 450 €",
     [Event(d(2027, 1, 5), "impaye"), arrears(d(2027, 2, 1), 460.0, 900.0, d(2027, 1, 5))], d(2027, 2, 2),
     "impaye_constitue", d(2027, 2, 1), d(2027, 4, 1), "signalement_caf", None),
    ("impayé constitué from 2027: 3 months unpaid even with a small debt",
     [Event(d(2027, 1, 5), "impaye"), arrears(d(2027, 2, 1), 200.0, 900.0, d(2027, 1, 5))], d(2027, 4, 10),
     "impaye_constitue", d(2027, 4, 5), d(2027, 6, 5), "signalement_caf", None),
    ("the 2027 threshold does not apply in 2026: 460 € on a 900 € rent is not constituted",
     [Event(d(2026, 10, 5), "impaye"), arrears(d(2026, 11, 1), 460.0, 900.0, d(2026, 10, 5))], d(2026, 11, 2),
     "impaye", d(2026, 10, 5), None, None, None),
    ("stages only climb: a landlord's later 'impayé' does not take a summons back",
     [assign(d(2024, 4, 2), d(2024, 6, 20)), Event(d(2024, 5, 1), "impaye")], d(2024, 5, 2), "assignation",
     d(2024, 4, 2), d(2024, 6, 20), "audience", None),
    ("exit: FSL granted closes the procedure",
     [cdp(d(2024, 1, 10)), Event(d(2024, 2, 20), "sortie_fsl")], d(2024, 3, 1), "sortie_fsl", d(2024, 2, 20), None, None, None),
    ("a new procedure after an exit starts again from the first unpaid rent",
     [cdp(d(2023, 1, 10)), Event(d(2023, 2, 20), "sortie_dette_soldee"), Event(d(2024, 9, 1), "impaye")],
     d(2024, 9, 2), "impaye", d(2024, 9, 1), None, None, None),
    ("facts after the as-of date are never used",
     [cdp(d(2024, 1, 10)), assign(d(2024, 4, 2), d(2024, 6, 20))], d(2024, 3, 1), "cdp", d(2024, 1, 10),
     d(2024, 3, 10), "fin_delai_cdp", None),
    ("landlord withdraws: désistement is an exit",
     [assign(d(2024, 4, 2), d(2024, 6, 20)), Event(d(2024, 5, 2), "desistement")], d(2024, 5, 3), "desistement",
     d(2024, 5, 2), None, None, None),
]


@pytest.mark.parametrize("rule, events, as_of, stage, since, deadline, kind, warning", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_legal_scenario(rule, events, as_of, stage, since, deadline, kind, warning):
    s = situation(events, as_of)
    assert (s.stage, s.stage_since) == (stage, since)
    assert (s.next_deadline, s.next_deadline_kind) == (deadline, kind)
    if warning:
        assert any(warning in w for w in s.warnings), s.warnings
    else:
        assert not s.warnings, s.warnings


def test_cql_crossing_the_treve_pushes_the_earliest_eviction_to_april():
    s = situation([Event(d(2024, 10, 15), "cql")], d(2024, 10, 16))
    assert s.earliest_eviction == d(2025, 4, 1)


def test_there_are_at_least_25_scenarios():
    assert len(SCENARIOS) >= 25
