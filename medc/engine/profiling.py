"""`python -m medc.build --profile DIR`: a cProfile of the map stage, one file per shard computed
(`<source>-<shard>.prof`, readable with `pstats` or snakeviz), and `map_profile.txt`: the
functions that cost most over all of them, by cumulative and by own time."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SUMMARY = "map_profile.txt"


def profiled(folder: str, name: str, work: Callable[[], T]) -> T:
    """`work()` under cProfile, its profile written to `folder/name.prof`."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        return work()
    finally:
        profile.disable()
        Path(folder).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(Path(folder) / f"{name}.prof"))


def write_summary(folder: Path, top: int = 40) -> Path | None:
    """The shards' profiles merged: the `top` functions by cumulative time, then by own time."""
    files = sorted(folder.glob("*.prof"))
    if not files:
        return None
    out = io.StringIO()
    stats = pstats.Stats(*map(str, files), stream=out)
    out.write(f"map stage profile: {len(files)} shard(s) ({folder})\n\n== by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n== by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    path = folder / SUMMARY
    path.write_text(out.getvalue(), encoding="utf-8")
    return path
