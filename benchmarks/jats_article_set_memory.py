"""Peak memory reading a Europe PMC open-access FTP file: medc's streamed reading of an article
set vs reading the file as one tree, on the same file, each in a process of its own.

    uv run python benchmarks/jats_article_set_memory.py [--copies 400]

Data: Europe PMC's FTP files are `<articles>` sets of thousands of articles (a few GB). The
file here is made of the real set in tests/fixtures/jats (the first 10 articles of
`PMC6358576_PMC6358589.xml.gz`: ACG case reports, Springer and Elsevier research articles),
its articles repeated `--copies` times inside one `<articles>` (400 copies: 4,000 articles,
about 240 MB). Baseline: the same builder reading the file whole (`parse_document` on its
bytes, one lxml tree), which is how every article set was read before. Both give the same
rows (checked); reported: peak resident memory of each process, seconds, and the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO  # noqa: E402

REAL_SET = REPO / "tests" / "fixtures" / "jats" / "europepmc-PMC6358576_PMC6358589.xml.gz"


def make_set(path: Path, copies: int) -> int:
    """Write an `<articles>` file of the real set's articles repeated `copies` times; its size."""
    data = gzip.decompress(REAL_SET.read_bytes())
    body = data[data.index(b"<article ") : data.rindex(b"</articles>")]
    with open(path, "wb") as out:
        out.write(b"<articles>\n")
        for _ in range(copies):
            out.write(body)
        out.write(b"</articles>\n")
    return path.stat().st_size


def run(mode: str, path: Path) -> None:
    """In a child process: read the file one way, print rows, characters, seconds, peak RSS."""
    from builders.pmc_jats import PMCJatsBuilder
    from medc.files.records import read_bytes
    from medc.ingest.builder import FileReport

    builder = PMCJatsBuilder("pmc_jats", {}, path.parent)
    report = FileReport(path.name)
    t0 = time.perf_counter()
    if mode == "streamed":
        rows = builder.parse(path, report)
    else:
        rows = builder.parse_document(read_bytes(path), report)
    n = chars = 0
    for row in rows:
        n += 1
        chars += len(row["text"])
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": n, "chars": chars, "errors": len(report.errors), "seconds": seconds, "peak_mib": peak_kib / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=400)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run(args.child[0], Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "PMC_set.xml"
        size = make_set(path, args.copies)
        results = {}
        for mode in ("whole", "streamed"):
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    whole, streamed = results["whole"], results["streamed"]
    assert (whole["rows"], whole["chars"]) == (streamed["rows"], streamed["chars"]), results
    print(f"file: {args.copies * 10} articles, {size / 2**20:.0f} MiB (the real Europe PMC set, repeated)")
    for mode, r in results.items():
        print(f"  {mode:9} {r['rows']} rows, {r['seconds']:.1f} s, peak {r['peak_mib']:.0f} MiB")
    print(f"peak memory: whole tree / streamed = {whole['peak_mib'] / streamed['peak_mib']:.2f}x; "
          f"time: streamed / whole = {streamed['seconds'] / whole['seconds']:.2f}x")


if __name__ == "__main__":
    main()
