"""The risk model: the shipped model on a city it never saw, point-in-time features,
training writes a usable model with its card, reasons from the case's own values,
unsafe model files refused, and no model means the stage baseline (said so)."""
from __future__ import annotations

import re
import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from pipelines.ingest.load import ingest_files
from pipelines.ladder.events import build_case_events
from pipelines.risk import model as risk_model
from pipelines.risk import trees
from pipelines.risk.features import FEATURES, add_source_facts
from pipelines.risk.history import HORIZON_DAYS, load_timelines, snapshots
from pipelines.risk.train import evaluate, train
from pipelines.run import run
from pipelines.synth.generate import generate
from pipelines.warehouse import connect


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Three years of a 1 500-household city from a seed the shipped model never saw (it was trained on seed 0)."""
    out = tmp_path_factory.mktemp("risk")
    generate(out, households=1500, seed=11, years=3, volume_drop=False, defect_rate=0.01)
    wh = out / "w.duckdb"
    con = connect(wh)
    for source in ("cdp", "bailleur", "fsl", "procedure"):
        ingest_files(con, source, [out / source])
    run(con, date.today())
    con.close()
    return wh


@pytest.fixture()
def con(history, tmp_path):
    copy = tmp_path / "w.duckdb"
    shutil.copy(history, copy)
    c = connect(copy)
    yield c
    c.close()


def test_shipped_model_beats_ranking_by_hand_on_an_unseen_city(con):
    table, lift, fairness = evaluate(con)
    print(table.to_string(), lift, sep="\n")
    model_row, baselines = table.iloc[0], table.iloc[1:]
    k = lift["k"]
    assert lift["lift"] >= 0.20 and lift["lift_interval"][0] > 0
    assert model_row[f"précision@{k}"] > baselines[f"précision@{k}"].max()
    assert model_row["AUC"] > baselines["AUC"].max()
    assert model_row["ECE"] <= 0.05
    assert set(fairness["attribut"]) >= {"arrondissements", "bailleur", "composition", "âge"}


def _shift_facts_after(con, cutoff: date, days: int = 1000) -> None:
    """Move every partner fact dated after `cutoff` far into the future, then rebuild the events."""
    dated = {"cdp": "date_signification", "procedure": "date_acte", "bailleur": "date_extraction",
             "fsl": "date_depot"}
    for source, col in dated.items():
        con.execute(f"update staging_{source} set {col} = {col} + interval {days} day where {col} > ?", [cutoff])
    con.execute(f"update staging_fsl set date_decision = date_decision + interval {days} day where date_decision > ?",
                [cutoff])
    con.execute(f"update staging_procedure set date_audience = date_audience + interval {days} day "
                "where date_acte > ?", [cutoff + timedelta(days=days)])
    build_case_events(con)


def _features(con, dates):
    snap = snapshots(load_timelines(con), dates, with_label=True)
    return add_source_facts(con, snap).sort_values(["household_id", "as_of"]).reset_index(drop=True)


def test_moving_facts_past_the_as_of_date_changes_no_feature_and_no_earlier_label(con):
    cutoff = date.today() - timedelta(days=400)
    feature_dates = [cutoff - timedelta(days=d) for d in (0, 45, 200)]
    label_dates = [d for d in feature_dates if d + timedelta(days=HORIZON_DAYS) <= cutoff]
    before = _features(con, feature_dates)
    _shift_facts_after(con, cutoff)
    after = _features(con, feature_dates)
    assert len(before) > 300 and before["label"].sum() > 20
    pd.testing.assert_frame_equal(before[["household_id", "as_of", *FEATURES]], after[["household_id", "as_of", *FEATURES]])
    settled = before["as_of"].isin(label_dates)
    assert settled.sum() > 100
    assert (before.loc[settled, "label"] == after.loc[settled, "label"]).all()
    # the shift is real: labels that looked past the cutoff lose their next step
    assert before.loc[~settled, "label"].sum() > after.loc[~settled, "label"].sum()


def test_train_writes_a_model_vigie_run_uses(con, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_MODELS_DIR", str(tmp_path / "models"))
    meta = train(con)
    folder = tmp_path / "models" / meta["version"]
    for name in ("model.skops", "model.json", "MODEL_CARD.md", "calibration.png", "evaluation.csv", "fairness.csv"):
        assert (folder / name).stat().st_size > 100, name
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "données synthétiques" in card and "Équité" in card and "stade puis dette" in card
    assert risk_model.current_version() == meta["version"]
    # train, validation and test periods follow each other; labels of training end before validation
    periods = meta["periods"]
    assert date.fromisoformat(periods["train"][1]) + timedelta(days=HORIZON_DAYS) <= date.fromisoformat(periods["validation"][0])
    assert periods["validation"][1] < periods["test"][0]
    summary = run(con, date.today())
    assert summary["risk_model"] == meta["version"]
    versions = con.execute("select distinct model_version from cases").fetchall()
    assert versions == [(meta["version"],)]
    scores = np.array([r[0] for r in con.execute("select risk_score from cases").fetchall()])
    assert ((scores >= 0) & (scores <= 1)).all() and scores.std() > 0.02


def test_reasons_are_worded_from_each_case(con):
    rows = con.execute("select stage, debt, monthly_rent, risk_reasons from cases").fetchall()
    assert rows and all(r[3] for r in rows)
    checked = 0
    for stage, debt, rent, reasons in rows:
        m = re.search(r"dette de (\d+,\d) mois de loyer", reasons)
        if m:
            assert m.group(1) == f"{float(debt) / float(rent):.1f}".replace(".", ",")
            checked += 1
    assert checked > 20
    by_stage = pd.DataFrame(rows, columns=["stage", "debt", "rent", "reasons"]).groupby("stage")["reasons"].nunique()
    assert by_stage.max() > 10  # not canned by stage


def _open_case_features(con):
    as_of = con.execute("select max(as_of) from cases").fetchone()[0]
    hids = [r[0] for r in con.execute("select household_id from cases").fetchall()]
    return add_source_facts(con, snapshots(load_timelines(con, hids), [as_of], with_label=False))


def test_the_compiled_walk_gives_scikit_learns_scores_and_reasons_for_every_case(con, monkeypatch):
    model, meta = risk_model.load()
    frame = _open_case_features(con)
    X = frame[FEATURES].to_numpy(dtype=float)
    assert len(X) > 200 and np.isnan(X).any()  # missing values take each split's own way
    compiled = trees.compile_model(model)
    assert compiled is not None
    differs, typical, group_of = risk_model._variants(X, meta["reference"])
    # scikit-learn on every case and every variant, stacked (the path used before the compiled walk)
    p = risk_model._predicted(model, X, differs, typical, group_of)
    assert np.array_equal(trees.scores_and_variants(compiled, X, differs, typical, group_of), p)
    score, pushes = risk_model.contributions(model, frame, meta["reference"])
    assert np.array_equal(score, p[:, 0])
    assert np.array_equal(pushes.to_numpy(), np.where(differs, p[:, :1] - p[:, 1:], 0.0))
    assert (pushes.to_numpy() > 0.005).sum(axis=1).mean() > 1  # the reasons have pushes to word
    # a compiled walk that disagreed with scikit-learn would not be used
    monkeypatch.setattr(trees, "scores_and_variants", lambda *a: np.full((len(X), differs.shape[1] + 1), 0.5))
    again, _ = risk_model.contributions(model, frame, meta["reference"])
    assert np.array_equal(again, score)


def test_a_model_other_than_boosted_trees_is_explained_by_scikit_learn(con):
    _, meta = risk_model.load()
    frame = _open_case_features(con)
    linear = risk_model.candidates()["logistic_regression"].fit(frame[FEATURES], frame["stage_rank"] >= 3)
    assert trees.compile_model(linear) is None
    score, pushes = risk_model.contributions(linear, frame, meta["reference"])
    assert np.array_equal(score, linear.predict_proba(frame[FEATURES])[:, 1])
    assert (pushes.to_numpy() != 0).any()


class Untrusted:
    def __init__(self):
        self.payload = "anything"


def test_a_model_file_with_unknown_types_is_refused(tmp_path):
    folder = tmp_path / "risk-evil"
    folder.mkdir()
    sio.dump({"model": Untrusted()}, folder / "model.skops")
    (folder / "model.json").write_text("{}", encoding="utf-8")
    with pytest.raises(risk_model.ModelError, match="non autorisés"):
        risk_model.load("risk-evil", tmp_path)


def test_without_a_model_run_ranks_by_stage_and_says_so(con, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_MODELS_DIR", str(tmp_path / "empty"))
    summary = run(con, date.today())
    assert summary["risk_model"] is None
    rows = con.execute("select model_version, risk_reasons from cases").fetchall()
    assert all(v is None for v, _ in rows) and all(r.startswith("stade") for _, r in rows)


def test_two_landlord_reports_of_the_same_day_give_the_same_facts_whatever_their_order(con):
    """A household two landlords list on the same extraction date (two tenancies linked as one
    household): the household size the score reads is the list loaded last, on every run,
    whatever order the rows sit in."""
    from pipelines.risk.features import partner_facts

    hid, ingest_id, line = con.execute("""
        select r.household_id, r.ingest_id, r.line_number from source_records r
        join cases c using (household_id) where r.source = 'bailleur' order by all limit 1""").fetchall()[0]
    top = con.execute("select max(ingest_id) from ingest_log").fetchall()[0][0]
    as_of = date.today()
    chosen = []
    for order in ((1, 2), (2, 1)):  # which of the two same-day rows is written first
        con.execute("begin transaction")
        for k in order:
            con.execute("insert into ingest_log select * replace (? as ingest_id, file_path || ? as file_path) "
                        "from ingest_log where ingest_id = ?", [top + k, f"#{k}", ingest_id])
            con.execute("""insert into staging_bailleur select * replace (? as ingest_id, ?::date as date_extraction,
                               'TEST' || ? as bailleur_code, ? as nb_occupants)
                           from staging_bailleur where ingest_id = ? and line_number = ?""",
                        [top + k, as_of.isoformat(), str(k), 10 * k, ingest_id, line])
            key = con.execute("select source_key from source_records where ingest_id = ?", [top + k]).fetchall()[0][0]
            con.execute("insert into record_households values ('bailleur', ?, ?)", [key, hid])
        facts = partner_facts(con, pd.DataFrame({"household_id": [hid], "as_of": [as_of]}))
        chosen.append(int(facts["occupants"].iloc[0]))
        con.execute("rollback")
    assert chosen == [20, 20]  # the second file's row (loaded last), both times
