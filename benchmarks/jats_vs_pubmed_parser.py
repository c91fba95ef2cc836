"""JATS parse-and-clean: medc's PMC builder vs pubmed_parser, on the same files, one process.

    uv run --group bench python benchmarks/jats_vs_pubmed_parser.py [--repeat 20]

Baseline: `pubmed_parser.parse_pubmed_xml` (metadata, abstract) plus
`parse_pubmed_paragraph(all_paragraph=True)` (body paragraphs) per article — what a user of
pubmed_parser calls to get an article's text (it parses each file once per call). medc:
`PMCJatsBuilder.parse`, which produces the richer text (headings, lists, captions, tables,
formulas, citation markers removed) with normalisation, from one parse. Articles/s of
each from the median of `--repeat` alternating passes over all sample articles, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import SAMPLES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    import pubmed_parser as pp

    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    files = sorted((SAMPLES / "pmc_jats").glob("*.nxml"))
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
    print(f"{len(files)} sample articles x {args.repeat} alternating passes (median pass)")
    for name, (rate, chars) in results.items():
        print(f"{name:>13}: {rate:,.1f} articles/s ({chars:,} characters of text per pass)")
    print(f"ratio medc / pubmed_parser: {results['medc'][0] / results['pubmed_parser'][0]:.2f}x")


if __name__ == "__main__":
    main()
