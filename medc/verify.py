"""`python -m medc.verify DIR_OR_REPO`: check a released repo against its build manifest.

Recomputes the sha256 and row count of every parquet file the manifest lists, reports any
missing, modified or unlisted data file, and checks that every config in the card points
at files that exist. A Hub id (`ORG/NAME`) is downloaded first (network needed).
Exit status: 0 when everything matches, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from medc.errors import UserError
from medc.repo import MANIFEST_NAME


def manifest_outputs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    outs = [o for c in manifest.get("configs", {}).values() for o in c.get("outputs", [])]
    return outs + list(manifest.get("commercial", {}).get("outputs", []))


def verify_folder(folder: Path) -> list[str]:
    """Problems found (empty when the folder matches its manifest)."""
    from huggingface_hub import DatasetCard

    from medc.pipeline import sha256_file

    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise UserError(f"{folder}: no {MANIFEST_NAME}; is this a folder written by `python -m medc.build`?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems: list[str] = []
    listed = set()
    for out in manifest_outputs(manifest):
        path = folder / out["path"]
        listed.add(out["path"])
        if not path.is_file():
            problems.append(f"{out['path']}: missing")
            continue
        digest = sha256_file(path)
        if digest != out["sha256"]:
            problems.append(f"{out['path']}: sha256 {digest[:12]}… differs from the manifest's {out['sha256'][:12]}…")
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # a corrupted file is a finding, not a crash
            problems.append(f"{out['path']}: not a readable parquet file ({exc})")
            continue
        if rows != out["rows"]:
            problems.append(f"{out['path']}: {rows} rows, the manifest says {out['rows']}")
    data = folder / "data"
    for path in sorted(data.rglob("*.parquet")) if data.is_dir() else []:
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    card_path = folder / "README.md"
    if not card_path.is_file():
        problems.append("README.md: missing")
    else:
        card = DatasetCard.load(card_path)
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        for config in card.data.to_dict().get("configs", []):
            for entry in config.get("data_files", []):
                patterns = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
                for pattern in patterns:
                    if not fnmatch.filter(files, pattern):
                        problems.append(f"README.md: config {config['config_name']!r} points at {pattern}, which matches no file")
    return problems


def fetch(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medc.verify", description=__doc__.splitlines()[0])
    ap.add_argument("target", help="a repo folder (e.g. medc-k) or a Hub dataset id (ORG/NAME)")
    ap.add_argument("--revision", default=None, help="Hub branch or commit, with a Hub id")
    args = ap.parse_args(argv)
    try:
        folder = Path(args.target)
        if not folder.is_dir():
            if args.target.count("/") != 1:
                raise UserError(f"{args.target}: no such folder, and not a Hub id of the form ORG/NAME")
            folder = fetch(args.target, args.revision)
        problems = verify_folder(folder)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    n = len(manifest_outputs(manifest))
    if problems:
        for p in problems:
            print(f"MISMATCH {p}")
        print(f"{args.target}: {len(problems)} problem(s) in {n} listed data files")
        return 1
    print(f"{args.target}: OK, {n} data files match the manifest ({manifest['totals']['rows']} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
