"""A case's reasons in plain French: the three groups of facts that raised its score most,
each worded from the case's own values ("dette de 7,2 mois de loyer")."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipelines.risk.features import FEATURES
from pipelines.warehouse import plain_rows

STAGE_WORDS = {
    "impaye": "impayé de loyer", "impaye_constitue": "impayé constitué", "cdp": "commandement de payer délivré",
    "assignation": "assignation devant le juge", "jugement": "jugement rendu", "cql": "commandement de quitter les lieux",
    "cfp_demandee": "concours de la force publique demandé", "cfp_accordee": "concours de la force publique accordé",
    "cfp_refusee": "concours de la force publique refusé",
}
DEADLINE_WORDS = {
    "audience": "audience", "fin_delai_cdp": "fin du délai du commandement", "fin_delai_cql": "fin du délai pour quitter les lieux",
    "decision_prefet": "décision du préfet attendue", "signalement_caf": "signalement à la CAF",
    "fin_treve": "fin de la trêve hivernale", "expulsion_possible": "expulsion possible",
}


def _n(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, float):  # most values: no call to pandas
        return None if math.isnan(value) else value
    return None if pd.isna(value) else float(value)


def _fr(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _jours(n: int) -> str:
    return f"{n} jour" if n == 1 else f"{n} jours"


def phrase(group: str, row) -> str | None:
    """One reason for one case, from its values; None when the values say nothing to a reader."""
    get = lambda c: _n(getattr(row, c, None))  # noqa: E731
    if group == "stage":
        return f"stade : {STAGE_WORDS.get(row.stage, row.stage)}"
    if group == "time_in_stage" and get("days_in_stage") is not None:
        return f"à ce stade depuis {_jours(int(get('days_in_stage')))}"
    if group == "deadline" and get("days_to_deadline") is not None:
        days, kind = int(get("days_to_deadline")), DEADLINE_WORDS.get(row.next_deadline_kind, "échéance")
        if days == 0:
            return f"{kind} aujourd'hui"
        return f"{kind} dans {_jours(days)}" if days > 0 else f"{kind} dépassée depuis {_jours(-days)}"
    if group == "treve":
        days = get("days_to_treve_end")
        return f"trêve hivernale finie dans {int(days)} jours" if days else "hors trêve hivernale"
    if group == "debt" and get("debt_months") is not None:
        return f"dette de {_fr(get('debt_months'))} mois de loyer"
    if group == "debt" and get("debt") is not None:
        return f"dette de {get('debt'):.0f} €"
    if group == "debt_trend" and get("debt_trend_3m") is not None:
        trend = get("debt_trend_3m")
        if abs(trend) < 0.05:
            return "dette stable sur 3 mois"
        return f"dette en {'hausse' if trend > 0 else 'baisse'} de {_fr(abs(trend))} mois de loyer en 3 mois"
    if group == "arrears_age" and get("months_since_first_unpaid") is not None:
        return f"premier impayé il y a {int(get('months_since_first_unpaid'))} mois"
    if group == "history":
        n = int(get("earlier_procedures") or 0)
        return f"{n} procédure(s) antérieure(s)" if n else "aucune procédure antérieure connue"
    if group == "judgment" and get("judgment_eviction") is not None:
        return "jugement ordonnant l'expulsion" if get("judgment_eviction") else "jugement sans expulsion"
    if group == "landlord" and get("private_landlord") is not None:
        return "bailleur privé" if get("private_landlord") else "bailleur social"
    if group == "apl" and get("apl") is not None:
        return "bénéficiaire de l'aide au logement" if get("apl") else "sans aide au logement"
    if group == "plan":
        if get("plan_signed") is None:
            return "aucun plan d'apurement connu"
        if not get("plan_signed"):
            return "aucun plan d'apurement"
        return "plan d'apurement respecté" if get("plan_kept") else "plan d'apurement non respecté"
    if group == "fragile" and get("fragile"):
        return "fragilité signalée par le bailleur"
    if group == "household":
        if get("income_per_uc") is not None:
            return f"ressources de {get('income_per_uc'):.0f} € par unité de consommation"
        if get("household_size") is not None:
            return f"ménage de {int(get('household_size'))} personne(s)"
        return None
    if group == "fsl":
        if get("fsl_refused"):
            return "aide du FSL refusée"
        if get("fsl_pending"):
            return "demande FSL en cours"
        return "demande FSL déposée" if get("fsl_filed") else "aucune demande FSL"
    if group == "follow_up":
        if get("unreachable"):
            return f"injoignable {int(get('unreachable'))} fois"
        return f"{int(get('contacts'))} contact(s) enregistré(s)" if get("contacts") else "aucun contact enregistré"
    return None


# the columns the phrases read
_READ = {"stage", "next_deadline_kind", *FEATURES}


def top_reasons(frame: pd.DataFrame, contrib: pd.DataFrame, n: int = 3, floor: float = 0.005) -> list[str]:
    """For each case, its n strongest upward pushes (at least `floor` of probability), worded."""
    groups = list(contrib.columns)
    values = contrib.to_numpy()
    order = np.argsort(-values, axis=1)
    out = []
    for i, row in enumerate(plain_rows(frame, [c for c in frame.columns if c in _READ])):
        words = []
        for j in order[i]:
            if values[i, j] < floor or len(words) == n:
                break
            text = phrase(groups[j], row)
            if text:
                words.append(text)
        out.append(" ; ".join(words) if words else "aucun facteur ne se détache du cas typique")
    return out
