"""Household linkage: deterministic keys first, then Splink across sources, then stable ids.

1. Records sharing a landlord's tenancy (`bailleur_code|ref_contrat`), a procedure number,
   or a commandement (`procedure.ref_cdp` = `cdp.num_acte`) are one entity, for sure.
2. Splink (DuckDB backend) compares entities on name, birth date, address and postal
   code; pairs at or above LINK_THRESHOLD are linked, pairs in the review band wait for
   a person (`link_review`), whose decisions persist and override the model.
3. Connected components are households; a household keeps the id it already had
   (ids are never renumbered by new files).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.link.records import linkage_records, text_array

LINK_THRESHOLD = 0.95
REVIEW_BAND = (0.5, LINK_THRESHOLD)
COMPARED = ("surname", "first_name", "birth_date", "number", "street", "postal_code")


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected component label of each of n nodes, given edges left[i] -- right[i]
    (scipy's C implementation: the Python union-find it replaced took 25 s for a million records)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _smallest_per_component(labels: np.ndarray, ids: pd.Series) -> pd.Series:
    return ids.groupby(labels).transform("min")


KEY_REASONS = {"tenancy_key": "même contrat chez le même bailleur", "procedure_key": "même numéro de procédure",
               "cdp_key": "l'acte de procédure renvoie à ce commandement"}


def deterministic_links(records: pd.DataFrame) -> pd.DataFrame:
    """The sure links, as pairs with probability 1 and the key that joins them (one pair per
    record and the first record of its key group)."""
    parts = []
    # ordered by key then unique_id, as sorted codes (sorting the strings themselves took 10 s at L)
    all_uid_codes, uids = pd.factorize(records["unique_id"], sort=True)
    uids = np.asarray(uids, dtype=object)
    for key, reason in KEY_REASONS.items():
        has = records[key].notna().to_numpy()
        key_code, _ = pd.factorize(records[key][has], sort=True)
        uid_code = all_uid_codes[has]
        order = np.lexsort((uid_code, key_code))
        key_code, uid_code = key_code[order], uid_code[order]
        starts = np.r_[True, key_code[1:] != key_code[:-1]]
        first = uid_code[np.flatnonzero(starts)][np.cumsum(starts) - 1]
        others = uid_code != first
        parts.append(pd.DataFrame({"unique_id_l": uids[first[others]], "unique_id_r": uids[uid_code[others]],
                                   "match_probability": 1.0, "match_weight": None, "reasons": reason}))
    return pd.concat(parts, ignore_index=True)


def deterministic_entities(records: pd.DataFrame) -> pd.Series:
    """Entity id (the smallest unique_id of its group) for each record."""
    pos = np.arange(len(records))
    left, right = [], []
    for key in KEY_REASONS:  # each record with a key -> the first record with the same key
        codes = pc.dictionary_encode(text_array(records[key])).indices.fill_null(-1).to_numpy(zero_copy_only=False)
        has = codes >= 0
        _, first, inverse = np.unique(codes[has], return_index=True, return_inverse=True)
        left.append(pos[has][first][inverse])
        right.append(pos[has])
    labels = components(len(records), np.concatenate(left), np.concatenate(right))
    return _smallest_per_component(labels, records["unique_id"].reset_index(drop=True)).set_axis(records.index)


def entities_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per deterministic entity: the most frequent value of each compared field (ties:
    the smallest value, so that the same records always give the same entity and links)."""
    import duckdb

    joins = "".join(f"""
        left join (select entity_id, first({c} order by n desc, {c}) as {c}
                   from (select entity_id, {c}, count(*) as n from records where {c} is not null group by all)
                   group by entity_id) using (entity_id)""" for c in COMPARED)
    with duckdb.connect() as mem:
        mem.register("records", records)
        return mem.sql(f"""select entity_id as unique_id, {", ".join(COMPARED)}, sources
                           from (select entity_id, string_agg(distinct source, ',' order by source) as sources
                                 from records group by entity_id) {joins}
                           order by entity_id""").to_arrow_table().to_pandas()


def splink_pairs(entities: pd.DataFrame, model_path: Path | None = None, train: bool = False,
                 seed: int = 42) -> pd.DataFrame:
    """Scored entity pairs (match_probability >= the review band's floor), with their reasons.
    Splink works in its own in-memory DuckDB: its many working tables never touch the warehouse.
    With a trained model at `model_path` (m and u probabilities only, no personal data) it only
    predicts; otherwise, or with `train`, it trains (u by sampling, m by EM) and saves the model."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)  # its untrained-level notices are not for users
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("surname", [0.95, 0.85]),
            cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("number"),
            cl.LevenshteinAtThresholds("street", [1, 3]),
            cl.ExactMatch("postal_code"),
        ],
        blocking_rules_to_generate_predictions=[  # narrow enough for a million records
            block_on("postal_code", "number", "street"),
            block_on("surname", "first_name", "postal_code"),
            block_on("birth_date", "surname"),
        ],
        retain_intermediate_calculation_columns=True,
        max_iterations=10,
        em_convergence=0.001,
    )
    con = duckdb.connect()
    con.register("_entities_df", entities)
    con.execute("create table link_entities as select * from _entities_df")
    trained = model_path is not None and Path(model_path).exists() and not train
    linker = Linker(DuckDBAPI(con).register("link_entities"), str(model_path) if trained else settings,
                    log_level=logging.ERROR)
    if not trained:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("surname", "first_name", "postal_code", "number")], recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=5e5, seed=seed)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("postal_code", "number"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname", "first_name"))
        if model_path is not None:
            Path(model_path).parent.mkdir(parents=True, exist_ok=True)
            linker.misc.save_model_to_json(str(model_path), overwrite=True)
    predictions = linker.inference.predict(threshold_match_probability=REVIEW_BAND[0])
    # the reasons: each compared field with its match weight for this pair (+ agrees, - disagrees)
    fields = ", ".join(f"case when abs(mw_{c}) >= 0.05 then '{c} ' || printf('%+.1f', mw_{c}) end" for c in COMPARED)
    pairs = con.sql(f"""select unique_id_l, unique_id_r, match_probability, match_weight, concat_ws(', ', {fields}) as reasons
                        from {predictions.physical_name}""").to_arrow_table().to_pandas()
    con.close()
    return pairs


def assign_households(records: pd.DataFrame, pairs: pd.DataFrame, previous: dict[str, str] | pd.Series,
                      decisions: dict[tuple[str, str], bool], next_number: int) -> pd.Series:
    """household_id per record: connected components of deterministic entities linked by
    pairs above the threshold or accepted by a person (minus those a person rejected)."""
    codes, entities = pd.factorize(records["entity_id"])
    position = pd.Series(np.arange(len(entities)), index=entities)
    linked = pairs["match_probability"].to_numpy() >= LINK_THRESHOLD
    if decisions:
        decided = [decisions.get((l, r), decisions.get((r, l))) for l, r in zip(pairs["unique_id_l"], pairs["unique_id_r"])]
        linked = np.array([d if d is not None else p for d, p in zip(decided, linked)], dtype=bool)
    accepted = [(l, r) for (l, r), ok in decisions.items() if ok]  # (ids no longer present: dropped below)
    left = np.concatenate([position.reindex(pairs["unique_id_l"][linked]).to_numpy(),
                           position.reindex([l for l, _ in accepted]).to_numpy()])
    right = np.concatenate([position.reindex(pairs["unique_id_r"][linked]).to_numpy(),
                            position.reindex([r for _, r in accepted]).to_numpy()])
    keep = ~(np.isnan(left) | np.isnan(right))
    labels = components(len(entities), left[keep].astype(np.int64), right[keep].astype(np.int64))
    root = _smallest_per_component(labels, pd.Series(entities))  # the smallest entity id of each component
    comp_of_entity, comp_names = pd.factorize(root)
    comp = comp_of_entity[codes]  # each record's component, as a number
    # stable ids: a component keeps the id most of its already-known records had; the largest
    # components choose first, each an id no other component took
    frame = pd.DataFrame({"comp": comp, "hid": _known_ids(records["unique_id"], previous)})
    size = frame.groupby("comp", sort=False).size().sort_values(ascending=False, kind="stable")
    votes = frame.dropna(subset=["hid"]).groupby(["comp", "hid"], sort=False).size()
    ranked = votes.sort_values(ascending=False, kind="stable").reset_index()
    ids = np.full(len(comp_names), None, dtype=object)
    top = ranked.drop_duplicates("comp")  # each component's most frequent known id
    if not top["hid"].duplicated().any():
        # no id is any two components' first choice: each takes its own (what the loop below gives then)
        ids[top["comp"].to_numpy()] = top["hid"].to_numpy()
    else:
        candidates: dict = defaultdict(list)  # comp -> its known ids, most frequent first (ties: first seen)
        for c, hid in zip(ranked["comp"].tolist(), ranked["hid"].tolist()):
            candidates[c].append(hid)
        taken = set()
        for c in size.index:
            for hid in candidates.get(c, ()):
                if hid not in taken:
                    ids[c] = hid
                    taken.add(hid)
                    break
    new = np.flatnonzero(ids == None)  # noqa: E711 (element-wise)
    for c in new[np.argsort(np.asarray(comp_names, dtype=object)[new], kind="stable")]:  # in the order of the names
        ids[c] = f"M{next_number:07d}"
        next_number += 1
    return pd.Series(ids[comp], index=records.index)


def _known_ids(unique_ids: pd.Series, previous: dict[str, str] | pd.Series) -> np.ndarray:
    """Each record's household id from the last run (None if new), looked up by Arrow (pandas'
    `map` built its hash of L's 4.4 million ids in 4.6 s)."""
    keys, values = (list(previous), list(previous.values())) if isinstance(previous, dict) \
        else (previous.index, previous.to_numpy(dtype=object))
    at = pc.index_in(text_array(unique_ids), value_set=pa.array(keys, type=pa.string()))
    return pa.array(values, type=pa.string()).take(at).to_numpy(zero_copy_only=False)


def pairwise_quality(predicted: pd.Series, truth: pd.Series) -> dict:
    """Pairwise precision and recall of a clustering against the truth (same index)."""
    def pairs(counts):
        return int(sum(n * (n - 1) // 2 for n in counts))
    both = pd.DataFrame({"p": predicted.values, "t": truth.values})
    tp = pairs(both.groupby(["p", "t"]).size())
    pred, true = pairs(both.groupby("p").size()), pairs(both.groupby("t").size())
    return {"precision": tp / pred if pred else 1.0, "recall": tp / true if true else 1.0,
            "true_pairs": true, "predicted_pairs": pred}


def link(con, decisions: dict[tuple[str, str], bool] | None = None, model_path: Path | None = None,
         train: bool = False, helper=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records with their entity and household ids, and the scored pairs (`helper`: a process
    that works out half of the matching keys, `pipelines/helper.py`)."""
    records = linkage_records(con, helper)
    # households purged of their nominative data (`vigie purge`) keep the links made before:
    # their pseudonymised names could no longer be compared
    frozen = dict(con.execute("select r.source || '|' || r.source_key, r.household_id from record_households r "
                              "where r.household_id in (select household_id from purge_log)").fetchall())
    kept = records[records["unique_id"].isin(frozen)].copy()
    records = records[~records["unique_id"].isin(frozen)].reset_index(drop=True)
    records["entity_id"] = deterministic_entities(records)
    entities = entities_table(records)
    pairs = splink_pairs(entities, model_path, train) if len(entities) > 1 else pd.DataFrame(
        columns=["unique_id_l", "unique_id_r", "match_probability", "match_weight", "reasons"])
    known = con.sql("select source || '|' || source_key as unique_id, household_id from record_households"
                    ).to_arrow_table().to_pandas().drop_duplicates("unique_id", keep="last")
    previous = pd.Series(known["household_id"].to_numpy(dtype=object), index=known["unique_id"].to_numpy(dtype=object))
    last = con.execute("select max(cast(substr(household_id, 2) as integer)) from record_households").fetchall()[0][0]
    records["household_id"] = assign_households(records, pairs, previous, decisions or {}, (last or 0) + 1)
    if len(kept):
        kept["entity_id"] = kept["unique_id"]
        kept["household_id"] = kept["unique_id"].map(frozen)
        records = pd.concat([records, kept], ignore_index=True)
    return records, pairs
