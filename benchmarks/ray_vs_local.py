"""Build throughput of the MedC-K recipe: local executor vs Ray on the same machine.

A synthetic corpus of JATS articles is written once: each article's body is a random draw
of real sentences from the bundled samples (so articles are distinct and near-dedup has
real work), with its own PMCID. The default MedC-K recipe builds it, from an empty output
folder each time, with the local executor and with Ray (a local Ray instance started here
with `ray.init(num_cpus=2)`), at 1 and 2 workers. Reported: documents/s of the whole build
(map + global + write), the Ray/local ratio per worker count, and the 2-vs-1 worker scaling;
then Ray at 2 workers with `--sources` / `--out` given as `file://` URLs, so that inputs are
staged per task and shards and the repo go through fsspec (the object-store path).

    uv run python benchmarks/ray_vs_local.py --docs 4000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import sentences  # noqa: E402

ARTICLE = """<?xml version="1.0" encoding="UTF-8"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article"><front>
<journal-meta><journal-title-group><journal-title>Synthetic Journal</journal-title></journal-title-group></journal-meta>
<article-meta><article-id pub-id-type="pmc">{pmc}</article-id><title-group><article-title>{title}</article-title></title-group>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"><license-p>CC BY 4.0</license-p></license></permissions>
<abstract><p>{abstract}</p></abstract></article-meta></front>
<body>{sections}</body></article>
"""


def write_corpus(root: Path, n: int, seed: int = 0) -> None:
    pool = sentences()
    rng = random.Random(seed)
    folder = root / "pmc_jats"
    folder.mkdir(parents=True)
    for i in range(n):
        secs = []
        for s in range(rng.randint(3, 6)):
            paras = "".join(f"<p>{escape(' '.join(rng.sample(pool, rng.randint(3, 7))))}</p>" for _ in range(rng.randint(2, 4)))
            secs.append(f"<sec><title>Section {s + 1}</title>{paras}</sec>")
        doc = ARTICLE.format(pmc=8000000 + i, title=escape(rng.choice(pool)[:120]),
                             abstract=escape(" ".join(rng.sample(pool, 5))), sections="".join(secs))
        (folder / f"PMC{8000000 + i}.nxml").write_text(doc, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=4000)
    args = ap.parse_args()
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    from medc.engine.executors import LocalExecutor, RayExecutor
    from medc.engine.driver import build_dataset
    from medc.recipes.recipe import default_recipe_path, load_recipe

    recipe = load_recipe(default_recipe_path("medc-k"))
    work = Path(tempfile.mkdtemp(prefix="medc-ray-bench-"))
    try:
        write_corpus(work / "sources", args.docs)
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        results: dict[tuple[str, int], float] = {}
        rows = None
        for workers in (1, 2):
            for kind in ("local", "ray"):
                out = work / f"out-{kind}-{workers}"
                executor = LocalExecutor(workers) if kind == "local" else RayExecutor(workers=workers)
                t0 = time.perf_counter()
                res = build_dataset(recipe, work / "sources", out, executor=executor)
                results[(kind, workers)] = time.perf_counter() - t0
                rows = res.manifest["totals"]["rows"]
                shutil.rmtree(out)
                print(f"{kind:>5} workers={workers}: {results[(kind, workers)]:7.1f} s  {args.docs / results[(kind, workers)]:7.1f} docs/s"
                      f"  (map {res.manifest['timings']['map_seconds']:.1f} s, rows out {rows})", flush=True)
        # The same Ray build with --sources / --out as fsspec URLs (file://): every task stages
        # its inputs and uploads its shard through fsspec; the driver fetches and uploads.
        t0 = time.perf_counter()
        res = build_dataset(recipe, f"file://{work}/sources", f"file://{work}/out-url", executor=RayExecutor(workers=2),
                            work_dir=work / "url-work")
        results[("ray-url", 2)] = time.perf_counter() - t0
        print(f"ray workers=2, file:// URLs: {results[('ray-url', 2)]:7.1f} s  {args.docs / results[('ray-url', 2)]:7.1f} docs/s"
              f"  (map {res.manifest['timings']['map_seconds']:.1f} s, rows out {res.manifest['totals']['rows']})", flush=True)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for workers in (1, 2):
        print(f"Ray / local throughput at {workers} worker(s): {results[('local', workers)] / results[('ray', workers)]:.2f}x")
    for kind in ("local", "ray"):
        print(f"{kind}: 2 workers vs 1: {results[(kind, 1)] / results[(kind, 2)]:.2f}x")
    print(f"Ray 2 workers, fsspec URLs / paths throughput: {results[('ray', 2)] / results[('ray-url', 2)]:.2f}x")


if __name__ == "__main__":
    main()
