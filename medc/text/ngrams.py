"""Vectorised word n-gram hashing over a whole column of texts (numpy, no per-document loop).

Words are maximal runs of letters/digits after lower-casing (so punctuation, case and
white-space differences do not hide an overlap). Each word gets a 64-bit hash; an n-gram's
hash is a polynomial of its word hashes, computed for all positions at once with n
vector operations, keeping only n-grams that lie inside one document.
"""

from __future__ import annotations

import numpy as np
import polars as pl

WORD_PATTERN = r"[\p{L}\p{N}]+"
NGRAM_MULT = np.uint64(0x100000001B3)  # FNV prime: odd, so the polynomial mixes all bits


def words(texts: pl.Series) -> pl.Series:
    """List of normalised words per text."""
    return texts.fill_null("").str.to_lowercase().str.extract_all(WORD_PATTERN)


def word_hashes(texts: pl.Series, seed: int = 0x6D656463) -> tuple[np.ndarray, np.ndarray]:
    """(hashes of all words, concatenated; offsets into them, len(texts)+1)."""
    w = words(texts)
    lengths = w.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = w.explode().drop_nulls()
    hashes = flat.hash(seed).to_numpy() if flat.len() else np.empty(0, dtype=np.uint64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return hashes.astype(np.uint64, copy=False), offsets


def ngram_positions(offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start position in the flat word array, document index) of every n-gram inside a document."""
    lengths = np.diff(offsets)
    counts = np.maximum(lengths - n + 1, 0)
    total = int(counts.sum())
    docs = np.repeat(np.arange(len(lengths), dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.arange(total, dtype=np.int64) - first + offsets[:-1][docs]
    return starts, docs


def ngram_hashes(hashes: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hashes, index of the document each belongs to) for every n-gram inside a document."""
    starts, docs = ngram_positions(offsets, n)
    grams = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            grams = grams * NGRAM_MULT + hashes[starts + k]
    return grams, docs
