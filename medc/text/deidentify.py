"""PHI de-identification of clinical text: the HIPAA Safe Harbor identifiers found and replaced
by typed surrogates (`[NAME-1]`, `[DATE-2]`, ...), consistent within a document.

Detection is UCSF Philter's (`philter-lite`, Norgeot et al., npj Digit. Med. 2020), with its
published `philter_delta` configuration: about 300 regular expressions for dates, addresses,
numbers and contact details, name blacklists applied to proper nouns, and a 195,000-word
whitelist of safe English and medical words. Philter masks every word that no rule declares
safe, so a name it has never seen is still removed; that is why it reaches high recall on
names, where pattern lists (datatrove's and data-juicer's e-mail and IP regexes) find none.

Philter needs part-of-speech tags (proper nouns go through the name lists, numbers are kept
unless a rule flags them). It asks NLTK's perceptron tagger for them, whose model is a
separate download (`python -m nltk.downloader averaged_perceptron_tagger_eng`). Where that
model is installed it is used; otherwise a small deterministic tagger stands in
(`fallback_pos`): digits are numbers, closed-class words (pronouns, determiners, ...) keep
their class, and a capitalised word is a proper noun unless it starts a sentence or a line
and is a whitelisted word. `tagger_in_use()` says which one runs; the manifest records it.

MIMIC's own de-identification placeholders are mapped into the same typed surrogates:
MIMIC-III's (`[**Known lastname 1234**]`, `[**2151-7-16**]`) typed from their inner text,
MIMIC-IV's (`___`, which says nothing of what it hides) from the label or words around it
(`Admission Date: ___`, `Dr. ___`, `a ___ y/o`), each a surrogate of its own. Philter labels
only its date matches; the other spans are typed here from their shape and the words around
them (`phi_type`).

PHI never leaves this module except inside the returned text's replaced spans: the audit
(`PhiAudit`) holds counts only.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from typing import Any

from types import ModuleType

from medc.text.presidio_phi import DEFAULT_MODEL, presidio_spans

# The identifier types of the surrogates (Safe Harbor's 18 identifiers, grouped): names;
# geographic units below a state (street, city, ZIP, and hospitals, as i2b2 counts them);
# dates other than the year; ages over 89; phone and fax numbers; e-mail addresses; social
# security numbers; record, health plan, account, licence, vehicle, device and other ids;
# web addresses; IP addresses.
PHI_TYPES = ("NAME", "LOCATION", "DATE", "AGE", "PHONE", "EMAIL", "SSN", "ID", "URL", "IP")

_MIMIC = re.compile(r"\[\*\*(.*?)\*\*\]", re.S)
MIMIC_IV_PLACEHOLDER = "___"
_MIMIC_IV = re.compile(r"(?<![_\w])___(?![_\w])")


# ---------------------------------------------------------------------------- Philter
class _Guarded:
    """A Philter pattern that is tried only where a cheap pattern it needs is present: its
    `city zip` and `name_age` expressions look ahead to the end of the line from every word
    boundary (80 % of Philter's time on long paragraphs) and cannot match without a 5-digit
    number, or an age in years. Same matches, same order."""

    def __init__(self, pattern: re.Pattern[str], guard: str):
        self.pattern, self.guard = pattern, re.compile(guard, re.I)

    def finditer(self, text: str) -> Any:
        return self.pattern.finditer(text) if self.guard.search(text) else iter(())


# What each pattern cannot match without (case-insensitive): `name_age` ends where "is a 45 y.o",
# "is a 45 year-old" or ", a 45 year old" follows (number and "year" apart, as it writes them).
_GUARDS = {"city zip": r"\d{5}", "name_age": r"\sis\sa\s\d{1,3}\s(y\.o|year-old)|,\sa\s\d{1,3}\syear[\s-]old"}


@cache
def _philter() -> ModuleType:
    """`philter_lite.philter`, imported on first use (it imports NLTK and reads 5 MB of word
    sets: seconds, paid only by processes that de-identify), with its part-of-speech hook set
    to `_pos` (the hook exists in the pinned philter-lite version, see pyproject)."""
    from philter_lite import philter as engine

    engine._get_pos = _pos
    return engine


@cache
def _philter_filters() -> list[Any]:
    import philter_lite

    config = tomllib.loads(files(philter_lite).joinpath("configs/philter_delta.toml").read_text(encoding="utf-8"))
    filters = [philter_lite.filter_from_dict(f) for f in config["filters"]]
    return [replace(f, data=_Guarded(f.data, _GUARDS[f.title])) if f.title in _GUARDS else f for f in filters]


@cache
def _whitelist() -> frozenset[str]:
    from philter_lite.filters import filter_db

    return frozenset(filter_db.set_db["nonames"])


@cache
def tagger_in_use() -> str:
    """`nltk-perceptron` when NLTK's tagger model is installed, else `fallback`."""
    import nltk

    try:
        nltk.data.find("taggers/averaged_perceptron_tagger_eng/")
        return "nltk-perceptron"
    except LookupError:
        return "fallback"


_CLOSED_CLASS = {
    "PRP": "i me my mine you your yours he him his she her hers it its we us our ours they them their theirs "
           "himself herself itself themselves myself yourself ourselves",
    "DT": "a an the this that these those each every either neither some any no all both another such",
    "IN": "of in on at by for with from into onto upon about above below under over after before during "
          "since until within without through throughout across against along among around behind beside "
          "between beyond near per via than as if because although though while whereas whether",
    "CC": "and or but nor so yet",
    "TO": "to",
    "MD": "will would shall should can could may might must",
    "VB": "is are was were be been being am has have had having do does did done",
    "WP": "who whom whose which what when where why how",
    "RB": "not no yes also then there here very",
}
_CLOSED = {w: tag for tag, words in _CLOSED_CLASS.items() for w in words.split()}
_NUMBER = re.compile(r"\d+")


def fallback_pos(text: str) -> list[tuple[str, str]]:
    """Philter's token list (`_get_clean`: words and the white space between them, punctuation
    blanked, so offsets are the text's) with tags: see the module docstring."""
    whitelist = _whitelist()
    tagged: list[tuple[str, str]] = []
    at = 0
    for token in _philter()._get_clean(text):
        start, at = at, at + len(token)
        if token.isspace():
            tagged.append((token, "SP"))
        elif _NUMBER.fullmatch(token):
            tagged.append((token, "CD"))
        elif token[0].isupper():  # a proper noun, unless a sentence or line starts with a known word
            lower = token.lower()
            before = text[:start].rstrip(" \t")
            starts = not before or before[-1] in ".!?:;\n*-#>\"'(["
            if starts and lower in _CLOSED:
                tagged.append((token, _CLOSED[lower]))
            else:
                tagged.append((token, "NN" if (starts or token.isupper()) and lower in whitelist else "NNP"))
        elif token in _CLOSED:
            tagged.append((token, _CLOSED[token]))
        else:
            tagged.append((token, "NN" if token.lower() in whitelist else "FW"))
    return tagged


def _pos(text: str) -> list[tuple[str, str]]:
    if tagger_in_use() == "nltk-perceptron":
        import nltk

        return nltk.pos_tag(_philter()._get_clean(text))
    return fallback_pos(text)


def is_cased(text: str) -> bool:
    """Ordinary mixed-case text (names stand out by their capitals), not an all-capitals or
    all-lowercase export."""
    letters = sum(c.isalpha() for c in text)
    lower = sum(c.islower() for c in text)
    return letters > 0 and 0.2 <= lower / letters <= 0.97


def philter_spans(text: str, mask_unknown: str = "capitalised") -> list[tuple[int, int, str]]:
    """(start, end, philter type) of what Philter removes: its typed matches (dates) and the
    words that no rule kept (`OTHER`). With `mask_unknown="capitalised"`, in cased text an
    unknown word with no capital and no digit (`hemiscrotum`, a misspelling) is kept, since
    names are written with capitals; `"all"` masks every unknown word, as Philter does."""
    include, _, tracker = _philter().detect_phi(text, _philter_filters())
    spans = [(e.start, e.stop, e.phi_type) for e in tracker.phi]
    covered = bytearray(len(text))
    for start, end in [(s, e) for s, e, _ in spans] + list(include.filecoords()):
        covered[start:end] = b"\x01" * (end - start)
    keep_lowercase = mask_unknown == "capitalised" and is_cased(text)
    for m in _WORD.finditer(text):  # words Philter would mask that no match covers
        if not covered[m.start()] and not (keep_lowercase and m.group().islower() and m.group().isalpha()):
            spans.append((m.start(), m.end(), "OTHER"))
    return _join_words(text, [_whole_token(text, *span) for span in sorted(spans)])


_WORD = re.compile(r"[A-Za-z0-9]+")
_TOKEN_INSIDE = re.compile(r"[A-Za-z0-9./_@+]")


def _inside(text: str, i: int) -> bool:
    """Whether `text[i]` continues a token: a letter, digit or `./_@+`, or a `-` between digits
    (`PM-62274-95`, not `102-year-old`)."""
    c = text[i]
    if c == "-":
        return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
    return bool(_TOKEN_INSIDE.match(c))


def _whole_token(text: str, start: int, end: int, kind: str) -> tuple[int, int, str]:
    """A span grown to the whole token it is part of (`192.168.0.12`, not `192.168` and a
    visible `.0.12`), without a token's final full stop."""
    while start > 0 and _inside(text, start - 1):
        start -= 1
    while end < len(text) and _inside(text, end):
        end += 1
    while end > start + 1 and text[end - 1] in ".-/_+":
        end -= 1
    while start < end - 1 and text[start] in ".-/_+":
        start += 1
    return start, end, kind


def _join_words(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans joined (a date if either is one), and untyped words on one line
    separated by a space, `-`, `/` or `.` (`Alice Whitfield`, `Roux-en-Y`)."""
    out: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if out and (start <= out[-1][1] or kind == out[-1][2] == "OTHER"
                    and re.fullmatch(r"[ \-/.]{1,2}|\. ", text[out[-1][1]:start])):
            out[-1] = (out[-1][0], max(end, out[-1][1]), "DATE" if "DATE" in (kind, out[-1][2]) else out[-1][2])
        else:
            out.append((start, end, kind))
    return out


# ---------------------------------------------------------------------------- typing
_LEFT = {
    "PHONE": re.compile(r"(phone|tel|telephone|fax|facsimile|call|pager|beeper|cell|mobile|contact|ph|ext)\b[\s#:.]*(number|no\.?|at)?[\s#:.]*$", re.I),
    "SSN": re.compile(r"\b(ssn|social security( number| no\.?| #)?)[\s#:.]*$", re.I),
    "AGE": re.compile(r"\b(age|aged|ages)[\s:]*$", re.I),
    "LOCATION": re.compile(r"\b(at|in|from|to|lives|resides|residing|located|address|born|near|transferred|admitted|city|town|county)[\s:]*$", re.I),
}
_AGE_RIGHT = re.compile(r"^[\s-]*(years?|yrs?|y/?o|y\.o\.|-year|year-old)\b", re.I)
_DATE_SHAPE = re.compile(r"^(\d{1,4}[/\-.]\d{1,2}([/\-.]\d{1,4})?|\d{1,2}(st|nd|rd|th)?|(19|20)\d{2})$")
_MONTH = re.compile(r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?|oct(ober)?|"
                    r"nov(ember)?|dec(ember)?|spring|summer|autumn|fall|winter|christmas)\.?", re.I)
_PHONE_SHAPE = re.compile(r"^\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}$|^\+?\d[\d\s.\-]{8,}\d$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_IP_SHAPE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_URL_SHAPE = re.compile(r"^(https?://|www\.)|\.(com|org|net|edu|gov|io|info)(/|$)", re.I)
_PLACE_WORDS = re.compile(
    r"\b(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|suite|apt|highway|hwy|"
    r"hospital|clinic|center|centre|medical|health|healthcare|infirmary|nursing|rehab|county|city|ma|ny|ca|tx|fl)\b", re.I)
_CAPITALISED = re.compile(r"^[A-Z][a-zA-Z'\-]+( [A-Z][a-zA-Z'\-]+)*$")


def phi_type(text: str, start: int, end: int, hint: str) -> str:
    """The identifier type of `text[start:end]`, from the span's shape and its neighbours."""
    span = text[start:end].strip(" .,;:")
    left = text[max(0, start - 40):start]
    right = text[end:end + 20]
    if "@" in span:
        return "EMAIL"
    if _URL_SHAPE.search(span):
        return "URL"
    if _IP_SHAPE.match(span):
        return "IP"
    if _SSN_SHAPE.match(span) or (_LEFT["SSN"].search(left) and any(c.isdigit() for c in span)):
        return "SSN"
    if any(c.isdigit() for c in span) and _LEFT["PHONE"].search(left):
        return "PHONE"
    if span.isdigit() and (_AGE_RIGHT.match(right) or _LEFT["AGE"].search(left)) or re.match(r"\d{2,3}[\s-]*(years?|yrs?|y/?o)\b", span, re.I):
        return "AGE"
    words = span.split()
    if (hint == "DATE" and any(c.isdigit() for c in span)) or _DATE_SHAPE.match(span) or (words and _MONTH.fullmatch(words[0])):
        return "DATE"
    if _PHONE_SHAPE.match(span):
        return "PHONE"
    if any(c.isdigit() for c in span):
        if _PLACE_WORDS.search(span) or re.fullmatch(r"\d{5}(-\d{4})?", span) and re.search(r"\b[A-Z]{2}[\s,]*$", left):
            return "LOCATION"
        return "ID"
    if _PLACE_WORDS.search(span) or _LEFT["LOCATION"].search(left) and _CAPITALISED.match(span):
        return "LOCATION"
    return "NAME"


_MIMIC_TYPES = (  # the inner text of a MIMIC placeholder → type (first match wins)
    (re.compile(r"^\s*[\d\-/ ]+\s*$|month|day|year|holiday|date|\bmonth/day\b", re.I), "DATE"),
    (re.compile(r"age over 90", re.I), "AGE"),
    (re.compile(r"telephone|fax|pager|phone|contact info", re.I), "PHONE"),
    (re.compile(r"e-?mail", re.I), "EMAIL"),
    (re.compile(r"social security", re.I), "SSN"),
    (re.compile(r"\burl\b|web", re.I), "URL"),
    (re.compile(r"\bip\b", re.I), "IP"),
    (re.compile(r"hospital|location|address|street|state|country|university|college|company|ward|apartment|zip", re.I), "LOCATION"),
    (re.compile(r"name|initial|dictator|doctor", re.I), "NAME"),
    (re.compile(r"number|numeric|serial|record|identifier|job|clip|unit|provider", re.I), "ID"),
)


def mimic_type(inner: str) -> str:
    for pattern, kind in _MIMIC_TYPES:
        if pattern.search(inner):
            return kind
    return "ID"


# What a MIMIC-IV placeholder hides, from the words just after it, else the label or word before it.
_MIMIC_IV_RIGHT = ((re.compile(r"^\W{0,2}(years?|yrs?|y/?o|y\.o\.|-year)\b", re.I), "AGE"),
                   (re.compile(r"^\s+(hospital|clinic|center|centre|medical|rehab|nursing|health|county|street)\b", re.I), "LOCATION"))
_MIMIC_IV_LEFT = (
    (re.compile(r"\b(date|birth|dob|admitted|discharged|dated|on|since|until)[^\w\n]{0,8}$", re.I), "DATE"),
    (re.compile(r"\b(phone|tel|telephone|fax|pager|cell)[^\w\n]{0,8}$", re.I), "PHONE"),
    (re.compile(r"(\b(unit no|mrn|number|no|id)|#)[^\w\n]{0,8}$", re.I), "ID"),
    (re.compile(r"\b(at|in|from|to|near)\s*$", re.I), "LOCATION"),
)


def mimic_iv_type(text: str, start: int, end: int) -> str:
    """The type of the MIMIC-IV placeholder `text[start:end]`, from its neighbours; a name
    (`Name: ___`, `Dr. ___`, `Ms. ___`, the most common) when they say nothing."""
    right, left = text[end:end + 20], text[max(0, start - 30):start]
    for pattern, kind in _MIMIC_IV_RIGHT:
        if pattern.search(right):
            return kind
    for pattern, kind in _MIMIC_IV_LEFT:
        if pattern.search(left):
            return kind
    return "NAME"


# ---------------------------------------------------------------------------- surrogates
@dataclass
class PhiAudit:
    """Counts only (never the text): identifiers replaced per type, MIMIC placeholders mapped,
    rows seen and rows touched."""

    rows: int = 0
    rows_touched: int = 0
    identifiers: Counter[str] = field(default_factory=Counter)
    mimic_placeholders: int = 0


class _Surrogates:
    """`[TYPE-n]` per distinct identifier of a document; a name that is part of an earlier name
    (`Smith` after `John Smith`) gets that name's number."""

    def __init__(self) -> None:
        self.numbers: dict[tuple[str, str], int] = {}
        self.next: Counter[str] = Counter()
        self.names: list[tuple[frozenset[str], int]] = []

    def __call__(self, kind: str, surface: str) -> str:
        key = " ".join(re.findall(r"[a-z0-9]+", surface.lower()))
        if (kind, key) not in self.numbers:
            number = None
            if kind == "NAME":
                words = frozenset(key.split())
                number = next((n for seen, n in self.names if words and words <= seen), None)
            if number is None:
                self.next[kind] += 1
                number = self.next[kind]
            self.numbers[(kind, key)] = number
            if kind == "NAME":
                self.names.append((frozenset(key.split()), number))
        return f"[{kind}-{self.numbers[(kind, key)]}]"


# ---------------------------------------------------------------------------- gaps
# Identifiers that Philter's delta configuration leaves in the text, measured on the planted
# set (tests/phi_notes.py): IP addresses (it has no rule; numbers are kept), ages of 90-99
# written `96-year-old`, facility names whose words are whitelisted (`Riverside Medical
# Center`), and town names after a preposition (`transferred from Fresno`: town names are
# in its whitelist). Each is typed here; the spans join Philter's.
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_AGE_OVER_89 = re.compile(r"\b(?:9\d|1[0-4]\d)(?=[\s-]*(?:years?|yrs?|y/?o|y\.o\.)\b)|(?<=\bage )(?:9\d|1[0-4]\d)\b"
                          r"|(?<=\baged )(?:9\d|1[0-4]\d)\b", re.I)
_FACILITY = re.compile(r"\b(?:(?:St\.?|Saint|Mount|Mt\.?)\s+)?(?:[A-Z][A-Za-z'\-]+\s+){1,3}(?:General\s+)?"
                       r"(?:Hospital|Medical Center|Medical Centre|Health Center|Clinic|Infirmary|Nursing Home|"
                       r"Rehabilitation Center|Hospice|Health System)\b")
_PLACE_AFTER = re.compile(r"\b(?:in|from|near) ([A-Z][a-z]+(?:[ \-][A-Z][a-z]+)?)\b")
_NOT_PLACES = re.compile(r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|medicine|surgery|cardiology|radiology|oncology|"
                         r"neurology|pediatrics|rehab|rehabilitation|home|hospice|emergency|english|spanish|general|"
                         r"addition|summary|total|contrast|particular|fact|general|private|clinic|hospital", re.I)


def gap_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in _IPV4.finditer(text):
        if all(int(part) <= 255 for part in m.group().split(".")):
            spans.append((m.start(), m.end(), "IP"))
    for m in _IPV6.finditer(text):
        try:
            ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        if m.group().count(":") >= 3:
            spans.append((m.start(), m.end(), "IP"))
    spans += [(m.start(), m.end(), "AGE") for m in _AGE_OVER_89.finditer(text)]
    for m in _SIGN_OFF.finditer(text):
        at = m.start(1)
        for part in re.finditer(r"[a-z]+", m.group(1)):
            spans.append((at + part.start(), at + part.end(), "NAME"))
    spans += [(m.start(), m.end(), "LOCATION") for m in _FACILITY.finditer(text)]
    for m in _PLACE_AFTER.finditer(text):
        first = m.group(1).split()[0].split("-")[0]
        if not _MONTH.fullmatch(first) and not _NOT_PLACES.fullmatch(first):
            spans.append((m.start(1), m.end(1), "LOCATION"))
    return spans


_MEASUREMENT = re.compile(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?\s*(?:mg|mcg|ug|g|kg|ml|l|units?|iu|meq|mmol|mm|cm|"
                          r"mmhg|bpm|%)", re.I)
_RATIO = re.compile(r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)")
_SIGN_OFF = re.compile(r"\b[A-Z]{2,4}((?:[:/][a-z]{3,})+)\b")  # typist initials: `XGT:holmes`, `GPP/church/olinger`


# A season alone ("after a fall at home", "worse in spring") is not a date element Safe Harbor
# removes (month and day are), and "fall" is a clinical event: Philter's date rule takes it for one.
_SEASON = re.compile(r"(spring|summer|autumn|fall|winter)s?", re.I)


def is_measurement(span: str) -> bool:
    """A dose, a blood pressure or another reading that Philter flags (`200MG`, `142/74`,
    `7.5/750`): content, not an identifier. `3/14` or `12/07` could be dates and stay flagged."""
    if _MEASUREMENT.fullmatch(span):
        return True
    m = _RATIO.fullmatch(span)
    if not m:
        return False
    a, b = m.groups()
    if "." in a or "." in b:
        return True
    x, y = int(a), int(b)
    could_be_date = (1 <= x <= 12 and 1 <= y <= 31) or (1 <= x <= 31 and 1 <= y <= 12) or (1 <= x <= 12 and len(b) in (2, 4))
    return not could_be_date


def _split_mixed(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A span of capitalised words and separate numbers (`Tomasz Baker MD 9307910`, Philter's
    signature rule) as runs of one kind, typed apart."""
    tokens = [(m.start() + start, m.end() + start, any(c.isdigit() for c in m.group()))
              for m in re.finditer(r"\S+", text[start:end])]
    if len(tokens) < 2 or len({has_digit for _, _, has_digit in tokens}) < 2:
        return [(start, end)]
    runs: list[list[int]] = []
    for s0, e0, has_digit in tokens:
        if runs and runs[-1][2] == has_digit:
            runs[-1][1] = e0
        else:
            runs.append([s0, e0, has_digit])
    return [(s0, e0) for s0, e0, _ in runs]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """A span without the lowercase function words at its edges that a Philter rule took in
    (`to Northgate Hospital`, `... and`)."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and words[0].group() in _CLOSED:
        words.pop(0)
    while words and words[-1].group() in _CLOSED:
        words.pop()
    return (start + words[0].start(), start + words[-1].end()) if words else (start, start)


@dataclass(frozen=True)
class Presidio:
    """Presidio as a second detector (`medc.text.presidio_phi`): the spaCy pipeline that finds
    names and places (patterns only where it is not installed) and the least score taken."""

    model: str = DEFAULT_MODEL
    min_score: float = 0.5


def find_phi(text: str, mask_unknown: str = "capitalised", presidio: Presidio | None = None) -> list[tuple[int, int, str, bool]]:
    """(start, end, type, is a MIMIC placeholder) of every identifier, in text order; with
    `presidio`, what Presidio finds is added (overlaps merged)."""
    found = [(m.start(), m.end(), mimic_type(m.group(1)), True) for m in _MIMIC.finditer(text)]
    if MIMIC_IV_PLACEHOLDER in text:
        found += [(m.start(), m.end(), mimic_iv_type(text, m.start(), m.end()), True) for m in _MIMIC_IV.finditer(text)]
    # MIMIC-III's placeholders blanked as MIMIC-IV's read: underscores, not spaces, which would let
    # a label's next word join it ("Name: [**...**] Unit No" read as a name "Unit")
    blanked = _MIMIC.sub(lambda m: "_" * len(m.group(0)), text) if found else text
    gaps = gap_spans(blanked)
    for start, end, hint in philter_spans(blanked, mask_unknown):
        start, end = _trim(blanked, start, end)
        if start >= end:
            continue
        inside = [g for g in gaps if g[0] <= start and end <= g[1]]
        if inside or is_measurement(blanked[start:end]) or _SEASON.fullmatch(blanked[start:end]):  # typed by the gap rule below / not PHI
            continue
        kind = phi_type(blanked, start, end, hint)
        if kind in ("NAME", "ID"):
            for s0, e0 in _split_mixed(blanked, start, end):
                found.append((s0, e0, phi_type(blanked, s0, e0, hint), False))
        elif kind == "AGE" and (number := re.match(r"\d+", blanked[start:end])):
            found.append((start, start + number.end(), kind, False))  # `[AGE-1]-year-old`
        else:
            found.append((start, end, kind, False))
    found += [(s0, e0, kind, False) for s0, e0, kind in gaps]
    if presidio is not None:
        found += [(s0, e0, kind, False) for s0, e0, kind in presidio_spans(blanked, presidio.model, presidio.min_score)
                  if not is_measurement(blanked[s0:e0])]
    return _merge(sorted(found))


def _merge(found: list[tuple[int, int, str, bool]]) -> list[tuple[int, int, str, bool]]:
    """Overlapping spans as one, typed by the longer."""
    out: list[tuple[int, int, str, bool]] = []
    for span in found:
        if out and span[0] < out[-1][1]:
            last = out[-1]
            longer = last if last[1] - last[0] >= span[1] - span[0] else span
            out[-1] = (last[0], max(last[1], span[1]), longer[2], last[3] or span[3])
        else:
            out.append(span)
    return out


def deidentify(text: str, mask_unknown: str = "capitalised", presidio: Presidio | None = None) -> tuple[str, PhiAudit]:
    """The text with every identifier replaced by its typed surrogate, and the counts."""
    (out,), audit = deidentify_fields([text], mask_unknown, presidio)
    return out, audit


def deidentify_fields(texts: list[str], mask_unknown: str = "capitalised",
                      presidio: Presidio | None = None) -> tuple[list[str], PhiAudit]:
    """The text fields of one row (a note and its title; a dialogue's turns), one surrogate
    numbering for all of them."""
    audit = PhiAudit(rows=1)
    surrogate = _Surrogates()
    outs = []
    for text in texts:
        parts: list[str] = []
        at = 0
        for start, end, kind, is_mimic in find_phi(text, mask_unknown, presidio) if text else []:
            if start < at:
                continue
            parts.append(text[at:start])
            surface = text[start:end]
            if surface == MIMIC_IV_PLACEHOLDER:  # hides any identifier: a surrogate of its own
                surface = f"mimic-iv placeholder {start}"
            parts.append(surrogate(kind, surface))
            audit.identifiers[kind] += 1
            audit.mimic_placeholders += is_mimic
            at = end
        parts.append(text[at:])
        outs.append("".join(parts))
    audit.rows_touched = int(bool(audit.identifiers))
    return outs, audit
