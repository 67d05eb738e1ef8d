"""What an ingestion says to people: artifact tables and the validation summary (no personal data)."""
from __future__ import annotations

from collections import defaultdict


def ingest_table_rows(results) -> list[dict]:
    return [{"fichier": r.file_path, "lues": r.rows_read, "chargées": r.rows_loaded,
             "quarantaine": r.rows_quarantined, "ignorées": r.rows_skipped, "statut": r.status,
             "message": r.message} for r in results]


def validation_markdown(source: str, outcomes) -> str:
    """Each expectation of the suite with its counts, in a Markdown table."""
    lines = [f"# Validation Great Expectations : {source}", "",
             "| niveau | attente | colonne | résultat | lignes ou fichiers en échec |",
             "|---|---|---|---|---|"]
    for o in outcomes:
        failed = len(o.unexpected) if o.unexpected else (o.unexpected_count or 0)
        lines.append(f"| {'ligne' if o.level == 'row' else 'fichier'} | `{o.expectation}` | {o.column or ''} | "
                     f"{'✅' if o.success else '❌'} | {failed if not o.success else 0} |")
    return "\n".join(lines)


def summarise(results: list[dict]) -> dict:
    """Totals over ingestion results (as dicts)."""
    totals = defaultdict(int)
    for r in results:
        totals["files"] += 1
        totals[r["status"]] += 1
        for k in ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped"):
            totals[k] += r[k]
    return dict(totals)
