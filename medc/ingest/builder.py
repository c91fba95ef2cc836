"""The interface every raw-format builder implements, the per-file report it fills, and the
registry that recipes name builders through.

A builder turns one input file into rows of its dataset kind and nothing else: no
cleaning policy, no dedup. Records it cannot use are reported (with the reason) or
counted as skipped (e.g. a benchmark's test split), never dropped silently.

A builder registers itself where it is defined, with `@register_builder("name")`. A recipe
names it by that name (the modules of the `builders` package and of the `medc.builders`
entry-point group are imported to find it) or by its import path, `package.module:Class`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
import importlib
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from medc.errors import UserError
from medc.registry import Registry


WITHHELD = "(details withheld: confidential source)"
UNREADABLE = "unreadable"


def redacted(reason: str, public_reasons: tuple[str, ...]) -> str:
    """A problem of a confidential source said without its details: only one of the builder's
    `public_reasons` (fixed phrases that hold no content) survives, else "unreadable"."""
    head = next((p for p in public_reasons if reason == p or reason.startswith(p + ":")), UNREADABLE)
    return f"{head} {WITHHELD}"


def is_redacted(reason: str, public_reasons: tuple[str, ...]) -> bool:
    return reason in {f"{p} {WITHHELD}" for p in (*public_reasons, UNREADABLE)}


@dataclass
class FileReport:
    """What happened to one input file: records read, rows produced, skips and errors.

    For a confidential source (`public_reasons` given), an error reason never quotes the
    file: it is reduced to one of the builder's fixed phrases (see `redacted`)."""

    path: str
    sha256: str = ""
    bytes: int = 0
    records: int = 0
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    info: Counter[str] = field(default_factory=Counter)  # records that are part of another row, not losses
    errors: list[dict[str, str]] = field(default_factory=list)
    failed: bool = False  # the whole file could not be read
    public_reasons: tuple[str, ...] | None = None  # set for a confidential source
    withdrawn: list[str] = field(default_factory=list)  # row ids this file withdraws (PubMed DeleteCitation)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def note(self, what: str, n: int = 1) -> None:
        """Records that are not rows of their own but not lost either: they are read into
        another row (a metadata row joined to its parse, a module read through its
        collection, a synonym folded into its concept). Reported apart from skips."""
        self.info[what] += n

    def absorb(self, other: FileReport) -> None:
        """Add what another report of the same file counted (records, skips, notes, errors,
        withdrawals)."""
        self.records += other.records
        self.skipped.update(other.skipped)
        self.info.update(other.info)
        self.errors.extend(other.errors)
        self.withdrawn.extend(other.withdrawn)

    def withdraw(self, row_id: str) -> None:
        """This file withdraws the row `row_id` as any earlier file gave it (an update file's deletion)."""
        self.withdrawn.append(row_id)

    def error(self, reason: str, record: str | None = None) -> None:
        if self.public_reasons is not None:
            reason = redacted(reason, self.public_reasons)
        self.errors.append({"file": self.path, "record": record or "", "reason": reason})

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "records": self.records,
            "rows": self.rows,
            "skipped": dict(sorted(self.skipped.items())),
            "info": dict(sorted(self.info.items())),
            "errors": self.errors,
            "failed": self.failed,
        }


class Builder:
    """Base class: subclasses set `kind`, `patterns`, `defaults` (and `citations`, BibTeX keys
    of `cards/citations.bib` that a card built from them cites; `public_reasons` for a
    confidential source) and implement `parse`."""

    name: ClassVar[str] = ""  # set by @register_builder
    citations: ClassVar[tuple[str, ...]] = ()
    # A confidential source (clinical notes): its files' content must never reach a report, so
    # error reasons are reduced to these fixed phrases. None: not confidential.
    public_reasons: ClassVar[tuple[str, ...] | None] = None
    # Files are releases in order (PubMed baseline, then update files): a row id given again by a
    # later file replaces the earlier row, and `FileReport.withdraw` removes earlier ones.
    later_files_supersede: ClassVar[bool] = False
    kind: ClassVar[str]  # "knowledge" or "instruction"
    patterns: ClassVar[tuple[str, ...]]  # default globs inside the source's folder
    defaults: ClassVar[dict[str, Any]] = {}  # options and their default values
    # Keys of a Hub dataset pointer this builder reads: a `*.hf.toml` file among its inputs, or
    # the `hub` table of its source in the recipe. Empty: it reads files only.
    pointer_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise UserError(
                f"source {source!r}: unknown option {unknown[0]!r} for builder "
                f"{type(self).__name__} (known options: {known})"
            )
        self.source = source
        self.options = {**self.defaults, **options}
        self.sources_root = sources_root

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        """Globs (relative to the sources root) of files the builder reads besides its input
        files, e.g. a package's file list; `folder` is the source's folder. With remote
        sources these are staged next to every task's inputs."""
        return []

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        """Yield rows (dicts in the dataset schema) from one file; report bad records."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- registry
BUILDERS: Registry[type[Builder]] = Registry("builder")
DISCOVERED_PACKAGES = ("builders",)  # every module of these packages is imported to find builders
register_builder = BUILDERS.register  # class decorator: `@register_builder("name")`


_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for package_name in DISCOVERED_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(package.__path__, package_name + "."):
            importlib.import_module(info.name)
    for ep in entry_points(group="medc.builders"):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Builder) and ep.name not in BUILDERS:
            register_builder(ep.name)(cls)


def available() -> list[str]:
    _discover()
    return BUILDERS.names()


def builder_class(name: str) -> type[Builder]:
    """The builder a recipe names: a registered name, or `package.module:Class`."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"builder {name!r}: cannot import it ({exc})") from None
    else:
        _discover()
        if name not in BUILDERS:
            raise UserError(f"unknown builder {name!r} (available: {', '.join(BUILDERS.names())})")
        cls = BUILDERS[name]
    if not (isinstance(cls, type) and issubclass(cls, Builder)):
        raise UserError(f"builder {name!r} is not a medc.ingest.builder.Builder")
    return cls
