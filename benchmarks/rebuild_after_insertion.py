"""How much of a source a rebuild recomputes when one file is added: a source of N real-size
JATS articles (copies of a bundled sample, each its own article), planned with the default
MedC-K recipe; one file is inserted in the middle of the file order and the plan made again.
Counts the shards whose fingerprint changed (those a rebuild parses again), for files inserted
at several places in turn. No build is run: the plan alone says it.

    uv run python benchmarks/rebuild_after_insertion.py [--files 1000] [--trials 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, SAMPLES  # noqa: E402
from medc.engine.plan import plan  # noqa: E402
from medc.files.storage import Tree  # noqa: E402
from medc.recipes.recipe import load_recipe  # noqa: E402


def fingerprints(recipe, root: Path, cache: str) -> dict[str, tuple[str, int]]:
    """Shard name → (fingerprint, number): a shard whose name and fingerprint are unchanged is
    reused from the cache (its keys rewritten when its number moved)."""
    return {t.name: (t.fingerprint, t.shard_index) for p in plan(recipe, Tree(root), cache) for t in p.tasks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=10, help="files inserted one at a time, each at another place")
    args = ap.parse_args()
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    recipe = load_recipe(REPO / "pipelines" / "medc-k.toml")
    counts: list[int] = []
    moved: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sources" / "pmc_jats"
        folder.mkdir(parents=True)
        for i in range(0, 2 * args.files, 2):  # even numbers: an odd one sorts between two of them
            (folder / f"a{i:07d}.nxml").write_text(raw.replace("Socio-demographic", f"Copy {i}: socio-demographic", 1))
        before = fingerprints(recipe, folder.parent, f"{tmp}/cache")
        for trial in range(args.trials):
            added = folder / f"a{(2 * args.files * (trial + 1) // (args.trials + 1)) | 1:07d}.nxml"
            added.write_text(raw.replace("Socio-demographic", f"Added {trial}: socio-demographic", 1))
            after = fingerprints(recipe, folder.parent, f"{tmp}/cache")
            counts.append(sum(1 for name, (fp, _) in after.items() if before.get(name, ("", 0))[0] != fp))
            moved.append(sum(1 for name, (fp, n) in after.items() if before.get(name, ("", n))[0] == fp and before[name][1] != n))
            added.unlink()
    print(f"{args.files} files in {len(before)} shards ({recipe.files_per_shard} files per shard on average); one file "
          f"inserted at {args.trials} places in turn: shards recomputed mean {statistics.mean(counts):.1f}, "
          f"median {statistics.median(counts):.0f}, max {max(counts)} of {len(before)}; shards whose keys are rewritten "
          f"(no parsing) mean {statistics.mean(moved):.1f}")


if __name__ == "__main__":
    main()
