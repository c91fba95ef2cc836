"""Fault injection for the executor tests, kept out of the package: a builder that kills its
own worker process once, as a lost node or an OOM kill would.

`KillOnceJats` is the PMC JATS builder, except that with `MEDC_TEST_KILL_ONCE=<flag file>`
the first task to finish parsing a file (the one that creates the flag file) writes
`<source file> <pid>` into it and dies with `os._exit(137)` before its shard is written.
A recipe names it as `builder = "tests.aids.faults:KillOnceJats"`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport


def die_once(what: str) -> None:
    flag = os.environ.get("MEDC_TEST_KILL_ONCE")
    if not flag:
        return
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{what} {os.getpid()}\n".encode())
    os.close(fd)
    os._exit(137)


class KillOnceJats(PMCJatsBuilder):
    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        yield from super().parse(path, report)
        die_once(path.name)
