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
and its spaCy ORTH hash (64 bits of its text). Memory is bounded: past `MAX_CHUNKS` distinct
chunks the vocabulary and spaCy's string store start again empty.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from medc.text.spacy_blank import blank_english

# Python's white space (what spaCy's tokenizer splits on: Py_UNICODE_ISSPACE), as a regex class.
_SPACE_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
CHUNK_PATTERN = "[^" + "".join(f"\\x{{{ord(c):X}}}" for c in _SPACE_CHARS) + "]+"
MAX_CHUNKS = 2_000_000  # distinct chunks remembered per process (~150 MB); all is forgotten beyond it
_ONE_WORD = re.compile(r"[A-Za-z]+|[0-9]+")  # a chunk that spaCy leaves whole unless it is a special case
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

        A chunk of ASCII letters only, or digits only, that is not one of spaCy's special cases
        ("cannot", "gonna") is one word: no prefix, suffix or infix rule matches it (checked
        against spaCy on every chunk of the real conformance articles). The others go through
        spaCy a thousand at a time, joined by single spaces into one text: a chunk's tokens never
        depend on its neighbours, and a token followed by a space ends its chunk. (One Doc per
        chunk cost more than the splitting.)"""
        from spacy.attrs import ORTH, SPACY

        tok = tokenizer()
        strings = tok.vocab.strings
        specials = tok.rules
        counts = np.ones(len(chunks), dtype=np.int64)
        orths = np.empty(len(chunks), dtype=np.uint64)  # the first word of each chunk, more below
        spacy_chunks: list[int] = []
        for i, chunk in enumerate(chunks):
            if _ONE_WORD.fullmatch(chunk) and chunk not in specials:
                orths[i] = strings.add(chunk)
            else:
                spacy_chunks.append(i)
        split: dict[int, np.ndarray] = {}  # chunk index -> its words' ORTH hashes, for spaCy's chunks
        for start in range(0, len(spacy_chunks), _CHUNKS_PER_DOC):
            batch = spacy_chunks[start:start + _CHUNKS_PER_DOC]
            tokens = tok(" ".join(chunks[i] for i in batch)).to_array([ORTH, SPACY])
            ends = np.flatnonzero(tokens[:, 1])
            ends = np.append(ends, len(tokens) - 1) if len(ends) < len(batch) else ends
            if len(ends) != len(batch):  # (never seen: a chunk always gives a token, and only spaces part them)
                raise RuntimeError(f"spaCy split {len(batch)} chunks into {len(ends)} space-separated runs")
            starts = np.concatenate([[0], ends[:-1] + 1])
            for i, a, b in zip(batch, starts.tolist(), (ends + 1).tolist()):
                split[i] = tokens[a:b, 0]
                counts[i] = b - a
        all_orths = np.concatenate([split[i] if i in split else orths[i:i + 1] for i in range(len(chunks))]) \
            if split else orths
        ids = self._word_ids(all_orths, strings)
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
