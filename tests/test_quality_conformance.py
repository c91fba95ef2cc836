"""medc's quality rules against datatrove's own filter tests (huggingface/datatrove
`tests/pipeline/filters/test_filters.py` at a649de79, Apache-2.0): the same texts and settings
must give the same keep/drop and reason names. Where datatrove is installed (the `bench`
group), every case is also run through datatrove itself."""

from __future__ import annotations

import polars as pl
import pytest

from medc.text.quality import compute_signals
from medc.text.quality_rules import GOPHER_DEFAULTS, quality_decision

TEXT_LF_1 = (
    "I wish it need not have happened in my time,' said Frodo. 'So do I,' said Gandalf, 'and so do all who live to "
    "see such times. But that is not for them to decide. All we have to decide is what to do with the time that is "
    "given us.'"
)
OFF = {k: None for k in GOPHER_DEFAULTS}
FINEWEB_DEFAULTS = {"fineweb_line_punct_thr": 0.12, "fineweb_short_line_thr": 0.67, "fineweb_char_dup_ratio": 0.01,
                    "fineweb_new_line_ratio": 0.3}


def reason(text: str, thresholds: dict) -> str | None:
    return quality_decision(compute_signals(pl.Series([text]), with_language=False), {**OFF, **thresholds})[0]


GOPHER_REPETITION = {k: GOPHER_DEFAULTS[k] for k in GOPHER_DEFAULTS if k.startswith(("dup_", "top_"))}
GOPHER_QUALITY = {**{k: GOPHER_DEFAULTS[k] for k in GOPHER_DEFAULTS if not k.startswith(("dup_", "top_"))},
                  "min_doc_words": 10, "max_doc_words": 1000, "languages": None, "min_language_score": None}
CASES = [
    # datatrove's test_gopher_repetition
    ("I am your father.\n" * 4, GOPHER_REPETITION, "dup_line_frac"),
    ("I am your father.\n\n" * 4, GOPHER_REPETITION, "dup_para_frac"),
    ("I am groot.\n" + "You are a wizard.\n" + "I am your father.\n" + f"{'x' * 40}.\n" * 2, GOPHER_REPETITION, "dup_line_char_frac"),
    ("I am Frank, I am Frank, I am Frank", GOPHER_REPETITION, "top_2_gram"),
    ("I am Frank, you are Jhon. I am Frank. I am Frank you are Jhon", GOPHER_REPETITION, "top_3_gram"),
    ("I am a solo traveller " * 4 + TEXT_LF_1, GOPHER_REPETITION, "duplicated_5_n_grams"),
    # datatrove's test_gopher_quality (GopherQualityFilter(min_doc_words=10, max_doc_words=1000))
    ("I am too small...", GOPHER_QUALITY, "gopher_short_doc"),
    ("I am " * 20, GOPHER_QUALITY, "gopher_below_avg_threshold"),
    ("interconnection " * 20, GOPHER_QUALITY, "gopher_above_avg_threshold"),
    ("# comment " * 20, GOPHER_QUALITY, "gopher_too_many_hashes"),
    ("... comment " * 20, GOPHER_QUALITY, "gopher_too_many_ellipsis"),
    (TEXT_LF_1, GOPHER_QUALITY, None),
    # datatrove's TestFineWebQualityFilter
    ("No punctuation here\nAnother line without any\nStill nothing", {**FINEWEB_DEFAULTS, "fineweb_line_punct_thr": 0.5},
     "line_punct_ratio"),
    ("hi.\nbye.\nok.\nno.\nyes.", {**FINEWEB_DEFAULTS, "fineweb_short_line_thr": 0.5, "fineweb_line_punct_thr": 0.0},
     "short_line_ratio"),
    ("This is a well-written paragraph that ends with proper punctuation.\n"
     "The content here is substantial and has meaningful information.\n"
     "Quality filtering ensures that only the best documents pass through.\n"
     "Each line here is long enough and ends with a terminal punctuation mark.\n"
     "This document should pass all the quality checks applied by the filter.", FINEWEB_DEFAULTS, None),
    ("\n".join(["a"] * 50), {**FINEWEB_DEFAULTS, "fineweb_new_line_ratio": 0.1}, "line_punct_ratio"),  # datatrove: dropped
    ("", FINEWEB_DEFAULTS, "empty"),
    # Cases of our own for the rules datatrove's tests leave out.
    ("A long enough first line that ends properly.\nA long enough first line that ends properly.\nAnother line, distinct.",
     FINEWEB_DEFAULTS, "char_dup_ratio"),
    ("Lines end properly here, every one.\n\n\nThey are long enough to count.\n\n\nBut blank lines are not lines.",
     FINEWEB_DEFAULTS, None),
    ("one.\ntwo.\nthree.\nfour.\nExtraordinarily uncharacteristically long.", {**FINEWEB_DEFAULTS, "fineweb_short_line_thr": 0.9},
     "list_ratio"),
]


@pytest.mark.parametrize(("text", "thresholds", "expected"), CASES)
def test_same_decision_as_datatrove(text: str, thresholds: dict, expected: str | None) -> None:
    assert reason(text, thresholds) == expected


def datatrove_reason(text: str, thresholds: dict) -> str | None:
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter

    if any(v is not None for k, v in thresholds.items() if k.startswith("fineweb_")):
        f = FineWebQualityFilter(line_punct_thr=thresholds["fineweb_line_punct_thr"],
                                 short_line_thr=thresholds["fineweb_short_line_thr"],
                                 char_duplicates_ratio=thresholds["fineweb_char_dup_ratio"],
                                 new_line_ratio=thresholds["fineweb_new_line_ratio"])
    elif thresholds is GOPHER_REPETITION:
        f = GopherRepetitionFilter()
    else:
        f = GopherQualityFilter(min_doc_words=10, max_doc_words=1000)
    result = f.filter(Document(text=text, id="0"))
    return None if result is True else result[1]


@pytest.mark.parametrize(("text", "thresholds", "expected"), CASES)
def test_datatrove_itself_agrees(text: str, thresholds: dict, expected: str | None) -> None:
    pytest.importorskip("datatrove", reason="datatrove is in the bench group: `uv run --group bench pytest`")
    try:
        got = datatrove_reason(text, thresholds)
    except ZeroDivisionError:  # datatrove's list rule divides by the word count
        pytest.skip("datatrove raises ZeroDivisionError on this text")
    assert got == expected


def test_real_web_text_same_decisions_as_datatrove() -> None:
    """20 real Common Crawl documents (CCNet head, from allenai/dolma's test data;
    tests/fixtures/replay/SOURCES.md), the kind of text a general-replay source brings: the
    default recipe's rules for `general_replay` (no per-source override: datatrove's Gopher
    defaults) keep and drop exactly the documents that datatrove's `GopherRepetitionFilter` and
    `GopherQualityFilter` keep and drop, for the same reasons."""
    import json
    import tomllib

    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    from tests.conftest import FIXTURES, REPO

    recipe = tomllib.loads((REPO / "pipelines" / "medc-k.toml").read_text())
    (quality,) = [s for s in recipe["steps"] if s["step"] == "quality_filter"]
    assert "general_replay" not in quality.get("sources", {})
    docs = [json.loads(line) for f in sorted((FIXTURES / "replay").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(docs) == 20
    ours = quality_decision(compute_signals(pl.Series([d["text"] for d in docs]), with_language=False),
                            {**GOPHER_DEFAULTS, "languages": None, "min_language_score": None}).to_list()
    theirs = []
    for d in docs:
        result = True
        for f in (GopherRepetitionFilter(), GopherQualityFilter()):
            result = f.filter(Document(text=d["text"], id=d["id"]))
            if result is not True:
                break
        theirs.append(None if result is True else result[1])
    assert ours == theirs
    assert 0 < sum(r is not None for r in ours) < 10  # raw web text: Gopher's rules do drop some
