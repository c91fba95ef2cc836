"""spaCy's blank-English words of a batch of texts, tokenised once per distinct chunk.

spaCy's tokenizer cuts a text at white space (Python's `str.isspace`) into chunks and splits
each chunk into tokens by its prefix, suffix, infix and special-case rules; the tokens of a chunk
never depend on its neighbours (spaCy caches them by the chunk's hash). Its cache holds 10,000
chunks (`Tokenizer.max_cache_size`) and then takes no more: on real papers, with their numbers,
gene names and citations, most chunks are split again, rule by rule, every time they occur.
On real-size papers that was two thirds of the quality step.

`WordVocabulary.tokenize` therefore cuts the texts into chunks itself (one polars regex over the
batch), joins them against the chunks it has already seen, and runs spaCy only on the new ones.
The words it returns are the tokens spaCy returns for the whole text, white-space tokens left
out (what datatrove's `split_into_words` keeps), as ids of distinct words, each with its text
and its spaCy ORTH hash (64 bits of its text). One difference is known: spaCy matches special
cases over tokens, so across a single space one chunk's last token and the next one's first can
meet (": p.R3018X" is the emoticon ":p" for it, and "p." stays split); here each chunk is read
alone ("p.", "R3018X"). No such pair is in the conformance corpus's 1,160 texts. Memory is bounded: past `MAX_CHUNKS` distinct
chunks the vocabulary and spaCy's string store start again empty.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np
import polars as pl

from medc.text.spacy_blank import blank_english

# Python's white space (what spaCy's tokenizer splits on: Py_UNICODE_ISSPACE), as a regex class.
_SPACE_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
CHUNK_PATTERN = "[^" + "".join(f"\\x{{{ord(c):X}}}" for c in _SPACE_CHARS) + "]+"
MAX_CHUNKS = 2_000_000  # distinct chunks remembered per process (~150 MB); all is forgotten beyond it
# A word with at most an opening bracket before it and one mark after it: see `learn`.
_PLAIN_CHUNK = re.compile(r"(\(?)([A-Za-z]+|[0-9]+)([,;:)]?)")


def _plain_pieces(chunk: str, specials: dict[str, Any]) -> list[str] | None:
    """The tokens spaCy gives a plain chunk (word, opening bracket, closing mark), or None
    when the chunk is not plain or spaCy would meet one of its special cases on the way."""
    m = _PLAIN_CHUNK.fullmatch(chunk)
    if m is None:
        return None
    opening, word, closing = m.groups()
    if any(s in specials for s in (chunk, word, opening + word, word + closing)):
        return None
    return [piece for piece in (opening, word, closing) if piece]
_CHUNKS_PER_DOC = 1000


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """A blank-English tokenizer of this module's own: its new words skip the lexical
    attributes (shape, like_num, ...), Python functions that the splitting rules never read."""
    tok = blank_english().tokenizer
    tok.vocab.lex_attr_getters = {}
    return tok


class WordVocabulary:
    """Distinct words and chunks seen by this process.

    Words: `orth` (spaCy's 64-bit hash of the text) and `text`, by word id (ids only grow,
    until `reset`).
    Chunks: a frame (chunk, first, count) pointing into `chunk_words`, the word ids of every
    known chunk laid end to end.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        """Forget every word and chunk (what a fresh process starts from). Word ids given
        before belong to the previous `generation`."""
        self.generation += 1
        tokenizer.cache_clear()  # a fresh tokenizer: spaCy's string store only grows
        self.word_index: dict[int, int] = {}
        self.orth: list[int] = []
        self.text: list[str] = []
        self.chunks = pl.DataFrame(schema={"chunk": pl.String, "first": pl.Int64, "count": pl.Int64})
        self.chunk_words = np.empty(0, dtype=np.int64)

    def _word_ids(self, orths: np.ndarray, strings: Any) -> np.ndarray:
        """Word ids of spaCy ORTH hashes, new words added (one dict lookup per distinct word)."""
        distinct, inverse = np.unique(orths, return_inverse=True)
        ids = np.empty(len(distinct), dtype=np.int64)
        for k, orth in enumerate(distinct.tolist()):
            j = self.word_index.get(orth)
            if j is None:
                j = self.word_index[orth] = len(self.orth)
                self.orth.append(orth)
                self.text.append(strings[orth])
            ids[k] = j
        return ids[inverse]

    def learn(self, chunks: list[str]) -> None:
        """Tokenise chunks not seen before and remember their words.

        A chunk that is ASCII letters only or digits only, with at most an opening bracket before
        it and one of `,;:)` after it, is split here: the word, and each mark a token of its own
        ("(n", "cells," -> "cells" ","), unless the chunk or what spaCy checks after cutting a mark
        is one of its special cases ("cannot", "8)"); no other prefix, suffix or infix rule
        matches such a chunk (checked against spaCy on every chunk of 247 real articles: 66,678
        of 137,980). The others go through spaCy a thousand at a time, joined by line breaks
        into one text, each break a token of its own that ends a chunk, so that no special case
        is matched across two chunks. (One Doc per chunk cost more than the splitting.)"""
        from spacy.attrs import IS_SPACE, ORTH

        tok = tokenizer()
        strings = tok.vocab.strings
        specials = tok.rules
        words: list[list[int] | None] = [None] * len(chunks)  # each chunk's words' ORTH hashes
        spacy_chunks: list[int] = []
        for i, chunk in enumerate(chunks):
            pieces = _plain_pieces(chunk, specials)
            if pieces is None:
                spacy_chunks.append(i)
            else:
                words[i] = [strings.add(piece) for piece in pieces]
        for start in range(0, len(spacy_chunks), _CHUNKS_PER_DOC):
            batch = spacy_chunks[start:start + _CHUNKS_PER_DOC]
            # Chunks parted by a line break, a token of its own: spaCy's special cases are matched
            # over tokens, so with a plain space a chunk's last token and the next one's first
            # could meet (":" then "p.R3018X" is the emoticon ":p", and "p." is then left split).
            tokens = tok("\n".join(chunks[i] for i in batch)).to_array([ORTH, IS_SPACE])
            breaks = np.flatnonzero(tokens[:, 1])
            if len(breaks) != len(batch) - 1:  # (never seen: a chunk holds no white space)
                raise RuntimeError(f"spaCy split {len(batch)} chunks into {len(breaks) + 1} runs")
            orths = tokens[:, 0].tolist()
            for i, a, b in zip(batch, [0, *(breaks + 1).tolist()], [*breaks.tolist(), len(tokens)]):
                words[i] = orths[a:b]
        counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(chunks))
        ids = self._word_ids(np.fromiter(chain.from_iterable(words), dtype=np.uint64, count=int(counts.sum())), strings)
        first = len(self.chunk_words) + np.cumsum(counts) - counts
        self.chunk_words = np.concatenate([self.chunk_words, ids])
        new = pl.DataFrame({"chunk": chunks, "first": first, "count": counts},
                           schema={"chunk": pl.String, "first": pl.Int64, "count": pl.Int64})
        self.chunks = pl.concat([self.chunks, new], rechunk=True)

    def tokenize(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(word ids of every text's words laid end to end, offsets into them: len(texts)+1)."""
        chunked = texts.fill_null("").str.extract_all(CHUNK_PATTERN)
        per_text = chunked.list.len().fill_null(0).to_numpy().astype(np.int64)
        flat = pl.DataFrame({"chunk": chunked.explode().drop_nulls()})
        new = flat.unique().join(self.chunks, on="chunk", how="anti")
        if len(self.chunks) + new.height > MAX_CHUNKS:
            self.reset()
            new = flat.unique()
        if new.height:
            self.learn(new["chunk"].to_list())
        located = flat.join(self.chunks, on="chunk", how="left", maintain_order="left")
        first = located["first"].to_numpy()
        count = located["count"].to_numpy()
        words_before = np.cumsum(count) - count
        total = int(count.sum())
        positions = np.arange(total, dtype=np.int64) + np.repeat(first - words_before, count)
        word_ids = self.chunk_words[positions]
        chunk_offsets = np.concatenate([[0], np.cumsum(per_text)])
        word_offsets = np.concatenate([[0], np.cumsum(count)])[chunk_offsets]
        return word_ids, word_offsets.astype(np.int64)


VOCABULARY = WordVocabulary()
