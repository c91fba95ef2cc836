"""The dataset card (`README.md`) of a built repo, rendered from its manifest.

The card's YAML front matter declares one config per source with rows, `default` (all
sources) and `commercial` (rows whose licence allows commercial use, when there are any),
with `dataset_info` per config. The card text is deterministic (no timings); the manifest
holds everything, timings included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import yaml

from medc.errors import UserError
from medc.files.bundled import CARDS_DIR
from medc.ingest.builder import builder_class
from medc.recipes.recipe import Recipe
from medc.release.citations import citations
from medc.release.figure import FIGURE_NAME
from medc.release.manifest import MANIFEST_NAME, Manifest
from medc.schema import schema_for
from medc.text.deidentify import PHI_TYPES
from medc.text.licenses import allows_commercial_use, redistribution_problem

COMMERCIAL = "commercial"
# Licence ids the Hub knows; anything else is declared as `other`.
HUB_LICENSES = {"mit", "apache-2.0", "cc0-1.0", "cc-by-2.0", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
                "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-3.0",
                "cc-by-nc-nd-4.0", "cc-by-nd-4.0", "odc-by", "odbl", "pddl"}

Licences = dict[str, dict[str, int]]  # source -> licence -> rows


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1B"


def licence_totals(licenses: Licences) -> dict[str, int]:
    totals: dict[str, int] = {}
    for per in licenses.values():
        for lic, n in per.items():
            totals[lic] = totals.get(lic, 0) + n
    return totals


def config_licences(manifest: Manifest, licenses: Licences) -> dict[str, set[str]]:
    return {c: {lic for s in manifest.configs[c].sources for lic in licenses.get(s, {})} for c in manifest.released_configs()}


def card_licence(licenses: Licences) -> dict[str, str]:
    """The card's licence keys: the one licence when every row has the same Hub-known one,
    else `other` with the per-row licences and their counts."""
    all_licenses = sorted({lic for per in licenses.values() for lic in per})
    if len(all_licenses) == 1 and all_licenses[0] in HUB_LICENSES:
        return {"license": all_licenses[0]}
    details = "per-row licences: " + ", ".join(f"{k} ({v} rows)" for k, v in sorted(licence_totals(licenses).items()))
    return {"license": "other", "license_name": "mixed", "license_details": details}


def dataset_info(recipe: Recipe, manifest: Manifest, repo: Path) -> Any:
    """`dataset_info` YAML for every config: features, rows, uncompressed and parquet bytes.

    Besides documenting the columns, this makes `datasets`' cache key change when the data
    changes: for a local folder it hashes the card's YAML, not the parquet files, so without
    it a rebuilt repo would load stale rows from the cache.
    """
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo  # datasets takes seconds to import
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    features = Features.from_arrow_schema(schema_for(recipe.kind))
    sizes: dict[str, tuple[int, int, int]] = {}
    for name, outputs in manifest.config_outputs().items():
        rows = nbytes = download = 0
        for out in outputs:
            meta = pq.ParquetFile(repo / out.path).metadata
            rows += meta.num_rows
            nbytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            download += out.bytes
        sizes[name] = (rows, nbytes, download)
    per_source = [v for k, v in sizes.items() if k != COMMERCIAL]
    sizes = {"default": tuple(map(sum, zip(*per_source))) if per_source else (0, 0, 0), **sizes}  # type: ignore[dict-item]
    infos = {}
    for name, (rows, nbytes, download) in sizes.items():
        splits = SplitDict()
        splits.add(SplitInfo(name="train", num_bytes=nbytes, num_examples=rows))
        infos[name] = DatasetInfo(features=features, splits=splits, download_size=download, dataset_size=nbytes, config_name=name)
    card_data = DatasetCardData()
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data.to_dict()["dataset_info"]


def front_matter(recipe: Recipe, manifest: Manifest, licenses: Licences, repo: Path) -> dict[str, Any]:
    built = manifest.released_configs()
    configs: list[dict[str, Any]] = [
        {
            "config_name": "default",
            "default": True,
            "data_files": [{"split": "train", "path": [f"data/{name}/train-*.parquet" for name in built]}],
        }
    ]
    configs += [
        {"config_name": name, "data_files": [{"split": "train", "path": f"data/{name}/train-*.parquet"}]}
        for name in built
    ]
    if manifest.commercial.rows:
        configs.append({"config_name": COMMERCIAL, "data_files": [{"split": "train", "path": f"data/{COMMERCIAL}/train-*.parquet"}]})
    fm: dict[str, Any] = {"pretty_name": recipe.pretty_name, "language": list(recipe.language), **card_licence(licenses)}
    fm.update(
        {
            "task_categories": list(recipe.task_categories),
            "size_categories": [size_category(manifest.totals.rows)],
            "source_datasets": list(recipe.source_datasets),
            "tags": list(recipe.tags),
            "configs": configs,
            "dataset_info": dataset_info(recipe, manifest, repo),
        }
    )
    return fm


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _reasons(dropped: dict[str, int]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in dropped.items()) or "-"


def render_sources(manifest: Manifest, licenses: Licences) -> str:
    total_words = sum(s.words for s in manifest.sources.values() if s.built) or 1
    rows = []
    for name, s in manifest.sources.items():
        if not s.built:
            why = {"absent": "folder absent", "references": "benchmark test files only"}.get(s.status, "no input files")
            rows.append([f"`{name}`", s.builder, "-", f"not built ({why})", "-", "-", "-", "-", "-"])
            continue
        lic = ", ".join(f"{k} ({v})" for k, v in licenses.get(name, {}).items()) or "-"
        tokens = f"{s.tokens:,}" if s.tokens is not None else "-"
        rows.append([f"`{name}`", s.builder, f"`{s.config}`", s.files, f"{s.rows:,}", f"{s.words:,}", tokens,
                     f"{s.words / total_words:.1%}", lic])
    return markdown_table(["source", "builder", "config", "input files", "rows", "words", "tokens", "share (words)", "licences (rows)"], rows)


# Builders whose rows hold text written about or by patients.
SENSITIVE_BUILDERS = {"clinical_notes": "clinical notes", "dialogues": "patient-written questions and doctors' answers"}


def render_privacy(manifest: Manifest) -> str:
    """Per source: the `deidentify` step's audit, or that sensitive text was not de-identified."""
    lines = []
    for name, s in manifest.sources.items():
        if not s.built or not s.rows_built:
            continue
        audit = next((st.audit for st in s.steps if st.step == "deidentify" and st.audit), None)
        if audit and audit.get("rows"):
            found = ", ".join(f"{kind} {audit[kind]:,}" for kind in PHI_TYPES if audit.get(kind)) or "none found"
            tagger = next((k.split(":", 1)[1] for k in audit if k.startswith("tagger:")), "unknown")
            extra = [f"{audit['mimic_placeholders']:,} of them MIMIC placeholders" if audit.get("mimic_placeholders") else "",
                     f"{audit['meta_keys_removed']:,} identifying `meta` values removed" if audit.get("meta_keys_removed") else ""]
            lines.append(f"* `{name}`: de-identified by the `deidentify` step (UCSF Philter's rules, part-of-speech "
                         f"tagger: {tagger}): {audit['rows']:,} rows, {audit.get('rows_touched', 0):,} with identifiers "
                         f"replaced by typed surrogates such as `[NAME-1]`; replaced per type: {found}"
                         + "".join(f"; {e}" for e in extra if e) + ".")
        elif s.builder in SENSITIVE_BUILDERS:
            lines.append(f"* `{name}`: {SENSITIVE_BUILDERS[s.builder]}, **not de-identified by this build** (no "
                         f"`deidentify` step names this source): it holds whatever its providers left in it.")
    lines.append("* Every other source is published text (papers, abstracts, books, curated questions): it names its "
                 "authors, and case reports describe patients as their journals published them. No de-identification "
                 "step ran on it.")
    return "\n".join(lines)


def render_rationales(manifest: Manifest, repo: Path) -> str:
    """For `rationale_qa`: rows per source with a rationale (from the dataset, or generated by
    `medc.rationale`) and with the answer only, read from the released files."""
    files = sorted((repo / "data" / "rationale_qa").glob("*.parquet"))
    if not files:
        return ""
    counts = (pl.scan_parquet([str(f) for f in files])
              .select("source", pl.col("meta").str.json_path_match("$.rationale").fill_null("answer only").alias("kind"))
              .group_by("source", "kind").len().collect())
    table: dict[str, dict[str, int]] = {}
    for source, kind, n in counts.iter_rows():
        table.setdefault(source, {})[kind] = n
    rows = [[f"`{src}`", f"{k.get('dataset', 0):,}", f"{k.get('generated', 0):,}", f"{k.get('answer only', 0):,}"]
            for src, k in sorted(table.items())]
    return ("Rationales in `rationale_qa` (a rationale is the explanation before the answer: MedMCQA's `exp`, "
            "PubMedQA's long answer, or one written by `python -m medc.rationale`):\n\n"
            + markdown_table(["source", "rationale from the dataset", "rationale generated", "answer only"], rows))


def render_steps(manifest: Manifest) -> str:
    rows = []
    for name, s in manifest.sources.items():
        if not s.built:
            continue
        problems = s.record_errors + s.failed_files
        build_note = "; ".join(filter(None, [_reasons(s.skipped) if s.skipped else "", f"input errors: {problems}" if problems else "",
                                             f"read into other rows, not lost: {_reasons(s.info)}" if s.info else ""]))
        rows.append([f"`{name}`", "parse", s.records, s.rows_built, build_note or "-"])
        for st in s.steps:
            rows.append([f"`{name}`", st.step, st.rows_in, st.rows_out, _reasons(st.dropped)])
    return markdown_table(["config", "step", "rows in", "rows out", "dropped / skipped (reason: rows)"], rows)


def render_dedup(manifest: Manifest) -> str:
    lines = []
    for g in manifest.global_steps:
        if g.step not in ("unique_ids", "exact_dedup", "near_dedup"):
            continue
        removed = sum(n for per in g.dropped.values() for n in per.values())
        line = f"* `{g.step}`: {g.rows_in:,} rows in, {removed:,} removed"
        r = g.report or {}
        if g.step == "near_dedup" and r:
            line += (f" (MinHash {r.get('num_perm')} permutations, {r.get('ngram')}-word shingles, Jaccard >= "
                     f"{r.get('threshold')}, {r.get('bands')} bands x {r.get('rows')} rows; {r.get('candidate_pairs', 0):,} "
                     f"candidate pairs, {r.get('verified_pairs', 0):,} verified, {r.get('clusters', 0):,} clusters holding "
                     f"{r.get('rows_in_clusters', 0):,} rows)")
        lines.append(line)
    return "\n".join(lines) or "No deduplication step in this recipe."


def _conditions(cond: dict[str, Any]) -> str:
    return "; ".join(f"{k} " + (f"{v[0]}-{v[1]}" if k == "year" else f"`{v}`" if isinstance(v, str) else ", ".join(map(str, v)))
                     for k, v in cond.items())


def render_curation(recipe: Recipe, manifest: Manifest) -> str:
    """The `select` rules with the rows each removed, and the `weight` rules with the rows
    each matched and the weighted words per source."""
    lines = []
    select = manifest.global_step("select")
    if select is not None:
        lines.append("Selection (`select`), in order:")
        for rule in (select.report or {}).get("rules", []):
            what = "keeps only rows with" if "keep" in rule else "drops rows with"
            cond = rule.get("keep", rule.get("drop")) or {}
            scope = f" (sources: {', '.join(rule['sources'])})" if rule.get("sources") else ""
            lines.append(f"* **{rule['name']}** {what} {_conditions(cond)}{scope}: {rule.get('rows_removed', 0):,} rows removed")
    weight_spec = next((s for s in recipe.steps if s.step == "weight"), None)
    if weight_spec is not None:
        matched: dict[str, int] = {}
        for s in manifest.sources.values():
            for st in s.steps:
                if st.step == "weight" and st.audit:
                    for k, n in st.audit.items():
                        if k.startswith("rule:"):
                            matched[k[5:]] = matched.get(k[5:], 0) + n
        lines.append("" if lines else "")
        lines.append("Sampling weights (`weight`; a row's weight is the product of the factors of the rules it meets, "
                     "and the training loader draws it that many times per epoch on average within its source):")
        for i, rule in enumerate(weight_spec.params.get("rules") or []):
            name = str(rule.get("name") or f"rule {i + 1}")
            lines.append(f"* **{name}**: x{rule['factor']} for {_conditions(rule['when'])}: {matched.get(name, 0):,} rows")
        weighted = [(n, s) for n, s in manifest.sources.items() if s.weighted_words is not None and s.rows]
        if weighted:
            lines.append("")
            lines.append(markdown_table(["source", "words", "weighted words"],
                                        [[f"`{n}`", f"{s.words:,}", f"{s.weighted_words:,}"] for n, s in weighted]))
    return "\n".join(lines).strip() or "No `select` or `weight` step in this recipe: every row that passed the filters is kept, each drawn once."


def render_retractions(manifest: Manifest) -> str:
    step = manifest.global_step("retractions")
    if step is None:
        return "No `retractions` step in this recipe: retracted articles and retraction notices were not looked for."
    r = step.report or {}
    lines = [f"{r.get('rows_removed', 0):,} rows removed by the `retractions` step, by signal:"]
    lines += [f"* {reason}: {n:,}" for reason, n in (r.get("by_reason") or {}).items()] or ["* none found"]
    lists = r.get("lists") or {}
    read = "; ".join(f"{f}" for f in lists.get("files", []))
    if read:
        read = (f"{read} ({lists.get('rows', 0):,} rows, {lists.get('papers', 0):,} papers"
                + (f"; rows naming no paper by DOI or PMID: {lists['rows_without_ids']:,}" if lists.get("rows_without_ids") else "") + ")")
    lines.append("")
    lines.append(f"Retraction lists read: {read or 'none (a Retraction Watch CSV under the recipe `lists` paths adds its papers)'}; "
                 f"list notices that remove a paper: {', '.join(lists.get('natures_removed', [])) or '-'}; "
                 f"correction notices: {r.get('corrections', '-')}; papers under an expression of concern: {r.get('concerns', '-')}.")
    return "\n".join(lines)


def render_decontamination(manifest: Manifest) -> str:
    step = manifest.global_step("decontaminate")
    if step is None:
        return "This build was not decontaminated against benchmark test sets (no `decontaminate` step in the recipe)."
    report = step.report or {}
    rows = []
    for name, b in report.get("benchmarks", {}).items():
        if "error" in b:
            rows.append([name, b["error"], "-", "-", "-"])
            continue
        if not b["files"]:
            rows.append([name, "not checked: no test file under the sources root", "-", "-", "-"])
            continue
        files = ", ".join(f"`{f['path']}`" for f in b["files"])
        removed = ", ".join(f"`{r}`" for r in b["rows_removed"][:20]) + (" …" if len(b["rows_removed"]) > 20 else "")
        rows.append([name, files, f"{b['test_items']} ({b['unchecked_short_items']} too short to check)",
                     len(b["items_found"]), f"{len(b['rows_removed'])}" + (f": {removed}" if removed else "")])
    intro = (
        f"Rows sharing {report.get('ngram', 13)}-word n-grams with a benchmark test question or context "
        "(exam-template n-grams excepted), or carrying the PMID of a PubMedQA test question, were removed."
    )
    return intro + "\n\n" + markdown_table(["benchmark", "test files", "test items", "items found in the data", "rows removed"], rows)


def render_mixture(manifest: Manifest) -> str:
    mix = manifest.mixture
    if not mix:
        return "The recipe declares no mixture: sources are sampled by their share of words."
    rows = []
    for group, g in mix.groups.items():
        rows.append([f"`{group}`", ", ".join(f"`{s}`" for s in g.sources), f"{g.weight:g}", f"{g.declared_share:.1%}",
                     f"{g.effective_share:.1%}", f"{g.documents:,}", f"{g.words:,}",
                     f"{g.tokens:,}" if g.tokens is not None else "-"])
    text = (f"Declared by the recipe (weights by {mix.unit}); *effective* is the share among the groups "
            "that have rows in this build, which the training loader samples by.\n\n")
    text += markdown_table(["group", "sources", "weight", "declared share", "effective share", "documents", "words", "tokens"], rows)
    if mix.missing_groups:
        text += "\n\nNot in this build (no rows): " + ", ".join(f"`{g}`" for g in mix.missing_groups) + "."
    return text


def render_licences(manifest: Manifest, licenses: Licences) -> str:
    rows = [[lic, f"{n:,}", "yes" if allows_commercial_use(lic) else "no", redistribution_problem(lic) or "yes"]
            for lic, n in sorted(licence_totals(licenses).items())]
    table = markdown_table(["licence", "rows", "commercial use", "may be redistributed"], rows)
    safe = [name for name, lics in config_licences(manifest, licenses).items() if lics and all(allows_commercial_use(x) for x in lics)]
    if manifest.commercial.rows:
        safe.append(COMMERCIAL)
    safe_text = ", ".join(f"`{c}`" for c in safe) if safe else "none"
    return (f"{table}\n\nConfigs whose every row allows commercial use: {safe_text}. The `{COMMERCIAL}` config, when "
            "present, gathers exactly the rows under CC0, CC BY (any version, incl. -SA/-ND), public domain, MIT, "
            "Apache-2.0 or ODC-By. Respect the licence carried by each row.")


def render_errors(manifest: Manifest) -> str:
    err = manifest.errors
    if not err:
        return "No input file or record was rejected."
    return (f"{len(err)} input problem(s) were reported (see `{MANIFEST_NAME}`):\n\n"
            + markdown_table(["source", "file", "record", "reason"], [[e.source, e.file, e.record or "-", e.reason] for e in err[:50]]))


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def hub_origin(hub: dict[str, Any] | None) -> str:
    """", read from the Hugging Face dataset `org/name` (split, revision)" for a source the recipe
    points at a Hub dataset; a local folder is not named (it is a path of the builder's machine)."""
    if not hub:
        return ""
    dataset = str(hub["dataset"])
    if not HUB_ID.fullmatch(dataset) or Path(dataset).exists():
        return ", read from a local folder in the Hugging Face dataset layout"
    detail = ", ".join(f"{key} {hub[key]}" for key in ("config", "split", "revision") if hub.get(key))
    return f", read from the Hugging Face dataset `{dataset}`" + (f" ({detail})" if detail else "")


def render_composition(recipe: Recipe, manifest: Manifest) -> str:
    """What this build holds, from its manifest: each source with rows, its share of the words
    and the recipe's description of it (the recipe's summary says what the dataset is meant to be)."""
    built = [(name, s) for name, s in manifest.sources.items() if s.built and s.rows]
    total = sum(s.words for _, s in built) or 1
    described = {spec.name: spec.description for spec in recipe.sources}
    parts = [f"`{name}` ({s.words / total:.0%} of the words{': ' + described[name] if described.get(name) else ''}{hub_origin(s.hub)})"
             for name, s in sorted(built, key=lambda item: -item[1].words)]
    absent = [name for name, s in manifest.sources.items() if not (s.built and s.rows)]
    text = "This build holds " + "; ".join(parts) + "." if parts else "This build holds no rows."
    if absent:
        text += " Not in this build (no input, or no row left): " + ", ".join(f"`{n}`" for n in absent) + "."
    return text


EXAMPLE_CHARS = 300  # a field of an example instance is cut after this many characters


def _cut(value: Any) -> Any:
    """An example value with every string (nested ones too) cut after `EXAMPLE_CHARS`."""
    if isinstance(value, str):
        return value[:EXAMPLE_CHARS] + " …" if len(value) > EXAMPLE_CHARS else value
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v) for v in value]
    return value


def render_examples(manifest: Manifest, repo: Path) -> str:
    """One example row per released config (its first row from a source that is not
    confidential, long fields cut) and the `meta` keys of each source's rows (from its first
    1,000 rows). Rows of a confidential source (clinical notes) are never quoted."""
    confidential = {name for name, s in manifest.sources.items() if builder_class(s.builder).public_reasons is not None}
    parts = []
    keys: dict[str, set[str]] = {}
    for config in manifest.released_configs():
        files = sorted((repo / "data" / config).glob("*.parquet"))
        if not files:
            continue
        rows = pl.scan_parquet(files)
        sources = rows.select("source").unique().collect()["source"].to_list()
        for source in sorted(sources):
            metas = rows.filter(pl.col("source") == source).select("meta").head(1000).collect()["meta"]
            keys[source] = set().union(*(json.loads(m or "{}") for m in metas))
        shown = rows.filter(~pl.col("source").is_in(sorted(confidential))).head(1).collect()
        if shown.height == 0:
            parts.append(f"**`{config}`**: no example shown (a confidential source)")
            continue
        row = _cut(shown.row(0, named=True))
        parts.append(f"**`{config}`**\n\n```json\n{json.dumps(row, ensure_ascii=False, indent=1, default=str)}\n```")
    table = markdown_table(["source", "`meta` keys"], [[f"`{name}`", ", ".join(f"`{k}`" for k in sorted(ks))]
                                                         for name, ks in sorted(keys.items())])
    return "\n\n".join(parts + ["`meta` keys per source:", table])


def render_card(recipe: Recipe, manifest: Manifest, licenses: Licences, repo: Path, figure: bool) -> str:
    fm = yaml.safe_dump(front_matter(recipe, manifest, licenses, repo), sort_keys=False, allow_unicode=True)
    load_lines = [f'load_dataset("{recipe.name}")  # default: every source'] + [
        f'load_dataset("{recipe.name}", "{name}")' for name in manifest.released_configs()
    ]
    if manifest.commercial.rows:
        load_lines.append(f'load_dataset("{recipe.name}", "{COMMERCIAL}")  # rows that allow commercial use')
    try:
        template = Template((CARDS_DIR / recipe.card).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"card template cards/{recipe.card}: cannot be read ({exc})") from None
    body = template.safe_substitute(
        pretty_name=recipe.pretty_name,
        name=recipe.name,
        summary=recipe.summary.strip(),
        composition=render_composition(recipe, manifest),
        total_rows=f"{manifest.totals.rows:,}",
        sources_table=render_sources(manifest, licenses),
        steps_table=render_steps(manifest),
        mixture=render_mixture(manifest),
        dedup=render_dedup(manifest),
        decontamination=render_decontamination(manifest),
        privacy=render_privacy(manifest),
        retractions=render_retractions(manifest),
        curation=render_curation(recipe, manifest),
        licences=render_licences(manifest, licenses),
        load_examples="\n".join(load_lines),
        examples=render_examples(manifest, repo),
        errors=render_errors(manifest),
        figure=(f"![Rows per source by length]({FIGURE_NAME})\n\nRows of each source by the length in words of their "
                f"{'text' if manifest.kind == 'knowledge' else 'response (`output`)'}, in power-of-two bins; both axes "
                "are logarithmic, so that small sources show beside large ones." if figure else ""),
        rationales=render_rationales(manifest, repo),
        citations=citations(manifest),
        version=manifest.medc_version,
        recipe_file=manifest.recipe.file,
        recipe_sha256=manifest.recipe.sha256,
        manifest_name=MANIFEST_NAME,
    )
    return f"---\n{fm}---\n\n{body.strip()}\n"
