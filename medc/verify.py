"""`python -m medc.verify DIR_OR_REPO`: check a released repo against its build manifest.

Recomputes the sha256 and row count of every parquet file the manifest lists, reports any
missing, modified or unlisted data file, and checks that every config in the card points
at files that exist. A Hub id (`ORG/NAME`) is downloaded first (network needed).
Exit status: 0 when everything matches, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medc.cli import command
from medc.errors import UserError
from medc.release.verify import fetch, load_manifest, verify_folder


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medc.verify", description=__doc__.splitlines()[0])
    ap.add_argument("target", help="a repo folder (e.g. medc-k) or a Hub dataset id (ORG/NAME)")
    ap.add_argument("--revision", default=None, help="Hub branch or commit, with a Hub id")
    args = ap.parse_args(argv)
    folder = Path(args.target)
    if not folder.is_dir():
        if args.target.count("/") != 1:
            raise UserError(f"{args.target}: no such folder, and not a Hub id of the form ORG/NAME")
        folder = fetch(args.target, args.revision)
    problems = verify_folder(folder)
    manifest = load_manifest(folder)
    n = len(manifest.all_outputs())
    if problems:
        for p in problems:
            print(f"MISMATCH {p}")
        print(f"{args.target}: {len(problems)} problem(s) in {n} listed data files")
        return 1
    print(f"{args.target}: OK, {n} data files match the manifest ({manifest.totals.rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
