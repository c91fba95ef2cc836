"""`python -m medc.build all | medc-k | medc-i`: build the dataset repos from raw sources.

Reads the recipe(s) in `pipelines/`, parses the sources under `--sources` (default: the
bundled `samples/`), and writes Hugging Face dataset repos under `--out` (default: the
working directory). Exit status: 0 on success, 1 when the error budget is exceeded,
2 on a usage error (bad path, recipe key, option).
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from medc.cli import command
from medc.engine.driver import BuildResult, build_dataset
from medc.engine.executors import default_workers, make_executor
from medc.engine.plan import source_patterns
from medc.engine.progress import Progress
from medc.errors import NothingToBuild, UserError
from medc.files.bundled import SAMPLES_DIR
from medc.files.storage import Tree, is_url
from medc.recipes.recipe import Recipe, default_recipe_path, load_recipe
from medc.release.manifest import MANIFEST_NAME

DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG}  # the machine's, not the inputs'
TARGETS = {"all": ("medc-k", "medc-i"), "medc-k": ("medc-k",), "medc-i": ("medc-i",)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m medc.build",
        description="Build the MedC-K / MedC-I Hugging Face dataset repos from raw sources.",
    )
    p.add_argument("target", choices=sorted(TARGETS), help="which dataset(s) to build")
    p.add_argument(
        "--sources", default=None,
        help="root folder of the raw sources, laid out like samples/ (pmc_jats/, pubmedqa/, ...), or an fsspec URL "
             "(s3://bucket/medc-sources, gs://..., file:///...); default: the bundled samples/",
    )
    p.add_argument("--out", default=".",
                   help="where the repos (medc-k/, medc-i/) are written: a folder (default: .) or an fsspec URL")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="with a URL --out: the driver's local folder for shard copies and the repo before upload "
                        "(default: under $MEDC_STAGE_DIR or the system temp folder)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"worker processes (default: all cores, here {default_workers()}); with --executor ray: tasks in flight (default: the cluster's CPUs)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray tasks on a local Ray instance or a cluster")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: 'auto' or HOST:PORT of a running cluster (`ray start --head`); default: start a local Ray instance")
    p.add_argument(
        "--recipe", type=Path, action="append", default=None,
        help="recipe TOML to use instead of pipelines/<dataset>.toml (repeat for 'all': matched by dataset name)",
    )
    p.add_argument("--error-budget", type=float, default=None, help="fraction of bad inputs (files + records) tolerated before exit 1; default: the recipe's")
    p.add_argument("--keep-dropped", action="store_true",
                   help="also write every dropped row, with the step and reason, to <out>/<dataset>-dropped/<source>.parquet")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="write a cProfile of the map stage to DIR/<dataset>/: one .prof per shard computed, and "
                        "map_profile.txt (the costliest functions over all shards); cached shards are not profiled")
    p.add_argument("--strict", action="store_true",
                   help="a source folder that exists but holds no matching file is an error, not a warning")
    return p.parse_args(argv)


def summary_table(result: BuildResult) -> str:
    m = result.manifest
    lines = [f"{m.dataset}  ->  {result.location or result.repo}"]
    warnings: list[str] = []
    lines.append(f"  {'source':<18}{'files':>7}{'records':>9}{'built':>8}{'out':>8}{'errors':>8}  dropped / skipped")
    for name, s in m.sources.items():
        if not s.built:
            why = {"absent": "folder absent", "references": "benchmark test files only"}.get(s.status, "no matching files")
            lines.append(f"  {name:<18}{'-':>7}{'-':>9}{'-':>8}{'-':>8}{'-':>8}  not built: {why}")
            spec = next(spec for spec in result.recipe.sources if spec.name == name)
            if s.status == "empty":
                warnings.append(f"  WARNING: source {name!r}: folder {s.dir}/ exists but holds no file matching "
                                f"{', '.join(source_patterns(spec))}")
            continue
        why_counts = dict(s.skipped)
        for st in s.steps:
            for reason, n in st.dropped.items():
                why_counts[f"{st.step}: {reason}"] = n
        why_text = ", ".join(f"{k}={v}" for k, v in why_counts.items()) or "-"
        if s.info:
            why_text += "  (read into other rows: " + ", ".join(f"{k}={v}" for k, v in s.info.items()) + ")"
        lines.append(f"  {name:<18}{s.files:>7}{s.records:>9}{s.rows_built:>8}{s.rows:>8}{s.failed_files + s.record_errors:>8}  {why_text}")
    t = m.totals
    lines.append(f"  {'total':<18}{t.files:>7}{t.records:>9}{t.rows_built:>8}{t.rows:>8}{t.failed_files + t.record_errors:>8}")
    if result.shards:
        lines.append("  shards: " + ", ".join(f"{n} {what}" for what, n in result.shards.items()))
    lines += warnings
    for e in m.errors[:20]:
        rec = f" [{e.record}]" if e.record else ""
        lines.append(f"  error: {e.source}: {e.file}{rec}: {e.reason}")
    if len(m.errors) > 20:
        lines.append(f"  ... {len(m.errors) - 20} more errors in {result.location or result.repo}/{MANIFEST_NAME}")
    for name, why in m.unchecked_benchmarks().items():
        lines.append(f"  {'WARNING' if why.startswith('benchmark') else 'note'}: decontamination against {name} NOT CHECKED: {why}")
    b = m.error_budget
    assert b is not None
    state = "EXCEEDED" if b.exceeded else "ok"
    lines.append(f"  error rate {b.error_rate:.2%} (budget {b.budget:.2%}): {state}; {m.timings['total_seconds']:.1f}s")
    return "\n".join(lines)


def source_root(given: str | None) -> str | Path:
    """`--sources` checked: a URL with files under it, or an existing folder (default: samples/)."""
    sources: str | Path = given if given is not None else SAMPLES_DIR
    if is_url(sources):
        if not Tree(sources).files:  # listed now: a missing folder or filesystem is a usage error
            raise UserError(f"--sources {sources}: no files there")
        return sources
    sources = Path(sources).resolve()
    if not sources.is_dir():
        raise UserError(f"--sources {given}: no such folder")
    return sources


def check_options(args: argparse.Namespace) -> None:
    if args.work_dir is not None and not is_url(args.out):
        raise UserError("--work-dir is for a URL --out (a local --out is the work folder)")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.error_budget is not None and not 0 <= args.error_budget <= 1:
        raise UserError("--error-budget is a fraction between 0 and 1")
    if args.ray_address and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray")


def recipes_for(target: str, paths: list[Path]) -> dict[str, Recipe]:
    """The recipe of each dataset of the target: `--recipe` files matched by dataset name, else pipelines/<dataset>.toml."""
    datasets = TARGETS[target]
    recipes = {}
    for path in paths:
        r = load_recipe(path)
        if r.name not in datasets:
            raise UserError(f"recipe {path} builds {r.name!r}, which is not part of target {target!r}")
        recipes[r.name] = r
    return {name: recipes.get(name) or load_recipe(default_recipe_path(name)) for name in datasets}


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        datasets = TARGETS[args.target]
        recipes = recipes_for(args.target, args.recipe or [])
        sources = source_root(args.sources)
        out: str | Path = args.out if is_url(args.out) else Path(args.out).resolve()
        if isinstance(out, Path) and out.exists() and not out.is_dir():
            raise UserError(f"--out {args.out}: a file, not a folder")
        check_options(args)
        label = "bundled samples/" if args.sources is None else "user-supplied (--sources)"
        executor = make_executor(args.executor, args.workers, args.ray_address)
        progress = Progress(enabled=not args.quiet)
        exceeded = False
        built = 0
        for name in datasets:
            try:
                result = build_dataset(
                    recipes[name], sources, out, workers=args.workers,
                    error_budget=args.error_budget, progress=progress, sources_label=label,
                    keep_dropped=args.keep_dropped, executor=executor, work_dir=args.work_dir, strict=args.strict,
                    profile_dir=args.profile.resolve() if args.profile else None,
                )
            except NothingToBuild as exc:
                if len(datasets) == 1:
                    raise
                progress.notice(f"{exc}; {name} not built")
                continue
            built += 1
            print(summary_table(result))
            exceeded |= result.budget_exceeded
        if not built:
            raise UserError(f"nothing to build: no source of {', '.join(datasets)} found under {sources}")
        return 1 if exceeded else 0
    except KeyboardInterrupt:
        print("interrupted: completed shards are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        print(f"error: {exc.strerror} ({exc.filename or 'output'}): completed shards are kept, the last release is unchanged; "
              "make room and rerun the same command", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
