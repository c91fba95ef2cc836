"""JATS parse-and-clean: medc's PMC builder vs pubmed_parser, on the same files, one process.

    uv run --group bench python benchmarks/jats_vs_pubmed_parser.py [--repeat 20] [--corpus samples|conformance]

Baseline: `pubmed_parser.parse_pubmed_xml` (metadata, abstract) plus
`parse_pubmed_paragraph(all_paragraph=True)` (body paragraphs) per article — what a user of
pubmed_parser calls to get an article's text (it parses each file once per call). medc:
`PMCJatsBuilder.parse`, which produces the richer text (headings, lists, captions, tables,
formulas, citation markers removed) with normalisation, from one parse. Articles/s of
each from the median of `--repeat` alternating passes over all sample articles, and the ratio.
`--corpus conformance` runs on the 6 samples plus the 59 real articles of the JATS conformance
corpus (tests/fixtures/jats: 16 publishers, real-size papers), minus the files pubmed_parser
cannot read (counted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, SAMPLES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--corpus", choices=("samples", "conformance"), default="samples")
    args = ap.parse_args()
    import pubmed_parser as pp

    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    files = sorted((SAMPLES / "pmc_jats").glob("*.nxml"))
    if args.corpus == "conformance":
        files += sorted((REPO / "tests" / "fixtures" / "jats").glob("*.nxml"))
    unreadable = []
    for f in list(files):  # both sides run on the files the baseline can read
        try:
            pp.parse_pubmed_xml(str(f))
            pp.parse_pubmed_paragraph(str(f), all_paragraph=True)
        except Exception as exc:  # noqa: BLE001 (any failure of the baseline on a real file)
            unreadable.append(f"{f.name} ({type(exc).__name__})")
            files.remove(f)
    builder = PMCJatsBuilder("pmc_jats", {}, SAMPLES)

    def medc() -> int:
        chars = 0
        for f in files:
            for row in builder.parse(f, FileReport(f.name)):
                chars += len(row["text"])
        return chars

    def baseline() -> int:
        chars = 0
        for f in files:
            meta = pp.parse_pubmed_xml(str(f))
            paragraphs = pp.parse_pubmed_paragraph(str(f), all_paragraph=True)
            chars += len(meta.get("abstract") or "") + sum(len(p.get("text") or "") for p in paragraphs)
        return chars

    medc(), baseline()  # warm up
    # Passes alternate between the two (a noisy machine slows both alike); each side's
    # rate is taken from its median pass.
    times: dict[str, list[float]] = {"pubmed_parser": [], "medc": []}
    chars_of: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, fn in (("pubmed_parser", baseline), ("medc", medc)):
            t0 = time.perf_counter()
            chars_of[name] = fn()
            times[name].append(time.perf_counter() - t0)
    results = {name: (len(files) / statistics.median(t), chars_of[name]) for name, t in times.items()}
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} articles ({args.corpus}, {size / 1e6:.1f} MB of XML) x {args.repeat} alternating passes (median pass)")
    if unreadable:
        print(f"left out, pubmed_parser cannot read them: {', '.join(unreadable)}")
    for name, (rate, chars) in results.items():
        print(f"{name:>13}: {rate:,.1f} articles/s ({chars:,} characters of text per pass)")
    print(f"ratio medc / pubmed_parser: {results['medc'][0] / results['pubmed_parser'][0]:.2f}x")
    # Each pass pair ran back to back: the median of their ratios is the figure least moved by
    # load that changes during the run.
    paired = statistics.median(b / m for b, m in zip(times["pubmed_parser"], times["medc"]))
    print(f"median of per-pass ratios: {paired:.2f}x")


if __name__ == "__main__":
    main()
