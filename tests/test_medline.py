"""The MEDLINE/PubMed builder on the bundled XML samples and on tagged MEDLINE text."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from builders.medline import MedlineBuilder
from medc.ingest.builder import FileReport
from tests.conftest import SAMPLES

MEDLINE = SAMPLES / "medline"


def parse(path: Path) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    return list(MedlineBuilder("pubmed_abstracts", {}, SAMPLES).parse(path, report)), report


def test_only_the_citation_pmid_is_the_id() -> None:
    raw = (MEDLINE / "biopython_pubmed4.xml").read_text()
    all_pmids = set(re.findall(r"<PMID[^>]*>(\d+)</PMID>", raw))
    assert len(all_pmids) > 40  # 49 cited PMIDs in CommentsCorrectionsList
    rows, report = parse(MEDLINE / "biopython_pubmed4.xml")
    assert [r["id"] for r in rows] == ["pmid:27797938"] and report.records == 1
    assert rows[0]["meta"]["pmid"] == "27797938"


def test_structured_abstract_and_inline_markup() -> None:
    (row,), _ = parse(MEDLINE / "pubmed-29768149.xml")
    assert row["title"] == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    text = row["text"]
    for label in ("### Background", "### Methods", "### Results", "### Conclusions"):
        assert label in text
    assert "<sub>" not in text and "2-agonist" in text
    assert row["meta"]["doi"] == "10.1056/NEJMoa1715274" and row["meta"]["year"] == 2018  # DOI as published
    assert row["meta"]["journal"] == "The New England journal of medicine" and "Asthma" in " ".join(row["meta"]["mesh"])
    (row4,), _ = parse(MEDLINE / "biopython_pubmed4.xml")
    assert "<i>" not in row4["text"] and "### Objective" in row4["text"]


def test_citation_without_abstract_is_counted(tmp_path: Path) -> None:
    rows, report = parse(MEDLINE / "biopython_pubmed1.xml")
    assert [r["id"] for r in rows] == ["pmid:9997"]
    assert report.records == 2 and report.skipped == {"no abstract": 1}
    gz = tmp_path / "pubmed24n0001.xml.gz"
    gz.write_bytes(gzip.compress((MEDLINE / "biopython_pubmed1.xml").read_bytes()))
    assert [r["id"] for r in parse(gz)[0]] == ["pmid:9997"]


def test_tagged_medline_format(tmp_path: Path) -> None:
    tagged = (
        "PMID- 29768149\r\nOWN - NLM\r\nTI  - Inhaled Combined Budesonide-Formoterol as Needed in Mild\r\n"
        "      Asthma.\r\nLID - 10.1056/NEJMoa1715274 [doi]\r\nAB  - BACKGROUND: In patients with mild asthma, as-needed use of an\r\n"
        "      inhaled glucocorticoid may be an alternative. METHODS: We conducted a 52-week,\r\n      double-blind trial.\r\n"
        "JT  - The New England journal of medicine\r\nDP  - 2018 May 17\r\nMH  - Asthma/drug therapy\r\n\r\n"
        "PMID- 9997\r\nTI  - A citation with no abstract.\r\n"
    )
    path = tmp_path / "citations.txt"
    path.write_bytes(tagged.encode())
    rows, report = parse(path)
    assert [r["id"] for r in rows] == ["pmid:29768149"] and report.skipped == {"no abstract": 1}
    row = rows[0]
    assert row["title"] == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert "### Background\n\nIn patients with mild asthma, as-needed use of an inhaled glucocorticoid" in row["text"]
    assert "\n\n### Methods\n\nWe conducted a 52-week, double-blind trial." in row["text"]
    assert row["meta"]["doi"] == "10.1056/NEJMoa1715274" and row["meta"]["year"] == 2018


def tagged_from_xml(xml_path: Path) -> str:
    """The MEDLINE tagged text of a PubMed XML record, written here from the XML with lxml, as
    PubMed's own export writes it (structured labels inline, MeSH with `*` major topics and
    `/qualifier`s, DOI in LID)."""
    from lxml import etree

    cit = etree.parse(str(xml_path)).getroot().find(".//MedlineCitation")
    art = cit.find("Article")
    text = lambda el: " ".join("".join(el.itertext()).split())  # noqa: E731
    lines = [f"PMID- {cit.findtext('PMID')}", f"TI  - {text(art.find('ArticleTitle'))}"]
    doi = next(e.text for e in art.findall("ELocationID") if e.get("EIdType") == "doi")
    lines.append(f"LID - {doi} [doi]")
    ab = " ".join(f"{a.get('Label')}: {text(a)}" if a.get("Label") else text(a) for a in art.findall("Abstract/AbstractText"))
    lines.append(f"AB  - {ab}")
    lines.append(f"JT  - {text(art.find('Journal/Title'))}")
    lines.append(f"DP  - {art.findtext('Journal/JournalIssue/PubDate/Year')}")
    for lang in art.findall("Language"):
        lines.append(f"LA  - {lang.text}")
    for pt in art.findall("PublicationTypeList/PublicationType"):
        lines.append(f"PT  - {text(pt)}")
    for mh in cit.findall("MeshHeadingList/MeshHeading"):
        d = mh.find("DescriptorName")
        star = "*" if d.get("MajorTopicYN") == "Y" else ""
        quals = "".join(f"/{'*' if q.get('MajorTopicYN') == 'Y' else ''}{text(q)}" for q in mh.findall("QualifierName"))
        lines.append(f"MH  - {star}{text(d)}{quals}")
    return "\n".join(lines) + "\n"


def test_one_record_is_one_row_whichever_format(tmp_path: Path) -> None:
    xml = MEDLINE / "pubmed-29768149.xml"
    (from_xml,), _ = parse(xml)
    path = tmp_path / "export.txt"
    path.write_text(tagged_from_xml(xml))
    assert "MH  - Asthma/*drug therapy" in path.read_text()
    (from_tagged,), _ = parse(path)
    assert from_tagged["text"] == from_xml["text"] and from_tagged["title"] == from_xml["title"]
    for key in ("pmid", "doi", "journal", "year", "mesh", "publication_types", "language"):
        assert from_tagged["meta"].get(key) == from_xml["meta"].get(key), key


def test_book_records_deleted_citations_and_other_abstracts(tmp_path: Path) -> None:
    """PubMed record kinds beyond journal articles, in the layout of the PubMed DTD."""
    path = tmp_path / "pubmed25n1300.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<PubmedArticleSet>\n'
        "<PubmedBookArticle><BookDocument><PMID Version=\"1\">28613587</PMID>"
        '<ArticleIdList><ArticleId IdType="bookaccession">NBK441899</ArticleId></ArticleIdList>'
        "<Book><Publisher><PublisherName>StatPearls Publishing</PublisherName></Publisher><BookTitle>StatPearls</BookTitle>"
        "<PubDate><Year>2024</Year><Month>01</Month></PubDate></Book><ArticleTitle>Scurvy</ArticleTitle><Language>eng</Language>"
        "<Abstract><AbstractText>Scurvy is a disease caused by a deficiency of vitamin C.</AbstractText></Abstract>"
        "<PublicationType UI=\"D000072642\">Review</PublicationType></BookDocument></PubmedBookArticle>\n"
        "<PubmedArticle><MedlineCitation><PMID>1</PMID><Article><Journal><Title>J</Title><JournalIssue><PubDate>"
        "<MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></JournalIssue></Journal><ArticleTitle>English title.</ArticleTitle>"
        "<Abstract><AbstractText>An English abstract.</AbstractText></Abstract><Language>eng</Language><Language>fre</Language>"
        "<VernacularTitle>Titre francais.</VernacularTitle></Article>"
        '<OtherAbstract Type="plain-language-summary" Language="eng"><AbstractText>In plain words.</AbstractText></OtherAbstract>'
        '<OtherAbstract Type="Publisher" Language="fre"><AbstractText>Un resume.</AbstractText></OtherAbstract>'
        "</MedlineCitation></PubmedArticle>\n"
        "<DeleteCitation><PMID Version=\"1\">111</PMID><PMID Version=\"1\">112</PMID></DeleteCitation>\n</PubmedArticleSet>\n")
    rows, report = parse(path)
    book, article = rows
    assert book["id"] == "pmid:28613587" and book["meta"]["record_kind"] == "book" and book["meta"]["year"] == 2024
    assert book["meta"]["book_accession"] == "NBK441899" and "deficiency of vitamin C" in book["text"]
    assert article["meta"]["year"] == 1998 and article["meta"]["languages"] == ["en", "fr"]  # MEDLINE eng/fre as ISO 639-1
    assert article["meta"]["vernacular_title"] == "Titre francais."
    assert "## Plain language summary\n\nIn plain words." in article["text"] and "Un resume" not in article["text"]
    assert report.records == 4 and report.skipped == {"deleted citation (DeleteCitation)": 2} and report.errors == []

    empty = tmp_path / "empty.xml"
    empty.write_text('<?xml version="1.0"?>\n<PubmedArticleSet></PubmedArticleSet>\n')
    rows, report = parse(empty)
    assert rows == [] and report.errors == [] and report.records == 0


def pubmed_article(pmid: int, title: str, abstract: bool = True) -> str:
    text = f"<Abstract><AbstractText>The abstract of citation {pmid}, version: {title}.</AbstractText></Abstract>" if abstract else ""
    return (f"<PubmedArticle><MedlineCitation><PMID Version=\"1\">{pmid}</PMID><Article><Journal><Title>J</Title><JournalIssue>"
            f"<PubDate><Year>2020</Year></PubDate></JournalIssue></Journal><ArticleTitle>{title}</ArticleTitle>{text}"
            "</Article></MedlineCitation></PubmedArticle>")


@pytest.mark.parametrize("files_per_shard", [1, 16])
def test_update_files_supersede_the_baseline(tmp_path: Path, files_per_shard: int) -> None:
    """PubMed baseline + update files: a citation's latest version wins, a deleted one goes, and
    so does one whose latest version has no abstract, whether the files share a shard or not."""
    import json

    from medc.build import main as build

    folder = tmp_path / "src" / "medline"
    (folder / "baseline").mkdir(parents=True)
    (folder / "updatefiles").mkdir()
    (folder / "baseline" / "pubmed25n0001.xml").write_text(
        "<PubmedArticleSet>" + "".join(pubmed_article(p, f"first version of {p}") for p in (1, 2, 3, 4)) + "</PubmedArticleSet>")
    (folder / "updatefiles" / "pubmed25n1275.xml").write_text(
        "<PubmedArticleSet>" + pubmed_article(1, "revised version of 1") + pubmed_article(4, "abstract removed", abstract=False)
        + "<DeleteCitation><PMID Version=\"1\">3</PMID><PMID Version=\"1\">99</PMID></DeleteCitation></PubmedArticleSet>")
    recipe = tmp_path / "r.toml"
    recipe.write_text('[dataset]\nname = "medc-k"\nkind = "knowledge"\n[build]\n'
                      f'files_per_shard = {files_per_shard}\n[[sources]]\nname = "pubmed"\nbuilder = "medline"\ndir = "medline"\n')
    assert build(["medc-k", "--sources", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--recipe", str(recipe), "--quiet"]) == 0
    import polars as pl

    repo = tmp_path / "out" / "medc-k"
    rows = {r["id"]: r for r in pl.read_parquet(sorted((repo / "data" / "pubmed").glob("*.parquet"))).to_dicts()}
    assert set(rows) == {"pmid:1", "pmid:2"} and rows["pmid:1"]["title"] == "revised version of 1"
    steps = {s["step"]: s for s in json.loads((repo / "build_manifest.json").read_text())["sources"]["pubmed"]["steps"]}
    assert steps["withdrawn"]["dropped"] == {"withdrawn by a later file": 2}  # 3 deleted, 4 without an abstract now
    assert steps["unique_ids"]["dropped"] == {"superseded by a later file": 1}


def test_mathml_in_an_abstract_is_one_line_of_text() -> None:
    """PubMed abstracts of today carry MathML (biopython's pubmed6.xml, PMID 30108519: V̇O2max as
    `mover`/`msub`): it reads as the JATS builder reads formulas, not as letters spaced apart."""
    from tests.conftest import FIXTURES

    rows, report = parse(FIXTURES / "medline" / "biopython_pubmed6.xml")
    (row,) = [r for r in rows if r["id"] == "pmid:30108519"]
    assert "maximal oxygen uptake ( V\u0307O_2max ) 67.6" in row["text"] and "m a x" not in row["text"]
