"""The PMC JATS builder on every bundled sample article: text, metadata, licence."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest
from lxml import etree

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport
from tests.conftest import SAMPLES

JATS = sorted((SAMPLES / "pmc_jats").glob("*.nxml"))

EXPECTED = {
    # file: (pmcid, pmid, licence, journal, year)
    "1471-2180-11-174.nxml": ("PMC3166277", "21810267", "cc-by-2.0", "BMC Microbiology", 2011),
    "1472-6831-8-11.nxml": ("PMC2329613", "18405359", "cc-by-2.0", "BMC Oral Health", 2008),
    "ehp-116-1694.nxml": ("PMC2599765", "19079722", "public-domain", "Environmental Health Perspectives", 2008),
    "mds526.nxml": ("PMC3574550", "23149571", "cc-by-nc-3.0", "Annals of Oncology", 2012),
    "pntd.0002065.nxml": ("PMC3585041", "23469300", "cc-by", "PLoS Neglected Tropical Diseases", 2013),
    "s2orc-doc2json_PMC6398430.nxml": ("PMC6398430", "30846892", "cc-by-4.0", "Behavioral Ecology", 2018),
}


# Administrative sections that are deliberately not part of the text.
ADMIN_SECTIONS = re.compile(
    r"competing interests|authors' contributions|funding|disclosure|acknowledg|supplementary|pre-publication",
    re.IGNORECASE,
)


def in_admin_section(el: etree._Element) -> bool:
    for sec in el.iterancestors("sec"):
        title = sec.findtext("title") or ""
        if ADMIN_SECTIONS.search(title):
            return True
    return False


def parse(path: Path, **options: object) -> tuple[list[dict], FileReport]:
    builder = PMCJatsBuilder("pmc_jats", dict(options), SAMPLES)
    report = FileReport(path.name)
    return list(builder.parse(path, report)), report


def squash(text: str) -> str:
    return " ".join(text.split())


def tree(path: Path) -> etree._Element:
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    return etree.parse(str(path), parser).getroot()


def test_every_sample_is_covered() -> None:
    assert sorted(p.name for p in JATS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", JATS, ids=lambda p: p.name)
def test_metadata_and_licence(path: Path) -> None:
    rows, report = parse(path)
    assert report.errors == []
    assert len(rows) == 1
    row = rows[0]
    pmcid, pmid, licence, journal, year = EXPECTED[path.name]
    assert row["id"] == f"pmc:{pmcid}"
    assert row["license"] == licence
    assert row["meta"]["pmid"] == pmid
    assert row["meta"]["journal"] == journal
    assert row["meta"]["year"] == year
    assert row["meta"]["article_type"] == "research-article"
    assert row["meta"]["doi"].startswith("10.")
    assert row["title"] and row["text"].startswith(f"# {row['title']}")


@pytest.mark.parametrize("path", JATS, ids=lambda p: p.name)
def test_every_body_paragraph_present(path: Path) -> None:
    """A run of words from every body paragraph (its plain text between markup) is in the text."""
    (row,), _ = parse(path)
    text = squash(row["text"])
    root = tree(path)
    checked = 0
    for p in root.find("body").iter("p"):
        if any(a.tag in ("table-wrap", "fig") for a in p.iterancestors()) or in_admin_section(p):
            continue
        segments = [p.text or ""] + [c.tail or "" for c in p]
        words = max((s.split() for s in segments), key=len)
        if len(words) < 8:
            continue
        probe = " ".join(words[1:7])
        assert probe in text, f"{path.name}: paragraph text {probe!r} missing"
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("path", JATS, ids=lambda p: p.name)
def test_no_reference_list_authors_or_citation_debris(path: Path) -> None:
    (row,), _ = parse(path)
    text = row["text"]
    root = tree(path)
    # Titles of cited works appear only in the reference list: none may be in the text.
    ref_titles = [squash("".join(t.itertext())) for t in root.iter("article-title") if any(a.tag == "ref" for a in t.iterancestors())]
    ref_titles = [t for t in ref_titles if len(t) > 40]
    assert ref_titles, "sample should have a reference list"
    for title in ref_titles:
        assert title not in squash(text)
    for email in root.iter("email"):
        assert email.text not in text
    for aff in root.iter("aff"):
        inst = squash(" ".join(aff.itertext()))
        assert inst not in squash(text)
    assert not re.search(r"\[\s*[,;\u2013-]*\s*\]|\(\s*[,;\u2013-]*\s*\)", text), "citation debris left"
    assert "Competing interests" not in text and "Acknowledg" not in text.split("## ")[-1][:40]


def test_numeric_citations_removed_cleanly() -> None:
    (row,), _ = parse(SAMPLES / "pmc_jats" / "mds526.nxml")
    text = row["text"]
    # In the XML: "... not be achievable for many years [<xref>1</xref>]. Therefore"
    assert "not be achievable for many years. Therefore" in text
    assert "to help decrease cancer-related deaths." in text


def test_mathml_formula_linearised() -> None:
    (row,), _ = parse(SAMPLES / "pmc_jats" / "s2orc-doc2json_PMC6398430.nxml")
    assert "CF=(CM_t\u2212CM_ind)/CM_t" in row["text"]
    assert "FS_e=CM_ind+(CU\u2212CU\u2217CF)/T" in row["text"]


def test_abstract_sections_and_headings() -> None:
    (row,), _ = parse(SAMPLES / "pmc_jats" / "mds526.nxml")
    text = row["text"]
    assert "## Abstract\n\n### Background\n\nUnderstanding socio-demographic inequalities" in text
    assert "\n## Introduction\n" in text  # "introduction" in the XML, made consistent
    assert row["meta"]["sections"] == ["Introduction", "Methods", "Results", "Discussion"]


def test_table_policy() -> None:
    path = SAMPLES / "pmc_jats" / "mds526.nxml"
    full = parse(path, tables="full")[0][0]["text"]
    caption = parse(path, tables="caption")[0][0]["text"]
    drop = parse(path, tables="drop")[0][0]["text"]
    cap = "Table 1. Distribution of stage, gender, age and deprivation categories by cancer"
    assert cap in full and cap in caption and cap not in drop
    assert "Stage I | 2219 45% | 8595 38%" in full
    assert "2219 45%" not in caption


@pytest.mark.parametrize("path", JATS, ids=lambda p: p.name)
def test_every_table_row_present_cell_by_cell(path: Path) -> None:
    """Each table row of the XML, its cells read one by one, is a line `a | b | c` of the text."""
    (row,), _ = parse(path)
    lines = set(row["text"].split("\n"))
    expected = []
    root = tree(path)
    for sup in list(root.iter("sup")):  # footnote marks ("a", "*", "†") belong to the footnotes, which are not text
        plain = all(d.tag in ("italic", "bold") for d in sup.iterdescendants())  # also <sup><italic>a</italic></sup>
        if plain and re.fullmatch(r"[a-z]{1,2}|[*†‡§¶#]{1,3}", "".join(sup.itertext()).strip()):
            for child in list(sup):
                sup.remove(child)
            sup.text = ""
    for tr in root.iter("tr"):
        if any(a.tag == "table-wrap-foot" for a in tr.iterancestors()):
            continue
        cells = [squash("".join(c.itertext())) for c in tr.iterchildren("td", "th")]
        if any(cells) and not any("xref" in (d.tag for d in c.iter()) for c in tr):  # (citation markers are cut)
            expected.append(" | ".join(c for c in cells if c))
    assert expected or path.name in ("ehp-116-1694.nxml",)
    missing = [e for e in expected if e not in lines]
    assert not missing, missing[:3]


def test_table_with_separator_characters_and_a_nested_table(tmp_path: Path) -> None:
    """Text that holds the private-use characters the fast table reading uses, and a table
    inside a cell, are read cell by cell: nothing is split or lost."""
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    start = raw.index("<table-wrap ")
    end = raw.index("</table-wrap>", start) + len("</table-wrap>")
    table = ('<table-wrap id="t9"><label>Table 9</label><caption><p>Odd cells</p></caption><table><tbody>'
             '<tr><td>a\ue010b</td><td>c\ue011d</td></tr>'
             '<tr><td>outer <table><tr><td>inner</td></tr></table></td><td>last</td></tr></tbody></table></table-wrap>')
    path = tmp_path / "odd.nxml"
    path.write_text(raw[:start] + table + raw[end:], encoding="utf-8")
    (row,), report = parse(path)
    assert report.errors == []
    lines = row["text"].split("\n")
    assert "a\ue010b | c\ue011d" not in lines  # the separators themselves are never kept as text
    assert "ab | cd" in lines and "outer inner | last" in lines and "inner" in lines


def test_nlm23_licence_in_p_and_journal_title() -> None:
    (row,), _ = parse(SAMPLES / "pmc_jats" / "1472-6831-8-11.nxml")
    assert row["license"] == "cc-by-2.0"
    assert row["meta"]["journal"] == "BMC Oral Health"


def test_articleset_wrapper_and_gzip(tmp_path: Path) -> None:
    """Two articles in a <pmc-articleset> (E-utilities output), gzipped: two rows."""
    bodies = []
    for name in ("mds526.nxml", "ehp-116-1694.nxml"):
        raw = (SAMPLES / "pmc_jats" / name).read_text(encoding="utf-8")
        bodies.append(raw[raw.index("<article ") :])
    doc = '<?xml version="1.0"?>\n<pmc-articleset>' + "".join(bodies) + "</pmc-articleset>"
    path = tmp_path / "set.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(doc)
    rows, report = parse(path)
    assert [r["id"] for r in rows] == ["pmc:PMC3574550", "pmc:PMC2599765"]
    assert report.records == 2 and report.errors == []


def test_retraction_is_skipped_and_counted(tmp_path: Path) -> None:
    raw = (SAMPLES / "pmc_jats" / "mds526.nxml").read_text(encoding="utf-8")
    path = tmp_path / "retraction.nxml"
    path.write_text(raw.replace('article-type="research-article"', 'article-type="retraction"', 1), encoding="utf-8")
    rows, report = parse(path)
    assert rows == [] and report.skipped == {"article-type retraction": 1}
    rows, _ = parse(path, skip_retractions=False)  # a row flagged for the `retractions` step
    assert rows[0]["meta"]["retraction"] == "retraction-notice" and rows[0]["meta"]["retraction_signal"] == "jats-article-type"


def test_article_without_text_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.nxml"
    shutil.copy(SAMPLES / "pmc_jats" / "mds526.nxml", path)
    root = tree(path)
    for tag in ("body", "front/article-meta/abstract"):
        for el in root.findall(tag):
            el.getparent().remove(el)
    path.write_bytes(etree.tostring(root))
    rows, report = parse(path)
    assert rows == []
    assert report.errors == [{"file": "empty.nxml", "record": "article", "reason": "article has neither abstract nor body text"}]
