"""MinHash near-duplicate detection: vectorised signatures, LSH bands, verified clusters.

* Shingles are word n-grams (5 by default) hashed with `medc.text.ngrams`; a signature is the
  minimum of `num_perm` multiply-shift hash functions over a document's shingles,
  computed with numpy over batches of documents (no per-document Python loop).
* Bands and rows come from datasketch's `MinHashLSH` optimisation for the Jaccard
  threshold, weighted toward recall; candidate pairs are then verified by the exact
  Jaccard similarity of their shingle sets, so precision does not depend on the banding.
* Candidate pairs come from LSH buckets grouped with polars; verified pairs are joined
  into clusters with scipy's connected components (union-find).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl

from medc.text.ngrams import ngram_hashes, word_hashes

MAX_HASH = np.uint64(0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


@lru_cache(maxsize=32)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.02, fn_weight: float = 0.98) -> tuple[int, int]:
    """(bands, rows) as datasketch's `MinHashLSH` derives them from the threshold (minimising
    fp_weight*FP + fn_weight*FN over its S-curve), but weighted toward recall: datasketch's
    default 0.5/0.5 gives 9 x 13 at 0.8, which finds only ~80% of pairs at that
    similarity; 0.02/0.98 gives 17 x 7. Candidates are verified afterwards, so extra
    candidates cost time, never precision."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(fp_weight, fn_weight))
    return int(lsh.b), int(lsh.r)


def shingles(texts: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, document index of each) for word n-gram shingles; a document shorter
    than n words is one shingle of all its words."""
    hashes, offsets = word_hashes(texts)
    grams, docs = ngram_hashes(hashes, offsets, n)
    lengths = np.diff(offsets)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    for length in np.unique(lengths[short]):
        sel = short[lengths[short] == length]
        sub_offsets = np.concatenate([[0], np.cumsum(lengths[sel])])
        sub = np.concatenate([hashes[offsets[i] : offsets[i + 1]] for i in sel])
        g, d = ngram_hashes(sub, sub_offsets, int(length))
        grams, docs = np.concatenate([grams, g]), np.concatenate([docs, sel[d]])
    order = np.argsort(docs, kind="stable")
    return grams[order], docs[order]


def signatures(texts: pl.Series, n: int, num_perm: int, seed: int, batch_shingles: int = 8192) -> np.ndarray:
    """uint32 MinHash signatures, shape (len(texts), num_perm); rows of empty texts are all 0xFFFFFFFF.

    Hash i of a shingle x is the top 32 bits of a_i * x + b_i (mod 2^64), a multiply-shift
    universal family. Shingles are processed in cache-sized blocks that end on document
    boundaries, with in-place numpy arithmetic.
    """
    a, b = permutations(num_perm, seed)
    out = np.full((len(texts), num_perm), MAX_HASH, dtype=np.uint32)
    grams, docs = shingles(texts, n)
    if not len(grams):
        return out
    bounds = np.flatnonzero(np.diff(docs)) + 1
    starts = np.concatenate([[0], bounds])
    stop_at = np.concatenate([bounds, [len(grams)]])
    buf = np.empty((max(batch_shingles, 1), num_perm), dtype=np.uint64)
    shift = np.uint64(32)
    i = 0
    while i < len(starts):
        j = max(int(np.searchsorted(starts, starts[i] + batch_shingles, side="left")), i + 1)
        lo, hi = int(starts[i]), int(stop_at[j - 1])
        if hi - lo > len(buf):
            buf = np.empty((hi - lo, num_perm), dtype=np.uint64)
        view = buf[: hi - lo]
        np.multiply(grams[lo:hi, None], a[None, :], out=view)
        np.add(view, b[None, :], out=view)
        np.right_shift(view, shift, out=view)
        out[docs[starts[i:j]]] = np.minimum.reduceat(view, starts[i:j] - lo, axis=0)
        i = j
    return out


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64 hash of each band of each signature."""
    n = sigs.shape[0]
    view = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = h * np.uint64(0x100000001B3) + view[:, :, r] + np.uint64(r + 1)
    return h


def band_entries(keys: np.ndarray, bands: np.ndarray) -> pl.DataFrame:
    """(key, band, h): one entry per row and band of an (n_docs, bands) band-hash matrix."""
    n, width = bands.shape
    return pl.DataFrame({
        "key": np.repeat(np.asarray(keys, dtype=np.uint64), width),
        "band": np.tile(np.arange(width, dtype=np.uint16), n),
        "h": np.ascontiguousarray(bands, dtype=np.uint64).ravel(),
    })


def bucket_pairs(entries: pl.DataFrame, max_bucket: int = 50) -> pl.DataFrame:
    """Pairs (a < b, unique) of keys sharing a bucket (the same hash `h` in the same `band`)
    among `entries` (key, band, h). Small buckets give all pairs; a large bucket links each
    member to its smallest key and to its neighbour in key order. Only the entries whose
    bucket another entry shares are grouped."""
    shared = entries.filter(pl.struct("band", "h").is_duplicated())
    if shared.height == 0:
        return pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
    buckets = shared.group_by("band", "h").agg(pl.col("key").unique().sort()).filter(pl.col("key").list.len() > 1).select("key")
    pairs = []
    small = buckets.filter(pl.col("key").list.len() <= max_bucket).with_row_index("bucket")
    if small.height:
        members = small.explode("key")
        pairs.append(
            members.join(members, on="bucket", suffix="_o")
            .filter(pl.col("key") < pl.col("key_o"))
            .select(pl.col("key").alias("a"), pl.col("key_o").alias("b"))
        )
    large = buckets.filter(pl.col("key").list.len() > max_bucket)
    if large.height:
        pairs.append(large.select(pl.col("key").list.first().alias("a"), pl.col("key").list.slice(1).alias("b")).explode("b"))
        pairs.append(large.select(pl.col("key").list.slice(0, pl.col("key").list.len() - 1).alias("a"),
                                  pl.col("key").list.slice(1).alias("b")).explode("a", "b"))
    if not pairs:
        return pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
    return pl.concat(pairs).unique()


def candidate_pairs(keys: np.ndarray, bands: np.ndarray, max_bucket: int = 50) -> pl.DataFrame:
    """Pairs (a < b, sorted) of keys sharing a band bucket, for a band-hash matrix in memory:
    one band at a time (memory: one band's entries plus the pairs found)."""
    pairs = pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
    for band in range(bands.shape[1]):
        found = bucket_pairs(band_entries(keys, bands[:, band:band + 1]), max_bucket)
        if found.height:
            pairs = pl.concat([pairs, found]).unique()  # duplicates across bands go as they come
    return pairs.sort("a", "b")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def shingle_sets(texts: pl.Series, n: int) -> list[np.ndarray]:
    grams, docs = shingles(texts, n)
    out: list[np.ndarray] = [np.empty(0, dtype=np.uint64)] * len(texts)
    if len(grams):
        bounds = np.flatnonzero(np.diff(docs)) + 1
        for chunk in np.split(np.arange(len(grams)), bounds):
            out[int(docs[chunk[0]])] = np.unique(grams[chunk])
    return out


def clusters(pairs: pl.DataFrame) -> pl.DataFrame:
    """Connected components of the verified pairs: `_key, cluster` (cluster = smallest key)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if pairs.height == 0:
        return pl.DataFrame(schema={"_key": pl.UInt64, "cluster": pl.UInt64})
    nodes = np.unique(np.concatenate([pairs["a"].to_numpy(), pairs["b"].to_numpy()]))
    ia = np.searchsorted(nodes, pairs["a"].to_numpy())
    ib = np.searchsorted(nodes, pairs["b"].to_numpy())
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    frame = pl.DataFrame({"_key": nodes, "label": labels})
    return frame.with_columns(pl.col("_key").min().over("label").alias("cluster")).select("_key", "cluster")
