"""Prefect wiring for `vigie ingest`: one task per batch of files (one transaction each),
one validation task, artifacts."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.ingest.load import BATCH_FILES, IngestResult, ingest_batch, iter_files, validate_loaded
from pipelines.ingest.report import ingest_table_rows, validation_markdown
from pipelines.warehouse import connect


@task(cache_policy=NO_CACHE)
def ingest_some(con, source: str, paths: list[Path], as_of: date, on_file=None) -> list[IngestResult]:
    """Load partner files, read and typed together, in one transaction."""
    return ingest_batch(con, source, paths, as_of, on_file)


@task(cache_policy=NO_CACHE)
def validate(con, source: str, results: list[IngestResult], as_of: date) -> list:
    """Great Expectations on the batches just loaded."""
    return validate_loaded(con, source, results, as_of)


@flow(name="vigie-ingest", log_prints=False)
def ingest_flow(source: str, paths: list[str], warehouse: str, as_of: date | None = None,
                progress: bool = False) -> list[dict]:
    as_of = as_of or date.today()
    files = iter_files([Path(p) for p in paths])
    con = connect(warehouse)
    try:
        results = []
        with _progress(progress, f"Chargement {source}", len(files)) as advance:
            for start in range(0, len(files), BATCH_FILES):
                results += ingest_some(con, source, files[start:start + BATCH_FILES], as_of,
                                       lambda _res: advance())
        outcomes = validate(con, source, results, as_of)
    finally:
        con.close()
    publish_artifacts(source, results, outcomes)
    return [r.as_dict() for r in results]


def publish_artifacts(source: str, results: list[IngestResult], outcomes: list) -> None:
    create_table_artifact(key=f"ingest-{source}", table=ingest_table_rows(results),
                          description=f"Fichiers « {source} » : lus, chargés, en quarantaine, ignorés, statut")
    if outcomes:
        create_markdown_artifact(key=f"validation-{source}", markdown=validation_markdown(source, outcomes),
                                 description=f"Great Expectations : suite « {source} »")


class _progress:
    """A rich progress bar when asked (the CLI on a terminal), nothing otherwise."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.enabled, self.label, self.total = enabled, label, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), transient=True)
        self.bar.start()
        task_id = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task_id)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()
        return False
