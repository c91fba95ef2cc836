"""Abbreviation prompts mined from MedC-K text with scispaCy's AbbreviationDetector.

"What does SBMA stand for in …?": for every short form that scispaCy links to its long
form in a document, the prompt quotes a sentence using the short form (preferably one
where it is not defined) and the answer expands it. The detector runs on a blank English
spaCy pipeline with a sentencizer: no model download. Documents come from PMC JATS files
(parsed by the JATS builder) or from parquet files with a `text` column (e.g. a built
`medc-k` repo placed under the sources root); rows keep the licence of their document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from builders.pmc_jats import PMCJatsBuilder
from medc.text.abbreviations import definitions, pipeline
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.ingest.instructions import choose, instruction_row


@register_builder("abbreviations")
class AbbreviationBuilder(Builder):
    citations = ("neumann2019scispacy", "pmcoa")
    kind = "instruction"
    patterns = ("**/*.nxml", "**/*.xml", "**/*.parquet")
    defaults: dict[str, Any] = {"max_per_document": 10, "max_context_chars": 500, "templates": None}

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if int(self.options["max_per_document"]) < 1:
            raise UserError(f"source {source!r}: max_per_document must be at least 1")

    def documents(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path, columns=["id", "text", "license"])
            yield from frame.iter_rows(named=True)
            return
        inner = FileReport(report.path)
        yield from PMCJatsBuilder(self.source, {"tables": "drop"}, self.sources_root).parse(path, inner)
        report.errors.extend(inner.errors)

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        nlp = pipeline()
        for doc_row in self.documents(path, report):
            report.records += 1
            found = definitions(nlp(doc_row["text"]))
            for short in sorted(found)[: int(self.options["max_per_document"])]:
                item = found[short]
                context = item["sentence"][: int(self.options["max_context_chars"])]
                row_id = f"abbr:{doc_row['id']}:{short}"
                instruction = choose(row_id, "knowledge_graph", "abbreviation", self.options["templates"])
                instruction = instruction.format(short=short, context=context)
                output = f"In this text, {short} stands for {item['long']}."
                meta = {"prompt": "abbreviation", "short": short, "long": item["long"], "document": doc_row["id"],
                        "defined_in_context": item["defined_here"]}
                yield instruction_row(self.source, row_id, "knowledge_graph", instruction, "", output, doc_row["license"], meta)
