"""The whole default MedC-K recipe on real full-length JATS articles: this checkout vs an earlier
commit, same corpus, same workers, one run.

    uv run --group bench python benchmarks/jats_build.py [--copies 8] [--before 268b0fd] [--workers 2]

Corpus: the 6 bundled PMC articles and the real articles of the JATS conformance corpus
(tests/fixtures/jats: 16 publishers), each written `--copies` times with an id and a title of
its own (the XML otherwise byte for byte), so the near-dedup and same-article steps have
real clusters to resolve. Build: `python -m medc.build medc-k` with `pipelines/medc-k.toml`
(its other sources are absent), from an empty output folder, once with this checkout and once
with `--before` checked out in a temporary git worktree (same Python environment). Reported:
wall time, articles/s and MB/s of XML per core, each side's per-stage seconds from its
manifest, and the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, SAMPLES  # noqa: E402

_ARTICLE_ID = re.compile(rb"<article-id\b[^>]*>.*?</article-id>", re.S)
_ARTICLE_META = re.compile(rb"<article-meta\b[^>]*>")
_TITLE = re.compile(rb"(<article-title\b[^>]*>)")


def write_corpus(folder: Path, copies: int) -> tuple[int, float]:
    """(articles, MB of XML) written: every readable article `copies` times, each copy with its
    own PMCID and a title that says which copy it is."""
    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    builder = PMCJatsBuilder("pmc_jats", {}, SAMPLES)
    folder.mkdir(parents=True, exist_ok=True)
    n, size = 0, 0
    sources = sorted((SAMPLES / "pmc_jats").glob("*.nxml")) + sorted((REPO / "tests" / "fixtures" / "jats").glob("*.nxml"))
    for path in sources:
        data = path.read_bytes()
        try:
            if not list(builder.parse_document(data, FileReport(path.name))):
                continue
        except ValueError:
            continue
        if not _ARTICLE_META.search(data):
            continue
        for copy in range(copies):
            pmcid = 9_000_000 + n
            doc = _ARTICLE_ID.sub(b"", data)
            doc = _ARTICLE_META.sub(lambda m: m.group(0) + f'<article-id pub-id-type="pmc">PMC{pmcid}</article-id>'.encode(), doc, count=1)
            doc = _TITLE.sub(lambda m: m.group(1) + f"Copy {copy + 1}: ".encode(), doc, count=1)
            (folder / f"PMC{pmcid}.nxml").write_bytes(doc)
            n += 1
            size += len(doc)
    return n, size / 1e6


def build(tree: Path, sources: Path, out: Path, workers: int) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "medc.build", "medc-k", "--sources", str(sources), "--out", str(out),
                           "--workers", str(workers), "--quiet"], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"build in {tree} failed: {proc.stderr[-2000:]}")
    return seconds, json.loads((out / "medc-k" / "build_manifest.json").read_text())


def stage_seconds(manifest: dict) -> dict[str, float]:
    through = manifest.get("throughput") or {}
    stages: dict[str, float] = {}
    for per_source in through.values():
        for stage, t in per_source.items():
            stages[stage] = stages.get(stage, 0.0) + t["seconds"]
    return {k: round(v, 1) for k, v in stages.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--before", default="268b0fd", help="the earlier commit to compare with")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="medc-jats-build-") as tmp:
        work = Path(tmp)
        n, megabytes = write_corpus(work / "sources" / "pmc_jats", args.copies)
        print(f"corpus: {n} JATS articles ({n // args.copies} real ones x {args.copies} copies), {megabytes:.1f} MB of XML; "
              f"{args.workers} workers")
        old = work / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-f", "-q", str(old), args.before], cwd=REPO, check=True)
        try:
            results = {}
            for name, tree in ((f"before ({args.before})", old), ("after (this checkout)", REPO)):
                seconds, manifest = build(tree, work / "sources", work / f"out-{tree.name}", args.workers)
                results[name] = seconds
                print(f"{name:>24}: {seconds:6.1f} s, {n / seconds / args.workers:6.1f} articles/s per core, "
                      f"{megabytes / seconds / args.workers:5.2f} MB/s per core; worker seconds per stage {stage_seconds(manifest)}")
            before, after = results.values()
            print(f"speed ratio after/before: {before / after:.2f}x")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO, check=False)
            shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
