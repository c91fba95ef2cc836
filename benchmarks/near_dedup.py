"""Near-duplicate detection: medc's MinHash pipeline vs a plain datasketch MinHashLSH loop.

    uv run --group bench python benchmarks/near_dedup.py --docs 100000          # both
    uv run --group bench python benchmarks/near_dedup.py --docs 1000000 --medc-only
    uv run --group bench python benchmarks/near_dedup.py --docs 5000 --corpus real-size

The corpus is generated from real sentences of the bundled samples (PMC articles, PubMed
abstracts, exam questions): each base document is 8-20 random sentences; 5% of them get a
planted near-duplicate made by word edits, shuffled paragraphs or a truncation. Ground
truth: the planted pairs whose exact Jaccard similarity of 5-word shingle sets is >= 0.8.

Each method runs in its own child process on the same corpus file (so peak RSS is its
own): medc reads the texts 20,000 at a time and keeps only their band hashes (as the map
stage does per shard), groups LSH buckets with polars one band at a time, verifies candidates
by exact Jaccard with the build's own `verify_pairs` (chunks of candidate pairs, each reading
only its pairs' texts by `_key`) and clusters them; the baseline
inserts each document's datasketch MinHash into a MinHashLSH(threshold=0.8) after
querying it. Reported: precision and recall of found pairs at Jaccard >= 0.8, wall time,
peak RSS, and medc's time as a fraction of the loop's. medc is scored twice: on every pair of
documents its clusters join (what deduplication acts on), and on the pairs it verified itself,
before clustering (what the loop reports).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

THRESHOLD = 0.8
NGRAM = 5
NUM_PERM = 128


def generate_real_size(n_docs: int, seed: int) -> tuple[list[str], list[int], list[int]]:
    """`benchmarks.corpus.realistic_corpus`: real-size papers and abstracts with planted exact and
    near duplicates (3 % each); returns (texts, originals, copies) in corpus order."""
    from benchmarks.corpus import realistic_corpus

    texts, truth = realistic_corpus(n_docs, seed=seed)
    pairs = truth["exact"] + truth["near"]
    return texts, [b for _, b in pairs], [a for a, _ in pairs]


def generate(n_docs: int, seed: int, path: Path, corpus: str = "sentences") -> tuple[int, int]:
    from benchmarks.corpus import describe, sentences

    if corpus == "real-size":
        texts, a, b = generate_real_size(n_docs, seed)
        print(f"corpus (real-size): {describe(texts)}")
        frame = pl.DataFrame({"id": np.arange(len(texts)), "text": texts})
        return write_corpus(frame, a, b, path)
    pool = sentences()
    rng = random.Random(seed)
    n_base = int(n_docs / 1.05)
    docs: list[str] = []
    for _ in range(n_base):
        k = rng.randint(8, 20)
        chosen = [pool[rng.randrange(len(pool))] for _ in range(k)]
        cut1, cut2 = sorted(rng.sample(range(1, k), 2))
        docs.append("\n\n".join(" ".join(p) for p in (chosen[:cut1], chosen[cut1:cut2], chosen[cut2:])))
    originals, copies = [], []
    for i in rng.sample(range(n_base), n_docs - n_base):
        text = docs[i]
        kind = rng.choice(["edit", "shuffle", "truncate"])
        if kind == "edit":
            words = text.split(" ")
            for j in rng.sample(range(len(words)), max(1, len(words) // rng.choice([30, 50, 100]))):
                words[j] = rng.choice(["the", "a", "patients", "was", "not", "cell"]) if rng.random() < 0.7 else ""
            copy = " ".join(w for w in words if w)
        elif kind == "shuffle":
            paras = text.split("\n\n")
            rng.shuffle(paras)
            copy = "\n\n".join(paras)
        else:
            words = text.split(" ")
            copy = " ".join(words[: int(len(words) * rng.uniform(0.85, 0.95))])
        originals.append(i)
        copies.append(len(docs))
        docs.append(copy)
    order = list(range(len(docs)))
    rng.shuffle(order)  # copies are not next to their originals
    position = {old: new for new, old in enumerate(order)}
    frame = pl.DataFrame({"id": np.arange(len(docs)), "text": [docs[o] for o in order]})
    print(f"corpus (sentences): {describe(frame['text'].to_list())}")
    return write_corpus(frame, [position[o] for o in originals], [position[c] for c in copies], path)


def write_corpus(frame: pl.DataFrame, a: list[int], b: list[int], path: Path) -> tuple[int, int]:
    """The corpus as parquet, and beside it the planted pairs with their exact Jaccard similarity."""
    from medc.text.minhash import jaccard, shingle_sets

    frame.with_columns(pl.int_range(0, frame.height, dtype=pl.UInt64).alias("_key")).write_parquet(path)  # keyed as a shard
    texts = frame["text"]
    sets_a = shingle_sets(texts.gather(a), NGRAM)
    sets_b = shingle_sets(texts.gather(b), NGRAM)
    sims = [jaccard(x, y) for x, y in zip(sets_a, sets_b)]
    truth = pl.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b), "jaccard": sims})
    truth.write_parquet(path.with_suffix(".truth.parquet"))
    return frame.height, int((truth["jaccard"] >= THRESHOLD).sum())


def peak_rss_kib() -> int:
    """This process's own peak RSS: VmHWM (Linux), which starts again at exec; `ru_maxrss` is
    kept across fork and exec, so a child spawned by the parent that generated the corpus
    would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def medc_pairs(path: str, queue: mp.Queue) -> None:
    import scipy.sparse.csgraph  # noqa: F401  (imports are not timed, for either method)

    from medc.steps.dedup import NearDedupParams, verify_pairs
    from medc.text.minhash import band_hashes, candidate_pairs, clusters, optimal_bands, signatures

    t0 = time.perf_counter()
    # As the build does: texts are read a batch at a time (a shard) and only their band hashes
    # are kept; the verification reads the texts of the candidate documents alone.
    corpus = pl.scan_parquet(path)
    n_docs = corpus.select(pl.len()).collect().item()
    bands, rows = optimal_bands(THRESHOLD, NUM_PERM)
    parts = []
    for start in range(0, n_docs, 20_000):  # per "shard", as in the map stage
        texts = corpus.slice(start, 20_000).select("text").collect()["text"]
        sig = signatures(texts, NGRAM, NUM_PERM, 42)
        parts.append(band_hashes(sig, bands, rows))
    del texts, sig
    keys = np.arange(n_docs, dtype=np.uint64)
    pairs = candidate_pairs(keys, np.vstack(parts))
    del parts
    # The build's own verification (`near_dedup`'s `verify_pairs`), in its chunks of candidate
    # pairs, each reading the texts of its pairs from the file by `_key`.
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    chunk = NearDedupParams().verify_chunk
    ok = [verify_pairs((i, [path], "knowledge", ("text",), NGRAM, THRESHOLD, a[i:i + chunk], b[i:i + chunk]))[1]
          for i in range(0, len(a), chunk)]
    verified = pairs.filter(pl.Series(np.concatenate(ok) if ok else np.empty(0, bool), dtype=pl.Boolean))
    members = clusters(verified)
    # Pairs reported = every pair of documents placed in one cluster.
    found = members.join(members, on="cluster").filter(pl.col("_key") < pl.col("_key_right"))
    found = found.select(pl.col("_key").alias("a"), pl.col("_key_right").alias("b"))
    seconds = time.perf_counter() - t0
    queue.put({"pairs": found.to_numpy().tolist(), "seconds": seconds, "candidates": pairs.height,
               "bands_rows": (bands, rows), "rss_kib": peak_rss_kib(),
               "verified": verified.select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64)).to_numpy().tolist()})


def datasketch_pairs(path: str, queue: mp.Queue) -> None:
    import re

    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    texts = pl.read_parquet(path)["text"].to_list()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    pairs = []
    word = re.compile(r"[^\W_]+")
    for i, text in enumerate(texts):
        words = word.findall(text.lower())
        grams = {" ".join(words[j : j + NGRAM]).encode() for j in range(max(1, len(words) - NGRAM + 1))}
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch(list(grams))
        for other in lsh.query(m):
            pairs.append((min(i, other), max(i, other)))
        lsh.insert(i, m)
    seconds = time.perf_counter() - t0
    queue.put({"pairs": pairs, "seconds": seconds, "rss_kib": peak_rss_kib()})


def run_child(fn, path: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=fn, args=(str(path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def score(name: str, result: dict, truth: pl.DataFrame, texts: pl.Series) -> None:
    from medc.text.minhash import jaccard, shingle_sets

    found = pl.DataFrame(result["pairs"], schema={"a": pl.Int64, "b": pl.Int64}, orient="row").unique()
    positives = truth.filter(pl.col("jaccard") >= THRESHOLD).select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64))
    recall = positives.join(found, on=["a", "b"]).height / max(positives.height, 1)
    # Precision, two ways, on a sample of the reported pairs: (1) the pair's exact Jaccard is at
    # or above the threshold; (2) that, or both documents descend from one original (an original
    # and its copies, joined through every planted pair): a cluster holding an original and two of
    # its copies reports the two copies as a pair though their own Jaccard may be lower, and for
    # deduplication that pair is right.
    group = planted_groups(truth)
    if found.height:
        sample = found.sample(min(found.height, 20_000), seed=0)
        sa = shingle_sets(texts.gather(sample["a"]), NGRAM)
        sb = shingle_sets(texts.gather(sample["b"]), NGRAM)
        similar = [jaccard(x, y) >= THRESHOLD for x, y in zip(sa, sb)]
        related = [a in group and group[a] == group.get(b) for a, b in sample.iter_rows()]
        precision = float(np.mean(similar))
        group_precision = float(np.mean([s or r for s, r in zip(similar, related)]))
    else:
        precision = group_precision = 1.0
    extra = f", {result['candidates']:,} candidate pairs, bands x rows = {result['bands_rows']}" if "candidates" in result else ""
    print(f"{name:>11}: {result['seconds']:8.1f} s, peak RSS {result['rss_kib'] / 1024 / 1024:.2f} GiB, "
          f"pairs {found.height:,}, precision {precision:.4f} (every pair >= {THRESHOLD}), "
          f"{group_precision:.4f} (that, or both from one planted group), recall {recall:.4f}{extra}")


def planted_groups(truth: pl.DataFrame) -> dict[int, int]:
    """Document -> its planted group (union-find over every planted pair, whatever its Jaccard)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in truth.select("a", "b").iter_rows():
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--medc-only", action="store_true", help="skip the datasketch loop (e.g. at 1M documents)")
    ap.add_argument("--corpus", choices=("sentences", "real-size"), default="sentences",
                    help="sentences: 8-20 real sentences per document; real-size: benchmarks.corpus.realistic_corpus")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.parquet"
        t0 = time.perf_counter()
        n, positives = generate(args.docs, args.seed, path, args.corpus)
        print(f"corpus: {n:,} documents, {positives:,} planted pairs with Jaccard >= {THRESHOLD} "
              f"(generated in {time.perf_counter() - t0:.0f} s)")
        truth = pl.read_parquet(path.with_suffix(".truth.parquet"))
        texts = pl.read_parquet(path)["text"]
        medc = run_child(medc_pairs, path)
        score("medc", medc, truth, texts)
        # The pairs medc itself judged (candidate pairs whose exact Jaccard it verified), as the
        # loop reports its pairs: before clustering joins them into groups.
        score("medc pairs", {**medc, "pairs": medc["verified"]}, truth, texts)
        if not args.medc_only:
            loop = run_child(datasketch_pairs, path)
            score("datasketch", loop, truth, texts)
            print(f"medc time / datasketch loop time: {medc['seconds'] / loop['seconds']:.3f}; "
                  f"peak RSS ratio: {medc['rss_kib'] / loop['rss_kib']:.2f}")


if __name__ == "__main__":
    main()
