"""How much of a source a rebuild recomputes when one file is added: a source of N real-size
JATS articles (copies of a bundled sample, each its own article), planned with the default
MedC-K recipe; one file is inserted in the middle of the file order and the plan made again.
Counts the shards whose fingerprint changed (those a rebuild parses again). No build is run:
the plan alone says it.

    uv run python benchmarks/rebuild_after_insertion.py [--files 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, SAMPLES  # noqa: E402
from medc.engine.plan import plan  # noqa: E402
from medc.files.storage import Tree  # noqa: E402
from medc.recipes.recipe import load_recipe  # noqa: E402


def fingerprints(recipe, root: Path, cache: str) -> dict[int, str]:
    return {t.shard_index: t.fingerprint for p in plan(recipe, Tree(root), cache) for t in p.tasks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    recipe = load_recipe(REPO / "pipelines" / "medc-k.toml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sources" / "pmc_jats"
        folder.mkdir(parents=True)
        for i in range(0, 2 * args.files, 2):  # even numbers: an odd one sorts between two of them
            (folder / f"a{i:07d}.nxml").write_text(raw.replace("Socio-demographic", f"Copy {i}: socio-demographic", 1))
        before = fingerprints(recipe, folder.parent, f"{tmp}/cache")
        (folder / f"a{args.files + 1:07d}.nxml").write_text(raw.replace("Socio-demographic", "Added: socio-demographic", 1))
        after = fingerprints(recipe, folder.parent, f"{tmp}/cache")
    changed = sum(1 for shard, fp in after.items() if before.get(shard) != fp)
    print(f"{args.files} files in {len(before)} shards ({recipe.files_per_shard} files per shard); one file inserted in "
          f"the middle: {changed} of {len(after)} shards recomputed ({changed / len(after):.0%})")


if __name__ == "__main__":
    main()
