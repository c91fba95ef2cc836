"""JATS markup variants seen in real files (issue "Real-world fidelity"), checked against a
small fact reader written here with lxml alone (no code shared with `builders/`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport
from tests.conftest import FIXTURES, SAMPLES

# The bundled samples and real files from other projects' tests (tests/fixtures/jats/SOURCES.md).
ARTICLES = sorted((SAMPLES / "pmc_jats").glob("*.nxml")) + sorted((FIXTURES / "jats").glob("*.nxml"))


def words(text: str) -> str:
    """Lower-case words only: the fact reader and the builder agree on these whatever the markup."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def facts(path: Path) -> dict:
    """Captions, DOI and subjects of the main article, read with lxml and XPath only."""
    root = etree.parse(str(path)).getroot()
    # Never prose: object ids (eLife's caption DOIs), supplementary files and media inside captions.
    etree.strip_elements(root, "{*}object-id", "{*}supplementary-material", "{*}media", with_tail=False)
    # Formulas are rendered by the builder (TeX kept, MathML linearised): left out here, allowed for by `in_order`.
    etree.strip_elements(root, "{*}inline-formula", "{*}disp-formula", with_tail=False)
    for sup in [s for table in root.iter("{*}table-wrap") for s in table.iter("{*}sup")]:  # table footnote marks
        if not len(sup) and re.fullmatch(r"[a-z]{1,2}|[*†‡§¶#]{1,3}", (sup.text or "").strip()):
            sup.text = ""
    for xref in [x for x in root.iter("{*}xref") if x.get("ref-type") in ("bibr", "table-fn")]:  # markers, not caption text
        xref.text = ""  # (a narrative citation the builder keeps is allowed for by `in_order`)
        for child in list(xref):
            xref.remove(child)
    article = root if etree.QName(root).localname == "article" else root.find(".//{*}article")
    main = [el for el in article.iter("{*}fig", "{*}table-wrap") if not any(
        isinstance(a.tag, str) and etree.QName(a).localname in ("sub-article", "response") for a in el.iterancestors())]
    captions = []
    for el in main:
        cap = el.find("{*}caption")
        if cap is not None:
            text = " ".join("".join(p.itertext()) for p in cap if isinstance(p.tag, str) and etree.QName(p).localname in ("title", "p"))
            if words(text):
                captions.append(words(text))
    meta = article.find("{*}front/{*}article-meta")
    doi = next(("".join(a.itertext()).strip() for a in meta.findall("{*}article-id") if a.get("pub-id-type") == "doi"), None)
    subjects = ["".join(s.itertext()).strip() for s in meta.iterfind(".//{*}article-categories//{*}subject")]
    return {"captions": captions, "doi": doi, "subjects": subjects}


def in_order(caption: list[str], text: list[str], slack: int = 12) -> bool:
    """The caption's words stand in the text in order, with at most `slack` other words between
    two of them (a narrative citation such as "Schuman et al 2014" that the builder keeps, or a
    rendered inline formula)."""
    head = caption[:3]
    for start in (i for i in range(len(text) - len(head) + 1) if text[i:i + len(head)] == head):
        j = start
        for word in caption:
            window = text[j:j + slack + 1]
            if word not in window:
                break
            j += window.index(word) + 1
        else:
            return True
    return False


def row_of(path: Path, data: bytes | None = None) -> dict:
    builder = PMCJatsBuilder("pmc_jats", {}, path.parent)
    report = FileReport(path.name)
    rows = list(builder.parse_document(data, report)) if data is not None else list(builder.parse(path, report))
    assert not report.errors, report.errors
    (row,) = rows
    return row


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name)
def test_every_caption_doi_and_subject_arrives(path: Path) -> None:
    expected = facts(path)
    row = row_of(path)
    text = words(row["text"])
    missing = [c[:80] for c in expected["captions"] if not in_order(c.split(), text.split())]
    assert not missing, f"{path.name}: captions missing from the text: {missing}"
    assert row["meta"].get("doi") == expected["doi"]  # as published, case kept
    assert [s for s in row["meta"].get("subjects", [])] == [" ".join(s.split()) for s in expected["subjects"]]


def test_floats_group_figures_are_read() -> None:
    path = SAMPLES / "pmc_jats" / "ehp-116-1694.nxml"
    assert b"<floats-group>" in path.read_bytes()
    text = row_of(path)["text"]
    assert text.count("\n\nFigure ") == 3 and "Figure 3: Dietary PBDE-47 exposure elevated mRNA levels" in text


@pytest.mark.parametrize("wrap", ["xsd", "oai"])
def test_nlm_xsd_namespace_and_oai_wrapper_read_like_plain_files(wrap: str) -> None:
    """Older PMC exports put the article in the NLM 2.0 XSD namespace, OAI-PMH responses wrap it
    (files derived from the bundled sample by adding exactly that markup)."""
    path = SAMPLES / "pmc_jats" / "pntd.0002065.nxml"
    data = path.read_bytes()
    body = data[data.index(b"<article "):]
    ns = b'<article xmlns="http://dtd.nlm.nih.gov/2.0/xsd/archivearticle" '
    namespaced = body.replace(b"<article ", ns, 1)
    if wrap == "oai":
        namespaced = (b'<?xml version="1.0"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record>'
                      b"<metadata>" + namespaced + b"</metadata></record></GetRecord></OAI-PMH>")
    plain = row_of(path)
    other = row_of(path, namespaced)
    assert other["text"] == plain["text"] and other["id"] == plain["id"] and other["license"] == plain["license"]
    assert other["meta"] == plain["meta"]


def test_display_formula_inside_a_paragraph_is_its_own_block(tmp_path: Path) -> None:
    xml = (b'<article><front><article-meta><article-id pub-id-type="pmid">1</article-id><title-group><article-title>T'
           b"</article-title></title-group></article-meta></front><body><sec><title>Methods</title><p>The rate was computed as"
           b'<disp-formula id="e1"><tex-math>r = k/n</tex-math></disp-formula>where k is the count.</p></sec></body></article>')
    text = row_of(tmp_path / "x.nxml", xml)["text"]
    assert "The rate was computed as\n\nr = k/n\n\nwhere k is the count." in text


def test_nested_subject_groups_as_pubmed_parser_reads_them() -> None:
    """pubmed_parser's own test of this file (PMC3460867) expects these 29 subjects, nested groups included."""
    expected = ("Research Article; Biology; Biochemistry; Enzymes; Enzyme Metabolism; Lipids; Fatty Acids; Glycerides; "
                "Lipid Metabolism; Neutral Lipids; Metabolism; Lipid Metabolism; Proteins; Globular Proteins; Protein Classes; "
                "Recombinant Proteins; Biotechnology; Microbiology; Bacterial Pathogens; Bacteriology; Emerging Infectious "
                "Diseases; Host-Pathogen Interaction; Microbial Growth and Development; Microbial Metabolism; Microbial "
                "Pathogens; Microbial Physiology; Proteomics; Sequence Analysis; Spectrometric Identification of Proteins")
    row = row_of(FIXTURES / "jats" / "pone.0046493.nxml")
    assert "; ".join(row["meta"]["subjects"]) == expected and len(row["meta"]["subjects"]) == 29
    assert row["meta"]["doi"] == "10.1371/journal.pone.0046493"


def test_table_footnote_marks_are_not_glued_to_numbers() -> None:
    """Footnote marks, as `<xref ref-type="table-fn">` (PLoS) or bare `<sup>a</sup>` (Annals of
    Oncology), go with their footnotes: "(n = 98 942)a" and "39.1c" never reach the text."""
    mds = row_of(SAMPLES / "pmc_jats" / "mds526.nxml")["text"]
    assert "(n = 98 942)" in mds and "98 942)a" not in mds
    for path in (SAMPLES / "pmc_jats" / "mds526.nxml", SAMPLES / "pmc_jats" / "pntd.0002065.nxml"):
        text = row_of(path)["text"]
        assert not re.findall(r"\d\)?[a-d]\b", text), path.name
