"""How good a ranking is where it matters: among the k cases a team can work each week.

Precision at k is computed per as-of date (one weekly list) and averaged over dates;
intervals come from a bootstrap over dates (cases of one date are not independent).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.analytics import AGE_BANDS

BASELINES = {
    # what a careful jurist does by hand: furthest stage first, then the largest debt in months of rent
    "stade puis dette": lambda f: f["stage_rank"] * 1000 + f["debt_months"].fillna(0).clip(upper=999),
    # the same, but cases whose last act is over 6 months old go last (a stricter reference)
    "stade puis dette, actes récents d'abord": lambda f: (f["days_in_stage"] <= 183) * 1e6 + f["stage_rank"] * 1000
    + f["debt_months"].fillna(0).clip(upper=999),
    "dette seule": lambda f: f["debt_months"].fillna(-1),
}


def _top_k_mask(frame: pd.DataFrame, score: pd.Series, k: int) -> pd.Series:
    """True for the k highest scores of each as-of date (ties broken by household id)."""
    order = frame.assign(_s=score.values).sort_values(["as_of", "_s", "household_id"], ascending=[True, False, True])
    picked = order.groupby("as_of").cumcount() < k
    return picked.reindex(frame.index)


def precision_by_date(frame: pd.DataFrame, score: pd.Series, k: int) -> pd.Series:
    mask = _top_k_mask(frame, score, k)
    return frame.loc[mask].groupby("as_of")["label"].mean()


def bootstrap(per_date: dict[str, pd.Series], reference: str, other: str, n: int = 1000, seed: int = 0) -> dict:
    """Intervals (95 %) of each series' mean and of other/reference - 1, resampling dates."""
    rng = np.random.default_rng(seed)
    dates = per_date[reference].index
    idx = rng.integers(0, len(dates), size=(n, len(dates)))
    out = {}
    for name, series in per_date.items():
        values = series.reindex(dates).to_numpy()
        means = values[idx].mean(axis=1)
        out[name] = (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))
    ref = per_date[reference].reindex(dates).to_numpy()[idx].mean(axis=1)
    oth = per_date[other].reindex(dates).to_numpy()[idx].mean(axis=1)
    lift = oth / np.where(ref == 0, np.nan, ref) - 1
    out["lift"] = (float(np.nanpercentile(lift, 2.5)), float(np.nanpercentile(lift, 97.5)))
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def metric_table(frame: pd.DataFrame, model_score: np.ndarray, k: int, model_name: str = "modèle") -> tuple[pd.DataFrame, dict]:
    """Model and baselines on the same rows: precision at k (mean over dates, 95 % interval), AUC;
    ECE for the model. Returns the table and the lift over the best baseline with its interval."""
    scores = {model_name: pd.Series(model_score, index=frame.index)}
    scores.update({name: fn(frame) for name, fn in BASELINES.items()})
    per_date = {name: precision_by_date(frame, s, k) for name, s in scores.items()}
    best = max(BASELINES, key=lambda b: per_date[b].mean())
    intervals = bootstrap(per_date, best, model_name)
    rows = []
    for name, s in scores.items():
        lo, hi = intervals[name]
        rows.append({"classement": name, f"précision@{k}": per_date[name].mean(), "IC95 bas": lo, "IC95 haut": hi,
                     "AUC": roc_auc_score(frame["label"], s),
                     "ECE": expected_calibration_error(frame["label"].to_numpy(), model_score) if name == model_name else None})
    lift = per_date[model_name].mean() / per_date[best].mean() - 1 if per_date[best].mean() else float("nan")
    return pd.DataFrame(rows), {"best_baseline": best, "lift": lift, "lift_interval": intervals["lift"],
                                "dates": len(per_date[model_name]), "rows": len(frame), "k": k}


ARR_GROUPS = {"Paris Centre (1-4)": range(1, 5), "rive gauche (5-7, 13-15)": [5, 6, 7, 13, 14, 15],
              "ouest (8, 16, 17)": [8, 16, 17], "nord-est (9-12, 18-20)": [9, 10, 11, 12, 18, 19, 20]}


def fairness_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Lawful attributes only: arrondissement group, landlord type, household composition, age band."""
    arr = {a: g for g, members in ARR_GROUPS.items() for a in members}
    out = pd.DataFrame(index=frame.index)
    out["arrondissements"] = frame["arrondissement"].map(lambda a: arr.get(int(a), "inconnu") if a == a else "inconnu")
    out["bailleur"] = frame["private_landlord"].map({1.0: "privé", 0.0: "social"}).fillna("inconnu")
    size, children = frame["household_size"], frame["children"]
    out["composition"] = np.select(
        [children > 0, size == 1, size >= 2], ["avec enfants", "personne seule", "plusieurs adultes sans enfant"],
        default="inconnue")
    age = frame["age"]
    out["âge"] = "inconnu"
    for lo, hi, name in AGE_BANDS:
        out.loc[(age >= lo) & (age < hi), "âge"] = name
    return out


def fairness_table(frame: pd.DataFrame, score: np.ndarray, k: int, ratio_flag: float = 1.25) -> pd.DataFrame:
    """Per group: precision among the group's selected cases, false-negative rate (moved on but
    not in the top k of its date), mean predicted vs observed rate; FNR > ratio x overall is flagged."""
    selected = _top_k_mask(frame, pd.Series(score, index=frame.index), k)
    y = frame["label"].astype(bool)
    overall_fnr = float((y & ~selected).sum() / max(y.sum(), 1))
    groups = fairness_groups(frame)
    rows = [{"attribut": "ensemble", "groupe": "tous", "cas": len(frame), "passages": int(y.sum()),
             "précision@k": float(y[selected].mean()), "taux de faux négatifs": overall_fnr,
             "risque prédit": float(np.mean(score)), "taux observé": float(y.mean()), "signalé": False}]
    for attribute in groups.columns:
        for value, idx in groups.groupby(attribute).groups.items():
            yy, ss, pp = y.loc[idx], selected.loc[idx], score[frame.index.get_indexer(idx)]
            fnr = float((yy & ~ss).sum() / yy.sum()) if yy.sum() else float("nan")
            rows.append({"attribut": attribute, "groupe": value, "cas": len(idx), "passages": int(yy.sum()),
                         "précision@k": float(yy[ss].mean()) if ss.any() else float("nan"),
                         "taux de faux négatifs": fnr, "risque prédit": float(pp.mean()), "taux observé": float(yy.mean()),
                         "signalé": bool(fnr == fnr and fnr > ratio_flag * overall_fnr)})
    return pd.DataFrame(rows)


def calibration_curve_png(y: np.ndarray, p: np.ndarray, path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="calibration parfaite")
    ax.plot(predicted, observed, marker="o", color="#1f5fa8", label="modèle")
    ax.set_xlabel("risque prédit")
    ax.set_ylabel("part des ménages passés à l'étape suivante")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
