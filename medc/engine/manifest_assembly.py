"""The build manifest assembled from what the stages report: per source its files, records,
errors and steps (map steps from the shard reports, then the driver's steps), per config
its data files, the totals and the mixture."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from medc import __version__
from medc.engine.plan import SourcePlan
from medc.engine.write_stage import COMMERCIAL_CONFIG
from medc.files.atomic import sha256_file
from medc.recipes.recipe import Recipe
from medc.release.manifest import (CommercialOutputs, ConfigOutputs, GlobalStepReport, InputError, InputFile,
                                   LengthHistogram, Manifest, OutputFile, RecipeInfo, SourceEntry, StepCount, Throughput,
                                   Totals)
from medc.release.mixture import mixture_report


def map_step_counts(reports: list[dict[str, Any]]) -> list[StepCount]:
    """The map steps' counts of a source, summed over its shards."""
    steps: list[StepCount] = []
    for r in reports:
        for i, s in enumerate(r["steps"]):
            if len(steps) <= i:
                steps.append(StepCount(s["step"], 0, 0, {}))
            steps[i].rows_in += s["in"]
            steps[i].rows_out += s["out"]
            dropped = Counter(steps[i].dropped)
            dropped.update(s["dropped"])
            steps[i].dropped = dict(dropped)
            if s.get("audit"):
                steps[i].audit = dict(Counter(steps[i].audit or {}) + Counter(s["audit"]))
    for s in steps:
        s.dropped = dict(sorted(s.dropped.items()))
    return steps


def driver_step_counts(source: str, rows_after_map: int, global_reports: list[GlobalStepReport]) -> list[StepCount]:
    """The driver's steps (filters, unique ids, global steps) seen from one source."""
    counts, remaining = [], rows_after_map
    for g in global_reports:
        dropped = g.dropped.get(source, {})
        n = sum(dropped.values())
        counts.append(StepCount(g.step, remaining, remaining - n, dropped))
        remaining -= n
    return counts


def source_entry(p: SourcePlan, reports: list[dict[str, Any]], global_reports: list[GlobalStepReport],
                 stats: dict[str, Any] | None) -> SourceEntry:
    files = [f for r in reports for f in r["files"]]
    skipped: Counter[str] = Counter()
    info: Counter[str] = Counter()
    for f in files:
        skipped.update(f["skipped"])
        info.update(f.get("info", {}))
    stats = stats or {"rows": 0, "words": 0, "length_histogram": LengthHistogram()}
    steps = map_step_counts(reports) + driver_step_counts(p.spec.name, sum(r["rows"] for r in reports), global_reports)
    return SourceEntry(
        builder=p.spec.builder, dir="" if p.spec.hub else p.spec.dir, status=p.status, hub=p.spec.hub or None,
        files=len(files),
        failed_files=sum(f["failed"] for f in files),
        records=sum(f["records"] for f in files),
        record_errors=sum(len(f["errors"]) for f in files if not f["failed"]),
        skipped=dict(sorted(skipped.items())),
        rows_built=sum(r["rows_built"] for r in reports),
        steps=steps,
        config=p.spec.config,
        rows=stats["rows"],
        words=stats["words"],
        tokens=stats.get("tokens"),
        weighted_words=stats.get("weighted_words"),
        length_histogram=stats["length_histogram"],
        info=dict(sorted(info.items())),
    )


def stage_throughput(reports: list[dict[str, Any]]) -> dict[str, Throughput]:
    """Per stage of one source's map work, summed over its shards: parse (documents built, MB of
    input files), each map step (documents in, MB of text built) and each global step's
    signatures (documents after the map steps, MB of text built)."""
    totals: dict[str, list[float]] = {}  # stage -> [seconds, documents, megabytes]
    for r in reports:
        if "stage_seconds" not in r:  # a marker from before stages were timed
            continue
        step_in = {st["step"]: st["in"] for st in r["steps"]}
        for stage, secs in r["stage_seconds"].items():
            docs = r["rows_built"] if stage == "parse" else step_in.get(stage, r["rows"])
            megabytes = (r["input_bytes"] if stage == "parse" else r["text_bytes"]) / 1e6
            t = totals.setdefault(stage, [0.0, 0, 0.0])
            t[0], t[1], t[2] = t[0] + secs, t[1] + docs, t[2] + megabytes
    return {stage: Throughput(round(secs, 4), int(docs), round(mb, 3), round(docs / secs, 1) if secs else 0.0,
                              round(mb / secs, 3) if secs else 0.0)
            for stage, (secs, docs, mb) in totals.items()}


def described_outputs(repo: Path, config: str, written: list[dict[str, Any]]) -> list[OutputFile]:
    outputs = []
    for o in written:
        path = repo / "data" / config / o["file"]
        outputs.append(OutputFile(f"data/{config}/{o['file']}", o["rows"], path.stat().st_size, sha256_file(path)))
    return outputs


def assemble_manifest(
    recipe: Recipe,
    plans: list[SourcePlan],
    shard_reports: dict[tuple[str, int], dict[str, Any]],
    global_reports: list[GlobalStepReport],
    written: dict[str, list[dict[str, Any]]],
    repo: Path,
    timings: dict[str, float],
    sources_label: str,
    stats: dict[str, dict[str, Any]],
    config_sources: dict[str, list[str]],
) -> Manifest:
    inputs: list[InputFile] = []
    errors: list[InputError] = []
    sources: dict[str, SourceEntry] = {}
    totals = Totals()
    throughput: dict[str, dict[str, Throughput]] = {}
    for p in plans:
        if p.status != "ok":
            sources[p.spec.name] = SourceEntry(p.spec.builder, p.spec.dir, p.status)
            continue
        reports = [shard_reports[(p.spec.name, t.shard_index)] for t in p.tasks]
        throughput[p.spec.name] = stage_throughput(reports)
        for f in (f for r in reports for f in r["files"]):
            inputs.append(InputFile(p.spec.name, f["path"], f["sha256"], f["bytes"], f["records"], f["rows"], f["skipped"], f["failed"]))
            errors.extend(InputError(p.spec.name, e["file"], e["record"], e["reason"]) for e in f["errors"])
        entry = sources[p.spec.name] = source_entry(p, reports, global_reports, stats.get(p.spec.name))
        for rel, why in p.refused:  # never read: counted as failed files
            errors.append(InputError(p.spec.name, rel, "", why))
            entry.files += 1
            entry.failed_files += 1
        for k in ("files", "failed_files", "records", "record_errors", "rows_built", "rows"):
            setattr(totals, k, getattr(totals, k) + getattr(entry, k))
    # Reference files of global steps (benchmark test sets) that could not be read.
    for g in global_reports:
        for name, b in (g.report or {}).get("benchmarks", {}).items():
            if "error" in b:
                path = b["files"][0]["path"] if b["files"] else name
                errors.append(InputError(f"({g.step})", path, "", b["error"]))
                totals.files += 1
                totals.failed_files += 1
    configs = {}
    for config, names in config_sources.items():
        outputs = described_outputs(repo, config, written.get(config, []))
        configs[config] = ConfigOutputs(names, sum(o.rows for o in outputs), outputs)
    commercial = described_outputs(repo, COMMERCIAL_CONFIG, written.get(COMMERCIAL_CONFIG, []))
    return Manifest(
        dataset=recipe.name,
        configs=configs,
        commercial=CommercialOutputs(sum(o.rows for o in commercial), commercial),
        kind=recipe.kind,
        medc_version=__version__,
        recipe=RecipeInfo(recipe.path.name, recipe.sha256, recipe.raw),
        sources_root=sources_label,
        sources=sources,
        global_steps=global_reports,
        mixture=mixture_report(recipe.mixture, sources),
        totals=totals,
        inputs=inputs,
        errors=errors,
        timings=timings,
        throughput=throughput,
    )
