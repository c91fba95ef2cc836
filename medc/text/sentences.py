"""Sentences and pieces: scispaCy's pysbd sentencizer on a blank spaCy pipeline (no model
download), and the grouping of paragraphs into pieces of bounded length, never cut
mid-sentence."""

from __future__ import annotations

from typing import Any

from medc.text.spacy_blank import blank_english

_SENTENCIZER: Any = None


def sentencizer() -> Any:
    """A blank spaCy English pipeline with scispaCy's pysbd sentencizer (no model download)."""
    global _SENTENCIZER
    if _SENTENCIZER is None:  # spaCy and scispaCy load in seconds: only when sentences are needed
        nlp = blank_english()
        from scispacy.custom_sentence_segmenter import pysbd_sentencizer  # noqa: F401  (registers the factory)

        nlp.add_pipe("pysbd_sentencizer")
        _SENTENCIZER = nlp
    return _SENTENCIZER


def split_sentences(text: str) -> list[str]:
    return [s.text.strip() for s in sentencizer()(text).sents if s.text.strip()]


def split_blocks(blocks: list[str], max_words: int) -> list[list[str]]:
    """Group consecutive blocks (paragraphs, headings) into pieces of at most `max_words`
    words, cutting only between blocks; a block longer than that alone is cut between
    sentences (pysbd). Never mid-sentence: a single sentence longer than `max_words` stays
    whole. A heading is never left at the end of a piece: it moves to the next one."""
    units: list[str] = []
    for block in blocks:
        if len(block.split()) <= max_words:
            units.append(block)
            continue
        piece: list[str] = []
        n = 0
        for sent in split_sentences(block):
            w = len(sent.split())
            if piece and n + w > max_words:
                units.append(" ".join(piece))
                piece, n = [], 0
            piece.append(sent)
            n += w
        if piece:
            units.append(" ".join(piece))
    pieces: list[list[str]] = []
    current: list[str] = []
    n = 0
    for unit in units:
        w = len(unit.split())
        if current and n + w > max_words:
            carry: list[str] = []
            while current and current[-1].startswith("#"):
                carry.insert(0, current.pop())
            if current:
                pieces.append(current)
            current, n = carry, sum(len(c.split()) for c in carry)
        current.append(unit)
        n += w
    if current:
        pieces.append(current)
    return pieces
