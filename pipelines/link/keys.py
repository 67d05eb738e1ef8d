"""Matching keys: the same household written differently by each partner.

Names: case, accents, civilities, `NOM Prénom` vs separate fields, co-tenants `A / B`,
letters a Windows-1252 export turned into `?`. Addresses: street-type abbreviations,
`bis`/`ter`/`B`, commas, building/staircase/floor moved to a complement. Postal codes:
75001..75020 and 75116 give the arrondissement; CEDEX codes are not homes.
"""
from __future__ import annotations

import re
import unicodedata

CIVILITIES = {"M", "MR", "MME", "MLLE", "MONSIEUR", "MADAME", "MADEMOISELLE", "OU", "ET"}
STREET_TYPES = {
    "R": "RUE", "RUE": "RUE", "AV": "AVENUE", "AVE": "AVENUE", "AVENUE": "AVENUE",
    "BD": "BOULEVARD", "BOUL": "BOULEVARD", "BLD": "BOULEVARD", "BOULEVARD": "BOULEVARD",
    "IMP": "IMPASSE", "IMPASSE": "IMPASSE", "PASS": "PASSAGE", "PAS": "PASSAGE", "PASSAGE": "PASSAGE",
    "QU": "QUAI", "QUAI": "QUAI", "PL": "PLACE", "PLACE": "PLACE", "ALL": "ALLEE", "ALLEE": "ALLEE",
    "CITE": "CITE", "SQ": "SQUARE", "SQUARE": "SQUARE", "VLA": "VILLA", "VILLA": "VILLA", "CH": "CHEMIN",
}
SUFFIXES = {"B": "BIS", "BIS": "BIS", "T": "TER", "TER": "TER", "Q": "QUATER", "QUATER": "QUATER"}
COMPLEMENT = re.compile(r"\b(BAT|BATIMENT|ESC|ESCALIER|ETAGE|ET|APPT|APT|PORTE|LOGEMENT|LGT)\b")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_NUMBER_FIRST = re.compile(r"^(\d+)\s*([A-Z]+)?\s+(.*)$")


def fold(text: str | None) -> str:
    """Upper case, no accents, `?` (a letter lost by an export) dropped, punctuation to spaces."""
    if text is None or text != text or not str(text).strip():  # None, NaN (a missing value), blank
        return ""
    t = str(text)
    if not t.isascii():
        t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode()
    t = t.upper().replace("?", "").replace("'", "")
    return _NOT_ALNUM.sub(" ", t).strip()


def split_tenants(text: str | None) -> list[str]:
    return [p.strip() for p in str(text or "").split("/") if p.strip()]


def split_full_name(text: str | None) -> tuple[str, str]:
    """`DUPONT Hélène`, `Mme BEN SAÏD Karim`, `Dupont Helene` -> (surname, first name), folded.
    The surname is the leading run of upper-case words; failing that, the first word."""
    first_tenant = (split_tenants(text) or [""])[0]
    words = [w for w in re.split(r"\s+", first_tenant.strip()) if w]
    while len(words) > 2 and fold(words[0]) in CIVILITIES:  # `Mme ou M. DUPONT Hélène`
        words = words[1:]
    upper = []
    for w in words:
        letters = [c for c in w if c.isalpha()]
        if letters and all(c.isupper() for c in letters) and len(upper) < len(words) - 1:
            upper.append(w)
        else:
            break
    if not upper:
        upper = words[:1]
    rest = words[len(upper):]
    return fold(" ".join(upper)), fold(" ".join(rest))


def surname_and_first(surname: str | None, first_name: str | None, full: str | None) -> tuple[str, str]:
    """One (surname, first name) pair whichever way the partner wrote it."""
    surname, first_name, full = (x if x == x else None for x in (surname, first_name, full))  # NaN -> None
    if surname and (first_name or not full):
        return fold((split_tenants(surname) or [""])[0]), fold(first_name)
    return split_full_name(full or surname)


def normalise_address(text: str | None) -> tuple[str, str, str]:
    """(number with suffix, street, complement): `12B, r. de la Roquette, Bât. B` ->
    ('12 BIS', 'RUE DE LA ROQUETTE', 'BAT B')."""
    t = fold(text)
    complement = ""
    m = COMPLEMENT.search(t)
    if m and m.start() > 0:
        t, complement = t[:m.start()].strip(), t[m.start():].strip()
    m = _NUMBER_FIRST.match(t)
    if not m:
        return "", t, complement
    number, maybe_suffix, street = m.group(1), m.group(2) or "", m.group(3)
    if maybe_suffix and maybe_suffix not in SUFFIXES:
        street = f"{maybe_suffix} {street}"
        maybe_suffix = ""
    words = street.split()
    if words and words[0] in SUFFIXES and len(words) > 1 and words[1] in STREET_TYPES:
        maybe_suffix, words = words[0], words[1:]
    if words and words[0] in STREET_TYPES:
        words[0] = STREET_TYPES[words[0]]
    suffix = SUFFIXES.get(maybe_suffix, "")
    return (f"{number} {suffix}".strip(), " ".join(words), complement)


def arrondissement(postal_code: str | None) -> int | None:
    code = str(postal_code or "").strip()
    if code == "75116":
        return 16
    if re.fullmatch(r"750(0[1-9]|1[0-9]|20)", code):
        return int(code[3:])
    return None
