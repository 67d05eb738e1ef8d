"""`vigie train`: monthly snapshots of the warehouse's own history, a temporal split,
two scikit-learn models chosen on precision at k, compared with what a careful jurist
does by hand, written with a model card. `score_cases`: today's open cases, scored."""
from __future__ import annotations

import hashlib
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.analytics import BIRTHS_SQL
from pipelines.risk import model as risk_model
from pipelines.risk.evaluate import calibration_curve_png, fairness_table, metric_table, precision_by_date
from pipelines.risk.features import FEATURES, add_source_facts
from pipelines.risk.history import HORIZON_DAYS, load_timelines, monthly_dates, snapshots
from pipelines.risk.reasons import top_reasons
from pipelines.route.routing import capacity, routing_rules

WARM_UP_DAYS = 180


def list_size() -> int:
    """k: the ADIL's weekly capacity (the largest single list)."""
    return capacity("adil")


def total_capacity() -> int:
    caps = routing_rules()["capacity"]
    return caps["adil"] + caps.get("eliahs", 0) + 20 * caps["ssp_default"]


def _household_attributes(con) -> pd.DataFrame:
    """Arrondissement and birth date (fairness audit only: never a model input)."""
    return con.sql(f"""
        with births as ({BIRTHS_SQL})
        select h.household_id, h.arrondissement, b.birth
        from households h left join births b using (household_id)""").to_arrow_table().to_pandas()


def dataset(con, as_of: date | None = None, horizon_days: int = HORIZON_DAYS, progress=None) -> tuple[pd.DataFrame, list[date]]:
    """Labelled snapshots on the first of each month whose horizon the data covers."""
    cutoff = as_of or date.today()
    bounds = con.execute("select min(event_date), max(event_date) from case_events where event_date <= ?",
                         [cutoff]).fetchall()[0]
    if bounds[0] is None:
        raise ValueError("aucun événement dans l'entrepôt : ingérez des fichiers puis lancez `vigie run`")
    timelines = load_timelines(con)
    timelines = {h: [e for e in ev if e.day <= cutoff] for h, ev in timelines.items()}
    timelines = {h: ev for h, ev in timelines.items() if ev}
    dates = monthly_dates(bounds[0] + timedelta(days=WARM_UP_DAYS), bounds[1] - timedelta(days=horizon_days))
    if len(dates) < 8:
        raise ValueError(f"historique trop court : {len(dates)} mois exploitables (il en faut au moins 8, "
                         f"soit {WARM_UP_DAYS + horizon_days} jours de plus que 8 mois d'événements)")
    snap = snapshots(timelines, dates, with_label=True, horizon_days=horizon_days, progress=progress)
    frame = add_source_facts(con, snap).merge(_household_attributes(con), on="household_id", how="left")
    birth = pd.to_datetime(frame["birth"], errors="coerce")
    frame["age"] = (pd.to_datetime(frame["as_of"]) - birth).dt.days / 365.25
    return frame.drop(columns=["birth"]), dates


def split(dates: list[date], horizon_days: int = HORIZON_DAYS) -> dict[str, list[date]]:
    """Train on the oldest dates whose horizon ends before validation starts; validate (choose,
    calibrate) on the next quarter of dates; test on the latest quarter."""
    n = max(3, len(dates) // 4)
    test, val = dates[-n:], dates[-2 * n:-n]
    train = [d for d in dates if d + timedelta(days=horizon_days) <= val[0]]
    if len(train) < 2:
        raise ValueError("historique trop court pour séparer entraînement, validation et test")
    return {"train": train, "validation": val, "test": test}


def _rows(frame: pd.DataFrame, dates: list[date]) -> pd.DataFrame:
    return frame[frame["as_of"].isin(set(dates))]


def md_table(df: pd.DataFrame, digits: int = 3) -> str:
    fmt = lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else (  # noqa: E731
        ("oui" if v else "") if isinstance(v, (bool, np.bool_)) else f"{v:.{digits}f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def train(con, as_of: date | None = None, folder: Path | None = None, version: str | None = None,
          horizon_days: int = HORIZON_DAYS, progress=None, make_current: bool = True) -> dict:
    started = time.perf_counter()
    frame, dates = dataset(con, as_of, horizon_days, progress)
    parts = split(dates, horizon_days)
    train_rows, val_rows, test_rows = (_rows(frame, parts[p]) for p in ("train", "validation", "test"))
    k = list_size()
    fitted, chosen_on = {}, {}
    for name, estimator in risk_model.candidates().items():
        fitted[name] = risk_model.fit_calibrated(estimator, train_rows, val_rows)
        chosen_on[name] = float(precision_by_date(val_rows, pd.Series(fitted[name].predict_proba(
            val_rows[FEATURES])[:, 1], index=val_rows.index), k).mean())
    best = max(chosen_on, key=chosen_on.get)
    model = fitted[best]
    fit_seconds = time.perf_counter() - started
    p_test = model.predict_proba(test_rows[FEATURES])[:, 1]
    table, lift = metric_table(test_rows, p_test, k, model_name=f"modèle ({best})")
    other = next(n for n in fitted if n != best)
    other_p = fitted[other].predict_proba(test_rows[FEATURES])[:, 1]
    other_table, _ = metric_table(test_rows, other_p, k, model_name=f"autre candidat ({other})")
    table = pd.concat([table.iloc[:1], other_table.iloc[:1], table.iloc[1:]], ignore_index=True)
    fair = fairness_table(test_rows, p_test, total_capacity())
    version = version or f"risk-{(as_of or date.today()):%Y%m%d}-" + hashlib.sha256(
        pd.util.hash_pandas_object(frame[FEATURES + ["label"]], index=False).values.tobytes()).hexdigest()[:6]
    folder = (folder or risk_model.models_dir()) / version
    meta = {
        "version": version, "trained_at": datetime.now().isoformat(timespec="seconds"), "model": best,
        "label": f"passage à l'étape suivante de la procédure dans les {horizon_days} jours qui suivent", "horizon_days": horizon_days,
        "features": FEATURES, "reference": risk_model.reference_values(train_rows),
        "periods": {p: [str(min(d)), str(max(d)), len(d)] for p, d in parts.items()},
        "rows": {p: int(len(_rows(frame, d))) for p, d in parts.items()},
        "positive_rate": {p: float(_rows(frame, d)["label"].mean()) for p, d in parts.items()},
        "k": k, "fairness_k": total_capacity(), "validation_precision_at_k": chosen_on,
        "test": {"table": table.to_dict(orient="records"), **lift}, "fit_seconds": round(fit_seconds, 1),
    }
    risk_model.save(model, meta, folder)
    calibration_curve_png(test_rows["label"].to_numpy(), p_test, folder / "calibration.png",
                          f"Calibration sur la période de test ({parts['test'][0]:%m/%Y} - {parts['test'][-1]:%m/%Y})")
    table.to_csv(folder / "evaluation.csv", index=False)
    fair.to_csv(folder / "fairness.csv", index=False)
    (folder / "MODEL_CARD.md").write_text(model_card(meta, table, fair), encoding="utf-8")
    if make_current:
        risk_model.set_current(version, folder.parent)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["folder"] = str(folder)
    return meta


def evaluate(con, version: str | None = None, horizon_days: int = HORIZON_DAYS, progress=None) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The current model on this warehouse's latest quarter of labelled dates (e.g. another city or seed)."""
    loaded = risk_model.load(version)
    if loaded is None:
        raise risk_model.ModelError("aucun modèle de risque : lancez `vigie train`")
    model, meta = loaded
    frame, dates = dataset(con, None, horizon_days, progress)
    rows = _rows(frame, split(dates, horizon_days)["test"])
    p = model.predict_proba(rows[FEATURES])[:, 1]
    table, lift = metric_table(rows, p, meta["k"], model_name=f"modèle {meta['version']}")
    return table, lift, fairness_table(rows, p, meta["fairness_k"])


def _scored(con, as_of: date, model, meta: dict, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score, reasons and version for every open case of `cases`. `features`: their timeline
    features as `pipelines/walk.py` returned them with the cases, when the caller has them."""
    if features is None:
        hids = [r[0] for r in con.execute("select household_id from cases").fetchall()]
        features = snapshots(load_timelines(con, hids), [as_of], with_label=False) if hids else pd.DataFrame()
    if features.empty:
        return pd.DataFrame(columns=["household_id", "risk_score", "risk_reasons", "model_version"])
    frame = add_source_facts(con, features)
    score, contrib = risk_model.contributions(model, frame, meta["reference"])
    return pd.DataFrame({"household_id": frame["household_id"], "risk_score": np.round(score, 4),
                         "risk_reasons": top_reasons(frame, contrib), "model_version": meta["version"]})


def score_cases(con, as_of: date, features: pd.DataFrame | None = None) -> str | None:
    """Score every open case with the current model (risk, reasons, version); None without a model."""
    loaded = risk_model.load()
    if loaded is None:
        return None
    con.register("_scored", _scored(con, as_of, *loaded, features))
    con.execute("""update cases set risk_score = s.risk_score, risk_reasons = s.risk_reasons,
                   model_version = s.model_version from _scored s where cases.household_id = s.household_id""")
    con.unregister("_scored")
    return loaded[1]["version"]


def shadow_scores(con, as_of: date, version: str, features: pd.DataFrame | None = None) -> int:
    """Shadow mode: score the open cases with another model version and record it (with the
    rank it would give within each destination) without touching `cases` or the lists."""
    loaded = risk_model.load(version)
    if loaded is None:
        raise risk_model.ModelError(f"modèle {version} introuvable")
    scored = _scored(con, as_of, *loaded, features)
    con.register("_shadow", scored)
    con.execute("""insert into shadow_scores
                   select current_timestamp, ?, s.model_version, c.case_id, c.destination, s.risk_score, s.risk_reasons,
                          row_number() over (partition by c.destination order by s.risk_score desc, c.case_id)
                   from _shadow s join cases c using (household_id)""", [as_of])
    con.unregister("_shadow")
    return len(scored)


def model_card(meta: dict, table: pd.DataFrame, fair: pd.DataFrame) -> str:
    p = meta["periods"]
    flagged = fair[fair["signalé"]]
    lo, hi = meta["test"]["lift_interval"]
    return f"""# Fiche du modèle de risque `{meta['version']}`

Entraîné le {meta['trained_at']} par `vigie train`. Modèle retenu : **{meta['model']}** (calibré par
une sigmoïde sur la période de validation), choisi sur la précision à k = {meta['k']} (capacité
hebdomadaire de l'ADIL) en validation : {', '.join(f'{n} {v:.3f}' for n, v in meta['validation_precision_at_k'].items())}.

## Ce que le score prédit

{meta['label'].capitalize()}, à partir d'une date d'observation : de l'impayé ou du commandement
à l'assignation ; de l'assignation à un jugement ordonnant l'expulsion ou au commandement de quitter
les lieux ; des stades suivants au concours de la force publique (accordé) ou à l'expulsion.

## Données

- Instantanés mensuels de l'entrepôt (le 1er de chaque mois), chaque ménage dont la situation est
  ouverte ce jour-là ; les variables ne voient que les faits datés de ce jour ou avant.
- Entraînement : {p['train'][0]} → {p['train'][1]} ({p['train'][2]} mois, {meta['rows']['train']} lignes,
  {meta['positive_rate']['train']:.1%} de passages) ; l'horizon de chaque étiquette finit avant la validation.
- Validation : {p['validation'][0]} → {p['validation'][1]} ({meta['rows']['validation']} lignes).
- Test : {p['test'][0]} → {p['test'][1]} ({meta['rows']['test']} lignes, {meta['positive_rate']['test']:.1%} de passages).

Variables ({len(meta['features'])}) : {', '.join(meta['features'])}.

## Résultats sur la période de test

Précision à {meta['k']} = part des {meta['k']} premiers cas de chaque date qui sont passés à l'étape
suivante, moyenne sur {meta['test']['dates']} dates ; IC95 par bootstrap sur les dates.

{md_table(table)}

Gain sur la meilleure référence (« {meta['test']['best_baseline']} ») : **{meta['test']['lift']:+.1%}**
(IC95 {lo:+.1%} ; {hi:+.1%}). Objectif : au moins +20 %.

![Calibration](calibration.png)

## Équité (attributs licites ; la France ne collecte pas de données ethniques)

Sélection = les {meta['fairness_k']} premiers cas de chaque date (capacité hebdomadaire de toutes les
équipes). Un groupe est signalé si son taux de faux négatifs dépasse 1,25 fois celui de l'ensemble.
L'âge ne sert qu'à cet audit : ce n'est pas une variable du modèle.

{md_table(fair)}

Groupes signalés : {', '.join(f"{r['attribut']} = {r['groupe']}" for _, r in flagged.iterrows()) or 'aucun'}.

## Limites

- **Entraîné sur des données synthétiques** tant qu'aucun historique réel n'existe : les chiffres
  ci-dessus décrivent le générateur, pas Paris. À réentraîner sur l'historique réel, puis chaque année.
- Les ménages du parc privé dont la dette est soldée sans que personne ne le signale restent
  « ouverts » : le temps passé au stade apprend à les reconnaître, pas à les confirmer.
- Les contacts de suivi reflètent l'action des équipes : un modèle réentraîné après leur travail
  apprend aussi leur effet (voir le mode d'évaluation des listes).
- Équité : la composition et l'âge ne sont connus que par le FSL et les bailleurs sociaux ; les
  groupes « inconnu(e) » (surtout des locataires du privé vus par le seul commandement) ont peu de
  faux négatifs, ce qui abaisse le taux d'ensemble et fait signaler plus facilement les groupes
  connus. Les groupes signalés sont à examiner avec les équipes avant tout usage réel.
- Les raisons d'un cas comparent son score à celui d'un cas typique où un groupe de faits change ;
  elles expliquent le modèle, pas la causalité.
"""
