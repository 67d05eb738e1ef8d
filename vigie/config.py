"""Every path and setting in one place (cookiecutter-data-science habit)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO_ROOT / "data_contracts"
RULES_DIR = REPO_ROOT / "rules"
WAREHOUSE_SQL_DIR = REPO_ROOT / "warehouse"
MODELS_DIR = REPO_ROOT / "models"

DEFAULT_WAREHOUSE = Path("warehouse") / "vigie.duckdb"
DEFAULT_DEMO_DIR = Path("out") / "demo"

# Great Expectations re-checks loaded lines on pandas at ~0.1 M rows/s; past this many
# lines in one call it checks a seeded random sample of them (the SQL row rules check all).
GX_ROW_SAMPLE = 50_000

# A header wider than this is refused (no partner export has hundreds of columns; a
# 100 000-column header would make the typing SQL itself enormous).
MAX_COLUMNS = 500

# An xlsx whose parts would inflate past this is refused (zip bombs).
MAX_XLSX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """--warehouse, else $VIGIE_WAREHOUSE, else warehouse/vigie.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("VIGIE_WAREHOUSE")
    return Path(env) if env else DEFAULT_WAREHOUSE
