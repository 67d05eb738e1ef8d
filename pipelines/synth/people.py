"""Synthetic Parisians, streets and landlords. Every name here is made up from common
French and international name parts; no real person's record is used."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

SURNAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martínez",
    "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
    "Nguyễn", "Trần", "Lê", "Çelik", "Yılmaz", "Diallo", "Traoré", "Koné", "Ben Saïd", "Haddad",
    "Benali", "Mendès", "Pereira", "Da Silva", "O'Brien", "Kowalski", "Wiśniewski", "Popescu", "Ndiaye", "Sy",
    "Chérif", "Hamidou", "Boucher", "Brunet", "Lemaître", "Noël", "Béranger", "Cissé", "Fofana", "Camara",
    "Zhang", "Wang", "Kaya", "Öztürk", "Ferreira", "Sánchez", "Rodríguez", "Ibáñez", "Dœuf", "Saint-Just",
]
FIRST_NAMES = [
    "Marie", "Jean", "Hélène", "Luc", "Sophie", "Michel", "Nathalie", "Pierre", "Isabelle", "Philippe",
    "Élodie", "François", "Chloé", "Jérôme", "Zoé", "Anaïs", "Noé", "Maëlle", "Loïc", "Gaëlle",
    "Mohamed", "Fatima", "Aïcha", "Mamadou", "Fatoumata", "Ousmane", "Aminata", "Youssef", "Khadija", "Karim",
    "Thị Lan", "Văn Minh", "Ayşe", "Mehmet", "Elif", "José", "María", "João", "Agnieszka", "Ioana",
    "Jean-Pierre", "Marie-Claire", "Anne-Sophie", "Jean-Baptiste", "Marie-Thérèse", "Léa", "Inès", "Raphaël", "Céline", "Stéphane",
    "Françoise", "Jacqueline", "Brigitte", "Sylvie", "Patrick", "Éric", "Hervé", "Régis", "Bérénice", "Cécile",
]
STREET_NAMES = [
    "de la Roquette", "de Charonne", "Oberkampf", "de Belleville", "des Pyrénées", "de Ménilmontant",
    "du Faubourg Saint-Antoine", "de Flandre", "d'Aubervilliers", "Marx Dormoy", "de Clignancourt",
    "Ordener", "Championnet", "de Tolbiac", "d'Italie", "de Choisy", "Nationale", "du Château des Rentiers",
    "de Vaugirard", "de la Convention", "Lecourbe", "Saint-Charles", "de Crimée", "Mouzaïa", "de Bagnolet",
    "Jean Jaurès", "Voltaire", "Parmentier", "de la République", "du Temple", "Saint-Maur", "de Picpus",
    "Daumesnil", "de Charenton", "Brancion", "Didot", "d'Alésia", "Riquet", "de Tanger", "Curial",
    "des Poissonniers", "Myrha", "Doudeauville", "Léon Frot", "des Boulets", "Pelleport", "Saint-Fargeau",
    "de l'Ourcq", "Petit", "Manin", "Bolivar", "Simon Bolivar", "Sorbier", "des Amandiers", "Haxo",
]
STREET_TYPES = [("rue", 0.62), ("avenue", 0.12), ("boulevard", 0.1), ("impasse", 0.05),
                ("passage", 0.04), ("quai", 0.03), ("place", 0.04)]
# how partners abbreviate street types
STREET_ABBREV = {"rue": ["r.", "R", "rue"], "avenue": ["av.", "av", "ave"], "boulevard": ["bd", "bd.", "boul."],
                 "impasse": ["imp.", "imp"], "passage": ["pass.", "pas."], "quai": ["qu.", "quai"], "place": ["pl.", "pl"]}
# arrondissement weights: the northern and eastern arrondissements carry most procedures
ARR_WEIGHTS = {1: 0.5, 2: 0.6, 3: 0.8, 4: 0.6, 5: 1.0, 6: 0.6, 7: 0.6, 8: 0.6, 9: 1.2, 10: 2.6, 11: 3.6,
               12: 3.4, 13: 4.8, 14: 3.0, 15: 4.2, 16: 2.0, 17: 4.6, 18: 7.6, 19: 7.4, 20: 7.6}
SOCIAL_LANDLORDS = {"PARIS-HABITAT": "Paris Habitat", "RIVP": "RIVP", "ELOGIE-SIEMP": "Elogie-Siemp",
                    "3F": "Immobilière 3F", "ICF": "ICF Habitat La Sablière", "CDC-HABITAT": "CDC Habitat"}
SOCIAL_WEIGHTS = {"PARIS-HABITAT": 0.45, "RIVP": 0.2, "ELOGIE-SIEMP": 0.15, "3F": 0.1, "ICF": 0.05, "CDC-HABITAT": 0.05}
COMPANY_PREFIXES = ["SCI", "SCI", "SAS", "Foncière", "Assurances", "SARL Immobilière"]
COMPANY_NAMES = ["Les Lilas", "du Parc", "Montsouris", "Saint-Honoré", "Belleville Invest", "Horizon", "Patrimoine Est",
                 "Les Tilleuls", "Gambetta", "Buttes", "Canal", "Batignolles"]
ETUDES = ["Étude Lenoir & Associés", "SCP Garnier-Roux", "Étude Moulin", "Huissiers Réunis de Paris",
          "Étude Benhamou", "SELARL Vauban Justice", "Étude Tessier", "Commissaires de l'Est parisien"]


@dataclass
class Person:
    surname: str
    first_name: str
    birth_date: date


@dataclass
class Household:
    household_id: str
    tenants: list[Person]
    number: int
    suffix: str            # "", "bis", "ter"
    street_type: str
    street_name: str
    complement: str
    postal_code: str
    arrondissement: int
    bailleur_type: str     # social | prive_physique | prive_morale
    bailleur_code: str | None
    bailleur_nom: str
    ref_contrat: str | None
    monthly_rent: float
    lease_date: date
    adults: int
    children_under_14: int
    children_14_plus: int
    income: float
    apl: bool
    fragile: bool
    events: list = field(default_factory=list)


def weighted(rng: random.Random, pairs) -> object:
    items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    r = rng.random() * sum(w for _, w in items)
    for item, w in items:
        r -= w
        if r <= 0:
            return item
    return items[-1][0]


def make_household(rng: random.Random, n: int, start: date) -> Household:
    surname = rng.choice(SURNAMES)
    tenants = [Person(surname, rng.choice(FIRST_NAMES), _birth(rng, start))]
    if rng.random() < 0.2:  # co-tenant, often another surname
        other = surname if rng.random() < 0.5 else rng.choice(SURNAMES)
        tenants.append(Person(other, rng.choice(FIRST_NAMES), _birth(rng, start)))
    arr = weighted(rng, ARR_WEIGHTS)
    postal = "75116" if arr == 16 and rng.random() < 0.5 else f"750{arr:02d}"
    btype = weighted(rng, {"social": 0.45, "prive_physique": 0.35, "prive_morale": 0.20})
    code = None
    if btype == "social":
        code = weighted(rng, SOCIAL_WEIGHTS)
        nom = SOCIAL_LANDLORDS[code]
        rent = round(rng.uniform(380, 950), 2)
    elif btype == "prive_physique":
        nom = f"{rng.choice(SURNAMES).upper()} {rng.choice(FIRST_NAMES)}"
        rent = round(rng.uniform(650, 2100), 2)
    else:
        nom = f"{rng.choice(COMPANY_PREFIXES)} {rng.choice(COMPANY_NAMES)}"
        rent = round(rng.uniform(700, 2400), 2)
    adults = len(tenants) if rng.random() < 0.8 else len(tenants) + 1
    kids = rng.choice([0, 0, 0, 1, 1, 2, 2, 3, 4])
    under14 = sum(1 for _ in range(kids) if rng.random() < 0.7)
    income = round(rng.uniform(600, 1900) * (1 + 0.5 * (adults - 1)) + 150 * kids, 2)
    return Household(
        household_id=f"H{n:07d}", tenants=tenants, number=rng.randint(1, 180),
        suffix=rng.choice(["", "", "", "", "", "", "", "", "bis", "ter"]),
        street_type=weighted(rng, STREET_TYPES), street_name=rng.choice(STREET_NAMES),
        complement=rng.choice(["", "", "", f"Bât. {rng.choice('ABCD')}", f"Esc. {rng.randint(1, 4)}, {rng.randint(1, 9)}e ét.",
                               f"Bât. {rng.choice('ABC')}, esc. {rng.randint(1, 3)}, {rng.randint(1, 8)}e ét."]),
        postal_code=postal, arrondissement=arr, bailleur_type=btype, bailleur_code=code, bailleur_nom=nom,
        ref_contrat=f"{code[:3]}-{rng.randint(100000, 999999)}" if code else None,
        monthly_rent=rent, lease_date=start - timedelta(days=rng.randint(200, 9000)),
        adults=adults, children_under_14=under14, children_14_plus=kids - under14,
        income=income, apl=rng.random() < (0.55 if btype == "social" else 0.25), fragile=rng.random() < 0.12,
    )


def _birth(rng: random.Random, start: date) -> date:
    return start - timedelta(days=rng.randint(20 * 365, 85 * 365))
