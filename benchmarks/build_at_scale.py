"""A MedC-K build at corpus scale: N PubMed-like abstracts through the default recipe, with the
peak memory of every process of the build.

    uv run --group bench python benchmarks/build_at_scale.py --docs 1000000 [--workers 2]

Corpus: MEDLINE XML files laid out like the PubMed baseline (`pubmed25nNNNN.xml.gz`, 30,000
records a file). Each record is a real PubmedArticle of the bundled and conformance MEDLINE
files (authors, journal, MeSH, publication types; reference, comment and grant lists left out,
at most 12 authors) with a new PMID, a title and an abstract made of real sentences of the
prose of the bundled and conformance JATS articles (log-normal length, median ~250 words,
labelled sections in half of them); 3 % repeat an earlier abstract of their file under a new
PMID.
The bundled benchmark test sets (MedQA, MedMCQA, PubMedQA, MMLU, MMLU-Pro) sit beside it, so
decontamination runs for real.

Build: `python -m medc.build medc-k` with `pipelines/medc-k.toml` unchanged (every default
step: de-identification is for clinical notes and not run on abstracts), `--workers` processes.
Reported: wall time and documents/s; the peak RSS of the driver, of the largest worker and of
the whole process tree (sampled every 0.5 s); the bytes per document of the global steps'
signature columns (stored with the shards; the driver reads them a slice or a hash partition at
a time); the manifest's per-stage throughput. `--reuse-cache` builds again on the shards of an
earlier run in `--work` (the driver's stages alone); `--partition-rows N` sets the recipe's
`partition_rows`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, SAMPLES  # noqa: E402
from benchmarks.process_tree import measure  # noqa: E402

LABELS = ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS")
BENCHMARK_FOLDERS = ("medqa", "medmcqa", "pubmedqa", "mmlu", "mmlu_pro")


def templates() -> list:
    """Real PubmedArticle records (with an abstract) of the bundled and conformance MEDLINE files."""
    from lxml import etree

    out = []
    for folder in (SAMPLES / "medline", REPO / "tests" / "fixtures" / "medline"):
        for path in sorted(folder.glob("*.xml")) + sorted(folder.glob("*.xml.gz")):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            try:
                root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
            except etree.XMLSyntaxError:
                continue
            out += [a for a in root.iter("PubmedArticle") if a.find("MedlineCitation/Article/Abstract") is not None]
    return out


def skeletons() -> list[str]:
    """Each template serialised once, its PMID, title and abstract left as {pmid}, {title} and
    {abstract}; the other ids of the template's real paper removed, and its lists cut to a
    typical record's (reference, comment and grant lists out, 12 authors at most): ~6 KB a
    record, as in the baseline files."""
    from lxml import etree

    out = []
    for article in templates():
        for bulky in ("PubmedData/ReferenceList", "MedlineCitation/CommentsCorrectionsList", "MedlineCitation/Article/GrantList"):
            for el in list(article.iterfind(bulky)):
                el.getparent().remove(el)
        for author in list(article.iterfind("MedlineCitation/Article/AuthorList/Author"))[12:]:
            author.getparent().remove(author)
        citation = article.find("MedlineCitation")
        citation.find("PMID").text = "\ue000pmid\ue001"
        for aid in list(article.iterfind("PubmedData/ArticleIdList/ArticleId")):
            if aid.get("IdType") == "pubmed":
                aid.text = "\ue000pmid\ue001"
            else:
                aid.getparent().remove(aid)
        for loc in list(citation.iterfind("Article/ELocationID")):
            loc.getparent().remove(loc)
        citation.find("Article/ArticleTitle").text = "\ue000title\ue001"
        abstract = citation.find("Article/Abstract")
        for child in list(abstract):
            abstract.remove(child)
        abstract.text = "\ue000abstract\ue001"
        text = etree.tostring(article, encoding="unicode").replace("{", "{{").replace("}", "}}")
        out.append(text.replace("\ue000", "{").replace("\ue001", "}"))
    return out


def paper_sentences() -> list[str]:
    """Sentences of the prose paragraphs of real articles (the bundled and conformance JATS files):
    not the PubMedQA abstracts, which the PubMedQA test set holds (decontamination would rightly
    remove every abstract made of them)."""
    import re

    from benchmarks.corpus import real_paragraphs

    paragraphs, _ = real_paragraphs()
    prose = [p for p in paragraphs if not p.startswith(("#", "|")) and "|" not in p and len(p.split()) >= 20]
    return [s for p in prose for s in re.split(r"(?<=[.!?])\s+", p) if 6 <= len(s.split()) <= 80]


def write_medline(n_docs: int, per_file: int, folder: Path, seed: int = 0, processes: int = 2) -> tuple[int, float]:
    """MEDLINE files of `n_docs` records (written by `processes` processes); returns (files, MB of XML)."""
    from multiprocessing import get_context

    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder, i + 1, start, min(start + per_file, n_docs), seed) for i, start in enumerate(range(0, n_docs, per_file))]
    with get_context("spawn").Pool(processes) as pool:
        sizes = pool.map(write_medline_file, jobs)
    return len(jobs), sum(sizes)


def write_medline_file(job: tuple[Path, int, int, int, int]) -> float:
    """One MEDLINE file (`pubmed25nNNNN.xml.gz`) of records `start` to `stop`; returns its MB of XML.
    3 % of its abstracts repeat an earlier one of the file under a new PMID."""
    from xml.sax.saxutils import escape

    folder, number, start, stop, seed = job
    rng = random.Random(seed * 100_003 + number)
    sentences = paper_sentences()
    bases = skeletons()
    earlier: list[str] = []
    records = []
    for pmid in range(start + 1, stop + 1):
        if earlier and rng.random() < 0.03:
            abstract = earlier[rng.randrange(len(earlier))]
        else:
            target = max(60, min(900, int(math.exp(rng.gauss(math.log(250), 0.35)))))
            words, parts = 0, []
            while words < target:
                parts.append(escape(sentences[rng.randrange(len(sentences))]))
                words += len(parts[-1].split())
            if rng.random() < 0.5:
                cut = len(parts) // 4 or 1
                abstract = "".join(f'<AbstractText Label="{label}">{" ".join(parts[i * cut:(i + 1) * cut if i < 3 else len(parts)])}'
                                   f"</AbstractText>" for i, label in enumerate(LABELS))
            else:
                abstract = f"<AbstractText>{' '.join(parts)}</AbstractText>"
            if rng.random() < 0.01:
                earlier.append(abstract)
        title = escape(" ".join(sentences[rng.randrange(len(sentences))].split()[:14]).rstrip(".,;") + ".")
        records.append(bases[rng.randrange(len(bases))].format(pmid=40_000_000 + pmid, title=title, abstract=abstract))
    xml = ("<?xml version=\"1.0\" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC \"-//NLM//DTD PubMedArticle, 1st January 2025//EN\" "
           "\"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd\">\n<PubmedArticleSet>\n"
           + "\n".join(records) + "\n</PubmedArticleSet>\n").encode()
    (folder / f"pubmed25n{number:04d}.xml.gz").write_bytes(gzip.compress(xml, compresslevel=6))
    return len(xml) / 1e6


def signature_bytes_per_doc(out: Path) -> tuple[float, list[str]]:
    """Bytes per row of the columns the driver holds for the global steps (`_key`, `id`,
    `source` and every `_sig_` column), over all shards of the build."""
    import polars as pl

    shards = sorted((out / ".medc-cache").rglob("shard-*.parquet"))  # not the global steps' own files
    names = pl.scan_parquet(shards[0]).collect_schema().names()
    cols = ["_key", "id", "source"] + [c for c in names if c.startswith("_sig_")]
    frame = pl.concat([pl.read_parquet(p, columns=cols) for p in shards])
    return frame.estimated_size() / max(frame.height, 1), cols


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--per-file", type=int, default=30_000, help="records per MEDLINE file (the baseline's size)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    ap.add_argument("--reuse-cache", action="store_true",
                    help="build again on the shard cache of an earlier run in --work (the driver's stages alone)")
    ap.add_argument("--partition-rows", type=int, default=None,
                    help="the recipe's [build] partition_rows (rows a global step holds at a time in the driver)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="medc-scale-"))
    try:
        t0 = time.perf_counter()
        medline = work / "sources" / "medline"
        done = work / "sources" / f"corpus-{args.docs}-{args.per_file}.json"
        if done.is_file():  # a corpus this script wrote before in this --work folder: built again as it is
            files, megabytes = json.loads(done.read_text())
        else:
            files, megabytes = write_medline(args.docs, args.per_file, medline)
            done.write_text(json.dumps([files, megabytes]))
        if args.reuse_cache:  # the shards of an earlier build: the global and write stages measured alone
            for stale in (work / "out").glob("*"):
                if stale.name != ".medc-cache":
                    shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        else:
            shutil.rmtree(work / "out", ignore_errors=True)
        for name in BENCHMARK_FOLDERS:
            shutil.copytree(SAMPLES / name, work / "sources" / name, dirs_exist_ok=True)
        print(f"corpus: {args.docs:,} MEDLINE records in {files} files, {megabytes:,.0f} MB of XML "
              f"(written in {time.perf_counter() - t0:.0f} s); {args.workers} workers")
        recipe: list[str] = []
        if args.partition_rows:
            text = (REPO / "pipelines" / "medc-k.toml").read_text(encoding="utf-8")
            changed = re.sub(r"(?m)^partition_rows = \d+", f"partition_rows = {args.partition_rows}", text)
            assert changed != text, "pipelines/medc-k.toml has no partition_rows line"
            (work / "medc-k.toml").write_text(changed, encoding="utf-8")
            recipe = ["--recipe", str(work / "medc-k.toml")]
            print(f"recipe: pipelines/medc-k.toml with partition_rows = {args.partition_rows}")
        result = measure([sys.executable, "-m", "medc.build", "medc-k", *recipe, "--sources", str(work / "sources"),
                          "--out", str(work / "out"), "--workers", str(args.workers), "--quiet"], REPO)
        if result["code"]:
            print(result["stderr"][-3000:])
            raise SystemExit(f"build failed (exit {result['code']})")
        manifest = json.loads((work / "out" / "medc-k" / "build_manifest.json").read_text())
        rows = sum(s.get("rows", 0) for s in manifest.get("sources", {}).values() if isinstance(s, dict))
        gib = 2**30
        print(f"build: {result['seconds']:,.0f} s, {args.docs / result['seconds']:,.0f} records/s "
              f"({args.docs / result['seconds'] / args.workers:,.0f} per core); rows released {rows:,}")
        print(f"peak RSS: driver {result['driver'] / gib:.2f} GiB, largest worker {result['worker'] / gib:.2f} GiB, "
              f"whole tree {result['tree'] / gib:.2f} GiB")
        per_doc, cols = signature_bytes_per_doc(work / "out")
        print(f"global steps' signature columns, all of them: {per_doc:,.0f} bytes per document ({', '.join(cols)}); "
              "stored with the shards; the driver reads them a slice or a partition at a time")
        cache = sum(p.stat().st_size for p in (work / "out" / ".medc-cache").rglob("*") if p.is_file())
        print(f"shard cache: {cache / 1e9:.2f} GB, {cache / args.docs:,.0f} bytes per record; input {megabytes:,.0f} MB of XML")
        print(f"timings: {json.dumps(manifest.get('timings'))[:1500]}")
        print(f"throughput: {json.dumps(manifest.get('throughput'))[:1500]}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
