"""Microsoft Presidio's analyzer as a second PHI detector beside Philter (the optional extra
`medc[presidio]`, `presidio-analyzer`). Its identifiers are mapped into medc's surrogate types
(`medc.text.deidentify.PHI_TYPES`) and merged with Philter's spans by the `deidentify` step
when its `engines` include "presidio".

Presidio finds names and places with a spaCy NER model and everything else with validated
patterns (phone numbers through `phonenumbers`, SSNs, IP addresses, URLs, licence, passport,
bank and card numbers). The model is one the user has installed (`en_core_web_lg` by default,
or a pipeline folder); nothing is downloaded: without the model, Presidio runs its pattern
recognisers only, and `analyzer()` says so. Its e-mail recogniser is left out: Philter finds
e-mails, and that recogniser's validation asks `tldextract`, which downloads the public suffix
list on first use.

PHI never leaves this module except as (start, end, type) spans.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

# Presidio's entity types → medc's surrogate types. Entities not listed (NRP, crypto wallets,
# non-US national ids of other recognisers) are not taken.
PRESIDIO_TYPES = {
    "PERSON": "NAME",
    "LOCATION": "LOCATION",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
    "URL": "URL",
    "US_DRIVER_LICENSE": "ID",
    "US_PASSPORT": "ID",
    "US_BANK_NUMBER": "ID",
    "US_ITIN": "ID",
    "MEDICAL_LICENSE": "ID",
    "CREDIT_CARD": "ID",
    "IBAN_CODE": "ID",
}
LEFT_OUT_RECOGNIZERS = ("EmailRecognizer",)
DEFAULT_MODEL = "en_core_web_lg"
PATTERNS_ONLY = "patterns only"


def presidio_available() -> bool:
    return importlib.util.find_spec("presidio_analyzer") is not None


def model_present(model: str) -> bool:
    """An installed spaCy pipeline package, or a pipeline folder."""
    import spacy

    return bool(model) and (spacy.util.is_package(model) or Path(model).is_dir())


@cache
def analyzer(model: str = DEFAULT_MODEL) -> tuple[Any, str]:
    """(Presidio's AnalyzerEngine, what finds names and places: the model, or "patterns only"
    when it is not installed here)."""
    if not presidio_available():
        raise ValueError("the 'presidio' engine needs presidio-analyzer: install medc with the extra, "
                         "`uv sync --extra presidio` (or `pip install 'medc[presidio]'`)")
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    present = model_present(model)

    class _Engine(SpacyNlpEngine):  # the user's pipeline, or a blank one: never a download
        def load(self) -> None:
            self.nlp = {"en": spacy.load(model) if present else spacy.blank("en")}

    engine = _Engine(models=[{"lang_code": "en", "model_name": model if present else "blank"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=engine, languages=["en"])
    for name in LEFT_OUT_RECOGNIZERS:
        registry.remove_recognizer(name)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"]), model if present else PATTERNS_ONLY


def presidio_spans(text: str, model: str = DEFAULT_MODEL, min_score: float = 0.5) -> list[tuple[int, int, str]]:
    """(start, end, medc type) of what Presidio finds with at least `min_score`, in text order."""
    engine, _ = analyzer(model)
    found = engine.analyze(text=text, language="en", entities=sorted(PRESIDIO_TYPES), score_threshold=min_score)
    return sorted((r.start, r.end, PRESIDIO_TYPES[r.entity_type]) for r in found if r.entity_type in PRESIDIO_TYPES)
