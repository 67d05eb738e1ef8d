"""The analytics snapshot (INTERFACES.md): pseudonymised Parquet files in `analytics/`
beside the warehouse file, written at the end of each run, for analysts' notebooks.

No names, street addresses, birth dates or free-text comments; households appear under
a keyed pseudonym (HMAC-SHA256 of the household id with a secret key), stable across
runs as long as the key stays the same. Each file is written under a temporary name and
renamed, so a reader sees the previous file or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from pipelines.contracts import sql_str
from pipelines.indicators.charter import published

DEMO_KEY = b"vigie-demo-key-not-a-secret"


class PseudonymKeyMissing(Exception):
    """No key to pseudonymise with; the message says what to do."""


def is_demo(con) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_name = 'vigie_demo'")
                .fetchall()[0][0])


def pseudonym_key(con) -> bytes:
    """$VIGIE_PSEUDONYM_KEY, else the file named by $VIGIE_PSEUDONYM_KEY_FILE, else (demo only) a fixed key."""
    if os.environ.get("VIGIE_PSEUDONYM_KEY"):
        return os.environ["VIGIE_PSEUDONYM_KEY"].encode()
    path = os.environ.get("VIGIE_PSEUDONYM_KEY_FILE")
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise PseudonymKeyMissing(f"fichier de clé de pseudonymisation illisible ({path}) : {exc.strerror}") from exc
        if len(key) < 16:
            raise PseudonymKeyMissing(f"la clé de {path} est trop courte (16 caractères au moins)")
        return key
    if is_demo(con):
        return DEMO_KEY
    raise PseudonymKeyMissing(
        "clé de pseudonymisation absente : définissez VIGIE_PSEUDONYM_KEY, ou VIGIE_PSEUDONYM_KEY_FILE avec le "
        "chemin d'un fichier gardé hors du dépôt (par exemple `openssl rand -hex 32 > ~/.vigie_cle`) ; "
        "la même clé doit servir à chaque exécution pour que les pseudonymes restent stables")


def pseudonym(key: bytes, household_id: str) -> str:
    return "P" + hmac.new(key, household_id.encode(), hashlib.sha256).hexdigest()[:16]


def analytics_dir(con) -> Path | None:
    path = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchall()[0][0]
    return None if not path or path == ":memory:" else Path(path).resolve().parent / "analytics"


# age bands of the fairness audit (never a model input), shared by the model card and the snapshot
AGE_BANDS = [(0, 30, "moins de 30 ans"), (30, 45, "30-44 ans"), (45, 60, "45-59 ans"), (60, 200, "60 ans et plus")]

# each household's tenant's birth date, as the commandement or the FSL application gives it
BIRTHS_SQL = """
    select r.household_id, min(coalesce(c.locataire_date_naissance, f.demandeur_date_naissance)) as birth
    from source_records r
    left join staging_cdp c on r.source = 'cdp' and c.ingest_id = r.ingest_id and c.line_number = r.line_number
    left join staging_fsl f on r.source = 'fsl' and f.ingest_id = r.ingest_id and f.line_number = r.line_number
    where r.household_id is not null group by 1"""


def _age_band_sql(age: str) -> str:
    cases = " ".join(f"when {age} < {hi} then '{name}'" for _, hi, name in AGE_BANDS)
    return f"case when {age} is null then 'inconnu' {cases} end"


QUERIES = {
    "households": f"""
        with births as ({BIRTHS_SQL})
        select p.pseudonym, h.arrondissement, h.bailleur_type, h.first_seen, h.last_seen,
               {_age_band_sql("date_diff('year', b.birth, current_date)")} as age_band
        from households h join _pseudo p using (household_id) left join births b using (household_id)""",
    "case_events": """
        select p.pseudonym, e.event_date, e.event, e.source, try_cast(e.details ->> 'debt' as double) as debt,
               try_cast(e.details ->> 'monthly_rent' as double) as monthly_rent,
               try_cast(e.details ->> 'hearing' as date) as hearing, e.details ->> 'outcome' as outcome
        from case_events e join _pseudo p using (household_id)""",
    "cases": """
        select p.pseudonym, c.as_of, c.stage, c.stage_since, c.next_deadline, c.next_deadline_kind, c.deadline_passed,
               c.debt, c.monthly_rent, c.risk_score, c.risk_reasons, c.model_version, c.destination, c.co_destinations,
               c.priority_rank, c.within_capacity, c.urgent, c.levers, c.charter_actions
        from cases c join _pseudo p using (household_id)""",
    "evaluation_draws": """
        select d.drawn_at, d.as_of, d.seed, d.destination, p.pseudonym, d.tier, d.rank_before, d.rank_after
        from evaluation_draws d join cases c using (case_id) join _pseudo p using (household_id)""",
}

DICTIONARY = """# Instantané analytique de Vigie (pseudonymisé)

Écrit à la fin de chaque `vigie run`, à côté de l'entrepôt. Aucun nom, aucune adresse, aucune date de
naissance, aucun commentaire libre. `pseudonym` désigne un ménage par une clé HMAC-SHA256 de son
identifiant : stable d'une exécution à l'autre tant que la clé reste la même, impossible à inverser
sans elle. Les notebooks (`notebooks/`) ne lisent que ces fichiers.

| fichier | une ligne par | colonnes |
|---|---|---|
| `households.parquet` | ménage | `pseudonym`, `arrondissement` (1..20), `bailleur_type` (social, prive_physique, prive_morale), `first_seen`, `last_seen`, `age_band` (tranche d'âge du locataire : audit d'équité seulement) |
| `case_events.parquet` | événement daté | `pseudonym`, `event_date`, `event` (stade ou sortie, voir DOMAIN.md), `source`, `debt`, `monthly_rent`, `hearing` (date d'audience), `outcome` (issue du jugement) |
| `cases.parquet` | situation ouverte à la date du dernier `run` | `pseudonym`, `as_of`, `stage`, `stage_since`, `next_deadline`, `next_deadline_kind`, `deadline_passed`, `debt`, `monthly_rent`, `risk_score` (0..1), `risk_reasons`, `model_version`, `destination`, `co_destinations`, `priority_rank`, `within_capacity`, `urgent`, `levers`, `charter_actions` |
| `charter_indicators.parquet` | valeur d'indicateur | `period`, `period_kind` (mois, annee), `action_id`, `indicator`, `detail`, `value`, `base` (ménages comptés), `scope` (paris, 01..20), `landlord` (tous, social, prive, inconnu), `as_of`, `published_value` (texte publié : effectifs sous 11 affichés `<11`) |
| `model_evaluation.parquet` | classement comparé | `model_version`, `classement`, `précision@40`, `IC95 bas`, `IC95 haut`, `AUC`, `ECE` (période de test du modèle courant) |
| `model_fairness.parquet` | groupe | `model_version`, `attribut`, `groupe`, `cas`, `passages`, `précision@k`, `taux de faux négatifs`, `risque prédit`, `taux observé`, `signalé` |
| `evaluation_draws.parquet` | cas d'un tirage du mode évaluation | `drawn_at`, `as_of`, `seed`, `destination`, `pseudonym`, `tier`, `rank_before`, `rank_after` |

Les valeurs brutes (`value`) servent à l'analyse ; toute publication reprend `published_value`.
"""


def _copy(con, sql: str, path: Path) -> int:
    """A query's rows written to `path` as Parquet (under a temporary name, then renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = con.execute(f"copy ({sql}) to {sql_str(str(tmp))} (format parquet)").fetchall()[0][0]
    os.replace(tmp, path)
    return written


def _replace(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_snapshot(con, key: bytes, folder: Path | None = None) -> dict | None:
    """Write every file of the snapshot; returns {file: rows}, or None for an in-memory warehouse."""
    folder = folder or analytics_dir(con)
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    ids = [r[0] for r in con.execute("select household_id from households").fetchall()]
    con.register("_pseudo", pd.DataFrame({"household_id": ids, "pseudonym": [pseudonym(key, h) for h in ids]}))
    rows = {}
    try:  # the warehouse's tables straight to Parquet by DuckDB (through pandas they took 4 times longer)
        for name, sql in QUERIES.items():
            rows[name] = _copy(con, sql, folder / f"{name}.parquet")
    finally:
        con.unregister("_pseudo")
    frames = {}
    ind = con.execute("select distinct * from charter_indicators").fetchdf()
    ind["published_value"] = [published(v, i) for v, i in zip(ind["value"], ind["indicator"], strict=True)]
    frames["charter_indicators"] = ind
    from pipelines.risk import model as risk_model  # (scikit-learn and skops: imported only here)

    version = risk_model.current_version()
    model_folder = risk_model.models_dir() / version if version else None
    for name, csv in (("model_evaluation", "evaluation.csv"), ("model_fairness", "fairness.csv")):
        if model_folder and (model_folder / csv).exists():
            frames[name] = pd.read_csv(model_folder / csv).assign(model_version=version)
    for name, frame in frames.items():
        _replace(frame, folder / f"{name}.parquet")
        rows[name] = len(frame)
    dictionary = folder / "DICTIONARY.md"
    tmp = dictionary.with_name(".DICTIONARY.md.tmp")
    tmp.write_text(DICTIONARY, encoding="utf-8")
    os.replace(tmp, dictionary)
    return rows
