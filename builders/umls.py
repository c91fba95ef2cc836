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
        folder = path.parent
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
        names = dict(zip(preferred["CUI"].to_list(), preferred["STR"].to_list()))
        rng = random.Random(self.options["seed"])
        per_concept: Counter[str] = Counter()
        cap = self.options["max_per_concept"]
        kinds = set(self.options["kinds"])
        rows: list[dict[str, Any]] = []

        def take(cui: str) -> bool:
            if per_concept[cui] >= cap:
                report.skip("cap per concept")
                return False
            per_concept[cui] += 1
            return True

        if "describe" in kinds:
            defs = read_rrf(folder / "MRDEF.RRF", "MRDEF").filter(pl.col("SUPPRESS") == "N")
            if sabs:
                defs = defs.filter(pl.col("SAB").is_in(list(sabs)))
            for cui, group in defs.group_by("CUI", maintain_order=True):
                cui = cui[0]
                if cui not in names:
                    continue
                chosen = group.row(rng.randrange(group.height), named=True)
                if take(cui):
                    rid = f"umls:describe:{cui}:{chosen['ATUI']}"
                    rows.append(self._row(rid, "describe", self._instruction(rid, "describe", name=names[cui]),
                                          f"{names[cui]}: {chosen['DEF'].strip()}", {"cui": cui, "sab": chosen["SAB"]}))
        if "semantic_type" in kinds:
            sty = read_rrf(folder / "MRSTY.RRF", "MRSTY")
            for cui, group in sty.group_by("CUI", maintain_order=True):
                cui = cui[0]
                if cui not in names or not take(cui):
                    continue
                types = group["STY"].to_list()
                rid = f"umls:semantic_type:{cui}"
                answer = f"{names[cui]} is a concept of semantic type " + (
                    types[0] if len(types) == 1 else ", ".join(types[:-1]) + " and " + types[-1]) + "."
                rows.append(self._row(rid, "semantic_type", self._instruction(rid, "semantic_type", name=names[cui]), answer,
                                      {"cui": cui, "types": types, "tuis": group["TUI"].to_list()}))
        if "synonyms" in kinds:
            for cui, group in conso.group_by("CUI", maintain_order=True):
                cui = cui[0]
                others = []
                for s in group["STR"].to_list():
                    if s != names[cui] and s.lower() not in {o.lower() for o in others} and s.lower() != names[cui].lower():
                        others.append(s)
                others = others[: self.options["max_synonyms"]]
                if not others or not take(cui):
                    continue
                rid = f"umls:synonyms:{cui}"
                rows.append(self._row(rid, "synonyms", self._instruction(rid, "synonyms", name=names[cui]),
                                      f"{names[cui]} is also known as: " + "; ".join(others) + ".", {"cui": cui}))
        if "relation" in kinds:
            rel = read_rrf(folder / "MRREL.RRF", "MRREL").filter((pl.col("RELA") != "") & (pl.col("SUPPRESS") != "O"))
            if sabs:
                rel = rel.filter(pl.col("SAB").is_in(list(sabs)))
            per_rela: Counter[str] = Counter()
            by_rela: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in rel.iter_rows(named=True):
                by_rela[r["RELA"]].append(r)
            for rela in sorted(by_rela):
                candidates = by_rela[rela]
                rng.shuffle(candidates)
                for r in candidates:
                    a, b = r["CUI1"], r["CUI2"]
                    if a not in names or b not in names:
                        report.skip("relation to a concept without an English name")
                        continue
                    if per_rela[rela] >= self.options["max_per_relation"]:
                        report.skip("cap per relation type")
                        continue
                    if not take(a):
                        continue
                    per_rela[rela] += 1
                    # MRREL's REL/RELA is the relationship of the second concept to the first:
                    # the statement reads "CUI2 <RELA> CUI1".
                    phrase = rela.replace("_", " ")
                    rid = f"umls:relation:{r['RUI'] or a + '-' + b + '-' + rela}"
                    rows.append(self._row(rid, "relation", self._instruction(rid, "relation", name1=names[b], name2=names[a]),
                                          f"{names[b]} {phrase} {names[a]}.", {"cui1": a, "cui2": b, "rela": rela, "sab": r["SAB"]}))
        yield from rows
