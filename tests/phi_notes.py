"""Synthetic clinical notes with planted identifiers of every HIPAA Safe Harbor type, for
measuring de-identification (never real PHI: every name, place and number here is made up
by this generator). Two layouts: free-text notes (narrative paragraphs, as a clinic letter)
and MIMIC-style notes (capitalised section headings, `Admission Date:` headers, some of
MIMIC's own `[** ... **]` placeholders among the raw identifiers).

Each note is built from segments, so the character span of every planted identifier and of
every clinical content word (drug, dose, diagnosis, anatomical term) is known exactly.
Written for the tests only: nothing here is shared with `medc`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST = ["John", "Maria", "Wei", "Aisha", "Olga", "Rahul", "Chidi", "Sofia", "Hiroshi", "Fatima", "Liam", "Grace",
         "Mateo", "Ingrid", "Kwame", "Rose", "Hope", "Will", "Dawn", "Jack", "Amara", "Dmitri", "Lucia", "Nadia",
         "Tomasz", "Yuki", "Omar", "Elena", "Samuel", "Priya"]
LAST = ["Smith", "Nguyen", "Okafor", "Patel", "Kowalczyk", "Haddad", "Tanaka", "Johansson", "Mensah", "Baker",
        "Young", "Wood", "Hill", "Park", "Rivera", "O'Brien", "McAllister", "Schmidt", "Dubois", "Castillo",
        "Whitfield", "Abernathy", "Lindqvist", "Mwangi", "Petrov", "Yamamoto", "Gallagher", "Novak", "Ferreira", "Brennan"]
STREETS = ["Fruit Street", "Maple Avenue", "Elm Road", "Harbor View Drive", "Quarry Lane", "Pine Hill Boulevard",
           "Cedar Court", "Orchard Way"]
CITIES = [("Springfield", "IL"), ("Dayton", "OH"), ("Fresno", "CA"), ("Tacoma", "WA"), ("Worcester", "MA"),
          ("Macon", "GA"), ("Boise", "ID"), ("Duluth", "MN")]
HOSPITALS = ["Riverside Medical Center", "St. Agnes Hospital", "Lakeview General Hospital", "Mercy West Clinic",
             "Northgate Community Hospital"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

DRUGS = ["metformin", "lisinopril", "atorvastatin", "warfarin", "apixaban", "furosemide", "insulin glargine",
         "amoxicillin", "ceftriaxone", "vancomycin", "prednisone", "levothyroxine", "omeprazole", "metoprolol",
         "amlodipine", "hydrochlorothiazide", "gabapentin", "sertraline", "albuterol", "heparin"]
DOSES = ["500 mg", "10 mg", "40 mg", "5 mg", "20 mg", "1 g", "25 mcg", "100 units", "2.5 mg", "80 mg"]
DIAGNOSES = ["type 2 diabetes mellitus", "hypertension", "atrial fibrillation", "congestive heart failure",
             "chronic kidney disease", "pneumonia", "cellulitis", "asthma", "hypothyroidism", "major depressive disorder",
             "acute pancreatitis", "deep vein thrombosis", "urinary tract infection", "osteoarthritis", "anemia"]
ANATOMY = ["left ventricle", "right lower lobe", "femur", "pancreas", "liver", "abdomen", "lumbar spine",
           "carotid artery", "thyroid", "kidney", "bladder", "cervical lymph nodes"]


@dataclass
class Note:
    text: str = ""
    layout: str = ""
    phi: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, type)
    content: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind)
    mimic: list[tuple[int, int]] = field(default_factory=list)  # MIMIC placeholders already in the note

    def add(self, piece: str, label: str | None = None, content: str | None = None) -> None:
        start = len(self.text)
        self.text += piece
        if label:
            self.phi.append((start, len(self.text), label))
        if content:
            self.content.append((start, len(self.text), content))


class _Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def name(self) -> str:
        return f"{self.r.choice(FIRST)} {self.r.choice(LAST)}"

    def date(self) -> str:
        y, m, d = self.r.randint(1995, 2024), self.r.randint(1, 12), self.r.randint(1, 28)
        return self.r.choice([f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{MONTHS[m - 1]} {d}, {y}",
                              f"{d} {MONTHS[m - 1][:3]} {y}", f"{m}/{d}/{y % 100:02d}", f"{MONTHS[m - 1]} {d}"])

    def phone(self) -> str:
        a, b, c = self.r.randint(201, 989), self.r.randint(200, 999), self.r.randint(1000, 9999)
        return self.r.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}"])

    def digits(self, n: int) -> str:
        return str(self.r.randint(10 ** (n - 1), 10 ** n - 1))

    def letters(self, n: int) -> str:
        return "".join(self.r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def free_text_note(seed: int) -> Note:
    g, n = _Gen(seed), Note(layout="free-text")
    r = g.r
    patient, doctor, relative = g.name(), g.name(), g.name()
    city, state = r.choice(CITIES)
    drug, drug2, dose, dose2 = r.sample(DRUGS, 2) + r.sample(DOSES, 2)
    dx, dx2 = r.sample(DIAGNOSES, 2)
    site = r.choice(ANATOMY)
    n.add("Clinic note\n\nPatient: ")
    n.add(patient, "NAME")
    n.add("    MRN: ")
    n.add(g.digits(8), "ID")
    n.add("    Date of visit: ")
    n.add(g.date(), "DATE")
    n.add("\n\n")
    n.add(f"Mr. {patient.split()[1]}" if seed % 2 else f"Ms. {patient.split()[1]}", None)
    n.phi.append((len(n.text) - len(patient.split()[1]), len(n.text), "NAME"))
    n.add(" is a ")
    n.add(str(r.randint(90, 104)), "AGE")
    n.add("-year-old with a history of ")
    n.add(dx, content="diagnosis")
    n.add(" and ")
    n.add(dx2, content="diagnosis")
    n.add(", who lives at ")
    n.add(f"{r.randint(2, 9800)} {r.choice(STREETS)}", "LOCATION")
    n.add(", ")
    n.add(city, "LOCATION")
    n.add(f", {state} ")
    n.add(g.digits(5), "LOCATION")
    n.add(". She was admitted to ")
    n.add(r.choice(HOSPITALS), "LOCATION")
    n.add(" on ")
    n.add(g.date(), "DATE")
    n.add(" with pain in the ")
    n.add(site, content="anatomy")
    n.add(". Home medications include ")
    n.add(drug, content="drug")
    n.add(" ")
    n.add(dose, content="dose")
    n.add(" daily and ")
    n.add(drug2, content="drug")
    n.add(" ")
    n.add(dose2, content="dose")
    n.add(" twice daily.\n\nShe was seen by Dr. ")
    n.add(doctor, "NAME")
    n.add(", who spoke with her daughter ")
    n.add(relative, "NAME")
    n.add(" by phone at ")
    n.add(g.phone(), "PHONE")
    n.add(". Please fax records to ")
    n.add(g.phone(), "PHONE")
    n.add(" or e-mail ")
    n.add(f"{relative.split()[0].lower()}.{r.randint(10, 99)}@{r.choice(['mailbox.example', 'example', 'inbox.example'])}.com", "EMAIL")
    n.add(".\nSSN ")
    n.add(f"{g.digits(3)}-{g.digits(2)}-{g.digits(4)}", "SSN")
    n.add("; health plan member ID ")
    n.add(g.letters(3) + g.digits(7), "ID")
    n.add("; account number ")
    n.add(g.digits(9), "ID")
    n.add(".\nPrescriber DEA license ")
    n.add(g.letters(2) + g.digits(7), "ID")
    n.add(". Pacemaker serial number ")
    n.add(f"PM-{g.digits(5)}-{g.digits(2)}", "ID")
    n.add(". Vehicle plate ")
    n.add(f"{r.randint(1, 9)}{g.letters(3)}{g.digits(3)}", "ID")
    n.add(".\nThe family keeps a blog at ")
    n.add(f"https://www.{patient.split()[1].lower().replace(chr(39), '')}family{r.randint(1, 99)}.org/updates", "URL")
    n.add(" and wrote from ")
    n.add(f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}", "IP")
    n.add(".\n\nAssessment: ")
    n.add(dx, content="diagnosis")
    n.add(", stable. Continue ")
    n.add(drug, content="drug")
    n.add(". Follow up on ")
    n.add(g.date(), "DATE")
    n.add(" with ")
    n.add(doctor.split()[1], "NAME")
    n.add(".\n")
    return n


def mimic_note(seed: int) -> Note:
    g, n = _Gen(seed + 10_000), Note(layout="mimic")
    r = g.r
    patient, doctor = g.name(), g.name()
    city, state = r.choice(CITIES)
    drug, drug2, dose = r.sample(DRUGS, 2) + [r.choice(DOSES)]
    dx = r.choice(DIAGNOSES)
    site = r.choice(ANATOMY)

    def placeholder(inner: str) -> None:
        start = len(n.text)
        n.add(f"[**{inner}**]")
        n.mimic.append((start, len(n.text)))

    n.add("Admission Date:  ")
    placeholder(f"{r.randint(2100, 2200)}-{r.randint(1, 12)}-{r.randint(1, 28)}")
    n.add("     Discharge Date:  ")
    n.add(g.date(), "DATE")
    n.add("\n\nDate of Birth:  ")
    n.add(g.date(), "DATE")
    n.add("     Sex:   F\n\nService: MEDICINE\n\nPatient: ")
    n.add(patient, "NAME")
    n.add("   Unit No: ")
    n.add(g.digits(7), "ID")
    n.add("\n\nAllergies:\nPatient recorded as having No Known Allergies to Drugs\n\nAttending: ")
    placeholder(f"First Name4 (NamePattern1) {r.randint(100, 999)}")
    n.add(" ")
    placeholder(f"Last Name (NamePattern1) {r.randint(100, 999)}")
    n.add(", M.D.\n\nChief Complaint:\nshortness of breath\n\nHistory of Present Illness:\n")
    n.add(str(r.randint(90, 104)), "AGE")
    n.add(" yo woman with ")
    n.add(dx, content="diagnosis")
    n.add(" transferred from ")
    n.add(r.choice(HOSPITALS), "LOCATION")
    n.add(" in ")
    n.add(city, "LOCATION")
    n.add(" on ")
    n.add(g.date(), "DATE")
    n.add(". CT showed a mass in the ")
    n.add(site, content="anatomy")
    n.add(". Started on ")
    n.add(drug, content="drug")
    n.add(" ")
    n.add(dose, content="dose")
    n.add(" IV q8h. Seen at ")
    placeholder(f"Hospital1 {r.randint(10, 99)}")
    n.add(" previously.\n\nSocial History:\nLives alone at ")
    n.add(f"{r.randint(2, 9800)} {r.choice(STREETS)}", "LOCATION")
    n.add(f", {city}, {state} ")
    n.phi.append((len(n.text) - len(f"{city}, {state} "), len(n.text) - len(f", {state} "), "LOCATION"))
    n.add(g.digits(5), "LOCATION")
    n.add(". Son ")
    n.add(g.name(), "NAME")
    n.add(" (HCP) can be reached at ")
    n.add(g.phone(), "PHONE")
    n.add(" or ")
    placeholder(f"Telephone/Fax (1) {r.randint(1000, 9999)}")
    n.add(".\nInsurance: Medicaid ID ")
    n.add(g.letters(2) + g.digits(8), "ID")
    n.add(". SSN: ")
    n.add(f"{g.digits(3)}-{g.digits(2)}-{g.digits(4)}", "SSN")
    n.add(". Email ")
    n.add(f"{patient.split()[0].lower()}{r.randint(1, 99)}@example.org", "EMAIL")
    n.add("\n\nDischarge Medications:\n1. ")
    n.add(drug2, content="drug")
    n.add(" ")
    n.add(dose, content="dose")
    n.add(" PO DAILY\n2. ")
    n.add(drug, content="drug")
    n.add(" as above\n\nDischarge Instructions:\nPortal: ")
    n.add(f"http://portal.{r.choice(['riverside', 'mercywest', 'northgate'])}health.org/p/{g.digits(6)}", "URL")
    n.add(" (login from ")
    n.add(f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}", "IP")
    n.add(")\nFollowup Instructions:\nDr. ")
    n.add(doctor, "NAME")
    n.add(" on ")
    n.add(g.date(), "DATE")
    n.add(". Glucometer serial ")
    n.add(f"GX{g.digits(6)}", "ID")
    n.add("\n\n                             ")
    n.add(doctor, "NAME")
    n.add(" MD ")
    n.add(g.digits(7), "ID")
    n.add("\n")
    return n


def planted_notes(count: int = 60) -> list[Note]:
    """`count` notes of each layout."""
    return [free_text_note(i) for i in range(count)] + [mimic_note(i) for i in range(count)]


@dataclass
class Scores:
    planted: dict[str, int] = field(default_factory=dict)  # per type
    found: dict[str, int] = field(default_factory=dict)  # every letter and digit of it covered
    typed: dict[str, int] = field(default_factory=dict)  # ... by a span of the right type
    detected_chars: int = 0  # letters and digits inside detected spans
    true_chars: int = 0  # ... of which inside a planted identifier or a MIMIC placeholder
    content: int = 0
    content_intact: int = 0

    def recall(self, kind: str) -> float:
        return self.found.get(kind, 0) / self.planted[kind]

    def precision(self) -> float:
        return self.true_chars / self.detected_chars if self.detected_chars else 1.0


def score(notes: list[Note], spans_of) -> Scores:
    """`spans_of(text)` → [(start, end, type)] detected; recall per planted type (a planted
    identifier counts as found when every letter and digit of it is inside detected spans),
    character precision, and the share of content words with no character detected."""
    s = Scores()
    for note in notes:
        detected = spans_of(note.text)
        covered: list[str | None] = [None] * len(note.text)
        for start, end, kind in detected:
            for i in range(start, end):
                covered[i] = kind
        truth = bytearray(len(note.text))
        for start, end, _ in note.phi:
            truth[start:end] = b"\x01" * (end - start)
        for start, end in note.mimic:
            truth[start:end] = b"\x01" * (end - start)
        for start, end, kind in note.phi:
            s.planted[kind] = s.planted.get(kind, 0) + 1
            chars = [i for i in range(start, end) if note.text[i].isalnum()]
            if all(covered[i] for i in chars):
                s.found[kind] = s.found.get(kind, 0) + 1
                if all(covered[i] == kind for i in chars):
                    s.typed[kind] = s.typed.get(kind, 0) + 1
        for i, c in enumerate(note.text):
            if covered[i] and c.isalnum():
                s.detected_chars += 1
                s.true_chars += truth[i]
        for start, end, _ in note.content:
            s.content += 1
            s.content_intact += not any(covered[start:end])
    return s
