"""The whole recipe, side by side: medc's build vs datatrove's pipeline on the same JSONL.

    uv run --group bench python benchmarks/recipe_vs_datatrove.py --docs 100000 [--workers 2]

Corpus: `benchmarks.corpus.realistic_corpus` (papers with PMC full text's length distribution,
median ~4,500 words, and PubMed-like abstracts, from real text; 3 % exact and 3 % near
duplicates planted), normalised as medc's readers normalise text, written as `--files` JSONL
files (uncompressed) with an `id` per record.

The same work on each side, with the same number of worker processes:
read JSONL -> Gopher repetition + quality filters (datatrove's defaults) -> exact dedup (one
hash of the whole text) -> MinHash near-dedup (5-word shingles, 14 bands x 8 rows = 112
permutations) -> write parquet.

* datatrove: `LocalPipelineExecutor` stages as its own examples chain them: reader -> Gopher
  filters -> JSONL; ExactDedupSignature; ExactFindDedups; ExactDedupFilter -> JSONL;
  MinhashDedupSignature; MinhashDedupBuckets; MinhashDedupCluster; MinhashDedupFilter ->
  ParquetWriter. Intermediate JSONL uncompressed (its default is gzip: slower).
* medc: `python -m medc.build medc-k` on a recipe with one `replay` source and the steps
  quality_signals (language id off: datatrove's Gopher filters have none), quality_filter,
  exact_dedup, near_dedup (bands 14, rows 8, candidate pairs verified at Jaccard 0.8, which
  datatrove does not do), written as the released parquet repo.

Each side runs in a child process; reported: wall time, documents/s and MB/s per core, peak
RSS of the whole process tree (sampled every 0.5 s), rows kept, and the agreement of the kept
documents (same ids), with the planted duplicates each side left in.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.process_tree import measure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BANDS, ROWS, NGRAM = 14, 8, 5

RECIPE = f"""
[dataset]
name = "medc-k"
kind = "knowledge"
task_categories = ["text-generation"]
[build]
files_per_shard = 1
error_budget = 0.01

[[sources]]
name = "corpus"
builder = "replay"
dir = "corpus"
[sources.options]
license = "cc-by-4.0"

[[steps]]
step = "quality_signals"
language = false
[[steps]]
step = "quality_filter"
[[steps]]
step = "exact_dedup"
[[steps]]
step = "near_dedup"
ngram = {NGRAM}
num_perm = {BANDS * ROWS}
bands = {BANDS}
rows = {ROWS}
threshold = 0.8
"""


# ---------------------------------------------------------------------------- corpus
def write_corpus(n_docs: int, files: int, folder: Path) -> dict:
    from benchmarks.corpus import describe, realistic_corpus
    from medc.text.normalize import normalize_text

    texts, truth = realistic_corpus(n_docs)
    texts = [normalize_text(t) for t in texts]
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(texts) // files)
    for f in range(files):
        with open(folder / f"part-{f:05d}.jsonl", "w", encoding="utf-8") as out:
            for i in range(f * per_file, min((f + 1) * per_file, len(texts))):
                out.write(json.dumps({"id": str(i), "text": texts[i]}) + "\n")
    return {"description": describe(texts), "megabytes": sum(len(t.encode()) for t in texts) / 1e6, "truth": truth,
            "docs": len(texts)}


# ---------------------------------------------------------------------------- datatrove
def text_of(doc) -> bytes:  # noqa: ANN001 (bytes: datatrove hashes what this returns as is)
    return doc.text.encode()


def run_datatrove(corpus: Path, work: Path, workers: int, files: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    minhash = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    exact = ExactDedupConfig(content_getter=text_of)
    logs = work / "logs"

    def stage(name: str, pipeline: list, tasks: int) -> None:
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(logs / name)).run()

    def reader(folder: Path) -> JsonlReader:
        return JsonlReader(str(folder), compression=None)

    stage("1-filter", [reader(corpus), GopherRepetitionFilter(), GopherQualityFilter(),
                       JsonlWriter(str(work / "filtered"), compression=None)], files)
    stage("2-exact-sig", [reader(work / "filtered"), ExactDedupSignature(str(work / "exact_sigs"), config=exact,
                                                                          finder_workers=1)], files)
    stage("3-exact-find", [ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"), config=exact)], 1)
    stage("4-exact-filter", [reader(work / "filtered"), ExactDedupFilter(str(work / "exact_dups"), config=exact),
                             JsonlWriter(str(work / "exact"), compression=None)], files)
    stage("5-minhash-sig", [reader(work / "exact"), MinhashDedupSignature(str(work / "minhash_sigs"), config=minhash)], files)
    stage("6-minhash-buckets", [MinhashDedupBuckets(str(work / "minhash_sigs"), str(work / "minhash_buckets"), config=minhash)],
          BANDS)
    stage("7-minhash-cluster", [MinhashDedupCluster(str(work / "minhash_buckets"), str(work / "remove_ids"), config=minhash)], 1)
    stage("8-minhash-filter", [reader(work / "exact"), MinhashDedupFilter(str(work / "remove_ids")),
                               ParquetWriter(str(work / "out"))], files)


# ---------------------------------------------------------------------------- measuring
def kept_ids_medc(out: Path) -> set[str]:
    import polars as pl

    frame = pl.read_parquet(sorted((out / "medc-k").rglob("*.parquet")), columns=["id"])
    return {i.rsplit(":", 1)[1] for i in frame["id"].to_list()}


def kept_ids_datatrove(out: Path) -> set[str]:
    import polars as pl

    files = sorted(out.rglob("*.parquet"))
    return set(pl.read_parquet(files, columns=["id"])["id"].to_list()) if files else set()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=32, help="JSONL input files (datatrove's tasks, medc's shards)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    ap.add_argument("--run-datatrove", nargs=2, metavar=("CORPUS", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_datatrove:
        run_datatrove(Path(args.run_datatrove[0]), Path(args.run_datatrove[1]), args.workers, args.files)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="medc-recipe-bench-"))
    try:
        corpus = write_corpus(args.docs, args.files, work / "sources" / "corpus")
        print(f"corpus: {corpus['description']}; {args.files} JSONL files; {args.workers} workers")
        (work / "recipe.toml").write_text(RECIPE)
        runs = {
            "datatrove": [sys.executable, __file__, "--workers", str(args.workers), "--files", str(args.files),
                          "--run-datatrove", str(work / "sources" / "corpus"), str(work / "datatrove")],
            "medc": [sys.executable, "-m", "medc.build", "medc-k", "--recipe", str(work / "recipe.toml"), "--sources",
                     str(work / "sources"), "--out", str(work / "medc"), "--workers", str(args.workers), "--quiet"],
        }
        results = {}
        for name, cmd in runs.items():
            run = measure(cmd, REPO)
            if run["code"]:
                print(run["stderr"][-3000:])
                raise SystemExit(f"{name} failed (exit {run['code']})")
            wall, rss = run["seconds"], run["tree"] / 2**30
            results[name] = (wall, rss)
            print(f"{name:>9}: {wall:,.1f} s, {corpus['docs'] / wall / args.workers:,.1f} docs/s per core, "
                  f"{corpus['megabytes'] / wall / args.workers:,.2f} MB/s per core, peak RSS of the process tree {rss:.2f} GiB")
        print(f"speed ratio medc/datatrove: {results['datatrove'][0] / results['medc'][0]:.2f}x")
        m, d = kept_ids_medc(work / "medc"), kept_ids_datatrove(work / "datatrove" / "out")
        print(f"kept: medc {len(m):,}, datatrove {len(d):,}, both {len(m & d):,}; agreement (same/union) "
              f"{len(m & d) / max(len(m | d), 1):.4%}")
        # Which copy of a duplicate pair survives is each tool's own tie-break: compared with every
        # planted copy counted as its original, the agreement is on what was removed as a duplicate.
        original = {str(a): str(b) for pairs in corpus["truth"].values() for a, b in pairs}
        mc, dc = {original.get(i, i) for i in m}, {original.get(i, i) for i in d}
        print(f"agreement with each planted copy counted as its original: {len(mc & dc) / max(len(mc | dc), 1):.4%} "
              f"(only medc keeps {len(mc - dc)}, only datatrove keeps {len(dc - mc)})")
        for kind, pairs in corpus["truth"].items():
            both_left = {side: sum(str(a) in kept and str(b) in kept for a, b in pairs) for side, kept in (("medc", m), ("datatrove", d))}
            print(f"planted {kind} duplicates ({len(pairs)}) with both copies kept: medc {both_left['medc']}, "
                  f"datatrove {both_left['datatrove']}")
        with open(work / "manifest_throughput.json", "w") as fh:
            json.dump(json.loads((work / "medc" / "medc-k" / "build_manifest.json").read_text()).get("throughput"), fh)
        print(f"medc per-stage throughput: {(work / 'manifest_throughput.json').read_text()[:800]}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
