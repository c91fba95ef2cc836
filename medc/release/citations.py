"""The BibTeX a card cites: the papers this package reproduces, the own papers
(`Builder.citations`) of each source that gave rows, and each benchmark the build was
checked against."""

from __future__ import annotations

from medc.files.bundled import CARDS_DIR
from medc.ingest.builder import builder_class
from medc.release.manifest import Manifest

ALWAYS_CITED = ("wu2024pmcllama", "xie2024mellama")
BENCHMARK_CITATIONS = {"medqa": "jin2021medqa", "medmcqa": "pal2022medmcqa", "pubmedqa": "jin2019pubmedqa"}


def bibtex_entries() -> dict[str, str]:
    """`cards/citations.bib` by key."""
    text = (CARDS_DIR / "citations.bib").read_text(encoding="utf-8")
    entries = {}
    for chunk in text.split("\n@"):
        chunk = chunk.strip()
        if not chunk:
            continue
        chunk = chunk if chunk.startswith("@") else "@" + chunk
        key = chunk[chunk.index("{") + 1 : chunk.index(",")].strip()
        entries[key] = chunk
    return entries


def citation_keys(manifest: Manifest) -> list[str]:
    keys = list(ALWAYS_CITED)
    for s in manifest.sources.values():
        if s.built and s.rows:  # a source that gave no row is not cited
            keys += [k for k in builder_class(s.builder).citations if k not in keys]
    decon = manifest.global_step("decontaminate")
    for bench, b in (((decon.report if decon else None) or {}).get("benchmarks", {}) or {}).items():
        key = BENCHMARK_CITATIONS.get(bench)
        if key and b.get("files") and key not in keys:
            keys.append(key)
    return keys


def citations(manifest: Manifest) -> str:
    entries = bibtex_entries()
    return "```bibtex\n" + "\n\n".join(entries[k] for k in citation_keys(manifest) if k in entries) + "\n```"
