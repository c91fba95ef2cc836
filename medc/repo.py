"""Write the Hugging Face dataset repo around the parquet data: the card and the build manifest.

The card's YAML front matter declares one config per source plus `default` (all sources),
so `load_dataset("<folder>")` and `load_dataset("<folder>", "<source>")` both work. The card
text is deterministic (no timings); the manifest holds everything, timings included.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

import polars as pl
import yaml

from medc.licenses import allows_commercial_use
from medc.recipe import CARDS_DIR, Recipe

MANIFEST_NAME = "build_manifest.json"


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1B"


def license_composition(repo: Path, sources: list[str]) -> dict[str, dict[str, int]]:
    files = [str(p) for s in sources for p in sorted((repo / "data" / s).glob("*.parquet"))]
    if not files:
        return {}
    counts = (
        pl.scan_parquet(files).group_by("source", "license").len().sort("source", "license").collect()
    )
    out: dict[str, dict[str, int]] = {}
    for source, lic, n in counts.iter_rows():
        out.setdefault(source, {})[lic] = n
    return out


def dataset_info(recipe: Recipe, manifest: dict[str, Any], repo: Path) -> Any:
    """`dataset_info` YAML for every config: features, rows, uncompressed and parquet bytes.

    Besides documenting the columns, this makes `datasets`' cache key change when the data
    changes: for a local folder it hashes the card's YAML, not the parquet files, so without
    it a rebuilt repo would load stale rows from the cache.
    """
    import pyarrow.parquet as pq
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from medc.schema import schema_for

    features = Features.from_arrow_schema(schema_for(recipe.kind))
    sizes: dict[str, tuple[int, int, int]] = {}
    for name, s in manifest["sources"].items():
        if s["status"] != "ok":
            continue
        rows = nbytes = download = 0
        for out in s["outputs"]:
            meta = pq.ParquetFile(repo / out["path"]).metadata
            rows += meta.num_rows
            nbytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            download += out["bytes"]
        sizes[name] = (rows, nbytes, download)
    sizes = {"default": tuple(map(sum, zip(*sizes.values()))) if sizes else (0, 0, 0), **sizes}  # type: ignore[dict-item]
    infos = {}
    for name, (rows, nbytes, download) in sizes.items():
        splits = SplitDict()
        splits.add(SplitInfo(name="train", num_bytes=nbytes, num_examples=rows))
        infos[name] = DatasetInfo(features=features, splits=splits, download_size=download, dataset_size=nbytes, config_name=name)
    card_data = DatasetCardData()
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return card_data.to_dict()["dataset_info"]


def front_matter(recipe: Recipe, manifest: dict[str, Any], licenses: dict[str, dict[str, int]], repo: Path) -> dict[str, Any]:
    built = [name for name, s in manifest["sources"].items() if s["status"] == "ok"]
    all_licenses = sorted({lic for per in licenses.values() for lic in per})
    configs: list[dict[str, Any]] = [
        {
            "config_name": "default",
            "default": True,
            "data_files": [{"split": "train", "path": "data/*/train-*.parquet"}],
        }
    ]
    configs += [
        {"config_name": name, "data_files": [{"split": "train", "path": f"data/{name}/train-*.parquet"}]}
        for name in built
    ]
    return {
        "pretty_name": recipe.pretty_name,
        "language": list(recipe.language),
        "license": all_licenses[0] if len(all_licenses) == 1 else "other",
        "task_categories": list(recipe.task_categories),
        "size_categories": [size_category(manifest["totals"]["rows"])],
        "tags": list(recipe.tags),
        "configs": configs,
        "dataset_info": dataset_info(recipe, manifest, repo),
    }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(recipe: Recipe, manifest: dict[str, Any], licenses: dict[str, dict[str, int]], repo: Path) -> str:
    fm = yaml.safe_dump(front_matter(recipe, manifest, licenses, repo), sort_keys=False, allow_unicode=True)
    sources = manifest["sources"]
    source_rows = []
    step_rows = []
    for name, s in sources.items():
        if s["status"] != "ok":
            source_rows.append([f"`{name}`", s["builder"], "not built (" + ("folder absent" if s["status"] == "absent" else "no input files") + ")", "", "", ""])
            continue
        lic = ", ".join(f"{k} ({v})" for k, v in licenses.get(name, {}).items()) or "-"
        skipped = "; ".join(f"{k}: {v}" for k, v in s["skipped"].items()) or "-"
        source_rows.append([f"`{name}`", s["builder"], s["files"], s["records"], s["rows"], lic])
        step_rows.append([f"`{name}`", "build", s["records"], s["rows_built"],
                          "; ".join(filter(None, [skipped if skipped != "-" else "", f"errors: {s['record_errors'] + s['failed_files']}" if s['record_errors'] + s['failed_files'] else ""])) or "-"])
        for st in s["steps"]:
            dropped = "; ".join(f"{k}: {v}" for k, v in st["dropped"].items()) or "-"
            step_rows.append([f"`{name}`", st["step"], st["in"], st["out"], dropped])
    commercial = sorted({lic for per in licenses.values() for lic in per if allows_commercial_use(lic)})
    load_lines = [f'load_dataset("{recipe.name}")  # default: every source'] + [
        f'load_dataset("{recipe.name}", "{name}")' for name, s in sources.items() if s["status"] == "ok"
    ]
    err = manifest["errors"]
    errors = "No input file or record was rejected." if not err else (
        f"{len(err)} input problem(s) were reported (see `{MANIFEST_NAME}`):\n\n"
        + _table(["source", "file", "record", "reason"], [[e["source"], e["file"], e["record"] or "-", e["reason"].replace("|", "/")] for e in err[:50]])
    )
    template = Template((CARDS_DIR / recipe.card).read_text(encoding="utf-8"))
    decontamination = render_decontamination(manifest)
    body = template.safe_substitute(
        pretty_name=recipe.pretty_name,
        name=recipe.name,
        summary=recipe.summary.strip(),
        total_rows=manifest["totals"]["rows"],
        sources_table=_table(["config", "builder", "input files", "records read", "rows released", "licences (rows)"], source_rows),
        steps_table=_table(["config", "step", "rows in", "rows out", "dropped / skipped (reason: rows)"], step_rows),
        commercial_licences=", ".join(commercial) or "none",
        load_examples="\n".join(load_lines),
        errors=errors,
        decontamination=decontamination,
        version=manifest["medc_version"],
        recipe_file=manifest["recipe"]["file"],
        recipe_sha256=manifest["recipe"]["sha256"],
        manifest_name=MANIFEST_NAME,
    )
    return f"---\n{fm}---\n\n{body.strip()}\n"


def render_decontamination(manifest: dict[str, Any]) -> str:
    step = next((g for g in manifest["global_steps"] if g["step"] == "decontaminate"), None)
    if step is None:
        return "This build was not decontaminated against benchmark test sets (no `decontaminate` step in the recipe)."
    report = step.get("report", {})
    rows = []
    for name, b in report.get("benchmarks", {}).items():
        if "error" in b:
            rows.append([name, b["error"].replace("|", "/"), "-", "-", "-"])
            continue
        if not b["files"]:
            rows.append([name, "not checked: no test file under the sources root", "-", "-", "-"])
            continue
        files = ", ".join(f"`{f['path']}`" for f in b["files"])
        removed = ", ".join(f"`{r}`" for r in b["rows_removed"][:20]) + (" …" if len(b["rows_removed"]) > 20 else "")
        rows.append([name, files, f"{b['test_items']} ({b['unchecked_short_items']} too short to check)",
                     len(b["items_found"]), f"{len(b['rows_removed'])}" + (f": {removed}" if removed else "")])
    intro = (
        f"Rows sharing a {report.get('ngram', 13)}-word n-gram with a benchmark test question or context "
        "(exam-template n-grams excepted), or carrying the PMID of a PubMedQA test question, were removed."
    )
    return intro + "\n\n" + _table(["benchmark", "test files", "test items", "items found in the data", "rows removed"], rows)


def write_repo(recipe: Recipe, repo: Path, manifest: dict[str, Any]) -> None:
    from medc.pipeline import atomic_write_bytes

    repo.mkdir(parents=True, exist_ok=True)
    built = [n for n, s in manifest["sources"].items() if s["status"] == "ok"]
    licenses = license_composition(repo, built)
    manifest["licenses"] = licenses
    atomic_write_bytes(repo / "README.md", render_card(recipe, manifest, licenses, repo).encode("utf-8"))
    atomic_write_bytes(repo / MANIFEST_NAME, (json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8"))
