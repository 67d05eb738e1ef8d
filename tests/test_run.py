"""`vigie run` on the synthetic city: linkage quality against the generator's truth,
household ids that survive new files, stages that never look past the as-of date."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from conftest import ran_copy
from pipelines.ingest.load import ingest_files
from pipelines.link.households import pairwise_quality
from pipelines.run import run
from pipelines.warehouse import connect


def _cross_source(pred: pd.Series, truth: pd.Series, source: pd.Series) -> dict:
    df = pd.DataFrame({"p": pred.values, "t": truth.values, "s": source.values})

    def cross_pairs(by):
        total = 0
        for _, g in df.groupby(by):
            counts = g["s"].value_counts()
            n = counts.sum()
            total += (n * (n - 1) - (counts * (counts - 1)).sum()) // 2
        return total
    tp, pred_pairs, true_pairs = cross_pairs(["p", "t"]), cross_pairs("p"), cross_pairs("t")
    return {"precision": tp / pred_pairs, "recall": tp / true_pairs, "true_pairs": true_pairs}


@pytest.fixture(scope="module")
def ran(loaded, tmp_path_factory):
    con, summary = ran_copy(loaded, tmp_path_factory, "run")
    yield con, summary
    con.close()


def test_linkage_quality_on_a_seed_the_model_never_saw(ran, truth):
    con, _ = ran
    records, _ = truth
    got = con.execute("select source, source_key, household_id from source_records").fetchdf()
    clean = records[records["defect"] == ""].drop_duplicates(["source", "source_key"])
    m = got.merge(clean[["source", "source_key", "household_id"]].rename(columns={"household_id": "truth"}),
                  on=["source", "source_key"], how="inner")
    assert len(m) == len(got)  # every record found in the truth
    overall = pairwise_quality(m["household_id"], m["truth"])
    cross = _cross_source(m["household_id"], m["truth"], m["source"])
    print("linkage", overall, cross)
    assert overall["true_pairs"] > 1000 and cross["true_pairs"] > 300
    assert overall["precision"] >= 0.99 and overall["recall"] >= 0.97
    assert cross["precision"] >= 0.98 and cross["recall"] >= 0.95


def test_cases_never_use_facts_after_the_as_of_date(ran):
    con, _ = ran
    as_of = date.today() - timedelta(days=120)
    from pipelines.run import place_on_ladder

    place_on_ladder(con, as_of)
    late = con.execute("select count(*) from cases where stage_since > as_of or as_of <> ?", [as_of]).fetchall()[0][0]
    n = con.execute("select count(*) from cases").fetchall()[0][0]
    place_on_ladder(con, date.today())
    assert n > 0 and late == 0


def test_every_open_case_has_a_stage_of_the_ladder(ran):
    con, summary = ran
    stages = {s for (s,) in con.execute("select distinct stage from cases").fetchall()}
    assert summary["open_cases"] > 50
    assert stages <= {"impaye", "impaye_constitue", "cdp", "assignation", "jugement", "cql", "cfp_demandee",
                      "cfp_accordee", "cfp_refusee"}
    missing = con.execute("select count(*) from cases where stage in ('cdp', 'assignation', 'cql', 'cfp_demandee') "
                          "and next_deadline is null").fetchall()[0][0]
    assert missing == 0


def test_next_months_files_keep_every_household_id(synthetic, tmp_path):
    out, manifest = synthetic
    con = connect(tmp_path / "w.duckdb")
    files = {s: sorted(manifest.files[s]) for s in ("cdp", "bailleur", "fsl", "procedure")}
    cut = {s: len(f) * 2 // 3 for s, f in files.items()}
    for s, f in files.items():
        ingest_files(con, s, f[:cut[s]])
    run(con, date.today())
    before = dict(con.execute("select source || '|' || source_key, household_id from record_households").fetchall())
    for s, f in files.items():
        ingest_files(con, s, f[cut[s]:])
    run(con, date.today())
    after = dict(con.execute("select source || '|' || source_key, household_id from record_households").fetchall())
    con.close()
    kept = sum(1 for k, h in before.items() if after.get(k) == h)
    assert len(after) > len(before) > 100
    assert kept == len(before), f"{len(before) - kept} records changed household"


def test_stage_as_of_today_matches_the_truth(ran, synthetic, truth):
    """For households whose situation the files can show (no line of theirs set aside, last
    event recorded by some partner), the stage family equals the generator's truth."""
    from collections import Counter

    from pipelines.ladder.truth import family, truth_situations

    con, summary = ran
    out, _ = synthetic
    records, _ = truth
    events = pd.read_csv(out / "truth" / "events.csv", dtype=str)
    households = pd.read_csv(out / "truth" / "households.csv", dtype=str)
    as_of = date.fromisoformat(summary["as_of"])
    expected = truth_situations(events, dict(zip(households["household_id"], households["bailleur_type"])), as_of)
    got = con.execute("select source, source_key, household_id from source_records").fetchdf()
    m = got.merge(records[["source", "source_key", "household_id"]].drop_duplicates(["source", "source_key"])
                  .rename(columns={"household_id": "truth"}), on=["source", "source_key"])
    ours = m.groupby("truth")["household_id"].agg(lambda s: s.mode().iloc[0]).to_dict()
    set_aside = set(records.loc[records["defect"] != "", "household_id"])
    stages = dict(con.execute("select household_id, stage from cases").fetchall())
    compared, errors = 0, Counter()
    for hid, fam in expected.items():
        if fam is None or hid not in ours or hid in set_aside:
            continue
        compared += 1
        mine = family(stages.get(ours[hid]))
        if mine != fam:
            errors[(fam, mine)] += 1
    accuracy = 1 - sum(errors.values()) / compared
    print("stage accuracy", compared, round(accuracy, 4), errors.most_common(5))
    assert compared > 80
    assert accuracy >= 0.995, errors.most_common(5)


def test_sure_links_say_which_key_joined_them(ran):
    con, _ = ran
    reasons = dict(con.execute("select reasons, count(*) from record_links where match_probability = 1 "
                               "and match_weight is null group by 1").fetchall())
    assert reasons.get("même contrat chez le même bailleur", 0) > 50
    assert reasons.get("l'acte de procédure renvoie à ce commandement", 0) > 10


def test_a_persons_decision_overrides_the_model(ran):
    """Rejecting a link the model made splits the household at the next run; accepting joins."""
    from pipelines.run import link_households

    con, _ = ran
    l, r = con.execute("select unique_id_l, unique_id_r from record_links where match_weight is not null "
                       "order by match_probability desc limit 1").fetchall()[0]
    hid = dict(con.execute("select source || '|' || source_key, household_id from record_households").fetchall())
    assert hid[l] == hid[r]
    con.execute("insert into link_decisions values (?, ?, false, current_timestamp)", [l, r])
    link_households(con)
    hid = dict(con.execute("select source || '|' || source_key, household_id from record_households").fetchall())
    assert hid[l] != hid[r]
    con.execute("delete from link_decisions")
    link_households(con)


def test_the_run_rebuilds_households_with_their_key_and_dates(ran):
    """`households` is dropped and created again by each run (faster than a delete): it keeps
    its primary key, one row per household of record_households, and each household's dates."""
    import duckdb

    con, _ = ran
    run(con, date.today())  # again: an earlier test may have re-linked without placing on the ladder
    counts = con.execute("""select (select count(*) from households), (select count(distinct household_id) from record_households),
                                   (select count(*) from households h join (select household_id, min(event_date) as f,
                                    max(event_date) as l from case_events group by all) e using (household_id)
                                    where h.first_seen = e.f and h.last_seen = e.l),
                                   (select count(distinct household_id) from case_events)""").fetchall()[0]
    assert counts[0] == counts[1] > 100 and counts[2] == counts[3] > 100
    hid = con.execute("select household_id from households limit 1").fetchall()[0][0]
    with pytest.raises(duckdb.ConstraintException):
        con.execute("insert into households values (?, null, null, null, null)", [hid])


def test_python_collects_cycles_again_after_a_stage_step_fails():
    """The stage steps pause Python's cycle collector while they build the timelines; a step
    that fails must not leave it paused for the rest of a long-running process (a Prefect
    worker would then keep every cyclic garbage it makes)."""
    import gc

    import pyarrow as pa

    from pipelines.ladder.cases import timelines_from_table

    assert gc.isenabled()
    with pytest.raises(KeyError, match="present"):  # rows without the columns the walk reads
        timelines_from_table(pa.table({"household_id": ["M0000001"], "event_date": [date.today()]}))
    assert gc.isenabled()
