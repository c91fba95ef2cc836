"""Real medical text for the benchmarks, from the bundled samples (no download).

`pmc_documents()` gives a PMC-derived corpus: whole articles parsed by medc's JATS builder,
every section of them, windows of consecutive paragraphs, plus PubMed abstracts and long
answers (PubMedQA) and exam questions with options (MedQA, MedMCQA).

`realistic_corpus(n)` gives documents of real size: papers with the length distribution of PMC
full text as the builders emit it (log-normal, median ~4,500 words, tail to 40,000; paragraphs
and tables of ~60 real articles) and PubMed-like abstracts (median ~250 words, from the sentences of
1,000 PubMedQA abstracts), with planted exact and near duplicates whose pairs are returned as ground truth.
`describe(texts)` states a corpus: documents, words, MB and length percentiles.
"""

from __future__ import annotations

import json
import math
import random
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


# ---------------------------------------------------------------------------- real-size corpora
PAPER_MEDIAN_WORDS = 4500  # PMC OA full text, references left out (as the builders emit it)
ABSTRACT_MEDIAN_WORDS = 250


def real_paragraphs() -> tuple[list[str], list[str]]:
    """(paragraphs of real full-text articles: the bundled samples and the JATS conformance
    corpus, parsed by medc's JATS builder, tables included; real abstracts: PubMedQA contexts)."""
    from builders.pmc_jats import PMCJatsBuilder
    from medc.ingest.builder import FileReport

    paragraphs: list[str] = []
    for folder in (SAMPLES / "pmc_jats", REPO / "tests" / "fixtures" / "jats"):
        builder = PMCJatsBuilder("pmc_jats", {}, folder)
        for path in sorted(folder.glob("*.nxml")):
            try:
                rows = list(builder.parse(path, FileReport(path.name)))
            except Exception:  # a conformance file that is not an article: not text for the corpus
                continue
            for row in rows:
                paragraphs += [p for p in row["text"].split("\n\n") if len(p.split()) >= 5]
    pqal = json.loads((SAMPLES / "pubmedqa" / "ori_pqal.json").read_text())
    abstracts = [" ".join(rec["CONTEXTS"]) for rec in pqal.values()]
    return paragraphs, abstracts


def abstract_sentences(abstracts: list[str]) -> list[str]:
    import re

    return [s for a in abstracts for s in re.split(r"(?<=[.!?])\s+", a) if len(s.split()) >= 4]


def lognormal_words(rng: random.Random, median: int, sigma: float, low: int, high: int) -> int:
    return max(low, min(high, int(math.exp(rng.gauss(math.log(median), sigma)))))


def perturb(text: str, rng: random.Random, rate: float) -> str:
    """A near-duplicate: `rate` of the words replaced, dropped or repeated (typesetting, OCR and
    version differences), so its MinHash Jaccard with the original stays high."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(w if r >= rate else w.upper() if r < 2 * rate / 3 else w + w[-1:])
    return " ".join(out)


def realistic_corpus(n_docs: int, paper_share: float = 0.25, dup_share: float = 0.03, near_share: float = 0.03,
                     seed: int = 0) -> tuple[list[str], dict[str, list[tuple[int, int]]]]:
    """`n_docs` documents with the length distribution of real PMC full text (log-normal, median
    ~4,500 words, long tail to 40,000) and PubMed abstracts (median ~250 words), assembled from
    real paragraphs (tables of numbers included) and real abstracts, in random order, with planted
    exact and near duplicates. Returns (texts, ground truth: {"exact": [(copy, original)], "near": ...})."""
    rng = random.Random(seed)
    paragraphs, abstracts = real_paragraphs()
    sentences = abstract_sentences(abstracts)
    n_dup, n_near = int(n_docs * dup_share), int(n_docs * near_share)
    n_base = n_docs - n_dup - n_near
    texts: list[str] = []
    for _ in range(n_base):
        if rng.random() < paper_share:
            target = lognormal_words(rng, PAPER_MEDIAN_WORDS, 0.55, 800, 40_000)
            # Paragraphs drawn at random (none twice in a paper): two papers share few of them,
            # as two real papers do; consecutive windows of a small pool would overlap by chance.
            parts, words = [], 0
            for i in rng.sample(range(len(paragraphs)), len(paragraphs)):
                if words >= target:
                    break
                parts.append(paragraphs[i])
                words += len(paragraphs[i].split())
            texts.append("\n\n".join(parts))
        else:  # sentences of 1,000 real abstracts drawn at random: abstracts that share little, as real ones
            target = lognormal_words(rng, ABSTRACT_MEDIAN_WORDS, 0.35, 60, 900)
            parts, words = [], 0
            while words < target:
                sentence = sentences[rng.randrange(len(sentences))]
                parts.append(sentence)
                words += len(sentence.split())
            texts.append(" ".join(parts))
    truth: dict[str, list[tuple[int, int]]] = {"exact": [], "near": []}
    for kind, n in (("exact", n_dup), ("near", n_near)):
        for _ in range(n):
            original = rng.randrange(n_base)
            texts.append(texts[original] if kind == "exact" else perturb(texts[original], rng, 0.02))
            truth[kind].append((len(texts) - 1, original))
    order = list(range(len(texts)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [texts[i] for i in order]
    return shuffled, {k: [(position[a], position[b]) for a, b in pairs] for k, pairs in truth.items()}


def describe(texts: list[str]) -> str:
    """Documents, words and length percentiles: what every benchmark states about its corpus."""
    import numpy as np

    lengths = np.array([len(t.split()) for t in texts])
    p = np.percentile(lengths, [10, 50, 90, 99]).astype(int)
    return (f"{len(texts):,} documents, {int(lengths.sum()):,} words, {sum(len(t.encode()) for t in texts) / 1e6:,.1f} MB; "
            f"words per document p10 {p[0]:,}, median {p[1]:,}, p90 {p[2]:,}, p99 {p[3]:,}, max {int(lengths.max()):,}")
