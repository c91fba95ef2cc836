"""PMC OA bulk packages: `.tar.gz` streamed member by member, joined with the OA file list."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport
from tests.conftest import SAMPLES

ARTICLES = {  # member path in the package -> sample file (PMCID)
    "PMC003xxxxxx/PMC3166277.nxml": "1471-2180-11-174.nxml",
    "PMC003xxxxxx/PMC3574550.nxml": "mds526.nxml",
    "PMC002xxxxxx/PMC2602428.nxml": "ehp-116-1694.nxml",
}


def make_package(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "oa_comm_xml.PMC003xxxxxx.baseline.2024-06-18.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for member, sample in ARTICLES.items():
            add(member, (SAMPLES / "pmc_jats" / sample).read_bytes())
        add("PMC003xxxxxx/figure1.jpg", b"\xff\xd8 not xml")
        add("../escape.nxml", (SAMPLES / "pmc_jats" / "pntd.0002065.nxml").read_bytes())
        add("/etc/absolute.nxml", (SAMPLES / "pmc_jats" / "pntd.0002065.nxml").read_bytes())
        add("PMC003xxxxxx/broken.nxml", b"<article><front>")
    (folder / "oa_comm_xml.PMC003xxxxxx.baseline.2024-06-18.filelist.csv").write_text(
        "Article File,Article Citation,AccessionID,LastUpdated (YYYY-MM-DD HH:MM:SS),PMID,License,Retracted\r\n"
        "PMC003xxxxxx/PMC3166277.nxml,BMC Microbiol. 2011; 11:174,PMC3166277,2024-01-02 10:00:00,21813003,CC BY,no\r\n"
        "PMC003xxxxxx/PMC3574550.nxml,Ann Oncol. 2013; 24(3),PMC3574550,2024-01-03 10:00:00,23149571,CC BY-NC,no\r\n"
        "PMC002xxxxxx/PMC2602428.nxml,Environ Health Perspect. 2008,PMC2602428,2024-01-04 10:00:00,19079722,CC0,yes\r\n"
    )
    return path


def test_bulk_package_streamed_with_file_list(tmp_path: Path) -> None:
    path = make_package(tmp_path / "pmc_jats")
    before = set(tmp_path.rglob("*"))
    report = FileReport(path.name)
    rows = list(PMCJatsBuilder("pmc_jats", {}, tmp_path).parse(path, report))
    assert set(tmp_path.rglob("*")) == before  # nothing unpacked anywhere
    assert not (tmp_path / "escape.nxml").exists() and not Path("/etc/absolute.nxml").exists()
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"pmc:PMC3166277", "pmc:PMC3574550"}
    assert report.skipped == {"retracted (OA file list)": 1}
    assert by_id["pmc:PMC3574550"]["license"] == "cc-by-nc" and by_id["pmc:PMC3574550"]["meta"]["license_from"] == "oa_file_list"
    assert by_id["pmc:PMC3166277"]["meta"]["last_updated"] == "2024-01-02 10:00:00"
    errors = {e["record"]: e["reason"] for e in report.errors}
    assert "unsafe member path" in errors["../escape.nxml"] and "unsafe member path" in errors["/etc/absolute.nxml"]
    assert "PMC003xxxxxx/broken.nxml" in errors
    # The same articles as loose files give the same text.
    single = FileReport("x")
    loose = list(PMCJatsBuilder("pmc_jats", {}, SAMPLES).parse(SAMPLES / "pmc_jats" / "mds526.nxml", single))
    assert loose[0]["text"] == by_id["pmc:PMC3574550"]["text"]


def test_truncated_package_is_a_clear_file_error(tmp_path: Path) -> None:
    path = make_package(tmp_path / "pmc_jats")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="broken tar.gz package"):
        list(PMCJatsBuilder("pmc_jats", {}, tmp_path).parse(path, FileReport(path.name)))
