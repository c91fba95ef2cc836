"""Publishing a built repo to the Hugging Face Hub: the licence gate, the card check, the
upload plan and the single upload commit (`python -m medc.publish` is the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medc import __version__
from medc.errors import UserError
from medc.files.atomic import sha256_file
from medc.ingest.builder import builder_class, is_redacted
from medc.release.figure import FIGURE_NAME
from medc.release.manifest import MANIFEST_NAME, Manifest
from medc.release.repo import license_composition
from medc.text.licenses import redistribution_problem

LARGE_FOLDER_BYTES = 50 * 1024**3  # above this, or above LARGE_FOLDER_FILES, use upload_large_folder
LARGE_FOLDER_FILES = 2_000
PUBLISHED = ("README.md", MANIFEST_NAME, FIGURE_NAME, "data/**/*.parquet")


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


def licence_gate(folder: Path, manifest: Manifest, allowed: set[str]) -> list[tuple[str, str, int, str]]:
    """(source, licence, rows, why) for every licence whose rows may not be published, read
    from the data files themselves (not from the manifest): only licences on the allow-list
    pass (`medc.text.licenses.may_redistribute`), or those named in `allowed`."""
    refusals = []
    for source, per in sorted(license_composition(folder, manifest.released_configs()).items()):
        for lic, n in sorted(per.items()):
            why = redistribution_problem(lic)
            if why and lic not in allowed:
                refusals.append((source, lic, n, why))
    return refusals


def confidential_leaks(manifest: Manifest) -> list[str]:
    """Errors reported for a confidential source (clinical notes) whose reason is not one of
    its builder's fixed phrases: they may quote the notes, and the card shows them."""
    leaks = []
    for e in manifest.errors:
        entry = manifest.sources.get(e.source)
        public = builder_class(entry.builder).public_reasons if entry is not None else None
        if public is not None and not is_redacted(e.reason, public):
            leaks.append(f"{e.source}: {e.file}")
    return leaks


def validate_card(folder: Path) -> dict[str, Any]:
    """Round-trip the card's YAML through huggingface_hub; return its metadata."""
    from huggingface_hub import DatasetCard, DatasetCardData  # huggingface_hub takes a second to import

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


def commit_message(folder: Path, manifest: Manifest) -> str:
    digest = sha256_file(folder / MANIFEST_NAME)
    return f"{manifest.dataset}: {manifest.totals.rows} rows, medc {__version__}, manifest sha256 {digest}"


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def hub_error(what: str, exc: Exception, token: str | None = None) -> UserError:
    """A Hub or network failure as one line (its first line), the token never in it."""
    line = (str(exc).splitlines() or [type(exc).__name__])[0]
    if token:
        line = line.replace(token, "***")
    return UserError(f"{what}: {type(exc).__name__}: {line[:300]}")


def upload(folder: Path, plan: list[PlannedFile], repo_id: str, private: bool, revision: str | None, message: str) -> str:
    """The planned files in one commit (large folders through `upload_large_folder`); a Hub or
    network failure is a one-line `UserError`."""
    from huggingface_hub import get_token

    token = get_token()  # HF_TOKEN, or the token saved by `hf auth login`
    if not token:
        raise UserError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
    try:
        return _upload(folder, plan, repo_id, private, revision, message, token)
    except Exception as exc:  # the Hub client's HTTP, connection and timeout errors have no common base
        raise hub_error(f"upload to datasets/{repo_id} failed", exc, token) from None


def _upload(folder: Path, plan: list[PlannedFile], repo_id: str, private: bool, revision: str | None, message: str,
            token: str) -> str:
    from huggingface_hub import HfApi

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
