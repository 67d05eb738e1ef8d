"""Matching keys: one household written the ways partners write it."""
from __future__ import annotations

import pandas as pd
import pytest

from pipelines.link.keys import arrondissement, normalise_address, split_full_name, surname_and_first


@pytest.mark.parametrize("text, expected", [
    ("DUPONT Hélène", ("DUPONT", "HELENE")),
    ("Mme ou M. BEN SAÏD Karim / DIALLO Aïcha", ("BEN SAID", "KARIM")),
    ("M. NGUYỄN Văn Minh", ("NGUYEN", "VAN MINH")),
    ("NGUY?N Thi Lan", ("NGUYN", "THI LAN")),        # a letter lost by a Windows-1252 export
    ("LEFEVRE Jean-Pierre", ("LEFEVRE", "JEAN PIERRE")),
    ("O'BRIEN Luc", ("OBRIEN", "LUC")),
])
def test_full_names(text, expected):
    assert split_full_name(text) == expected


def test_separate_fields_and_full_name_agree():
    assert surname_and_first("Dupont", "Hélène", None) == surname_and_first(None, None, "DUPONT Hélène")


@pytest.mark.parametrize("text, expected", [
    ("12 bis rue de la Roquette", ("12 BIS", "RUE DE LA ROQUETTE", "")),
    ("12B, r. de la Roquette", ("12 BIS", "RUE DE LA ROQUETTE", "")),
    ("12 B R DE LA ROQUETTE", ("12 BIS", "RUE DE LA ROQUETTE", "")),
    ("3 av. Jean Jaurès, Bât. B, esc. 2, 3e ét.", ("3", "AVENUE JEAN JAURES", "BAT B ESC 2 3E ET")),
    ("45 bd de Belleville", ("45", "BOULEVARD DE BELLEVILLE", "")),
    ("8 imp. Mouzaïa", ("8", "IMPASSE MOUZAIA", "")),
    ("7 ter pass. Brady", ("7 TER", "PASSAGE BRADY", "")),
    ("21 qu. de Jemmapes", ("21", "QUAI DE JEMMAPES", "")),
])
def test_addresses(text, expected):
    assert normalise_address(text) == expected


@pytest.mark.parametrize("code, arr", [("75001", 1), ("75020", 20), ("75016", 16), ("75116", 16),
                                       ("75100", None), ("92100", None), ("7501", None), (None, None)])
def test_arrondissements(code, arr):
    assert arrondissement(code) == arr


def test_missing_values_are_not_names():
    """A missing value (None, or NaN once in a pandas frame) is no surname 'NAN'."""
    assert surname_and_first(None, float("nan"), "DUPONT Hélène") == ("DUPONT", "HELENE")
    assert surname_and_first(float("nan"), float("nan"), float("nan")) == ("", "")


def test_an_entity_reads_the_same_whatever_order_its_records_come_in():
    """An entity's compared values are its most frequent ones; a tie must not be settled by the
    order the warehouse returned the records in (it was: households changed from run to run)."""
    from pipelines.link.households import entities_table

    records = pd.DataFrame({
        "entity_id": ["e1"] * 4 + ["e2"],
        "source": ["cdp", "bailleur", "fsl", "bailleur", "cdp"],
        "surname": ["DUPONT", "DUPOND", "DUPOND", "DUPONT", "MARTIN"],
        "first_name": ["HELENE", "HELENE", None, None, "LEA"],
        "birth_date": [None, None, "1980-02-03", None, "1990-01-01"],
        "number": ["12", "12 BIS", "12 BIS", "12", "3"],
        "street": ["RUE DE LA ROQUETTE"] * 4 + ["RUE OBERKAMPF"],
        "postal_code": ["75011"] * 5,
    })
    forward = entities_table(records)
    for order in ([3, 2, 1, 0, 4], [1, 3, 0, 2, 4], [4, 2, 0, 3, 1]):
        pd.testing.assert_frame_equal(entities_table(records.iloc[order].reset_index(drop=True)), forward)
    e1 = forward.set_index("unique_id").loc["e1"]
    assert (e1["surname"], e1["number"], e1["first_name"]) == ("DUPOND", "12", "HELENE")  # ties: smallest value
    assert e1["sources"] == "bailleur,cdp,fsl"


def test_a_helper_process_working_out_half_the_keys_changes_no_record(loaded, tmp_path, monkeypatch):
    """On a big city the second half of the distinct names and addresses goes to a helper
    process (`pipelines/helper.py`); the records linkage compares must not change."""
    import shutil

    from pipelines.helper import helper_process
    from pipelines.link import records
    from pipelines.warehouse import connect

    wh, _ = loaded
    shutil.copy(wh, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    alone = records.linkage_records(con)
    monkeypatch.setattr(records, "SPLIT_MIN_DISTINCT", 0)
    with helper_process("pipelines.link.records") as helper:
        shared = records.linkage_records(con, helper)
    con.close()
    assert helper.answered and len(alone) > 1000
    pd.testing.assert_frame_equal(shared, alone)
    assert alone["street"].nunique() > 100 and alone["surname"].nunique() > 100
