"""Content hashes of local input files, remembered between builds.

A file's sha256 is read again only when its size, mtime, ctime or inode changed. An edit in
place that restores the size and mtime (`touch -d`, `os.utime`) still changes the ctime,
which no user call can set, so such an edit is caught too; an unchanged file is not read
again. The table lives in the build's cache folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from medc.files.atomic import atomic_write_text, sha256_file


class ContentHashes:
    def __init__(self, path: Path | None = None):
        self.path = path  # where the table is kept (None: in memory only)
        self.table: dict[str, list[int | str]] = {}
        self.changed = False
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self.table = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.table = {}  # a damaged table only costs re-reading the files

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        name = os.fsdecode(file.resolve())
        known = self.table.get(name)
        if isinstance(known, list) and known[:4] == key and len(known) == 5:
            return str(known[4])
        digest = sha256_file(file)
        self.table[name] = [*key, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.path is not None and self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.table, sort_keys=True))
            self.changed = False
