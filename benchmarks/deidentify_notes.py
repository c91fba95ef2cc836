"""De-identification of clinical notes: recall per identifier type and notes/s, side by side
in one run, on the same notes:

* medc's `deidentify` (`medc.text.deidentify.find_phi`: Philter's rules, the gap rules, typing);
* bare philter-lite (`detect_phi` with its `philter_delta` config and the same part-of-speech
  tags; what it removes is every word it does not keep), the library we build on;
* medc's `deidentify` with `engines = ["philter", "presidio"]` (Presidio's recognisers added;
  its NER with `en_core_web_lg` where installed, its patterns only otherwise, as the table says);
* datatrove's `PIIFormatter` (e-mail and public IP regexes), what web-text pipelines use.

Corpora: synthetic notes with planted identifiers of every Safe Harbor type (tests/phi_notes.py,
free-text and MIMIC layouts), and for speed also 318 real transcribed notes (MTSamples, CC0,
tests/fixtures/clinical_notes), whose share of words removed is reported too (they were
anonymised by their publisher, so most of what is removed there is over-removal).

    uv run --group bench python benchmarks/deidentify_notes.py [--notes 60]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO  # noqa: E402
from medc.text import deidentify as medc_deid  # noqa: E402
from tests.phi_notes import planted_notes, score  # noqa: E402

WORD = re.compile(r"[A-Za-z0-9]+")


def medc_spans(text: str) -> list[tuple[int, int, str]]:
    return [(s, e, k) for s, e, k, _ in medc_deid.find_phi(text)]


def medc_presidio_spans(text: str) -> list[tuple[int, int, str]]:
    """`engines = ["philter", "presidio"]`, with the default model where it is installed."""
    return [(s, e, k) for s, e, k, _ in medc_deid.find_phi(text, presidio=medc_deid.Presidio())]


def bare_philter_spans(text: str) -> list[tuple[int, int, str]]:
    import tomllib
    from importlib.resources import files

    import philter_lite

    engine = medc_deid._philter()  # with the same part-of-speech tags as medc
    if not hasattr(bare_philter_spans, "filters"):
        config = tomllib.loads(files(philter_lite).joinpath("configs/philter_delta.toml").read_text())
        bare_philter_spans.filters = [philter_lite.filter_from_dict(f) for f in config["filters"]]
    include, _, _ = engine.detect_phi(text, bare_philter_spans.filters)
    kept = bytearray(len(text))
    for start, end in include.filecoords():
        kept[start:end] = b"\x01" * (end - start)
    return [(m.start(), m.end(), "OTHER") for m in WORD.finditer(text) if not kept[m.start()]]


def datatrove_spans(text: str) -> list[tuple[int, int, str]]:
    from datatrove.pipeline.formatters import PIIFormatter

    if not hasattr(datatrove_spans, "formatter"):
        datatrove_spans.formatter = PIIFormatter()
    f = datatrove_spans.formatter
    spans = [(m.start(), m.end(), "EMAIL") for m in f.emails_replacer.regex.finditer(text)]
    spans += [(m.start(), m.end(), "IP") for m in f.ip_replacer.regex.finditer(text) if f.ip_replacer.validator(m.group())]
    return spans


def mtsamples() -> list[str]:
    with open(REPO / "tests" / "fixtures" / "clinical_notes" / "mtsamples_subset.csv", newline="", encoding="utf-8") as f:
        return [r["transcription"] for r in csv.DictReader(f) if r["transcription"].strip()]


def timed(fn, texts: list[str]) -> tuple[float, list[list[tuple[int, int, str]]]]:
    fn(texts[0])  # imports and word lists loaded outside the clock
    started = time.perf_counter()
    out = [fn(t) for t in texts]
    return time.perf_counter() - started, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=60, help="planted notes per layout")
    args = ap.parse_args()
    notes = planted_notes(args.notes)
    real = mtsamples()
    from medc.text.presidio_phi import analyzer

    systems = {"medc deidentify": medc_spans, f"medc + presidio ({analyzer()[1]})": medc_presidio_spans,
               "philter-lite (bare)": bare_philter_spans, "datatrove PIIFormatter": datatrove_spans}
    print(f"tagger: {medc_deid.tagger_in_use()}; planted notes: {len(notes)} ({sum(len(WORD.findall(n.text)) for n in notes):,} words); "
          f"MTSamples notes: {len(real)} ({sum(len(WORD.findall(t)) for t in real):,} words)\n")
    results = {}
    for name, fn in systems.items():
        seconds, _ = timed(fn, [n.text for n in notes])
        real_seconds, real_spans = timed(fn, real)
        removed = sum(len(WORD.findall(t[s:e])) for t, spans in zip(real, real_spans) for s, e, _ in spans)
        results[name] = (score(notes, fn), seconds, real_seconds, removed / sum(len(WORD.findall(t)) for t in real))
    kinds = list(medc_deid.PHI_TYPES)
    print("| identifier | planted | " + " | ".join(results) + " |")
    print("|---|---:|" + "---:|" * len(results))
    first = next(iter(results.values()))[0]
    for kind in kinds:
        print(f"| {kind} | {first.planted[kind]} | " + " | ".join(f"{r[0].recall(kind):.3f}" for r in results.values()) + " |")
    print("| character precision | | " + " | ".join(f"{r[0].precision():.3f}" for r in results.values()) + " |")
    print("| content words intact | | " + " | ".join(f"{r[0].content_intact / r[0].content:.3f}" for r in results.values()) + " |")
    print("| planted notes/s (1 core) | | " + " | ".join(f"{len(notes) / r[1]:.1f}" for r in results.values()) + " |")
    print("| MTSamples notes/s (1 core) | | " + " | ".join(f"{len(real) / r[2]:.1f}" for r in results.values()) + " |")
    print("| MTSamples words removed | | " + " | ".join(f"{r[3]:.2%}" for r in results.values()) + " |")
    bare = results["philter-lite (bare)"]
    medc = results["medc deidentify"]
    print(f"\nmedc / bare philter-lite speed on MTSamples: {bare[2] / medc[2]:.2f}x; on planted notes: {bare[1] / medc[1]:.2f}x")


if __name__ == "__main__":
    main()
