"""Where the files that ship with medc live: recipes, card templates and the sample sources."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
PIPELINES_DIR = REPO_ROOT / "pipelines"
SAMPLES_DIR = REPO_ROOT / "samples"
CARDS_DIR = REPO_ROOT / "cards"
