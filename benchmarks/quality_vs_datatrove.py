"""Quality signals + Gopher filters: medc vs datatrove, same corpus, one process.

    uv run --group bench python benchmarks/quality_vs_datatrove.py [--repeat 3] [--corpus samples|real-size --docs N]

Corpora: `samples` (PMC articles, sections, paragraph windows, PubMedQA abstracts, exam
questions: mostly short pieces) or `real-size` (`benchmarks.corpus.realistic_corpus`: papers
with PMC full text's length distribution, median ~4,500 words, and abstracts, from real text).

Baseline: datatrove's `GopherRepetitionFilter` then `GopherQualityFilter` (default
thresholds) called per document, as its pipeline does. medc: `compute_signals` over the
whole batch (language id switched off: datatrove's Gopher filters have none) then
`quality_decision` with the same thresholds. Both are warmed up first (imports, spaCy's
pipeline); medc's per-process memory of words and chunks is emptied before each timed run. Prints docs/s of
each, the speed ratio, and the fraction of identical keep/drop decisions (and of
identical reasons).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl  # noqa: E402

from benchmarks.corpus import describe, pmc_documents, realistic_corpus  # noqa: E402
from medc.text.quality import compute_signals  # noqa: E402
from medc.text.quality_rules import GOPHER_DEFAULTS, quality_decision  # noqa: E402
from medc.text.spacy_words import VOCABULARY, tokenizer  # noqa: E402


def run_datatrove(texts: list[str]) -> list[str | None]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    rep, qual = GopherRepetitionFilter(), GopherQualityFilter()
    out: list[str | None] = []
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        r = rep.filter(doc)
        if r is not True:
            out.append(r[1])
            continue
        q = qual.filter(doc)
        out.append(None if q is True else q[1])
    return out


def run_medc(texts: list[str]) -> list[str | None]:
    signals = compute_signals(pl.Series(texts, dtype=pl.String), with_language=False)
    return quality_decision(signals, GOPHER_DEFAULTS).to_list()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each (best is reported)")
    ap.add_argument("--corpus", choices=("samples", "real-size"), default="samples")
    ap.add_argument("--docs", type=int, default=2000, help="documents of the real-size corpus")
    args = ap.parse_args()
    if args.corpus == "samples":
        texts = pmc_documents()
        what = "PMC articles, sections, paragraph windows, PubMedQA abstracts and answers, MedQA/MedMCQA questions"
    else:
        texts = realistic_corpus(args.docs)[0]
        what = "real-size: PMC-like papers and PubMed-like abstracts from real text"
    print(f"corpus ({what}): {describe(texts)}")
    run_datatrove(texts[:20])
    run_medc(texts[:20])
    timings: dict[str, float] = {}
    results: dict[str, list[str | None]] = {}
    for name, fn in (("datatrove", run_datatrove), ("medc", run_medc)):
        best = float("inf")
        for _ in range(args.repeat):
            if name == "medc":  # every timed run starts from no known word or chunk, as a fresh worker
                VOCABULARY.reset()
                tokenizer()
            t0 = time.perf_counter()
            results[name] = fn(texts)
            best = min(best, time.perf_counter() - t0)
        timings[name] = best
    dt, mc = results["datatrove"], results["medc"]
    same_decision = sum((a is None) == (b is None) for a, b in zip(dt, mc)) / len(texts)
    same_reason = sum(a == b for a, b in zip(dt, mc)) / len(texts)
    dropped = sum(r is not None for r in dt)
    print(f"datatrove: {len(texts) / timings['datatrove']:,.0f} docs/s ({timings['datatrove']:.2f} s)")
    print(f"medc:      {len(texts) / timings['medc']:,.0f} docs/s ({timings['medc']:.2f} s)")
    print(f"speed ratio medc/datatrove: {timings['datatrove'] / timings['medc']:.2f}x")
    print(f"identical keep/drop decisions: {same_decision:.4%} ({dropped} of {len(texts)} dropped by datatrove); "
          f"identical reasons: {same_reason:.4%}")
    for i, (a, b) in enumerate(zip(dt, mc)):
        if (a is None) != (b is None):
            print(f"  differs on doc {i}: datatrove={a} medc={b}: {texts[i][:100]!r}")


if __name__ == "__main__":
    main()
