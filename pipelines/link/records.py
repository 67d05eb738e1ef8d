"""The records to link: the latest version of every accepted source record, with its
matching keys (names, address, postal code, landlord) and its deterministic keys."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.link.keys import fold, normalise_address, surname_and_first

# per source: the SQL giving, for each latest record, the fields linkage compares
_FIELDS = {
    "cdp": """select 'cdp' as source, r.source_key, null::varchar as surname, null::varchar as first_name,
                     s.locataire_nom as full_name, s.locataire_date_naissance as birth_date, s.adresse_voie as address,
                     s.code_postal as postal_code, s.bailleur_nom as landlord, s.num_acte as cdp_key,
                     null::varchar as procedure_key, null::varchar as tenancy_key""",
    "procedure": """select 'procedure', r.source_key, null, null, s.locataire_nom, null::date, s.adresse_voie,
                     s.code_postal, s.bailleur_nom, s.ref_cdp, s.num_procedure, null""",
    "bailleur": """select 'bailleur', r.source_key, s.locataire_nom, s.locataire_prenom, null, null::date, s.adresse_voie,
                     s.code_postal, s.bailleur_code, null, null, s.bailleur_code || '|' || s.ref_contrat""",
    "fsl": """select 'fsl', r.source_key, s.demandeur_nom, s.demandeur_prenom, null, s.demandeur_date_naissance,
                     s.adresse_voie, s.code_postal, null, null, null, null""",
}


def linkage_records(con) -> pd.DataFrame:
    """One row per latest source record: unique_id, source, source_key, surname, first_name,
    birth_date, number, street, postal_code, landlord, and the deterministic keys."""
    parts = [f"""{sql} from source_records r
                 join staging_{source} s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
                 where r.source = '{source}'""" for source, sql in _FIELDS.items()]
    ordered = f"{' union all '.join(parts)} order by source, source_key"  # the same records always in the same order
    return with_matching_keys(con.sql(ordered).to_arrow_table().to_pandas())


def with_matching_keys(df: pd.DataFrame) -> pd.DataFrame:
    """Raw fields (surname, first_name, full_name, birth_date, address, landlord, source,
    source_key) -> the compared keys and the record's unique_id."""
    df = df.copy()
    names = _each_distinct(surname_and_first, df["surname"], df["first_name"], df["full_name"])
    df["surname"] = [n[0] for n in names]
    df["first_name"] = [n[1] or None for n in names]
    addresses = _each_distinct(normalise_address, df["address"])
    df["number"] = [a[0] or None for a in addresses]
    df["street"] = [a[1] or None for a in addresses]
    df["landlord"] = _each_distinct(lambda x: fold(x) or None, df["landlord"])
    df["birth_date"] = pd.to_datetime(df["birth_date"]).dt.strftime("%Y-%m-%d")
    df["unique_id"] = df["source"] + "|" + df["source_key"]
    return df.drop(columns=["full_name", "address"])


def _each_distinct(func, *columns: pd.Series) -> list:
    """func(*row) for each row of the columns, computed once per distinct row (a household's
    name and address come back in every monthly list and every act of its procedure)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:  # each column's codes (missing values one code of their own), combined
        codes, uniques = pd.factorize(col, use_na_sentinel=False)
        key = pd.factorize(key * (len(uniques) + 1) + codes)[0]  # compact again: no overflow
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    values = np.empty(len(first), dtype=object)
    values[:] = [func(*(None if v is None or v != v else v for v in row))
                 for row in zip(*(col.to_numpy(dtype=object)[first] for col in columns))]
    return list(values[inverse])
