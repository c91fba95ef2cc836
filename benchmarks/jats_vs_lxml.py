"""JATS parse-and-clean against its floor: medc's PMC builder vs a bare lxml parse + itertext.

    uv run --group bench python benchmarks/jats_vs_lxml.py [--repeat 30]

Corpus: the 6 bundled PMC articles and the 59 real articles of the JATS conformance corpus
(tests/fixtures/jats: 16 publishers, full-length papers), read from memory (no disk in the
timing). Baseline: `lxml.etree.fromstring(bytes)` then `"".join(root.itertext())`, the least
any extractor does (one parse, every text node once, no structure, no cleaning: references,
affiliations and table markup all come out as text). medc: `PMCJatsBuilder.parse_document`, the
whole article rows (safe parsing, metadata, headings, lists, captions, tables, formulas,
citation markers removed, boilerplate sections left out, normalisation). The two alternate pass
by pass; each side's rate is its median pass, and the figure reported is medc's speed as a
fraction of the floor's (the issue's target: at least 60 %), with articles/s and MB/s of XML.
On a shared machine the median of per-pass ratios and the ratio of the fastest passes are
printed too: the three agree when the machine is quiet.
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
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    from lxml import etree

    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    files = sorted((SAMPLES / "pmc_jats").glob("*.nxml")) + sorted((REPO / "tests" / "fixtures" / "jats").glob("*.nxml"))
    builder = PMCJatsBuilder("pmc_jats", {}, SAMPLES)
    documents: list[tuple[str, bytes]] = []
    left_out: list[str] = []
    for f in files:  # both sides run on the articles medc turns into rows
        data = f.read_bytes()
        try:
            rows = list(builder.parse_document(data, FileReport(f.name)))
        except ValueError as exc:
            left_out.append(f"{f.name} ({exc})")
            continue
        if rows:
            documents.append((f.name, data))
        else:
            left_out.append(f"{f.name} (no row)")

    def floor() -> int:
        return sum(len("".join(etree.fromstring(data).itertext())) for _, data in documents)

    def medc() -> int:
        return sum(len(row["text"]) for name, data in documents for row in builder.parse_document(data, FileReport(name)))

    floor(), medc()  # warm up
    times: dict[str, list[float]] = {"lxml": [], "medc": []}
    chars: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, fn in (("lxml", floor), ("medc", medc)):
            t0 = time.perf_counter()
            chars[name] = fn()
            times[name].append(time.perf_counter() - t0)
    megabytes = sum(len(data) for _, data in documents) / 1e6
    print(f"{len(documents)} articles ({megabytes:.1f} MB of XML) x {args.repeat} alternating passes (median pass)")
    if left_out:
        print(f"left out: {', '.join(left_out)}")
    for name, t in times.items():
        median = statistics.median(t)
        print(f"{name:>5}: {len(documents) / median:,.0f} articles/s, {megabytes / median:,.1f} MB/s "
              f"({chars[name]:,} characters of text per pass)")
    fraction = statistics.median(times["lxml"]) / statistics.median(times["medc"])
    paired = statistics.median(f / m for f, m in zip(times["lxml"], times["medc"]))
    best = min(times["lxml"]) / min(times["medc"])
    print(f"medc's speed as a fraction of the lxml floor: {fraction:.0%} (median of per-pass ratios {paired:.0%}, "
          f"fastest passes {best:.0%})")


if __name__ == "__main__":
    main()
