"""A synthetic Paris: the five partner sources written as SOURCES.md describes them,
with their real-world mess, and the truth kept aside (truth/*.csv) for tests and training.

    generate(out_dir, households=5000, seed=0)  ->  Manifest
"""
from __future__ import annotations

import csv
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pipelines.contracts import load_contract
from pipelines.synth.formats import Profile, as_written, format_value, write_file
from pipelines.synth.people import ETUDES, STREET_ABBREV, Household
from pipelines.synth.world import World

DEFECT_RATE = 0.015

# Each partner's export habits; a partner changes its export tool once, mid-period.
PROFILES = {
    "cdp": [Profile(encoding="cp1252", delimiter=";", date_fmt="%d/%m/%Y", amount_fmt="fr_euro",
                    header_style="alias", newline="\r\n", total_line=True, trailing_blank_lines=2,
                    extra_column="Observations"),
            Profile(encoding="utf-8-sig", delimiter=";", date_fmt="%Y-%m-%d", amount_fmt="fr",
                    bool_fmt=("O", "N"), header_style="upper", shuffle_columns=True, total_line=True)],
    "procedure": [Profile(encoding="utf-8", delimiter=",", date_fmt="%d/%m/%Y", amount_fmt="en",
                          header_style="canonical"),
                  Profile(encoding="utf-8", delimiter="\t", date_fmt="%d/%m/%y", amount_fmt="fr_space",
                          header_style="title", shuffle_columns=True, trailing_blank_lines=1)],
    "fsl": [Profile(kind="xlsx", date_fmt="cell", amount_fmt="number", header_style="alias"),
            Profile(kind="xlsx", date_fmt="%d/%m/%Y", amount_fmt="fr", header_style="title",
                    shuffle_columns=True, total_line=True)],
}
LANDLORD_PROFILES = {
    "PARIS-HABITAT": Profile(kind="xlsx", date_fmt="cell", amount_fmt="number", bool_fmt=("oui", "non"),
                             header_style="canonical", total_line=True),
    "RIVP": Profile(encoding="cp1252", delimiter=";", date_fmt="%d/%m/%Y", amount_fmt="fr_dot",
                    bool_fmt=("O", "N"), header_style="alias", newline="\r\n", total_line=True),
    "ELOGIE-SIEMP": Profile(kind="xlsx", date_fmt="serial", amount_fmt="number", bool_fmt=("1", "0"),
                            header_style="title", shuffle_columns=True),
    "3F": Profile(encoding="utf-8", delimiter=",", date_fmt="%Y-%m-%d", amount_fmt="en",
                  bool_fmt=("true", "false"), header_style="upper", extra_column="Agence"),
    "ICF": Profile(encoding="utf-8-sig", delimiter="\t", date_fmt="%d/%m/%Y", amount_fmt="fr",
                   bool_fmt=("vrai", "faux"), header_style="canonical", trailing_blank_lines=3),
    "CDC-HABITAT": Profile(kind="xlsx", date_fmt="%d/%m/%Y", amount_fmt="fr_euro", header_style="alias"),
}


@dataclass
class Manifest:
    out_dir: Path
    files: dict[str, list[Path]] = field(default_factory=dict)
    households: int = 0
    records: int = 0
    defects: int = 0

    def all_files(self) -> list[tuple[str, Path]]:
        return [(s, p) for s in ("cdp", "bailleur", "fsl", "procedure", "suivi") for p in self.files.get(s, [])]


def _strip_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


class PartnerWriter:
    def __init__(self, world: World, out_dir: Path, seed: int, today: date, defect_rate: float = DEFECT_RATE):
        self.world, self.out = world, out_dir
        self.defect_rate = defect_rate
        self.rng = random.Random(seed + 1)
        self.today = today
        self.truth_records: list[dict] = []
        self.truth_files: list[dict] = []
        self.manifest = Manifest(out_dir)
        self.switch_day = world.start + (world.end - world.start) / 2

    # ------------------------------------------------------------- name/address habits
    def typo(self, name: str, rate: float = 0.04) -> str:
        """A clerk's slip, now and then: two letters swapped, or one dropped."""
        if len(name) < 4 or self.rng.random() >= rate:
            return name
        i = self.rng.randrange(1, len(name) - 2)
        if self.rng.random() < 0.5:
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        return name[:i] + name[i + 1:]

    def person_full(self, hh: Household) -> str:
        names = []
        for p in hh.tenants:
            text = f"{self.typo(p.surname).upper()} {p.first_name}"
            if self.rng.random() < 0.08:
                text = self.rng.choice(["M. ", "Mme ", "Mme ou M. "]) + text
            names.append(text)
        return " / ".join(names)

    def street(self, hh: Household, abbreviate: bool, with_complement: bool = False) -> str:
        num = f"{hh.number}"
        if hh.suffix:
            num += self.rng.choice([f" {hh.suffix}", hh.suffix[0].upper(), f" {hh.suffix[0].upper()}"]) if abbreviate else f" {hh.suffix}"
        stype = self.rng.choice(STREET_ABBREV[hh.street_type]) if abbreviate else hh.street_type
        text = f"{num}{',' if abbreviate and self.rng.random() < 0.2 else ''} {stype} {hh.street_name}"
        if with_complement and hh.complement:
            text += f", {hh.complement}"
        return text.upper() if abbreviate and self.rng.random() < 0.15 else text

    # ------------------------------------------------------------- rows per source
    def cdp_rows(self):
        for hh in self.world.households:
            for ev in hh.events:
                if ev.kind not in ("cdp", "cdp_resent"):
                    continue
                first = hh.tenants[0]
                row = {
                    "num_acte": ev.data["num_acte"],
                    "date_signification": next(e.day for e in hh.events if e.kind == "cdp"),
                    "etude_commissaire": self.rng.choice(ETUDES), "bailleur_nom": hh.bailleur_nom,
                    "bailleur_type": hh.bailleur_type, "locataire_nom": self.person_full(hh),
                    "locataire_date_naissance": first.birth_date if self.rng.random() < 0.6 else None,
                    "adresse_voie": self.street(hh, abbreviate=self.rng.random() < 0.3),
                    "adresse_complement": hh.complement or None,
                    "code_postal": hh.postal_code, "loyer_mensuel_cc": hh.monthly_rent,
                    "montant_dette": ev.data["debt"], "nb_mois_impayes": ev.data["months"],
                    "beneficiaire_apl": hh.apl if self.rng.random() < 0.8 else None,
                    "date_bail": hh.lease_date if self.rng.random() < 0.7 else None,
                }
                if row["adresse_complement"] and self.rng.random() < 0.02:
                    row["adresse_complement"] = row["adresse_complement"].replace(", ", "\n")  # a line break in a cell
                yield ev.day, hh, row

    def procedure_rows(self):
        acts = ("assignation", "jugement", "cql", "requisition_cfp", "octroi_cfp", "refus_cfp",
                "expulsion_effective", "desistement")
        for hh in self.world.households:
            for ev in hh.events:
                if ev.kind not in acts:
                    continue
                name = f"{self.typo(hh.tenants[0].surname).upper()} {hh.tenants[0].first_name}"
                row = {
                    "num_procedure": ev.data["num_procedure"], "ref_cdp": ev.data["ref_cdp"] or None,
                    "type_acte": ev.kind, "date_acte": ev.day,
                    "date_audience": ev.data.get("hearing"), "issue_jugement": ev.data.get("issue"),
                    "locataire_nom": _strip_accents(name) if self.rng.random() < 0.3 else name,
                    "adresse_voie": self.street(hh, abbreviate=self.rng.random() < 0.5, with_complement=self.rng.random() < 0.3),
                    "code_postal": hh.postal_code, "bailleur_nom": hh.bailleur_nom,
                    "montant_dette": ev.data.get("debt"),
                }
                yield ev.day, hh, row
                if self.rng.random() < 0.03:  # the same act re-sent in the next month's file
                    yield ev.day + timedelta(days=31), hh, row

    def bailleur_rows(self):
        for hh in self.world.households:
            for ev in hh.events:
                if ev.kind != "snapshot":
                    continue
                first = hh.tenants[0]
                row = {
                    "bailleur_code": hh.bailleur_code, "date_extraction": ev.day, "ref_contrat": hh.ref_contrat,
                    "locataire_nom": self.typo(first.surname.upper() if self.rng.random() < 0.7 else first.surname, 0.01),
                    "locataire_prenom": first.first_name if self.rng.random() < 0.9 else None,
                    "adresse_voie": self.street(hh, abbreviate=self.rng.random() < 0.6),
                    "code_postal": hh.postal_code, "loyer_mensuel_cc": hh.monthly_rent,
                    "solde_impaye": ev.data["solde"], "date_premier_impaye": ev.data["first_unpaid"],
                    "plan_apurement": ev.data["plan"], "plan_respecte": ev.data["plan_kept"],
                    "stade_contentieux": ev.data["stage"], "fragilite_signalee": hh.fragile,
                    "nb_occupants": hh.adults + hh.children_under_14 + hh.children_14_plus,
                }
                yield ev.day, hh, row

    def fsl_rows(self):
        for hh in self.world.households:
            depots = {e.data["num_dossier"]: e for e in hh.events if e.kind == "fsl_depot"}
            for ev in hh.events:
                if ev.kind not in ("fsl_depot", "fsl_decision"):
                    continue
                depot = depots[ev.data["num_dossier"]]
                first = hh.tenants[0]
                decided = ev.kind == "fsl_decision"
                row = {
                    "num_dossier": ev.data["num_dossier"], "date_depot": depot.day, "type_aide": "maintien",
                    "demandeur_nom": self.typo(first.surname), "demandeur_prenom": first.first_name,
                    "demandeur_date_naissance": first.birth_date,
                    "adresse_voie": self.street(hh, abbreviate=self.rng.random() < 0.4, with_complement=True),
                    "code_postal": hh.postal_code, "nb_adultes": hh.adults,
                    "nb_enfants_moins_14": hh.children_under_14, "nb_enfants_14_plus": hh.children_14_plus,
                    "ressources_mensuelles": hh.income, "montant_dette_declaree": depot.data["debt"],
                    "decision": ev.data["decision"] if decided else "en_cours",
                    "date_decision": ev.day if decided else None,
                    "montant_accorde": ev.data.get("amount") if decided else None,
                    "motif_refus": "ressources au-dessus du plafond" if decided and ev.data["decision"] == "refus" else None,
                }
                yield ev.day, hh, row

    # ------------------------------------------------------------- defects
    def defect(self, source: str, row: dict, profile: Profile) -> tuple[str, dict[str, str]] | None:
        """Pick one contract-breaking change for this row: (reason code, raw cell overrides)."""
        rng = self.rng
        c = load_contract(source)
        fmt = lambda kind, v: format_value(kind, v, profile.but(kind="csv")) if profile.kind == "csv" else \
            format_value(kind, v, profile.but(kind="csv", date_fmt="%d/%m/%Y", amount_fmt="fr"))
        future = self.today + timedelta(days=rng.randint(30, 300))
        main_date = next(col.name for col in c.columns if col.kind == "date" and col.required)
        text_cols = [col.name for col in c.columns if col.kind == "string" and col.required
                     and col.name not in c.source_key]
        options = [
            ("missing_required", {rng.choice(text_cols): ""}),
            ("bad_date", {main_date: rng.choice(["31/02/2025", "12/13/2024", "hier", "2024-13-01"])}),
            ("future_date", {main_date: fmt("date", future)}),
            ("outside_paris", {"code_postal": rng.choice(["92100", "93200", "94300", "75100 CEDEX", "7501"])}),
        ]
        enums = [col for col in c.columns if col.kind == "enum" and col.required]
        if enums:
            options.append(("unknown_value", {enums[0].name: rng.choice(["HLM", "inconnu", "autre", "n/a"])}))
        amounts = [col for col in c.columns if col.kind == "amount" and col.required]
        if amounts:
            options.append(("bad_amount", {amounts[0].name: rng.choice(["12,34,56", "mille", "1 2 3,4,5"])}))
        if source in ("cdp", "bailleur"):
            options.append(("out_of_range", {"loyer_mensuel_cc": fmt("amount", rng.choice([25000.0, 31000.5]))}))
        if source == "cdp":
            options.append(("bad_boolean", {"beneficiaire_apl": "peut-être"}))
            options.append(("bad_integer", {"nb_mois_impayes": "trois"}))
            options.append(("bail_after_cdp", {"date_bail": fmt("date", row["date_signification"] + timedelta(days=20))})
                           if row["date_signification"] + timedelta(days=20) <= self.today else None)
        if source == "fsl":
            options.append(("out_of_range", {"nb_adultes": "0"}))
            if row["decision"] == "accord":
                options.append(("grant_without_amount", {"montant_accorde": ""}))
            if row["date_decision"]:
                options.append(("decision_before_filing", {"date_decision": fmt("date", row["date_depot"] - timedelta(days=12))}))
        if source == "procedure":
            if row["type_acte"] == "assignation":
                options.append(("hearing_before_summons", {"date_audience": fmt("date", row["date_acte"] - timedelta(days=5))}))
            options.append(("out_of_range", {"date_acte": fmt("date", date(2008, 5, 14))}))
        if source == "bailleur" and row["date_extraction"] + timedelta(days=40) <= self.today:
            options.append(("first_unpaid_after_extraction",
                            {"date_premier_impaye": fmt("date", row["date_extraction"] + timedelta(days=20))}))
        if profile.kind == "csv" and source in ("cdp", "procedure"):
            options.append(("bad_row_shape", {"__row__": "donnée sans guillemets"}))
        options = [o for o in options if o]
        return rng.choice(options)

    # ------------------------------------------------------------- files
    def write_source(self, source: str, rows_iter, group_key, file_name, profile_for, truncate: set | None = None):
        contract = load_contract(source)
        groups: dict = defaultdict(list)
        for day, hh, row in rows_iter:
            key = group_key(day, row)
            if key is None:
                continue
            groups[key].append((hh, row))
        for key in sorted(groups):
            items = groups[key]
            path = self.out / source / file_name(key)
            profile = profile_for(key)
            if truncate and key in truncate:
                items = items[: len(items) // 3]
            overrides, codes = {}, {}
            for i, (hh, row) in enumerate(items):
                if self.rng.random() < self.defect_rate:
                    code, cells = self.defect(source, row, profile)
                    overrides[i], codes[i] = cells, code
            lines = write_file(path, contract, [r for _, r in items], profile, seed=sum(map(ord, source)), overrides=overrides)
            rel = str(path.relative_to(self.out))
            for i, ((hh, row), ln) in enumerate(zip(items, lines)):
                self.truth_records.append({
                    "file": rel, "line_number": ln, "source": source, "household_id": hh.household_id,
                    "source_key": self._key(contract, row), "defect": codes.get(i, ""),
                    "locataire": as_written(self._name(source, row), profile)})
            self.truth_files.append({
                "file": rel, "source": source, "records": len(items), "defects": len(codes),
                "skipped": int(profile.total_line) + (profile.trailing_blank_lines if profile.kind == "csv" else 0),
                "volume_drop": bool(truncate and key in truncate)})
            self.manifest.files.setdefault(source, []).append(path)
            self.manifest.records += len(items)
            self.manifest.defects += len(codes)

    @staticmethod
    def _name(source, row):
        return row.get("locataire_nom") or row.get("demandeur_nom") or ""

    @staticmethod
    def _key(contract, row) -> str:
        parts = []
        for name in contract.source_key:
            v = row[name]
            parts.append(v.isoformat() if isinstance(v, date) else str(v))
        return "|".join(parts)

    def profile_by_period(self, source):
        first, second = PROFILES[source]
        return lambda key: first if key < self.switch_day.strftime("%Y-%m") else second


def generate(out_dir: Path, households: int = 5000, seed: int = 0, end: date | None = None,
             years: int = 3, volume_drop: bool = True, defect_rate: float = DEFECT_RATE) -> Manifest:
    """Write the synthetic partner files under out_dir/<source>/ and the truth under out_dir/truth/."""
    out_dir = Path(out_dir)
    today = date.today()
    end = end or (today - timedelta(days=1))
    start = end - timedelta(days=365 * years)
    world = World(households, start, end, seed)
    w = PartnerWriter(world, out_dir, seed, today, defect_rate)
    month = lambda d: d.strftime("%Y-%m")
    in_period = lambda d: d >= start and d <= end

    w.write_source("cdp", w.cdp_rows(), lambda d, r: month(d) if in_period(d) else None,
                   lambda k: f"cdp_{k}.csv", w.profile_by_period("cdp"))
    w.write_source("procedure", w.procedure_rows(), lambda d, r: month(d) if in_period(d) else None,
                   lambda k: f"procedure_{k}.csv", w.profile_by_period("procedure"))

    def quarter(d):
        return f"{d.year}-T{(d.month - 1) // 3 + 1}"
    fsl_first, fsl_second = PROFILES["fsl"]
    w.write_source("fsl", w.fsl_rows(), lambda d, r: quarter(d) if in_period(d) else None,
                   lambda k: f"fsl_{k}.xlsx",
                   lambda k: fsl_first if k < quarter(w.switch_day) else fsl_second)
    drop = set()
    if volume_drop:  # one landlord snapshot sent half-empty, mid-period: the batch check must flag it
        mid = date(w.switch_day.year, w.switch_day.month, 1).isoformat()
        drop = {("PARIS-HABITAT", mid)}
    w.write_source("bailleur", w.bailleur_rows(),
                   lambda d, r: (r["bailleur_code"], d.isoformat()) if in_period(d) else None,
                   lambda k: f"{k[0]}_{k[1]}.{LANDLORD_PROFILES[k[0]].kind}",
                   lambda k: LANDLORD_PROFILES[k[0]], truncate=drop)
    _write_truth(out_dir, world, w)
    w.manifest.households = households
    return w.manifest


def _write_truth(out_dir: Path, world: World, w: PartnerWriter) -> None:
    truth = out_dir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    _csv(truth / "records.csv", w.truth_records)
    _csv(truth / "files.csv", w.truth_files)
    events = [{"household_id": hh.household_id, "event_date": e.day.isoformat(), "event": e.kind}
              for hh in world.households for e in hh.events if e.kind not in ("snapshot",)]
    _csv(truth / "events.csv", events)
    _csv(truth / "households.csv", [{
        "household_id": hh.household_id, "arrondissement": hh.arrondissement, "bailleur_type": hh.bailleur_type,
        "postal_code": hh.postal_code, "surname": hh.tenants[0].surname, "first_name": hh.tenants[0].first_name,
        "birth_date": hh.tenants[0].birth_date.isoformat(), "lease_date": hh.lease_date.isoformat()}
        for hh in world.households])


def _csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)


SUIVI_STATUSES = ("non_joignable", "contacte", "accompagnement", "plan_apurement", "fsl_depose", "orientation_autre",
                  "clos_dette_soldee", "clos_relogement")


def write_suivi(out_dir: Path, cases: list[tuple[str, str]], seed: int = 0, share: float = 0.25,
                today: date | None = None) -> Path:
    """A follow-up file as workers return it (csv, `;`, UTF-8 with BOM): contacts on a share of the
    given (case_id, destination) pairs, with a few lines breaking the contract (unknown case ids,
    unknown statuses), recorded in truth/suivi.csv."""
    rng = random.Random(seed + 7)
    today = today or date.today()
    rows, truth = [], []
    for case_id, destination in cases:
        if rng.random() >= share:
            continue
        row = {"case_id": case_id, "destination": destination,
               "date_contact": today - timedelta(days=rng.randint(1, 30)), "statut": rng.choice(SUIVI_STATUSES),
               "commentaire": rng.choice([None, None, "rappeler en fin de semaine", "RDV pris ; dossier FSL à compléter",
                                          "message laissé, \"pas de réponse\""])}
        defect = ""
        r = rng.random()
        if r < 0.03:
            row["case_id"], defect = f"C9{rng.randint(100000, 999999)}", "unknown_case"
        elif r < 0.05:
            row["statut"], defect = "en attente", "unknown_value"
        rows.append(row)
        truth.append(defect)
    path = Path(out_dir) / "suivi" / f"suivi_{today.isoformat()}.csv"
    lines = write_file(path, load_contract("suivi"), rows, Profile(encoding="utf-8-sig", delimiter=";",
                                                                    header_style="canonical"))
    (Path(out_dir) / "truth").mkdir(parents=True, exist_ok=True)
    _csv(Path(out_dir) / "truth" / "suivi.csv", [{"file": str(path.relative_to(out_dir)), "line_number": ln, "defect": d}
                                                 for ln, d in zip(lines, truth)])
    return path
