"""`medc.text.spacy_words` (spaCy run once per distinct chunk) gives the words spaCy's blank-English
tokenizer gives for each whole text, on real text: every text node of the bundled and conformance
JATS files (read with lxml's itertext, not medc's parser), the PubMedQA abstracts and the clinical
notes, plus every kind of white space Python knows."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import spacy
from lxml import etree

from medc.text import quality, spacy_words
from medc.text.spacy_words import WordVocabulary
from tests.conftest import REPO, SAMPLES

SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((SAMPLES / "pmc_jats").glob("*.nxml")) + sorted((REPO / "tests" / "fixtures" / "jats").glob("*.nxml")):
        try:
            root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, recover=True)).getroot()
        except etree.XMLSyntaxError:
            continue
        if root is not None:
            texts.append("".join(root.itertext()))
    texts += [" ".join(r["CONTEXTS"]) for r in json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text()).values()]
    texts += [p.read_text(errors="replace") for p in sorted((SAMPLES / "clinical_notes").rglob("*")) if p.is_file()][:50]
    # Every white space Python knows, between, before and after words; runs of them; none at all.
    texts += [s.join(["cells.", "(n=12)", "e.g.", "don't"]) + s for s in SPACES]
    texts += ["", " ", "\n\n", "a" + "".join(SPACES) + "b", "x" * 5000]
    return texts


def spacy_words_of(texts: list[str]) -> list[list[str]]:
    """What datatrove's split_into_words keeps: spaCy's tokens of the whole text, white space left out."""
    tok = spacy.blank("en").tokenizer
    return [[t.text for t in tok(text) if not t.is_space] for text in texts]


def words_of(vocabulary: WordVocabulary, texts: list[str]) -> list[list[str]]:
    ids, offsets = vocabulary.tokenize(pl.Series(texts, dtype=pl.String))
    words = [vocabulary.text[i] for i in ids.tolist()]
    return [words[offsets[i]:offsets[i + 1]] for i in range(len(texts))]


def test_words_equal_spacy_on_whole_texts(real_texts: list[str]) -> None:
    expected = spacy_words_of(real_texts)
    assert sum(map(len, expected)) > 200_000  # real text, not a handful of words
    vocabulary = WordVocabulary()
    assert words_of(vocabulary, real_texts) == expected
    # Second time every chunk is known: the same words, no new ones learned.
    known = len(vocabulary.chunks)
    assert words_of(vocabulary, real_texts[::-1]) == expected[::-1]
    assert len(vocabulary.chunks) == known


def test_vocabulary_starts_again_past_its_bound(real_texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    texts = real_texts[:40]
    expected = spacy_words_of(texts)
    monkeypatch.setattr(spacy_words, "MAX_CHUNKS", 3000)
    vocabulary = WordVocabulary()
    generations = set()
    for i in range(0, len(texts), 5):
        assert words_of(vocabulary, texts[i:i + 5]) == expected[i:i + 5]
        assert len(vocabulary.chunks) <= max(3000, len(set(" ".join(texts[i:i + 5]).split())))
        generations.add(vocabulary.generation)
    assert len(generations) > 1  # it did start again, and the words stayed right


def test_quality_signals_survive_a_vocabulary_reset(real_texts: list[str]) -> None:
    texts = pl.Series(real_texts[:30])
    before = quality.compute_signals(texts, with_language=False)
    spacy_words.VOCABULARY.reset()
    after = quality.compute_signals(texts, with_language=False)
    assert before.equals(after)
    assert np.all(before["sig_words"].to_numpy() > 0)


def test_a_blank_pipeline_loads_neither_torch_nor_other_packages_factories() -> None:
    """In a fresh process, medc's blank English pipeline (tokenizer, sentencizer, abbreviation
    detector) imports neither torch nor transformers, though both are installed here and
    Presidio (installed with the dev group) registers a spaCy factory that imports them; the
    pipeline still tokenizes, and spaCy's own factories are there."""
    import subprocess
    import sys

    probe = ("import sys\n"
             "from medc.text.spacy_blank import blank_english\n"
             "nlp = blank_english()\n"
             "nlp.add_pipe('sentencizer')\n"
             "doc = nlp('The dose was 5 mg/kg. It worked.')\n"
             "print(len(list(doc.sents)), [t.text for t in doc][:4], 'torch' in sys.modules, 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "['The',", "'dose',", "'was',", "'5']", "False", "False"]


def test_a_chunks_words_do_not_depend_on_the_chunk_learned_before_it() -> None:
    """spaCy matches its special cases over tokens: with chunks parted by a space, "matrix):"
    before "p.R3018X" (a real pair of chunks of the conformance corpus) formed the emoticon ":p"
    and left "p." split, so a chunk's words depended on which chunk the vocabulary happened to
    learn next to it (the test above failed now and then)."""
    alone, after = WordVocabulary(), WordVocabulary()
    alone.learn(["p.R3018X"])
    after.learn(["matrix):", "p.R3018X"])
    assert words_of(alone, ["p.R3018X"]) == words_of(after, ["p.R3018X"]) == spacy_words_of(["p.R3018X"]) == [["p.", "R3018X"]]
