"""Where a build reads and writes: a local (or NFS-mounted) folder, or an fsspec URL.

`--sources` and `--out` may be URLs of any filesystem fsspec knows (`s3://bucket/pmc`,
`gs://...`, `file:///...`; s3fs / gcsfs installed for the cloud ones). Builders read
local files only, so a task *stages* what it reads into a folder on its node:

* its own input files, downloaded into a per-task folder that is removed afterwards;
* files it reads besides its inputs (OA file lists, S2ORC metadata, CNXML modules,
  benchmark test sets: `Builder.companions` and the steps' reference patterns), kept in
  a node-wide cache keyed by URL, size and version, and linked into the task folder.

Shard outputs go to `<out>/.medc-cache/...` through fsspec (upload first, completion
marker last, so a reader never sees a marker without its shard); the driver downloads
them into its work folder, writes the repo there and uploads it file by file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fsspec

from medc.errors import UserError
from medc.files.atomic import temporary_name
from medc.files.content_hashes import ContentHashes

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Which field of an fsspec `info()` says that a file changed, by filesystem (first found wins).
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "version_id", "mtime", "LastModified", "updated", "created")


def is_url(location: str | os.PathLike[str]) -> bool:
    return bool(_URL.match(str(location)))


def join(base: str, *parts: str) -> str:
    """`base/part/...` for a path or a URL (no normalisation of the URL's scheme part)."""
    out = str(base).rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a URL."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        scheme = str(url).split("://", 1)[0]
        raise UserError(f"{url}: no filesystem for {scheme}:// ({exc}); e.g. pip install s3fs / gcsfs") from None
    return fs, path


def version_of(info: dict[str, Any]) -> str:
    for key in _VERSION_KEYS:
        if info.get(key) not in (None, ""):
            return str(info[key])
    return ""


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a pathlib-style glob on posix relative paths: `**/` is zero or more
    folders, `*` and `?` never cross `/`, `[...]` is a character class."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:[^/]+/)*"
            i += 3
        elif pattern.startswith("**", i) and i + 2 == len(pattern):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def is_utf8(name: str) -> bool:
    """False for a name holding bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(name: str) -> str:
    """A file name that may hold undecodable bytes, with those bytes written as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Tree:
    """The files under a sources root, local or remote: listing, stat, glob."""

    def __init__(self, root: str | os.PathLike[str], hashes: ContentHashes | None = None):
        self.url: str | None = str(root).rstrip("/") if is_url(root) else None
        self.local: Path | None = None if self.url else Path(root)
        self._files: dict[str, tuple[int, str]] | None = None
        self.hashes = hashes or ContentHashes()  # content hashes of local files

    def __str__(self) -> str:
        return self.url or str(self.local)

    @property
    def files(self) -> dict[str, tuple[int, str]]:
        """Every file under the root (remote only): relative posix path -> (size, version)."""
        if self._files is None:
            assert self.url is not None
            fs, path = filesystem(self.url)
            if not fs.isdir(path):
                raise UserError(f"--sources {self.url}: no such folder")
            base = path.rstrip("/") + "/"
            found = fs.find(path, detail=True)
            self._files = {
                name[len(base):]: (int(info.get("size") or 0), version_of(info))
                for name, info in sorted(found.items())
                if info.get("type", "file") == "file" and name.startswith(base)
            }
        return self._files

    def is_dir(self, rel: str) -> bool:
        if self.local is not None:
            return (self.local / rel).is_dir()
        prefix = rel.strip("/") + "/"
        return any(f.startswith(prefix) for f in self.files)

    def glob(self, patterns: Iterable[str], under: str = "", refused: list[tuple[str, str]] | None = None) -> list[str]:
        """Files matching any of the patterns (relative to `under`), as sorted root-relative paths.
        Symbolic links are followed while they stay inside the root; a match that leads out of
        it, or whose name is not valid UTF-8, is never read, and is added to `refused` (with the
        reason) when given."""
        found: set[str] = set()
        if self.local is not None:
            folder = self.local / under if under else self.local
            root = self.local.resolve()
            bad: dict[str, str] = {}
            for pattern in patterns:
                for p in folder.glob(pattern):
                    if p.is_file():
                        rel = p.relative_to(self.local).as_posix()
                        if not p.resolve().is_relative_to(root):
                            bad[rel] = "a link that leads out of the sources root: not read"
                        elif not is_utf8(rel):
                            bad[printable(rel)] = "a file name that is not valid UTF-8: not read (rename it)"
                        else:
                            found.add(rel)
            if refused is not None:
                refused.extend(sorted(bad.items()))
            return sorted(found)
        prefix = under.strip("/") + "/" if under else ""
        regexes = [glob_regex(p) for p in patterns]
        for rel in self.files:
            if rel.startswith(prefix) and any(r.match(rel[len(prefix):]) for r in regexes):
                found.add(rel)
        return sorted(found)

    def stat(self, rel: str) -> list[Any]:
        """What a fingerprint records of a file: [path, size, version]; the version of a local
        file is its content hash, of a remote one its ETag or other version id."""
        if self.local is not None:
            path = self.local / rel
            return [rel, path.stat().st_size, self.hashes.sha256(path)]
        size, version = self.files[rel]
        return [rel, size, version]


# ---------------------------------------------------------------------------- staging
def stage_dir() -> Path:
    """This node's staging folder (`MEDC_STAGE_DIR`, default: the system temp folder)."""
    return Path(os.environ.get("MEDC_STAGE_DIR") or Path(tempfile.gettempdir()) / "medc-stage")


def download(url: str, local: Path) -> None:
    """Copy a remote file to `local`, atomically (a partial download never has the final name)."""
    fs, path = filesystem(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(local)
    try:
        fs.get_file(path, str(tmp))
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def cached_copy(url: str, size: int | None = None, version: str | None = None) -> Path:
    """A local copy of a remote file in this node's cache, downloaded once per (URL, size, version)."""
    fs, path = filesystem(url)
    if size is None or version is None:
        info = fs.info(path)
        size, version = int(info.get("size") or 0), version_of(info)
    key = hashlib.sha256(f"{url}\0{size}\0{version}".encode()).hexdigest()[:32]
    local = stage_dir() / "cache" / key / url.rstrip("/").rsplit("/", 1)[-1]
    if not (local.is_file() and local.stat().st_size == size):
        download(url, local)
    return local


class Staged:
    """A per-task folder laid out like the sources root, holding the files a task reads."""

    def __init__(self, root_url: str, inputs: Iterable[str], shared: Iterable[tuple[str, int, str]]):
        stage_dir().mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="task-", dir=stage_dir()))
        try:
            for rel in inputs:
                download(join(root_url, rel), self.path / rel)
            for rel, size, version in shared:
                target = self.path / rel
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(cached_copy(join(root_url, rel), size, version))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stage_files(urls: list[str]) -> list[str]:
    """Local paths for a list of paths/URLs (remote ones through the node cache)."""
    return [str(cached_copy(u)) if is_url(u) else u for u in urls]


# ---------------------------------------------------------------------------- remote outputs
def write_bytes(url: str, data: bytes) -> None:
    fs, path = filesystem(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, data)


def read_bytes(url: str) -> bytes | None:
    fs, path = filesystem(url)
    try:
        return fs.cat_file(path)
    except (FileNotFoundError, OSError):
        return None


def upload_file(local: Path, url: str) -> None:
    fs, path = filesystem(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.put_file(str(local), path)


def upload_tree(local: Path, url: str) -> None:
    """Make the folder at `url` hold exactly the files of `local`: upload each, then delete
    remote files that are not in `local` (stale shards of an earlier build)."""
    fs, base = filesystem(url)
    wanted = {p.relative_to(local).as_posix(): p for p in sorted(local.rglob("*")) if p.is_file()}
    for rel, p in wanted.items():
        upload_file(p, join(url, rel))
    if fs.isdir(base):
        prefix = base.rstrip("/") + "/"
        for name in fs.find(base):
            if name.startswith(prefix) and name[len(prefix):] not in wanted:
                fs.rm_file(name)
