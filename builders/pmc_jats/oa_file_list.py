"""The PMC OA file list (`oa_file_list.csv`) that goes with bulk packages: licence,
retraction and update date per article."""

from __future__ import annotations

import csv
from pathlib import Path


def read_file_list(path: Path) -> dict[str, dict[str, str]]:
    """The OA file list that goes with a bulk package: `<package>.filelist.csv` beside it, or
    `oa_file_list.csv` / `*file_list*.csv` in its folder. Keyed by member path and by PMCID."""
    base = path.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
    candidates = [path.with_name(base + ".filelist.csv"), path.parent / "oa_file_list.csv",
                  *sorted(path.parent.glob("*file_list*.csv")), *sorted(path.parent.glob("*filelist*.csv"))]
    for cand in candidates:
        if cand.is_file():
            index: dict[str, dict[str, str]] = {}
            with open(cand, newline="", encoding="utf-8-sig") as fh:
                for row in csv.DictReader(fh):
                    row = {(k or "").strip().split(" (")[0].lower(): (v or "").strip() for k, v in row.items()}
                    if row.get("article file"):
                        index[row["article file"]] = row
                    if row.get("accessionid"):
                        index[row["accessionid"].upper()] = row
            return index
    return {}
