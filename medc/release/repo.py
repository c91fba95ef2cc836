"""Write the Hugging Face dataset repo around its parquet data: the licence composition,
the figure, the card and the manifest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl

from medc.files.atomic import atomic_write_text
from medc.recipes.recipe import Recipe
from medc.release.card import Licences, render_card
from medc.release.figure import FIGURE_NAME, write_figure
from medc.release.manifest import MANIFEST_NAME, Manifest


def license_composition(repo: Path, configs: list[str]) -> Licences:
    """Rows per source and licence, read from the released parquet files themselves."""
    files = [str(p) for c in configs for p in sorted((repo / "data" / c).glob("*.parquet"))]
    if not files:
        return {}
    counts = pl.scan_parquet(files).group_by("source", "license").len().sort("source", "license").collect()
    out: Licences = {}
    for source, lic, n in counts.iter_rows():
        out.setdefault(source, {})[lic] = n
    return out


RELEASE_NAMES = frozenset({"README.md", MANIFEST_NAME, FIGURE_NAME, "data"})  # what a build writes in a repo


def swap_in(staging: Path, repo: Path) -> None:
    """Make `repo` the release written in `staging`, by two renames (a reader never sees half a
    release, and a build that failed before this left the old one whole). Files of the old
    folder that a build does not write (a `.git` folder, `.gitattributes`) move over."""
    repo.parent.mkdir(parents=True, exist_ok=True)
    old = repo.with_name(f".{repo.name}.old-{os.getpid()}")
    if repo.exists():
        os.replace(repo, old)
    os.replace(staging, repo)
    if old.exists():
        for item in old.iterdir():
            if item.name not in RELEASE_NAMES:
                os.replace(item, repo / item.name)
        shutil.rmtree(old)


def write_repo(recipe: Recipe, repo: Path, manifest: Manifest) -> None:
    """The card, figure and manifest (with its licence table) of a repo whose data is written."""
    repo.mkdir(parents=True, exist_ok=True)
    licenses = license_composition(repo, manifest.released_configs())
    manifest.licenses = licenses
    figure = write_figure(manifest, repo / FIGURE_NAME)
    if not figure and (repo / FIGURE_NAME).exists():
        (repo / FIGURE_NAME).unlink()
    atomic_write_text(repo / "README.md", render_card(recipe, manifest, licenses, repo, figure))
    atomic_write_text(repo / MANIFEST_NAME, manifest.dumps())
