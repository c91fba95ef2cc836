"""Curation steps over the evidence a row carries: `retractions` (global) removes retracted
articles wherever they appear, matched by PMID / PMCID / DOI across sources, from every
signal the builders record and from retraction lists (the Retraction Watch database CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from medc.errors import UserError
from medc.files import storage
from medc.schema import dump_meta
from medc.steps.base import Decision, GlobalContext, GlobalStep, MapStep, register_step
from medc.steps.params import ParamError, StepParams
from medc.steps.rows import KeptRows
from medc.text.identifiers import article_keys, doi_key, pmid_key

# The Retraction Watch database as Crossref distributes it (gitlab.com/crossref/retraction-watch-data,
# `retraction_watch.csv`): one row per notice; the original paper's ids and the notice's nature.
RW_COLUMNS = ("OriginalPaperDOI", "OriginalPaperPubMedID", "RetractionNature")
RW_NATURES = ("Retraction", "Expression of concern", "Correction", "Reinstatement")

RETRACTED, RETRACTION_NOTICE = "retracted", "retraction-notice"
CORRECTION_NOTICE, CONCERN_NOTICE, CONCERN = "correction-notice", "concern-notice", "concern"


@dataclass(frozen=True)
class RetractionList:
    """Match keys of a list's original papers → the nature of their notice (a retraction
    wins over a concern or a correction of the same paper), and what was read."""

    natures: dict[str, str]
    files: tuple[str, ...]
    rows: int
    rows_without_ids: int


def read_retraction_watch(name: str, data: bytes) -> tuple[dict[str, str], int, int]:
    """(key → nature, rows, rows without a usable id) of one Retraction Watch CSV; `UserError`
    naming the file when its header lacks the columns that say which paper and what notice."""
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in RW_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"retraction list {name}: not a Retraction Watch CSV (no {', '.join(missing)} column)")
    natures: dict[str, str] = {}
    rows = without = 0
    rank = {n.lower(): i for i, n in enumerate(RW_NATURES)}
    for record in reader:
        rows += 1
        nature = (record.get("RetractionNature") or "").strip()
        keys = [k for k in (doi_key(record.get("OriginalPaperDOI")), pmid_key(record.get("OriginalPaperPubMedID"))) if k]
        if not keys:
            without += 1
            continue
        for key in keys:
            old = natures.get(key)
            if old is None or rank.get(nature.lower(), 99) < rank.get(old.lower(), 99):
                natures[key] = nature
    return natures, rows, without


@cache
def load_lists(root: str, patterns: tuple[str, ...]) -> RetractionList:
    """Every list named by `patterns` (globs under the sources root, or URLs), read once per process."""
    natures: dict[str, str] = {}
    files: list[str] = []
    rows = without = 0
    for pattern in patterns:
        if storage.is_url(pattern):
            paths = [(pattern, storage.cached_copy(pattern))]
        else:
            paths = [(str(p.relative_to(root)), p) for p in sorted(Path(root).glob(pattern)) if p.is_file()]
        for name, path in paths:
            found, n, bad = read_retraction_watch(name, Path(path).read_bytes())
            for key, nature in found.items():
                natures.setdefault(key, nature)
            files.append(name)
            rows += n
            without += bad
    return RetractionList(natures, tuple(files), rows, without)


@dataclass(frozen=True)
class RetractionsParams(StepParams):
    # Retraction Watch CSVs: globs under the sources root, or URLs (https://, s3://, ...).
    lists: list[str] = ("retractions/**/*.csv",)  # type: ignore[assignment]  # (a tuple: defaults must be immutable)
    natures: list[str] = ("Retraction",)  # type: ignore[assignment]  # list notices that remove the original paper
    corrections: str = "drop"  # correction / erratum notices: drop | keep (a corrected article is always kept)
    concerns: str = "keep"  # articles under an expression of concern: keep | drop (the notices themselves go)

    def check(self) -> None:
        if self.corrections not in ("drop", "keep"):
            raise ParamError("corrections", "corrections must be 'drop' or 'keep'")
        if self.concerns not in ("drop", "keep"):
            raise ParamError("concerns", "concerns must be 'drop' or 'keep'")
        unknown = [n for n in self.natures if n.lower() not in {x.lower() for x in RW_NATURES}]
        if unknown:
            raise ParamError("natures", f"natures are RetractionNature values ({', '.join(RW_NATURES)}), not {unknown[0]!r}")
        for pattern in self.lists:
            if not storage.is_url(pattern) and (pattern.startswith(("/", "\\")) or ".." in pattern.replace("\\", "/").split("/")):
                raise ParamError("lists", f"lists are globs under the sources root or URLs, not {pattern!r}")


@register_step("retractions")
class Retractions(GlobalStep):
    """Retracted articles out, whichever source holds them. Signals: a row that says it is
    retracted (JATS `retracted-article`, the PMC OA file list's `Retracted` column, PubMed's
    `Retracted Publication` type or `RetractionIn` link), a retraction notice in any source
    (JATS `retraction` with its `related-article` links, PubMed `Retraction of Publication`
    with `RetractionOf`), and the lists in `lists` (Retraction Watch CSV: `OriginalPaperDOI`,
    `OriginalPaperPubMedID`, `RetractionNature`). Matched by PMID, PMCID and DOI (case-insensitive).
    Notices go too (corrections by the `corrections` option); every drop says its signal."""

    Params = RetractionsParams
    params: RetractionsParams
    kinds = ("knowledge",)

    def reference_patterns(self) -> list[str]:
        return [p for p in self.params.lists if not storage.is_url(p)]

    def signature_key(self) -> dict[str, Any]:
        return {"lists": list(self.params.lists)}  # natures, corrections, concerns: read by `decide` only

    def retraction_list(self) -> RetractionList:
        if self.root is None:
            raise RuntimeError("retractions needs the sources root")
        return load_lists(str(self.root), tuple(self.params.lists))

    def signature_columns(self) -> list[str]:
        return ["_sig_ret_keys", "_sig_ret_kind", "_sig_ret_signal", "_sig_ret_for", "_sig_ret_listed"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        listed = self.retraction_list().natures
        keys, kinds, signals, targets, natures = [], [], [], [], []
        for meta in df["meta"].to_list():
            record = json.loads(meta or "{}")
            own = article_keys(record)
            keys.append(own)
            kinds.append(record.get("retraction"))
            signals.append(record.get("retraction_signal"))
            targets.append([str(k) for k in record.get("notice_for") or []])
            natures.append(next((listed[k] for k in own if k in listed), None))
        return df.with_columns(
            pl.Series("_sig_ret_keys", keys, dtype=pl.List(pl.String)),
            pl.Series("_sig_ret_kind", kinds, dtype=pl.String),
            pl.Series("_sig_ret_signal", signals, dtype=pl.String),
            pl.Series("_sig_ret_for", targets, dtype=pl.List(pl.String)),
            pl.Series("_sig_ret_listed", natures, dtype=pl.String),
        )

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        """Two reads of the rows with a signal: the flagged rows (notices, retracted or concerned
        articles) give the keys of the articles they name; then every row that is flagged,
        listed, or holds one of those keys is judged. Other rows are never held."""
        p = self.params
        removing = {n.lower() for n in p.natures}
        columns = ["source", *self.signature_columns()]
        flagged = rows.collect(columns, where=pl.col("_sig_ret_kind").is_not_null()).to_dicts()
        # Keys of the articles that some row says are retracted (or under concern), and how.
        retracted: dict[str, str] = {}
        concerned: dict[str, str] = {}
        said = {  # a flagged row's kind: which table its articles go to, by which keys, with what reason
            RETRACTED: (retracted, "_sig_ret_keys", "retracted: {signal} (another row of the article)"),
            RETRACTION_NOTICE: (retracted, "_sig_ret_for", "retracted: retraction notice in {source}"),
            CONCERN: (concerned, "_sig_ret_keys", "expression of concern: {signal} (another row of the article)"),
            CONCERN_NOTICE: (concerned, "_sig_ret_for", "expression of concern: notice in {source}"),
        }
        for r in flagged:
            if r["_sig_ret_kind"] in said:
                table, column, reason = said[r["_sig_ret_kind"]]
                for k in r[column]:
                    table.setdefault(k, reason.format(signal=r["_sig_ret_signal"], source=r["source"]))
        named = pl.Series(sorted({*retracted, *concerned}), dtype=pl.String).implode()
        judged = rows.collect(columns, where=pl.col("_sig_ret_kind").is_not_null() | pl.col("_sig_ret_listed").is_not_null()
                              | pl.col("_sig_ret_keys").list.eval(pl.element().is_in(named)).list.any())
        drops: list[tuple[int, str]] = []
        for r in judged.to_dicts():
            kind, listed = r["_sig_ret_kind"], (r["_sig_ret_listed"] or "").lower()
            reason = None
            if kind == RETRACTION_NOTICE:
                reason = "retraction notice"
            elif kind == CONCERN_NOTICE:
                reason = "expression-of-concern notice"
            elif kind == CORRECTION_NOTICE:
                reason = "correction notice" if p.corrections == "drop" else None
            elif kind == RETRACTED:
                reason = f"retracted: {r['_sig_ret_signal']}"
            elif listed and listed in removing:
                reason = f"{'retracted' if listed == 'retraction' else listed}: retraction list"
            elif hit := next((retracted[k] for k in r["_sig_ret_keys"] if k in retracted), None):
                reason = hit
            elif p.concerns == "drop":
                if kind == CONCERN:
                    reason = f"expression of concern: {r['_sig_ret_signal']}"
                elif listed == "expression of concern":
                    reason = "expression of concern: retraction list"
                else:
                    reason = next((concerned[k] for k in r["_sig_ret_keys"] if k in concerned), None)
            if reason:
                drops.append((r["_key"], reason))
        frame_out = pl.DataFrame(drops, schema={"_key": pl.UInt64, "reason": pl.String}, orient="row")
        lists = self.retraction_list()
        by_reason = Counter(reason for _, reason in drops)
        report = {
            "rows_removed": len(drops),
            "by_reason": dict(sorted(by_reason.items())),
            "retracted_articles_known": len(retracted) + sum(1 for r in flagged if r["_sig_ret_kind"] == RETRACTED),
            "lists": {"files": list(lists.files), "rows": lists.rows, "rows_without_ids": lists.rows_without_ids,
                      "papers": lists.rows - lists.rows_without_ids, "ids": len(lists.natures),
                      "natures_removed": list(p.natures)},
            "corrections": p.corrections,
            "concerns": p.concerns,
        }
        return Decision(frame_out, report)


# ---------------------------------------------------------------------------- select
# What a `select` rule may test, from a row's provenance metadata (`medc.text.provenance`)
# and its licence: the compact columns each shard stores for it.
SELECT_FIELDS = ("publication_types", "mesh", "year", "journals", "journals_file", "languages", "article_types", "licenses")
RULE_KEYS = ("name", "keep", "drop", "sources", "missing")
WEIGHT_RULE_KEYS = ("name", "factor", "when", "sources")


@dataclass(frozen=True)
class SelectParams(StepParams):
    # [[steps.rules]] tables: {name, keep = {...} | drop = {...}, sources = [...], missing = "keep" | "drop"}
    rules: list[dict[str, Any]] | None = None

    def check(self) -> None:
        for where, rule in checked_rules(self.rules, RULE_KEYS, "select needs rules: [[steps.rules]] tables with keep = {...} or drop = {...}"):
            if ("keep" in rule) == ("drop" in rule):
                raise ParamError("rules", f"{where}: give either keep = {{...}} or drop = {{...}}")
            check_conditions(rule.get("keep", rule.get("drop")), where)
            if rule.get("missing", "keep") not in ("keep", "drop"):
                raise ParamError("rules", f"{where}: missing is 'keep' or 'drop'")

    def rule_name(self, i: int) -> str:
        return rule_name(self.rules, i)


def _lower(values: Any) -> list[str]:
    return [str(v).strip().lower() for v in values or [] if str(v).strip()]


def row_facts(meta: dict[str, Any], license: str | None) -> dict[str, Any]:
    """What selection and weighting rules test, from a row's `meta` and licence, lower-cased:
    MeSH by descriptor name and unique id, a journal by title, abbreviations and NLM id."""
    heads = meta.get("mesh_headings") or []
    year = meta.get("year")
    return {
        "publication_types": _lower(meta.get("publication_types")),
        "mesh": _lower([*(meta.get("mesh") or []), *(h.get("ui") for h in heads if isinstance(h, dict) and h.get("ui"))]),
        "year": int(year) if isinstance(year, int) or str(year or "").isdigit() else None,
        "journals": _lower([meta.get(k) for k in ("journal", "journal_iso", "journal_nlm_ta", "journal_nlm_id") if meta.get(k)]),
        "languages": _lower(meta.get("languages") or ([meta["language"]] if meta.get("language") else [])),
        "article_types": (meta.get("article_type") or "").lower() or None,
        "licenses": (license or "").lower() or None,
    }


def rule_name(rules: list[dict[str, Any]] | None, i: int) -> str:
    return str((rules or [])[i].get("name") or f"rule {i + 1}")


def checked_rules(rules: list[dict[str, Any]] | None, keys: tuple[str, ...], needed: str) -> list[tuple[str, dict[str, Any]]]:
    """A step's `[[steps.rules]]`, checked for what every rule list shares (at least one rule,
    known keys, `sources` a list of names, names that differ: drops and matches are counted
    by name), as (where, rule) pairs for the step's own checks."""
    if not rules:
        raise ParamError("rules", needed)
    out = []
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        unknown = sorted(set(rule) - set(keys))
        if unknown:
            raise ParamError("rules", f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(keys)})")
        if "sources" in rule and not (isinstance(rule["sources"], list) and all(isinstance(s, str) for s in rule["sources"])):
            raise ParamError("rules", f"{where}: sources is a list of source names")
        out.append((where, rule))
    names = [rule_name(rules, i) for i in range(len(rules))]
    if len(set(names)) != len(names):
        raise ParamError("rules", "rule names must differ (each drop or match is counted under its rule's name)")
    return out


def check_conditions(cond: Any, where: str) -> None:
    if not isinstance(cond, dict) or not cond:
        raise ParamError("rules", f"{where}: conditions are a table ({', '.join(SELECT_FIELDS)})")
    for key, value in cond.items():
        if key not in SELECT_FIELDS:
            raise ParamError("rules", f"{where}: unknown condition {key!r} (conditions: {', '.join(SELECT_FIELDS)})")
        if key == "year":
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
                raise ParamError("rules", f"{where}: year is [first, last], two integers")
        elif key == "journals_file":
            if not isinstance(value, str) or value.startswith(("/", "\\")) or ".." in value.replace("\\", "/").split("/"):
                raise ParamError("rules", f"{where}: journals_file is a path under the sources root")
        elif not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ParamError("rules", f"{where}: {key} is a non-empty list of strings")


def read_journal_list(root: Path | None, rel: str, step: str) -> list[str]:
    """A journals file: one title, abbreviation or NLM id per line (`#` starts a comment)."""
    path = Path(root or ".") / rel
    if root is None or not path.is_file():
        raise UserError(f"step {step!r}: journals_file {rel} is not a file under the sources root")
    return _lower(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines())


def fact_matches(facts: dict[str, Any], key: str, value: Any, journals: list[str]) -> bool | None:
    """Whether a row's facts meet one condition; None when the row lacks the field."""
    field = "journals" if key == "journals_file" else key
    have = facts[field]
    if have is None or have == []:
        return None
    if key == "year":
        return value[0] <= have <= value[1]
    wanted = set(journals if key == "journals_file" else _lower(value))
    return bool(wanted & set(have)) if isinstance(have, list) else have in wanted


@register_step("select")
class Select(GlobalStep):
    """Keep or drop rows by rules over their provenance metadata: publication types, MeSH
    descriptors (name or unique id), a year range, journals (a list, or a file of titles /
    abbreviations / NLM ids, one per line), languages, article types, licences. A `drop` rule
    removes the rows that match all its conditions; a `keep` rule removes the rows that do
    not (a row missing the field is kept, or dropped with `missing = "drop"`). Rules apply to
    the sources they name (default: all); each drop is counted under its rule's name. The
    columns are stored with each shard once: changing a rule re-decides without recomputing."""

    Params = SelectParams
    params: SelectParams
    kinds = ("knowledge",)
    def signature_key(self) -> dict[str, Any]:
        return {}  # the stored columns do not depend on the rules

    def signature_columns(self) -> list[str]:
        return ["_sig_sel_pubtypes", "_sig_sel_mesh", "_sig_sel_year", "_sig_sel_journal", "_sig_sel_langs",
                "_sig_sel_type", "_sig_sel_license"]

    def signature(self, df: pl.DataFrame) -> pl.DataFrame:
        facts = [row_facts(json.loads(m or "{}"), lic) for m, lic in zip(df["meta"].to_list(), df["license"].to_list())]
        lists = {"_sig_sel_pubtypes": "publication_types", "_sig_sel_mesh": "mesh", "_sig_sel_journal": "journals",
                 "_sig_sel_langs": "languages"}
        return df.with_columns(
            *[pl.Series(col, [f[key] for f in facts], dtype=pl.List(pl.String)) for col, key in lists.items()],
            pl.Series("_sig_sel_year", [f["year"] for f in facts], dtype=pl.Int32),
            pl.Series("_sig_sel_type", [f["article_types"] for f in facts], dtype=pl.String),
            pl.Series("_sig_sel_license", [f["licenses"] for f in facts], dtype=pl.String),
        )

    def journal_list(self, rel: str) -> list[str]:
        return read_journal_list(self.root, rel, "select")

    def condition(self, key: str, value: Any) -> tuple[pl.Expr, pl.Expr]:
        """(the row matches, the row has the field) for one condition."""
        if key == "year":
            col = pl.col("_sig_sel_year")
            return col.is_between(value[0], value[1]), col.is_not_null()
        if key in ("article_types", "licenses"):
            col = pl.col("_sig_sel_type" if key == "article_types" else "_sig_sel_license")
            return col.is_in(_lower(value)), col.is_not_null() & (col != "")
        column = {"publication_types": "_sig_sel_pubtypes", "mesh": "_sig_sel_mesh", "journals": "_sig_sel_journal",
                  "journals_file": "_sig_sel_journal", "languages": "_sig_sel_langs"}[key]
        wanted = self.journal_list(value) if key == "journals_file" else _lower(value)
        col = pl.col(column)
        return col.list.eval(pl.element().is_in(wanted)).list.any(), col.list.len() > 0

    def decide(self, rows: KeptRows, ctx: GlobalContext) -> Decision:
        """Row by row, a batch of a shard's rows at a time."""
        drops: list[pl.DataFrame] = []
        counts = {self.params.rule_name(i): 0 for i in range(len(self.params.rules or []))}
        for batch in rows.batches(["source", *self.signature_columns()]):
            self._decide_rows(batch, drops, counts)
        out = pl.concat(drops) if drops else pl.DataFrame(schema={"_key": pl.UInt64, "reason": pl.String})
        return Decision(out, {"rules": [{"name": self.params.rule_name(i), **{k: v for k, v in r.items() if k != "name"},
                                         "rows_removed": counts[self.params.rule_name(i)]}
                                        for i, r in enumerate(self.params.rules or [])]})

    def _decide_rows(self, remaining: pl.DataFrame, drops: list[pl.DataFrame], counts: dict[str, int]) -> None:
        """The rules, in order, on some rows: their drops appended to `drops`, counted per rule."""
        for i, rule in enumerate(self.params.rules or []):
            name = self.params.rule_name(i)
            cond = rule.get("keep", rule.get("drop"))
            parts = [self.condition(k, v) for k, v in cond.items()]
            matches = pl.all_horizontal([m for m, _ in parts])
            known = pl.all_horizontal([k for _, k in parts])
            if "drop" in rule:
                goes = matches.fill_null(False)
            else:
                goes = (~matches.fill_null(False)) & (known if rule.get("missing", "keep") == "keep" else pl.lit(True))
            if rule.get("sources"):
                goes = goes & pl.col("source").is_in(rule["sources"])
            gone = remaining.filter(goes).select("_key", pl.lit(f"select: {name}").alias("reason"))
            counts[name] += gone.height
            drops.append(gone)
            remaining = remaining.join(gone.select("_key"), on="_key", how="anti")


# ---------------------------------------------------------------------------- weight
@dataclass(frozen=True)
class WeightParams(StepParams):
    # [[steps.rules]] tables: {name, factor = 2.0, when = {conditions as in select}, sources = [...]}
    rules: list[dict[str, Any]] | None = None

    def check(self) -> None:
        for where, rule in checked_rules(self.rules, WEIGHT_RULE_KEYS, "weight needs rules: [[steps.rules]] tables with factor = number and when = {...}"):
            factor = rule.get("factor")
            if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and 0 <= factor < float("inf")):
                raise ParamError("rules", f"{where}: factor is a number >= 0")
            check_conditions(rule.get("when"), where)


@register_step("weight")
class Weight(MapStep):
    """A sampling weight per row (`meta.weight` in the release, `_weight` in the shard): the
    product of the `factor`s of the rules whose conditions the row meets (conditions as in
    `select`), 1 when none does. The training loader draws a row `weight` times per epoch on
    average within its source (2.5: two or three times; 0.5: every other epoch; 0: never);
    the mixture report sizes each source within its group by its weighted words (a group's
    declared share is unchanged)."""

    Params = WeightParams
    params: WeightParams
    kinds = ("knowledge",)

    def apply(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str]]:
        out, dropped, _ = self.apply_audited(df)
        return out, dropped

    def apply_audited(self, df: pl.DataFrame) -> tuple[pl.DataFrame, Counter[str], Counter[str]]:
        rules = self.params.rules or []
        journals = {i: read_journal_list(self.root, r["when"]["journals_file"], "weight")
                    for i, r in enumerate(rules) if "journals_file" in r["when"]}
        weights, metas, audit = [], [], Counter()
        for meta, lic, source in zip(df["meta"].to_list(), df["license"].to_list(), df["source"].to_list()):
            record = json.loads(meta or "{}")
            facts = row_facts(record, lic)
            weight = 1.0
            for i, rule in enumerate(rules):
                if rule.get("sources") and source not in rule["sources"]:
                    continue
                if all(fact_matches(facts, k, v, journals.get(i, [])) for k, v in rule["when"].items()):
                    weight *= float(rule["factor"])
                    audit[f"rule:{rule_name(rules, i)}"] += 1
            record["weight"] = round(weight, 6)
            weights.append(weight)
            metas.append(dump_meta(record))
        audit["rows"] += df.height
        return df.with_columns(pl.Series("_weight", weights, dtype=pl.Float32), pl.Series("meta", metas, dtype=pl.String)), Counter(), audit
