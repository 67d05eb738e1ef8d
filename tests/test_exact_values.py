"""Values read back equal what was written, whatever the partner's export habits
(property-based over encodings, delimiters, date and amount formats, xlsx)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.contracts import load_contract
from pipelines.ingest.load import ingest_file
from pipelines.synth.formats import Profile, as_written, write_file
from pipelines.warehouse import connect

CONTRACT = load_contract("bailleur")
TODAY = date.today()
LETTERS = "abcdefghijklmnopqrstuvwxyzéèêëàâäçôöûüùîïœæÉÈÇÀÔŒ"
ODD = "ễışțĐ'-;,\"\n "  # letters cp1252 lacks, and characters that need quoting

names = st.text(alphabet=LETTERS + LETTERS.upper() + ODD, min_size=1, max_size=24).map(str.strip).filter(
    lambda s: s and not s.lower().startswith("total"))
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("19999.99"), places=2)
days = st.dates(min_value=date(2010, 1, 1), max_value=TODAY - timedelta(days=1))


@st.composite
def rows(draw):
    extraction = draw(days)
    first = draw(st.dates(min_value=date(2005, 1, 1), max_value=extraction))
    plan = draw(st.booleans())
    return {
        "bailleur_code": draw(st.sampled_from(["PARIS-HABITAT", "RIVP", "3F"])),
        "date_extraction": extraction,
        "ref_contrat": f"REF-{draw(st.integers(1, 10**6))}",
        "locataire_nom": draw(names),
        "locataire_prenom": draw(st.none() | names),
        "adresse_voie": draw(names),
        "code_postal": draw(st.sampled_from(["75001", "75011", "75116", "75020"])),
        "loyer_mensuel_cc": draw(amounts),
        "solde_impaye": draw(amounts),
        "date_premier_impaye": first,
        "plan_apurement": plan,
        "plan_respecte": draw(st.booleans()) if plan else None,
        "stade_contentieux": draw(st.sampled_from(["amiable", "cdp", "assignation", "jugement", "cql", "cfp"])),
        "fragilite_signalee": draw(st.booleans()),
        "nb_occupants": draw(st.integers(1, 20)),
    }


@st.composite
def profiles(draw):
    if draw(st.booleans()):
        return Profile(kind="xlsx", date_fmt=draw(st.sampled_from(["cell", "serial", "%d/%m/%Y", "%Y-%m-%d"])),
                       amount_fmt=draw(st.sampled_from(["number", "fr", "fr_euro", "en"])),
                       bool_fmt=draw(st.sampled_from([("oui", "non"), ("1", "0"), ("vrai", "faux")])),
                       header_style=draw(st.sampled_from(["canonical", "upper", "alias", "title"])),
                       shuffle_columns=draw(st.booleans()), total_line=draw(st.booleans()))
    return Profile(kind="csv", encoding=draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])),
                   delimiter=draw(st.sampled_from([";", ",", "\t"])),
                   date_fmt=draw(st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y"])),
                   amount_fmt=draw(st.sampled_from(["fr", "fr_euro", "fr_dot", "fr_space", "en"])),
                   bool_fmt=draw(st.sampled_from([("oui", "non"), ("O", "N"), ("1", "0"), ("true", "false")])),
                   header_style=draw(st.sampled_from(["canonical", "upper", "alias", "title"])),
                   shuffle_columns=draw(st.booleans()), newline=draw(st.sampled_from(["\n", "\r\n"])),
                   total_line=draw(st.booleans()), trailing_blank_lines=draw(st.integers(0, 2)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.lists(rows(), min_size=1, max_size=6), profile=profiles(), duckdb_reader=st.booleans())
def test_values_survive_every_export_habit(data, profile, duckdb_reader, tmp_path_factory):
    """Either CSV reader: the exact path (what short files take) or DuckDB's (long files')."""
    import pipelines.ingest.read as read

    folder = tmp_path_factory.mktemp("exact")
    path = folder / f"export.{profile.kind}"
    lines = write_file(path, CONTRACT, data, profile, seed=3)
    con = connect(folder / "w.duckdb")
    kept = read.FAST_MIN_LINES
    read.FAST_MIN_LINES = 0 if duckdb_reader else kept
    try:
        res = ingest_file(con, "bailleur", path)
    finally:
        read.FAST_MIN_LINES = kept
    got = con.execute("select * exclude (ingest_id, extra_columns) "
                      "from staging_bailleur order by line_number").fetchall()
    cols = [d[0] for d in con.description]
    con.close()
    assert res.status == "loaded", res.message
    assert (res.rows_loaded, res.rows_quarantined) == (len(data), 0), res.message
    for row, ln, values in zip(data, lines, got):
        found = dict(zip(cols, values))
        assert found["line_number"] == ln
        for col in CONTRACT.columns:
            want = row[col.name]
            if isinstance(want, str):
                want = as_written(want, profile)
            assert found[col.name] == want, (col.name, profile)


def test_a_windows_1252_line_inside_a_utf8_file_keeps_every_accent(tmp_path):
    """An export stitched from two tools: UTF-8, then one line in Windows-1252 past the first 4 MB."""
    header = "num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;code_postal;loyer_mensuel_cc;montant_dette\n"
    filler = "".join(f"CDP-{i};01/02/2025;SCI Hélène;social;NGUYỄN Văn;1 rue Oberkampf;75011;500;10\n" for i in range(70_000))
    odd = "CDP-X;01/02/2025;SCI Çà;social;LEFÈVRE Zoé;2 rue Ménilmontant;75020;600;20\n".encode("cp1252")
    path = tmp_path / "mixed.csv"
    path.write_bytes(header.encode() + filler.encode() + odd)
    assert path.stat().st_size > 4 << 20
    con = connect(tmp_path / "w.duckdb")
    res = ingest_file(con, "cdp", path)
    names = dict(con.execute("select num_acte, locataire_nom from staging_cdp where num_acte in ('CDP-0', 'CDP-X')").fetchall())
    con.close()
    assert (res.status, res.rows_loaded, res.rows_quarantined) == ("loaded", 70_001, 0)
    assert names == {"CDP-0": "NGUYỄN Văn", "CDP-X": "LEFÈVRE Zoé"}


def test_line_breaks_inside_fields_keep_every_line_number(tmp_path, monkeypatch):
    """A complement written on three lines inside quotes, lines with a stray delimiter and a
    bad amount further down: DuckDB's reader (one thread) must place every line exactly where
    the line-by-line reader does, and quarantine the same lines with the same text."""
    import pipelines.ingest.read as read

    monkeypatch.setattr(read, "MULTILINE_MIN_LINES", 0)  # (a large file's path, on a small file)
    monkeypatch.setattr(read, "FAST_MIN_LINES", 0)
    header = "num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;adresse_complement;code_postal;loyer_mensuel_cc;montant_dette\r\n"
    lines, expected, physical = [header], {}, 1
    for i in range(3000):
        physical += lines[-1].count("\n")
        ln = physical  # the line of the file this record starts on
        if i % 400 == 7:     # a complement on three lines
            lines.append(f'CDP-{i};01/02/2025;SCI Hélène;social;DUPONT Zoé;1 rue Oberkampf;"Bât. B\nesc. 1\n2e ét.";75011;500;10\r\n')
            expected[f"CDP-{i}"] = ln
            continue
        if i % 400 == 9:     # a stray delimiter
            lines.append(f"CDP-{i};01/02/2025;SCI Hélène;social;MARTIN Léa;2 rue Oberkampf;;75011;500;10;oups\r\n")
            continue
        if i % 400 == 11:    # an amount nobody can read
            lines.append(f"CDP-{i};01/02/2025;SCI Hélène;social;PETIT Luc;3 rue Oberkampf;;75011;douze euros;10\r\n")
            continue
        lines.append(f"CDP-{i};01/02/2025;SCI Hélène;social;NGUYEN Van;4 rue Oberkampf;;75011;500;10\r\n")
        expected[f"CDP-{i}"] = ln
    path = tmp_path / "cdp_multiligne.csv"
    path.write_bytes("".join(lines).encode("utf-8"))

    def ingest(name):
        con = connect(tmp_path / name)
        res = ingest_file(con, "cdp", path)
        staged = dict(con.execute("select num_acte, line_number from staging_cdp").fetchall())
        complements = set(con.execute("select adresse_complement from staging_cdp where adresse_complement is not null").fetchall())
        quarantined = con.execute("select line_number, reason_code, raw from quarantine order by 1").fetchall()
        con.close()
        return res, staged, complements, quarantined

    res, staged, complements, quarantined = ingest("duckdb_reader.duckdb")
    assert res.file_format and read.FileShape  # loaded through the normal entry point
    assert staged == expected
    assert complements == {("Bât. B\nesc. 1\n2e ét.",)}
    assert len(quarantined) == 2 * 8 and {q[1] for q in quarantined} == {"bad_row_shape", "bad_amount"}
    text = "".join(lines).split("\n")
    assert all(text[q[0] - 1].rstrip("\r") == q[2] for q in quarantined)
    monkeypatch.setattr(read, "_fast_csv", lambda *a, **k: False)  # the line-by-line reader, for comparison
    exact = ingest("exact_reader.duckdb")
    assert (exact[1], exact[2], exact[3]) == (staged, complements, quarantined)
    assert (exact[0].rows_read, exact[0].rows_loaded, exact[0].rows_quarantined) == (res.rows_read, res.rows_loaded, res.rows_quarantined)


def test_a_lone_carriage_return_inside_a_field_moves_no_line_number(tmp_path):
    """A tenant's name pasted with a stray carriage return (no line feed) on line 3: the lines are
    those a line-numbering editor or `sed -n` shows, so the bad amount on line 5 is reported as
    line 5 with its own text, and the name keeps its character."""
    header = "num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;code_postal;loyer_mensuel_cc;montant_dette\n"
    body = ("CDP-1;01/02/2025;SCI Hélène;social;MARTIN Léa;1 rue Oberkampf;75011;500;10\n"
            "CDP-2;01/02/2025;SCI Hélène;social;PETIT\rLuc;2 rue Oberkampf;75011;500;10\n"
            "CDP-3;01/02/2025;SCI Hélène;social;NGUYEN Van;3 rue Oberkampf;75011;500;10\n"
            "CDP-4;01/02/2025;SCI Hélène;social;DUPONT Zoé;4 rue Oberkampf;75011;douze euros;10\n")
    path = tmp_path / "cdp_cr.csv"
    path.write_bytes((header + body).encode("utf-8"))
    con = connect(tmp_path / "w.duckdb")
    res = ingest_file(con, "cdp", path)
    staged = dict(con.execute("select num_acte, line_number from staging_cdp").fetchall())
    name = con.execute("select locataire_nom from staging_cdp where num_acte = 'CDP-2'").fetchall()
    quarantined = con.execute("select line_number, reason_code, raw from quarantine").fetchall()
    con.close()
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined) == (4, 3, 1)
    assert staged == {"CDP-1": 2, "CDP-2": 3, "CDP-3": 4}
    assert name == [("PETIT\rLuc",)]
    assert quarantined == [(5, "bad_amount", body.split("\n")[3])]


def test_a_bad_date_past_the_typed_sample_is_quarantined_with_its_own_text(tmp_path, monkeypatch):
    """A Windows export (CRLF) whose dates are all plain in the first lines, so DuckDB types the
    column itself, with an impossible date far down: the line is set aside with exactly its text
    (DuckDB's reject kept the previous line's line feed in front of it) and the reason a reader
    understands, as the line-by-line reader does."""
    import pipelines.ingest.read as read

    header = "num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;code_postal;loyer_mensuel_cc;montant_dette\r\n"
    body = [f"CDP-{i};{'31/02/2025' if i == 5500 else '01/02/2025'};SCI Hélène;social;NGUYEN Van;4 rue Oberkampf;75011;500;10\r\n"
            for i in range(6000)]
    path = tmp_path / "cdp_crlf.csv"
    path.write_bytes((header + "".join(body)).encode("utf-8"))
    monkeypatch.setattr(read, "FAST_MIN_LINES", 0)  # DuckDB's reader first, whatever the file's length

    def ingest(name):
        con = connect(tmp_path / name)
        res = ingest_file(con, "cdp", path)
        quarantined = con.execute("select line_number, reason_code, raw from quarantine").fetchall()
        con.close()
        return res, quarantined

    res, quarantined = ingest("duckdb_reader.duckdb")
    assert (res.rows_loaded, res.rows_quarantined) == (5999, 1)
    assert quarantined == [(5502, "bad_date", body[5500].rstrip("\r\n"))]
    monkeypatch.setattr(read, "_fast_csv", lambda *a, **k: False)
    assert ingest("exact_reader.duckdb")[1] == quarantined


@pytest.mark.parametrize("reader", ["python", "sql", "duckdb"])
def test_blank_and_total_lines_are_told_from_data_lines_however_written(reader, tmp_path, monkeypatch):
    """Lines a spreadsheet leaves (spaces only, a TOTAL in any case, behind spaces or a
    non-breaking space, or in the second column) are counted as skipped with their reason; a
    data line whose first field starts with T, and enum and yes/no values in every spelling,
    are loaded with their canonical values. Every CSV reader."""
    import pipelines.ingest.read as read

    monkeypatch.setattr(read, "FAST_MIN_LINES", 0 if reader == "duckdb" else 10**9)
    monkeypatch.setattr(read, "PYTHON_RECORDS_MAX_BYTES", 1 << 20 if reader == "python" else 0)
    header = "num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;code_postal;loyer_mensuel_cc;montant_dette;beneficiaire_apl\n"
    body = [
        "CDP-1;01/02/2025;SCI Hélène;social;MARTIN Léa;1 rue Oberkampf;75011;500;10;oui",    # line 2
        "   ;;;;;;;;;",                                                                       # 3: blank
        "TCDP-2;01/02/2025;SCI Hélène;Privé Morale;PETIT Luc;2 rue Oberkampf;75011;500;10;OUI",  # 4: data
        "  Total général;;;;;;;;1000;",                                                       # 5: total
        "\u00a0TOTAL;;;;;;;;;",                                                               # 6: total
        ";tOtAl;;;;;;;;",                                                                     # 7: total
        "CDP-3;01/02/2025;SCI Hélène;PRIVE-PHYSIQUE;NGUYEN Van;3 rue Oberkampf;75011;500;10;Non",  # 8: data
        "tcdp-4;01/02/2025;SCI Hélène;prive_morale;DUPONT Zoé;4 rue Oberkampf;75011;500;10;n",  # 9: data
        ";;;;;;;;;",                                                                          # 10: blank
        "total des impayés;;;;;;;;2000;",                                                     # 11: total
    ]
    path = tmp_path / "cdp_habitudes.csv"
    path.write_bytes((header + "\n".join(body) + "\n").encode("utf-8"))
    con = connect(tmp_path / "w.duckdb")
    res = ingest_file(con, "cdp", path)
    staged = con.execute("select line_number, num_acte, bailleur_type, beneficiaire_apl from staging_cdp order by 1").fetchall()
    skipped = con.execute("select line_number, reason_code from skipped_lines order by 1").fetchall()
    con.close()
    assert (res.rows_read, res.rows_loaded, res.rows_quarantined, res.rows_skipped) == (10, 4, 0, 6)
    assert staged == [(2, "CDP-1", "social", True), (4, "TCDP-2", "prive_morale", True),
                      (8, "CDP-3", "prive_physique", False), (9, "tcdp-4", "prive_morale", False)]
    assert skipped == [(3, "blank_line"), (5, "total_line"), (6, "total_line"), (7, "total_line"), (10, "blank_line"),
                       (11, "total_line")]
