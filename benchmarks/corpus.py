"""Real medical text for the benchmarks, from the bundled samples (no download).

`pmc_documents()` gives a PMC-derived corpus: whole articles parsed by medc's JATS builder,
every section of them, windows of consecutive paragraphs, plus PubMed abstracts and long
answers (PubMedQA) and exam questions with options (MedQA, MedMCQA).
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


def article_texts() -> list[str]:
    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    builder = PMCJatsBuilder("pmc_jats", {}, SAMPLES)
    texts = []
    for path in sorted((SAMPLES / "pmc_jats").glob("*.nxml")):
        texts += [row["text"] for row in builder.parse(path, FileReport(path.name))]
    return texts


def pmc_documents() -> list[str]:
    docs: list[str] = []
    for article in article_texts():
        docs.append(article)
        docs += ["## " + s for s in article.split("\n\n## ")[1:]]
        paragraphs = article.split("\n\n")
        docs += ["\n\n".join(paragraphs[i : i + 4]) for i in range(0, len(paragraphs), 2)]
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    for rec in pqal.values():
        docs.append("\n".join(rec["CONTEXTS"]))
        docs.append(rec["LONG_ANSWER"])
    for path in sorted((SAMPLES / "medqa").glob("*.jsonl")) + sorted((SAMPLES / "medmcqa").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            docs.append(rec["question"] + "\n" + "\n".join(f"{k}. {v}" for k, v in rec["options"].items()))
    return docs


def sentences() -> list[str]:
    """Sentence-like pieces of all the real text above (for building larger corpora)."""
    import re

    out = []
    for doc in pmc_documents():
        for piece in re.split(r"(?<=[.!?])\s+", doc):
            piece = " ".join(piece.split())
            if len(piece.split()) >= 6 and not piece.startswith("#"):
                out.append(piece)
    return sorted(set(out))
