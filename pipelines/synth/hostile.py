"""Hostile files for fuzzing the readers: random bytes, truncated exports, mixed encodings,
giant lines, very wide headers, nested quotes, damaged and inflating xlsx. Each kind is a
function of a seeded random generator, so a failure is replayed from (kind, seed)."""
from __future__ import annotations

import io
import random
import zipfile

CDP_HEADER = ["num_acte", "date_signification", "bailleur_nom", "bailleur_type", "locataire_nom", "adresse_voie",
              "code_postal", "loyer_mensuel_cc", "montant_dette"]
NAMES = ["DIALLO Aïcha", "NGUYỄN Văn", "O'BRIEN Seán", "MÜLLER Jürgen", "DUPONT Jean-Édouard", "Ø STRØM", "李 伟"]
QUOTES = ['"', '""', '"""', "'", '\\"', '";"', '"\n"', '\r', '\x00']


def _row(rng: random.Random, n: int) -> list[str]:
    day = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(20, 26)}"
    return [f"CDP-{n}", day, "SCI Horizon", rng.choice(["prive_morale", "social", "?"]), rng.choice(NAMES),
            f"{rng.randint(1, 99)} rue Myrha", rng.choice(["75018", "75116", "750", "13001"]),
            f"{rng.randint(300, 2000)},00", f"{rng.randint(0, 20000)},{rng.randint(0, 99):02d}"]


def _csv(rows: list[list[str]], sep: str = ";") -> str:
    out = []
    for r in rows:
        out.append(sep.join('"' + v.replace('"', '""') + '"' if (sep in v or '"' in v or "\n" in v) else v for v in r))
    return "\n".join(out) + "\n"


def valid_csv(rng: random.Random) -> bytes:
    rows = [CDP_HEADER] + [_row(rng, i) for i in range(rng.randint(1, 30))]
    return _csv(rows, rng.choice([";", ",", "\t"])).encode(rng.choice(["utf-8", "utf-8-sig", "cp1252"]), "replace")


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 4096))


def truncated(rng: random.Random) -> bytes:
    data = valid_csv(rng)
    return data[: rng.randint(0, len(data))]


def mixed_encodings(rng: random.Random) -> bytes:
    lines = _csv([CDP_HEADER] + [_row(rng, i) for i in range(rng.randint(2, 20))]).splitlines()
    encs = ["utf-8", "cp1252", "latin-1", "utf-16-le", "mac_roman"]
    return b"\n".join(line.encode(rng.choice(encs), "replace") for line in lines) + b"\n"


def nested_quotes(rng: random.Random) -> bytes:
    rows = [CDP_HEADER]
    for i in range(rng.randint(1, 15)):
        r = _row(rng, i)
        for _ in range(rng.randint(1, 4)):
            j = rng.randrange(len(r))
            r[j] = r[j][: rng.randint(0, len(r[j]))] + rng.choice(QUOTES) + r[j][rng.randint(0, len(r[j])):]
        rows.append(r)
    text = "\n".join(";".join(r) for r in rows) + "\n"  # no quoting: the quotes stay hostile
    return text.encode("utf-8", "replace")


def giant_line(rng: random.Random) -> bytes:
    rows = [CDP_HEADER] + [_row(rng, i) for i in range(3)]
    rows[2][4] = "X" * rng.randint(1_000_000, 3_000_000)
    return _csv(rows).encode()


def wide_header(rng: random.Random) -> bytes:
    extra = [f"col{i}" for i in range(100_000)]
    header = CDP_HEADER + extra
    row = _row(rng, 1) + [""] * len(extra)
    return (";".join(header) + "\n" + ";".join(row) + "\n").encode()


def hostile_header(rng: random.Random) -> bytes:
    header = list(CDP_HEADER)
    header.insert(rng.randrange(len(header)), rng.choice(['x"; drop table quarantine; --', "'); delete from ingest_log; --",
                                                           "a\x00b", "${jndi:ldap://x}", "=cmd|' /C calc'!A0", "é" * 300]))
    rows = [header] + [_row(rng, i) + ["z"] for i in range(3)]
    return _csv(rows).encode()


def damaged_xlsx(rng: random.Random) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(rng.choice(["xl/workbook.xml", "../../evil.xml", "xl/worksheets/sheet1.xml"]),
                   rng.randbytes(rng.randint(0, 2000)))
    data = buf.getvalue()
    return data if rng.random() < 0.5 else data[: rng.randint(0, len(data))]


def xlsx_bomb(rng: random.Random) -> bytes:
    """An xlsx whose one sheet inflates to about 600 MB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<row>" + b"0" * 600_000_000 + b"</row>")
    return buf.getvalue()


KINDS = {  # kind -> (generator, file suffix, share of draws)
    "random_bytes": (random_bytes, ".csv", 20), "truncated": (truncated, ".csv", 20),
    "mixed_encodings": (mixed_encodings, ".csv", 15), "nested_quotes": (nested_quotes, ".csv", 20),
    "valid": (valid_csv, ".csv", 10), "hostile_header": (hostile_header, ".csv", 8),
    "damaged_xlsx": (damaged_xlsx, ".xlsx", 5), "giant_line": (giant_line, ".csv", 1),
    "wide_header": (wide_header, ".csv", 1),
}


def draw_kind(rng: random.Random) -> str:
    names = list(KINDS)
    return rng.choices(names, weights=[KINDS[k][2] for k in names])[0]


def make(kind: str, seed: int) -> tuple[bytes, str]:
    generator, suffix, _ = KINDS[kind]
    return generator(random.Random(seed)), suffix


DATA_TABLES = ("staging_cdp", "quarantine", "skipped_lines")


def _sums(con) -> dict:
    return {t: con.execute(f"select count(*), coalesce(sum(hash(x)), 0) from {t} x").fetchall()[0] for t in DATA_TABLES}


def check(con, path, ingest_file) -> tuple[str, list[str]]:
    """Ingest one hostile file as `cdp`; (status, broken promises). Promises: no exception;
    a loaded file is whole and every line accounted for; anything else changes no data."""
    before = _sums(con)
    try:
        res = ingest_file(con, "cdp", path)
    except Exception as exc:  # noqa: BLE001  (the finding itself)
        return "exception", [f"{type(exc).__name__}: {str(exc)[:300]}"]
    broken = []
    if res.status == "loaded":
        if res.rows_read != res.rows_loaded + res.rows_quarantined + res.rows_skipped:
            broken.append(f"conservation: {res.rows_read} lues != {res.rows_loaded}+{res.rows_quarantined}+{res.rows_skipped}")
        staged = con.execute("select count(*) from staging_cdp where ingest_id = ?", [res.ingest_id]).fetchall()[0][0]
        quarantined = con.execute("select count(*) from quarantine where ingest_id = ?", [res.ingest_id]).fetchall()[0][0]
        if (staged, quarantined) != (res.rows_loaded, res.rows_quarantined):
            broken.append(f"half loaded: staging {staged}/{res.rows_loaded}, quarantine {quarantined}/{res.rows_quarantined}")
    else:
        if _sums(con) != before:
            broken.append(f"{res.status} but the data changed")
        if not res.message:
            broken.append(f"{res.status} without a message")
    if "quarantine" not in {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}:
        broken.append("a table disappeared")
    return res.status, broken
