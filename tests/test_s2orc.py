"""S2ORC builder on the real sample records (2019 combined, 2020 pdf_parse + metadata) and on
records made here in the documented S2 API, doc2json and peS2o shapes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from builders.s2orc import S2ORCBuilder
from medc.ingest.builder import FileReport
from tests.conftest import SAMPLES

S2 = SAMPLES / "s2orc"


def build(path: Path, root: Path = SAMPLES, **options) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    rows = list(S2ORCBuilder("s2orc", options, root).parse(path, report))
    return rows, report


def squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text)


def test_2019_combined_record_body_without_citation_debris() -> None:
    rows, report = build(S2 / "s2orc_example_paper.json")
    assert report.errors == [] and len(rows) == 1
    row = rows[0]
    raw = json.loads((S2 / "s2orc_example_paper.json").read_text())
    assert row["id"] == "s2orc:15772371"
    meta = row["meta"]
    assert (meta["pmcid"], meta["pmid"], meta["doi"]) == ("PMC355891", "15455067", "10.1673/031.001.0701")
    text = row["text"]
    assert text.startswith("# Artificial diets for rearing the Colorado potato beetle")
    # Every body paragraph is there (compared on a stretch without citation spans).
    for para in raw["grobid_parse"]["body_text"]:
        first_cite = min([c["start"] for c in para["cite_spans"]] + [len(para["text"])])
        probe = " ".join(para["text"][:first_cite].split()[:8])
        assert squash(probe) in squash(text), probe  # (compared without spaces and punctuation: see below)
    assert "in North America and in Europe. Control of CPB" in text  # "(Schalk and Stoner, 1979; ... )" gone
    # GROBID's spacing debris goes: "provided in Fig. 3 . Upon", "3 rd and 4 th instars", "Table 1 , all".
    assert "Maximum weights for 3rd and 4th instars" in text and "provided in Fig. 3. Upon reaching" in text
    assert not re.search(r"[\w)] [.,;:](\s|$)", text) and not re.search(r"\b\d+ (st|nd|rd|th)\b", text)
    assert "(Schroder and Athanas, 1989)" not in text and "( )" not in text and "(;" not in text
    for bib in raw["grobid_parse"]["bib_entries"].values():  # no reference list
        if len(bib["title"]) > 30:
            assert bib["title"] not in text


def test_2020_pdf_parse_joined_to_its_metadata_row() -> None:
    pdf_parse = S2 / "20200705" / "18980380.json"
    rows, report = build(pdf_parse)
    assert rows == [] and report.skipped == {"not biomedical (no PubMed / PMC id)": 1}  # an MDP paper: no PubMed id
    rows, report = build(pdf_parse, biomedical="off")
    assert report.errors == [] and len(rows) == 1
    row = rows[0]
    meta_row = next(json.loads(x) for x in (S2 / "s2orc_v20200705_metadata_sample.jsonl").read_text().splitlines() if '"18980380"' in x)
    assert row["title"] == meta_row["title"] == "Distributionally Robust Counterpart in Markov Decision Processes"
    assert row["meta"]["doi"] == meta_row["doi"] and row["meta"]["year"] == meta_row["year"]  # DOI as published
    assert row["meta"]["s2orc_format"] == "s2orc-2020"
    assert "## II. Preliminaries" in row["text"]  # "II. PRELIMINARIES": enumerator kept
    # The metadata file itself yields no rows: it is join input.
    rows, report = build(S2 / "s2orc_v20200705_metadata_sample.jsonl")
    assert rows == [] and report.records == 1000 and not report.skipped and report.info == {"metadata row (joined to its pdf_parse)": 1000}


def test_pdf_parses_batch_joins_its_own_metadata_batch(tmp_path: Path) -> None:
    """Release layout: pdf_parses_N joins metadata_N only (CRLF, no final newline, null fields)."""
    src = tmp_path / "s2orc"
    src.mkdir()
    parse = json.loads((S2 / "20200705" / "18980380.json").read_text())
    meta = next(json.loads(x) for x in (S2 / "s2orc_v20200705_metadata_sample.jsonl").read_text().splitlines() if '"18980380"' in x)
    (src / "metadata_3.jsonl").write_text(json.dumps({**meta, "pubmed_id": "123", "journal": None}) + "\r\n" + json.dumps({"paper_id": "x", "title": None}), newline="")
    (src / "metadata_4.jsonl").write_text(json.dumps({**meta, "title": "WRONG BATCH", "pubmed_id": "123"}))
    (src / "pdf_parses_3.jsonl").write_text(json.dumps(parse) + "\r\n" + "{not json\r\n" + json.dumps({**parse, "paper_id": "missing"}), newline="")
    rows, report = build(src / "pdf_parses_3.jsonl", tmp_path)
    assert len(rows) == 1 and rows[0]["title"].startswith("Distributionally Robust") and rows[0]["meta"]["pmid"] == "123"
    assert [e["record"] for e in report.errors] == ["line 2"] and "invalid JSON" in report.errors[0]["reason"]
    assert report.skipped == {"pdf_parse without a metadata row": 1}


def test_s2_api_record_annotations_doc2json_and_pes2o(tmp_path: Path) -> None:
    raw = json.loads((S2 / "s2orc_example_paper.json").read_text())
    body = raw["grobid_parse"]["body_text"][0]["text"]
    title, authors, affil = "Artificial diets for rearing", "J. A. Smith, K. Doe", "Dept. of Entomology, Somewhere University"
    pieces = [title, authors, affil, "Introduction", body, "References", "Schalk JM, Stoner AK. Tomato production. 1979."]
    text = "\n\n".join(pieces)
    spans = {}
    pos = 0
    for name, piece in zip(["title", "author", "authoraffiliation", "sectionheader", "paragraph", "sectionheader", "bibentry"], pieces):
        spans.setdefault(name, []).append({"start": pos, "end": pos + len(piece)})
        pos += len(piece) + 2
    offset = text.index(body)  # GROBID's citation spans of that paragraph, as bibref annotations
    spans["bibref"] = [{"start": offset + c["start"], "end": offset + c["end"]} for c in raw["grobid_parse"]["body_text"][0]["cite_spans"]]
    api = {"corpusid": 42, "externalids": {"PubMed": "15455067", "PubMedCentral": "355891", "DOI": "10.1673/031.001.0701"},
           "content": {"text": text, "annotations": {k: json.dumps(v) for k, v in spans.items()} | {"figure": None}}}
    d2j = {"paper_id": "abc", "title": "A doc2json paper", "abstract": "", "pdf_parse": {"abstract": [], "body_text": raw["grobid_parse"]["body_text"], "back_matter": [{"text": "We thank the funders.", "section": "Acknowledgments"}]}, "pmc_id": "PMC1"}
    pes2o = {"id": "77", "text": "Heart failure is a clinical syndrome. " * 20, "source": "s2orc/train", "added": "2023-01-01", "created": "2019-05-01", "version": "v2"}
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (api, d2j, pes2o)))
    rows, report = build(path, tmp_path)
    assert report.errors == [] and report.skipped == {"not biomedical (no PubMed / PMC id)": 1}  # peS2o has no ids
    api_row, d2j_row = rows
    assert api_row["id"] == "s2:42" and api_row["meta"]["pmcid"] == "PMC355891" and api_row["meta"]["pmid"] == "15455067"
    assert api_row["title"] == title and "## Introduction" in api_row["text"]
    for gone in (authors, affil, "Schalk JM, Stoner AK", "(Schalk and Stoner"):
        assert gone not in api_row["text"]
    assert "exceptionally destructive pest" in api_row["text"] and "## References" not in api_row["text"]
    assert d2j_row["meta"]["s2orc_format"] == "doc2json" and "We thank the funders" not in d2j_row["text"]
    rows, report = build(path, tmp_path, biomedical="off")
    assert rows[-1]["id"] == "s2:77" and rows[-1]["meta"]["s2orc_format"] == "pes2o" and rows[-1]["meta"]["year"] == 2019
    # Offsets written as strings (as some S2 releases give them): the same row, authors and references still cut
    as_strings = {k: json.dumps([{"start": str(s["start"]), "end": str(s["end"])} for s in v]) for k, v in spans.items()}
    path.write_text(json.dumps({**api, "content": {"text": text, "annotations": as_strings}}))
    (string_row,), report = build(path, tmp_path)
    assert report.errors == [] and string_row["text"] == api_row["text"] and string_row["title"] == api_row["title"]
    # ... and without paragraph spans (the text is then the whole text less the cut spans)
    unparsed = {k: v for k, v in as_strings.items() if k not in ("paragraph", "sectionheader")}
    path.write_text(json.dumps({**api, "content": {"text": text, "annotations": unparsed}}))
    (unparsed_row,), report = build(path, tmp_path)
    assert report.errors == [] and "exceptionally destructive pest" in unparsed_row["text"]
    assert not any(gone in unparsed_row["text"] for gone in (authors, affil, "Schalk JM, Stoner AK"))


def test_sample_folder_builds_without_errors(tmp_path: Path) -> None:
    shutil.copytree(S2, tmp_path / "s2orc")
    total = 0
    for path in sorted((tmp_path / "s2orc").rglob("*.json*")):
        rows, report = build(path, tmp_path)
        assert report.errors == [] and not report.failed, path
        total += len(rows)
    assert total == 2  # the two biomedical papers (PMC355891, PMC5371592)


def test_doc2json_paper_records_with_metadata_are_read(tmp_path: Path) -> None:
    """doc2json's `Paper.as_json()` layout: `metadata` {title, authors, year, identifiers} with
    `abstract`, `body_text`, `back_matter`, `bib_entries` and `ref_entries` beside it (made
    here from the bundled S2ORC sample's own GROBID parse); two such records in one folder."""
    raw = json.loads((S2 / "s2orc_example_paper.json").read_text())
    parse, meta = raw["grobid_parse"], raw["metadata"]
    records = []
    for paper_id, pmc in (("d2j-1", meta["pmc_id"]), ("d2j-2", "PMC999999")):
        records.append({"paper_id": paper_id, "_pdf_hash": "", "metadata": {
            "title": meta["title"], "authors": meta["authors"], "year": meta["year"], "venue": meta["venue"],
            "identifiers": {"doi": meta["doi"], "pmc": pmc}},
            "abstract": parse["abstract"], "body_text": parse["body_text"], "back_matter": [{"text": "We thank the funders.",
            "section": "Acknowledgments", "cite_spans": [], "ref_spans": []}], "bib_entries": parse["bib_entries"],
            "ref_entries": parse["ref_entries"]})
    folder = tmp_path / "s2orc"
    folder.mkdir()
    for r in records:
        (folder / f"{r['paper_id']}.json").write_text(json.dumps(r))
    for r in records:
        rows, report = build(folder / f"{r['paper_id']}.json", tmp_path)
        assert report.errors == [] and len(rows) == 1
        row = rows[0]
        assert row["meta"]["s2orc_format"] == "doc2json" and row["meta"]["doi"] == meta["doi"]
        assert row["meta"]["pmcid"] == (r["metadata"]["identifiers"]["pmc"] if r["metadata"]["identifiers"]["pmc"].startswith("PMC")
                                        else "PMC" + r["metadata"]["identifiers"]["pmc"])
        assert parse["body_text"][0]["text"][:40] in row["text"] and "We thank the funders" not in row["text"]


def test_cut_citations_leave_no_space_before_punctuation() -> None:
    from builders.s2orc import _strip_cites

    text = "Bacteria colonise the root canal system [12] . Others disagree (Smith et al., 2001) , as shown."
    spans = [{"start": text.index("[12]"), "end": text.index("[12]") + 4},
             {"start": text.index("(Smith"), "end": text.index("2001)") + 5}]
    assert _strip_cites(text, spans) == "Bacteria colonise the root canal system. Others disagree, as shown."
