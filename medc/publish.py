"""`python -m medc.publish medc-i --repo-id ORG/NAME`: push a built repo to the Hugging Face Hub.

Before anything is sent: the folder is verified against its manifest, the licence gate
refuses rows that may not be redistributed (clinical notes, UMLS content, research-only
or unknown licences) unless `--allow-license NAME` is given, and the card is validated
(YAML round trip through `huggingface_hub.DatasetCard`, every config pointing at files).
Then the repo is created if needed and the whole folder is uploaded in one commit whose
message carries the manifest's sha256 (very large folders go through
`upload_large_folder`). The token comes from `HF_TOKEN` or the stored login; `HF_ENDPOINT`
is honoured. `--dry-run` needs no network: it runs every check and prints the upload plan.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medc import __version__
from medc.errors import UserError
from medc.licenses import redistribution_problem
from medc.repo import MANIFEST_NAME

LARGE_FOLDER_BYTES = 50 * 1024**3  # above this, or above LARGE_FOLDER_FILES, use upload_large_folder
LARGE_FOLDER_FILES = 2_000
PUBLISHED = ("README.md", MANIFEST_NAME, "length_distribution.png", "data/**/*.parquet")


@dataclass(frozen=True)
class PlannedFile:
    path_in_repo: str
    local_path: Path
    size: int


def resolve_folder(target: str, out: Path) -> Path:
    folder = Path(target)
    if not folder.is_dir():
        folder = out / target
    if not (folder / MANIFEST_NAME).is_file():
        raise UserError(f"{target}: no built repo here (no {MANIFEST_NAME}); run `python -m medc.build all` first")
    return folder


def licence_gate(manifest: dict[str, Any], allowed: set[str]) -> list[tuple[str, str, int, str]]:
    """(source, licence, rows, why) for every licence whose rows may not be published."""
    refusals = []
    for source, per in sorted(manifest.get("licenses", {}).items()):
        for lic, n in sorted(per.items()):
            why = redistribution_problem(lic)
            if why and lic not in allowed:
                refusals.append((source, lic, n, why))
    return refusals


def validate_card(folder: Path) -> dict[str, Any]:
    """Round-trip the card's YAML through huggingface_hub; return its metadata."""
    import yaml
    from huggingface_hub import DatasetCard, DatasetCardData

    text = (folder / "README.md").read_text(encoding="utf-8")
    raw = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    if not isinstance(raw, dict):
        raise UserError(f"{folder / 'README.md'}: no YAML front matter")
    card = DatasetCard(text)
    data = card.data.to_dict()
    again = DatasetCardData(**data).to_dict()
    if again != data or {k: v for k, v in raw.items()} != data:
        raise UserError(f"{folder / 'README.md'}: the YAML metadata does not round-trip through huggingface_hub")
    for key in ("license", "configs", "pretty_name", "language", "task_categories", "size_categories"):
        if not data.get(key):
            raise UserError(f"{folder / 'README.md'}: the card has no {key!r}")
    return data


def plan_upload(folder: Path) -> list[PlannedFile]:
    files: dict[str, Path] = {}
    for pattern in PUBLISHED:
        for p in sorted(folder.glob(pattern)):
            if p.is_file():
                files[p.relative_to(folder).as_posix()] = p
    return [PlannedFile(rel, p, p.stat().st_size) for rel, p in sorted(files.items())]


def commit_operations(plan: list[PlannedFile], remote_files: list[str] | None = None) -> list[Any]:
    """The operations of the single upload commit: add every planned file, and delete the
    remote data files of an earlier release that this build no longer has."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    ops: list[Any] = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.local_path)) for f in plan]
    keep = {f.path_in_repo for f in plan}
    for remote in sorted(remote_files or []):
        if remote.startswith("data/") and remote not in keep:
            ops.append(CommitOperationDelete(path_in_repo=remote))
    return ops


def commit_message(folder: Path, manifest: dict[str, Any]) -> str:
    digest = hashlib.sha256((folder / MANIFEST_NAME).read_bytes()).hexdigest()
    return f"{manifest['dataset']}: {manifest['totals']['rows']} rows, medc {__version__}, manifest sha256 {digest}"


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def upload(folder: Path, plan: list[PlannedFile], repo_id: str, private: bool, revision: str | None, message: str) -> str:
    from huggingface_hub import HfApi, get_token

    token = get_token()  # HF_TOKEN, or the token saved by `hf auth login`
    if not token:
        raise UserError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
    api = HfApi(token=token)  # the endpoint follows HF_ENDPOINT
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    total = sum(f.size for f in plan)
    if total > LARGE_FOLDER_BYTES or len(plan) > LARGE_FOLDER_FILES:
        api.upload_large_folder(repo_id=repo_id, folder_path=folder, repo_type="dataset", revision=revision,
                                private=private, allow_patterns=[f.path_in_repo for f in plan])
        return f"https://huggingface.co/datasets/{repo_id}"
    remote = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
    info = api.create_commit(repo_id, repo_type="dataset", operations=commit_operations(plan, remote),
                             commit_message=message, revision=revision)
    return str(info.commit_url)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medc.publish", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="the built repo: medc-k, medc-i, or a folder path")
    ap.add_argument("--repo-id", required=True, help="Hub dataset id, ORG/NAME")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder holding the built repos (default: .)")
    ap.add_argument("--private", action="store_true", help="create the Hub repo as private")
    ap.add_argument("--revision", default=None, help="branch to commit to (created if needed)")
    ap.add_argument("--allow-license", action="append", default=[], metavar="NAME",
                    help="publish rows under this otherwise refused licence (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="check everything and print the upload plan; send nothing")
    args = ap.parse_args(argv)
    try:
        import json

        from medc.verify import verify_folder

        if args.repo_id.count("/") != 1:
            raise UserError(f"--repo-id {args.repo_id!r} is not of the form ORG/NAME")
        folder = resolve_folder(args.dataset, args.out)
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        problems = verify_folder(folder)
        if problems:
            raise UserError(f"{folder} does not match its manifest ({problems[0]}); rebuild it before publishing")
        refusals = licence_gate(manifest, set(args.allow_license))
        if refusals:
            names = sorted({lic for _, lic, _, _ in refusals})
            raise UserError(
                f"refusing to publish {manifest['dataset']}: "
                + "; ".join(f"source {src!r} has {n} row(s) under {lic!r} ({why})" for src, lic, n, why in refusals)
                + ". `build` keeps such rows for local training; leave the source out of the recipe, or pass "
                + " ".join(f"--allow-license {n}" for n in names) + " if you have the right to publish them"
            )
        validate_card(folder)
        plan = plan_upload(folder)
        message = commit_message(folder, manifest)
        print(f"{'dry run: would upload' if args.dry_run else 'uploading'} {len(plan)} files "
              f"({human(sum(f.size for f in plan))}) from {folder} to datasets/{args.repo_id}"
              f"{' @ ' + args.revision if args.revision else ''}{' (private)' if args.private else ''}")
        for f in plan:
            print(f"  {f.size:>14,}  {f.path_in_repo}")
        print(f"commit message: {message}")
        if args.dry_run:
            return 0
        url = upload(folder, plan, args.repo_id, args.private, args.revision, message)
        print(f"published: {url}")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
