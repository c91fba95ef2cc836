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
import sys
from pathlib import Path

from medc.cli import command
from medc.errors import UserError
from medc.release.publish import (commit_message, confidential_leaks, human, licence_gate, plan_upload, resolve_folder, upload,
                                  validate_card)
from medc.release.verify import load_manifest, verify_folder


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medc.publish", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="the built repo: medc-k, medc-i, or a folder path")
    ap.add_argument("--repo-id", required=True, help="Hub dataset id, ORG/NAME")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder holding the built repos (default: .)")
    ap.add_argument("--private", action="store_true", help="create the Hub repo as private")
    ap.add_argument("--revision", default=None, help="branch to commit to (created if needed)")
    ap.add_argument("--allow-license", action="append", default=[], metavar="NAME",
                    help="publish rows under this otherwise refused licence (repeatable)")
    ap.add_argument("--allow-unchecked", action="store_true",
                    help="publish although a benchmark test file could not be read (its decontamination was not checked)")
    ap.add_argument("--allow-errors", action="store_true", help="publish although the build exceeded its error budget")
    ap.add_argument("--dry-run", action="store_true", help="check everything and print the upload plan; send nothing")
    args = ap.parse_args(argv)
    if args.repo_id.count("/") != 1:
        raise UserError(f"--repo-id {args.repo_id!r} is not of the form ORG/NAME")
    folder = resolve_folder(args.dataset, args.out)
    manifest = load_manifest(folder)
    problems = verify_folder(folder)
    if problems:
        raise UserError(f"{folder} does not match its manifest ({problems[0]}); rebuild it before publishing")
    budget = manifest.error_budget
    if budget is not None and budget.exceeded and not args.allow_errors:
        raise UserError(f"refusing to publish {manifest.dataset}: the build exceeded its error budget ({budget.error_rate:.2%} of "
                        f"inputs bad, budget {budget.budget:.2%}); fix the inputs and rebuild, or pass --allow-errors")
    unchecked = manifest.unchecked_benchmarks()
    for name, why in unchecked.items():
        if why.startswith("benchmark") and not args.allow_unchecked:  # a test file that could not be read whole
            raise UserError(f"refusing to publish {manifest.dataset}: decontamination against {name} was not checked ({why}); "
                            "fix the test file and rebuild, or pass --allow-unchecked")
    leaks = confidential_leaks(manifest)
    if leaks:
        raise UserError(f"refusing to publish {manifest.dataset}: the build report may quote a confidential source "
                        f"({leaks[0]}{f' and {len(leaks) - 1} more' if len(leaks) > 1 else ''}); rebuild it with this version of medc")
    refusals = licence_gate(folder, manifest, set(args.allow_license))
    if refusals:
        names = sorted({lic for _, lic, _, _ in refusals})
        raise UserError(
            f"refusing to publish {manifest.dataset}: "
            + "; ".join(f"source {src!r} has {n} row(s) under {lic!r} ({why})" for src, lic, n, why in refusals)
            + ". `build` keeps such rows for local training; leave the source out of the recipe, or pass "
            + " ".join(f"--allow-license {n}" for n in names) + " if you have the right to publish them"
        )
    validate_card(folder)
    for name, why in unchecked.items():
        print(f"warning: {manifest.dataset} was not decontaminated against {name}: {why}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
