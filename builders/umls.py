"""Knowledge-graph prompts from a local UMLS release → MedC-I `knowledge_graph` rows.

Reads MRCONSO (English, unsuppressed strings; the preferred name of a concept is its
`TS=P, STT=PF, ISPREF=Y` English string), MRDEF, MRSTY and MRREL (rows with a RELA) from
the folder of each MRCONSO.RRF, with polars (pipe-delimited, trailing `|`, possibly no
final newline). Source vocabularies are selectable (`sabs`). Prompt kinds: describe a
concept (its definition), the relation between two concepts, its semantic type, its
synonyms / abbreviations. Sampling is seeded and capped per concept and per relation type.
UMLS content may not be redistributed: rows carry the `umls` licence, which the publish
gate refuses unless explicitly allowed.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.ingest.instructions import choose, instruction_row

COLUMNS = {
    "MRCONSO": ["CUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "AUI", "SAUI", "SCUI", "SDUI", "SAB", "TTY", "CODE", "STR", "SRL", "SUPPRESS", "CVF"],
    "MRDEF": ["CUI", "AUI", "ATUI", "SATUI", "SAB", "DEF", "SUPPRESS", "CVF"],
    "MRSTY": ["CUI", "TUI", "STN", "STY", "ATUI", "CVF"],
    "MRREL": ["CUI1", "AUI1", "STYPE1", "REL", "CUI2", "AUI2", "STYPE2", "RELA", "RUI", "SRUI", "SAB", "SL", "RG", "DIR", "SUPPRESS", "CVF"],
}


def read_rrf(path: Path, table: str) -> pl.DataFrame:
    """An RRF table as strings; the trailing `|` of every row makes one empty extra column."""
    cols = COLUMNS[table]
    if not path.is_file():
        return pl.DataFrame(schema={c: pl.String for c in cols})
    try:
        frame = pl.read_csv(path, separator="|", has_header=False, quote_char=None, infer_schema=False,
                            new_columns=[*cols, "_trailing"], truncate_ragged_lines=True, encoding="utf8")
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{path.name}: unreadable RRF ({exc})") from None
    return frame.select(cols).with_columns(pl.all().fill_null(""))


@dataclass
class PromptState:
    """What the prompt makers of one MRCONSO file share: preferred names, the seeded
    generator (its draws follow the makers' order), and the per-concept cap."""

    names: dict[str, str]  # CUI -> preferred English name
    rng: random.Random
    cap: int  # prompts per concept
    report: FileReport
    per_concept: Counter[str] = field(default_factory=Counter)

    def take(self, cui: str) -> bool:
        if self.per_concept[cui] >= self.cap:
            self.report.skip("cap per concept")
            return False
        self.per_concept[cui] += 1
        return True


@register_builder("umls")
class UMLSBuilder(Builder):
    citations = ("bodenreider2004umls",)
    kind = "instruction"
    patterns = ("**/MRCONSO.RRF",)
    defaults: dict[str, Any] = {
        "sabs": None,  # e.g. ["MSH", "SNOMEDCT_US"]; None: every source vocabulary
        "kinds": ["describe", "relation", "semantic_type", "synonyms"],
        "max_per_concept": 4,
        "max_per_relation": 1000,
        "max_synonyms": 8,
        "seed": 0,
        "license": "umls",
        "templates": None,
    }

    def _instruction(self, row_id: str, kind: str, **fields: str) -> str:
        return choose(row_id, "knowledge_graph", kind, self.options["templates"]).format(**fields)

    def _row(self, row_id: str, kind: str, instruction: str, output: str, meta: dict[str, Any]) -> dict[str, Any]:
        return instruction_row(self.source, row_id, "knowledge_graph", instruction, "", output, self.options["license"],
                               {"prompt": kind, **meta})

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        sabs = self.options["sabs"]
        conso = read_rrf(path, "MRCONSO").filter((pl.col("LAT") == "ENG") & (pl.col("SUPPRESS") == "N"))
        if sabs:
            conso = conso.filter(pl.col("SAB").is_in(list(sabs)))
        report.records += conso.height
        if conso.height == 0:
            return
        preferred = (
            conso.with_columns(((pl.col("TS") == "P") & (pl.col("STT") == "PF") & (pl.col("ISPREF") == "Y")).alias("pref"))
            .sort(["CUI", "pref", "AUI"], descending=[False, True, False])
            .group_by("CUI", maintain_order=True)
            .first()
        )
        state = PromptState(dict(zip(preferred["CUI"].to_list(), preferred["STR"].to_list())), random.Random(self.options["seed"]),
                            self.options["max_per_concept"], report)
        makers = {"describe": self.describe_prompts, "semantic_type": self.semantic_type_prompts,
                  "synonyms": self.synonym_prompts, "relation": self.relation_prompts}
        rows: list[dict[str, Any]] = []
        for kind, make in makers.items():  # in this order: the seeded choices depend on it
            if kind in self.options["kinds"]:
                rows.extend(make(path.parent, conso, state))
        # Records are atoms (names); prompts are made per concept: account for every atom.
        report.note("name read into its concept (synonyms, variants)", conso.height - preferred.height)
        prompted = {cui for r in rows for key in ("cui", "cui1", "cui2") if (cui := r["meta"].get(key))}
        unprompted = preferred.height - len(prompted & set(preferred["CUI"].to_list()))
        if unprompted:
            report.skip("concept without a definition, semantic type, synonym or relation to ask about", unprompted)
        yield from rows

    def describe_prompts(self, folder: Path, conso: pl.DataFrame, state: PromptState) -> Iterator[dict[str, Any]]:
        """"Describe X": one definition (MRDEF) per concept, chosen by the seeded generator."""
        defs = read_rrf(folder / "MRDEF.RRF", "MRDEF").filter(pl.col("SUPPRESS") == "N")
        if self.options["sabs"]:
            defs = defs.filter(pl.col("SAB").is_in(list(self.options["sabs"])))
        for (cui,), group in defs.group_by("CUI", maintain_order=True):
            if cui not in state.names:
                continue
            chosen = group.row(state.rng.randrange(group.height), named=True)
            if state.take(cui):
                name = state.names[cui]
                rid = f"umls:describe:{cui}:{chosen['ATUI']}"
                yield self._row(rid, "describe", self._instruction(rid, "describe", name=name),
                                f"{name}: {chosen['DEF'].strip()}", {"cui": cui, "sab": chosen["SAB"]})

    def semantic_type_prompts(self, folder: Path, conso: pl.DataFrame, state: PromptState) -> Iterator[dict[str, Any]]:
        """"What kind of concept is X": its semantic types (MRSTY)."""
        sty = read_rrf(folder / "MRSTY.RRF", "MRSTY")
        for (cui,), group in sty.group_by("CUI", maintain_order=True):
            if cui not in state.names or not state.take(cui):
                continue
            types = group["STY"].to_list()
            rid = f"umls:semantic_type:{cui}"
            answer = f"{state.names[cui]} is a concept of semantic type " + (
                types[0] if len(types) == 1 else ", ".join(types[:-1]) + " and " + types[-1]) + "."
            yield self._row(rid, "semantic_type", self._instruction(rid, "semantic_type", name=state.names[cui]), answer,
                            {"cui": cui, "types": types, "tuis": group["TUI"].to_list()})

    def synonym_prompts(self, folder: Path, conso: pl.DataFrame, state: PromptState) -> Iterator[dict[str, Any]]:
        """"Other names of X": the concept's other English strings (MRCONSO), case-insensitively distinct."""
        for (cui,), group in conso.group_by("CUI", maintain_order=True):
            name = state.names[cui]
            others: list[str] = []
            for s in group["STR"].to_list():
                if s != name and s.lower() not in {o.lower() for o in others} and s.lower() != name.lower():
                    others.append(s)
            others = others[: self.options["max_synonyms"]]
            if not others or not state.take(cui):
                continue
            rid = f"umls:synonyms:{cui}"
            yield self._row(rid, "synonyms", self._instruction(rid, "synonyms", name=name),
                            f"{name} is also known as: " + "; ".join(others) + ".", {"cui": cui})

    def relation_prompts(self, folder: Path, conso: pl.DataFrame, state: PromptState) -> Iterator[dict[str, Any]]:
        """"How are X and Y related": named relations (MRREL RELA), at most `max_per_relation` per
        relation type, in a seeded order."""
        report = state.report
        rel = read_rrf(folder / "MRREL.RRF", "MRREL").filter((pl.col("RELA") != "") & (pl.col("SUPPRESS") != "O"))
        if self.options["sabs"]:
            rel = rel.filter(pl.col("SAB").is_in(list(self.options["sabs"])))
        per_rela: Counter[str] = Counter()
        by_rela: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rel.iter_rows(named=True):
            by_rela[r["RELA"]].append(r)
        for rela in sorted(by_rela):
            candidates = by_rela[rela]
            state.rng.shuffle(candidates)
            for r in candidates:
                a, b = r["CUI1"], r["CUI2"]
                if a not in state.names or b not in state.names:
                    report.skip("relation to a concept without an English name")
                    continue
                if per_rela[rela] >= self.options["max_per_relation"]:
                    report.skip("cap per relation type")
                    continue
                if not state.take(a):
                    continue
                per_rela[rela] += 1
                # MRREL's REL/RELA is the relationship of the second concept to the first:
                # the statement reads "CUI2 <RELA> CUI1".
                phrase = rela.replace("_", " ")
                rid = f"umls:relation:{r['RUI'] or a + '-' + b + '-' + rela}"
                yield self._row(rid, "relation", self._instruction(rid, "relation", name1=state.names[b], name2=state.names[a]),
                                f"{state.names[b]} {phrase} {state.names[a]}.", {"cui1": a, "cui2": b, "rela": rela, "sab": r["SAB"]})
