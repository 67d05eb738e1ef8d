"""The records to link: the latest version of every accepted source record, with its
matching keys (names, address, postal code, landlord) and its deterministic keys."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.helper import Helper, shared
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


# below this many distinct names and addresses, a helper process costs more than it saves
SPLIT_MIN_DISTINCT = 100_000


def linkage_records(con, helper: Helper | None = None) -> pd.DataFrame:
    """One row per latest source record: unique_id, source, source_key, surname, first_name,
    birth_date, number, street, postal_code, landlord, and the deterministic keys. `helper`: a
    process that works out half of the matching keys (`pipelines/helper.py`)."""
    parts = [f"""{sql} from source_records r
                 join staging_{source} s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
                 where r.source = '{source}'""" for source, sql in _FIELDS.items()]
    ordered = f"{' union all '.join(parts)} order by source, source_key"  # the same records always in the same order
    return with_matching_keys(con.sql(ordered).to_arrow_table().to_pandas(), helper)


def with_matching_keys(df: pd.DataFrame, helper: Helper | None = None) -> pd.DataFrame:
    """Raw fields (surname, first_name, full_name, birth_date, address, landlord, source,
    source_key) -> the compared keys and the record's unique_id. The keys are worked out once
    per distinct name and address; with a helper, the second half of them there meanwhile."""
    df = df.copy()
    names, name_of = _distinct(df["surname"], df["first_name"], df["full_name"])
    addresses, address_of = _distinct(df["address"])
    if helper is not None and len(names) + len(addresses) >= max(SPLIT_MIN_DISTINCT, 1):
        n, a = len(names) // 2, len(addresses) // 2
        mine, theirs = shared(helper, _keys, (names[:n], addresses[:a]), (names[n:], addresses[a:]))
        keys = (mine[0] + theirs[0], mine[1] + theirs[1])
    else:
        keys = _keys(names, addresses)
    names, addresses = _spread(keys[0], name_of), _spread(keys[1], address_of)
    df["surname"] = [n[0] for n in names]
    df["first_name"] = [n[1] or None for n in names]
    df["number"] = [a[0] or None for a in addresses]
    df["street"] = [a[1] or None for a in addresses]
    landlords, landlord_of = _distinct(df["landlord"])
    df["landlord"] = _spread([fold(x) or None for (x,) in landlords], landlord_of)
    df["birth_date"] = pd.to_datetime(df["birth_date"]).dt.strftime("%Y-%m-%d")
    df["unique_id"] = df["source"] + "|" + df["source_key"]
    return df.drop(columns=["full_name", "address"])


def _keys(names: list[tuple], addresses: list[tuple]) -> tuple[list, list]:
    """The matching keys of distinct (surname, first name, full name) and (address,) rows."""
    return [surname_and_first(*row) for row in names], [normalise_address(*row) for row in addresses]


def _distinct(*columns: pd.Series) -> tuple[list[tuple], np.ndarray]:
    """The distinct rows of the columns (missing values as None), and each row's position among
    them (a household's name and address come back in every monthly list and every act of its
    procedure: the keys are worked out once per distinct row). Arrow encodes each column (pandas'
    factorize of the same text columns took three times as long at L)."""
    arrays = [text_array(col) for col in columns]
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for array in arrays:  # each column's codes (missing values one code of their own), combined
        encoded = pc.dictionary_encode(array)
        size = len(encoded.dictionary) + 1
        codes = encoded.indices.fill_null(size - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        key = pd.factorize(key * size + codes)[0]  # compact again: no overflow
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    first = pa.array(first)
    return list(zip(*(array.take(first).to_pylist() for array in arrays))), inverse


def text_array(col: pd.Series) -> pa.Array:
    """A text column as one Arrow array (no copy when pandas already keeps it in Arrow)."""
    array = pa.array(col, from_pandas=True) if isinstance(col.array, pd.arrays.ArrowStringArray) \
        else pa.array(col, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _spread(values: list, inverse: np.ndarray) -> list:
    """Each row's value, from the values of the distinct rows."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return list(out[inverse])
