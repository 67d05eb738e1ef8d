"""`vigie purge --before DATE`: remove the nominative data of households whose situation
is closed and whose last event is older than the retention limit.

What goes: in every staging row of those households, the columns the contracts mark
`personal` (names, addresses, birth dates, comments). Names and addresses are replaced
by a keyed pseudonym of their value (HMAC, the analytics key), so that two records that
carried the same name still carry the same token and the household's linkage survives;
dates and comments are emptied. Quarantined lines of files ingested before the date
lose their raw text. What stays: the household ids, events, stages, indicators and the
analytics snapshot (pseudonymised already), and `purge_log`.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.analytics import pseudonym
from pipelines.contracts import all_contracts
from pipelines.warehouse import source_key_sql, staging_table


def _targets(con, before: date) -> list[str]:
    return [r[0] for r in con.execute("""
        select h.household_id from households h
        where h.last_seen < ?
          and h.household_id not in (select household_id from cases)
          and h.household_id not in (select household_id from purge_log)""", [before]).fetchall()]


def purge(con, before: date, key: bytes) -> dict:
    """Purge in one transaction; returns what was done (counts only)."""
    register_pseudonym_function(con, key)
    targets = _targets(con, before)
    summary = {"households": len(targets), "rows": {}, "quarantine_lines": 0}
    con.execute("begin transaction")
    try:
        con.register("_purged", pd.DataFrame({"household_id": targets}, dtype="string"))
        for contract in all_contracts():
            personal = [c for c in contract.columns if c.personal]
            if not personal:
                continue
            table = staging_table(contract.source)
            if contract.source == "suivi":
                where = "'M' || substr(case_id, 2) in (select household_id from _purged)"
            else:
                where = (f"{source_key_sql(contract)} in (select source_key from record_households "
                         f"where source = '{contract.source}' and household_id in (select household_id from _purged))")
            texts = [c for c in personal if c.kind not in ("date",) and c.name != "commentaire"]
            emptied = [c for c in personal if c not in texts]
            sets = [f"{c.ident} = case when {c.ident} is null then null else vigie_pseudonym({c.ident}) end" for c in texts]
            sets += [f"{c.ident} = null" for c in emptied]
            count = con.execute(f"select count(*) from {table} where {where}").fetchall()[0][0]
            if count:
                con.execute(f"update {table} set {', '.join(sets)} where {where}")
            summary["rows"][contract.source] = count
        summary["quarantine_lines"] = con.execute(
            "select count(*) from quarantine where raw is not null and ingest_id in "
            "(select ingest_id from ingest_log where ingested_at < ?)", [before]).fetchall()[0][0]
        con.execute("update quarantine set raw = null where raw is not null and ingest_id in "
                    "(select ingest_id from ingest_log where ingested_at < ?)", [before])
        con.execute("""insert into purge_log
                       select current_timestamp, ?, p.household_id, count(r.source_key)
                       from _purged p left join record_households r using (household_id) group by all""", [before])
        con.unregister("_purged")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    summary["exported_files_before"] = con.execute(
        "select count(*) from export_log where exported_at < ?", [before]).fetchall()[0][0]
    return summary


def register_pseudonym_function(con, key: bytes) -> None:
    """`vigie_pseudonym(text)` in SQL: the keyed pseudonym the analytics snapshot uses."""
    try:
        con.remove_function("vigie_pseudonym")
    except Exception:  # noqa: BLE001  (not registered yet)
        pass
    con.create_function("vigie_pseudonym", lambda value: pseudonym(key, value), ["VARCHAR"], "VARCHAR",
                        side_effects=False)
