"""Abbreviation definitions ("tumor necrosis factor (TNF)") found by scispaCy's
AbbreviationDetector (Schwartz & Hearst) on a blank English spaCy pipeline: no model
download. Used by the `abbreviations` step (definitions in each row's `meta`) and by the
MedC-I abbreviation prompts builder."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from medc.text.spacy_blank import blank_english

_HEADING_LINE = re.compile(r"^\s*#{1,6}\s.*$", re.MULTILINE)  # Markdown headings of the row's text


def prose(sentence: str) -> str:
    """A sentence as a prompt context: one line, without the Markdown heading lines the
    sentencizer leaves at its start ("## Methods We used ...")."""
    return " ".join(_HEADING_LINE.sub(" ", sentence).split())


@lru_cache(maxsize=1)
def pipeline() -> Any:
    nlp = blank_english()
    from scispacy.abbreviation import AbbreviationDetector  # noqa: F401  (registers the factory)

    nlp.add_pipe("sentencizer")
    nlp.add_pipe("abbreviation_detector")
    nlp.max_length = 5_000_000
    return nlp


def definitions(doc: Any) -> dict[str, dict[str, Any]]:
    """Short form -> {long, sentence, defined_here} for a processed spaCy doc, in text order.

    Kept: short forms with a capital letter, at most 12 characters, whose long form is not
    the short form itself ("induction (induction)" and "cancer (cancer as reference)" are
    detector noise). The detector's spans come from sets (their order changes between
    processes): they are taken in text order; the sentence is the earliest one that uses
    the short form without defining it, else the earliest one."""
    found: dict[str, dict[str, Any]] = {}
    for span in sorted(doc._.abbreviations, key=lambda sp: (sp.start, sp.end)):
        short = span.text
        if not any(c.isupper() for c in short) or len(short) > 12:
            continue
        long_form = " ".join(span._.long_form.text.split())
        if long_form.lower() == short.lower() or len(long_form) <= len(short):
            continue
        sent = span.sent
        defined_here = long_form.lower() in sent.text.lower()
        best = found.get(short)
        if best is None:
            found[short] = {"long": long_form, "sentence": prose(sent.text), "defined_here": defined_here}
        elif best["defined_here"] and not defined_here:
            best.update({"sentence": prose(sent.text), "defined_here": False})
    return found


def find_all(texts: Iterable[str], batch_size: int = 32) -> Iterator[dict[str, dict[str, Any]]]:
    """`definitions` of each text (spaCy's batched `pipe`)."""
    import warnings

    nlp = pipeline()  # first: importing spaCy installs its own warning filters in front
    with warnings.catch_warnings():
        # scispaCy's global matcher has no patterns unless a global definitions list is given.
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        for doc in nlp.pipe(texts, batch_size=batch_size):
            yield definitions(doc)
