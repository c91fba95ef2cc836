"""Check a released repo against its build manifest: every listed data file present with its
sha256 and row count, no unlisted data file, every card config pointing at files."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pyarrow.parquet as pq

from medc.errors import UserError
from medc.files.atomic import sha256_file
from medc.release.card import card_licence
from medc.release.manifest import MANIFEST_NAME, Manifest
from medc.release.repo import license_composition


def load_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise UserError(f"{folder}: no {MANIFEST_NAME}; is this a folder written by `python -m medc.build`?")
    return Manifest.load(path)


def verify_folder(folder: Path) -> list[str]:
    """Problems found (empty when the folder matches its manifest)."""
    from huggingface_hub import DatasetCard  # huggingface_hub takes a second to import

    manifest = load_manifest(folder)
    problems: list[str] = []
    listed = set()
    for out in manifest.all_outputs():
        path = folder / out.path
        listed.add(out.path)
        if not path.is_file():
            problems.append(f"{out.path}: missing")
            continue
        digest = sha256_file(path)
        if digest != out.sha256:
            problems.append(f"{out.path}: sha256 {digest[:12]}… differs from the manifest's {out.sha256[:12]}…")
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # a corrupted file is a finding, not a crash
            problems.append(f"{out.path}: not a readable parquet file ({exc})")
            continue
        if rows != out.rows:
            problems.append(f"{out.path}: {rows} rows, the manifest says {out.rows}")
    data = folder / "data"
    for path in sorted(data.rglob("*.parquet")) if data.is_dir() else []:
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    # Licences are read from the data only when the data files are the manifest's.
    licences = None if problems else license_composition(folder, manifest.released_configs())
    if licences is not None and manifest.licenses != licences:
        problems.append(f"{MANIFEST_NAME}: its licence table {manifest.licenses} differs from the data's {licences}")
    card_path = folder / "README.md"
    if not card_path.is_file():
        problems.append("README.md: missing")
    else:
        try:
            card = DatasetCard.load(card_path)
        except Exception as exc:  # broken YAML is a finding, not a crash
            return problems + [f"README.md: unreadable card metadata ({str(exc).splitlines()[0]})"]
        stated = {k: card.data.to_dict().get(k) for k in ("license", "license_name", "license_details")}
        expected = card_licence(licences or {})
        if licences is not None and {k: v for k, v in stated.items() if v is not None} != expected:
            problems.append(f"README.md: the card's licence {stated['license']!r} does not match the data ({expected['license']!r})")
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        for config in card.data.to_dict().get("configs", []):
            for entry in config.get("data_files", []):
                patterns = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
                for pattern in patterns:
                    if not fnmatch.filter(files, pattern):
                        problems.append(f"README.md: config {config['config_name']!r} points at {pattern}, which matches no file")
    return problems


def fetch(repo_id: str, revision: str | None) -> Path:
    """A Hub dataset repo downloaded (network needed)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision))
    except Exception as exc:  # offline, unknown repo, HTTP errors: the Hub client's have no common base
        line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{repo_id}: cannot download the dataset repo ({type(exc).__name__}: {line[:300]})") from None
