"""JATS markup variants seen in real files (issue "Real-world fidelity"): a conformance corpus of
real articles from many publishers and DTD vintages (tests/fixtures/jats/SOURCES.md), checked
against the fact reader of `tests/jats_facts.py` (lxml alone, no code shared with `builders/`)."""

from __future__ import annotations

import gzip
import re
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from builders.pmc_jats import PMCJatsBuilder
from medc.ingest.builder import FileReport
from tests.conftest import FIXTURES, SAMPLES
from tests.jats_facts import Facts, WordIndex, read_facts, words

# The bundled samples and real files from other projects' tests (tests/fixtures/jats/SOURCES.md).
ARTICLES = sorted((SAMPLES / "pmc_jats").glob("*.nxml")) + sorted((FIXTURES / "jats").glob("*.nxml"))
# A Europe PMC open-access FTP file: an `<articles>` set of 10 articles of three publishers
# (the first 10 of PMC6358576_PMC6358589.xml.gz, as tidypmc ships them), gzipped as Europe PMC does.
EUROPE_PMC_BULK = FIXTURES / "jats" / "europepmc-PMC6358576_PMC6358589.xml.gz"


def row_of(path: Path, data: bytes | None = None) -> dict:
    builder = PMCJatsBuilder("pmc_jats", {}, path.parent)
    report = FileReport(path.name)
    rows = list(builder.parse_document(data, report)) if data is not None else list(builder.parse(path, report))
    assert not report.errors, report.errors
    (row,) = rows
    return row


@lru_cache(maxsize=None)
def checked(path: Path) -> tuple[Facts, list[dict], FileReport]:
    """The fact reader's facts and the builder's rows for one file (shared by the tests below)."""
    builder = PMCJatsBuilder("pmc_jats", {}, path.parent)
    report = FileReport(path.name)
    rows = list(builder.parse(path, report))
    return read_facts(path), rows, report


@lru_cache(maxsize=None)
def bulk_checked() -> tuple[list[tuple[Facts, dict]], FileReport]:
    """The Europe PMC bulk file: each article's facts (the set split here with lxml, each article
    read by the fact reader as a file of its own) with the builder's row of that article."""
    root = etree.fromstring(gzip.decompress(EUROPE_PMC_BULK.read_bytes()))
    assert etree.QName(root).localname == "articles"
    with tempfile.TemporaryDirectory() as tmp:
        facts = []
        for i, article in enumerate(root.iterchildren("{*}article")):
            (Path(tmp) / f"{i}.nxml").write_bytes(etree.tostring(article))
            facts.append(read_facts(Path(tmp) / f"{i}.nxml"))
    report = FileReport(EUROPE_PMC_BULK.name)
    rows = {r["meta"]["pmcid"]: r for r in PMCJatsBuilder("pmc_jats", {}, EUROPE_PMC_BULK.parent).parse(EUROPE_PMC_BULK, report)}
    assert sorted(rows) == sorted(f.pmcid for f in facts)
    return [(f, rows[f.pmcid]) for f in facts], report


def coverage(path: Path) -> dict[str, tuple[int, int]]:
    """(arrived, expected) per kind of fact for one file; a file skipped by policy has none."""
    facts, rows, _ = checked(path)
    return fact_coverage(facts, rows[0]) if rows else {}


def fact_coverage(facts: Facts, row: dict) -> dict[str, tuple[int, int]]:
    """(arrived, expected) per kind of fact for one article's row."""
    index = WordIndex(words(row["text"]))
    out = {kind: (sum(index.all_arrive(f) for f in getattr(facts, kind)), len(getattr(facts, kind)))
           for kind in ("abstracts", "paragraphs", "captions")}
    arrived_rows = [r for r in facts.table_rows if index.all_arrive(r)]
    out["table_rows"] = (len(arrived_rows), len(facts.table_rows))
    return out


# Article types that are notices about another article, skipped and counted by policy (README).
NOTICE_TYPES = {"correction", "retraction", "expression-of-concern", "addendum", "removal", "retracted-article"}


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.name)
def test_real_article_facts_arrive(path: Path) -> None:
    """Per real file: no error; a notice is counted by its type, every other article gives one row
    whose ids, licence, title, subjects and every abstract paragraph are the fact reader's, and
    no reference-list entry is written out in its text."""
    facts, rows, report = checked(path)
    assert not report.errors, f"{path.name}: {report.errors}"
    root = etree.parse(str(path)).getroot()
    article = root if etree.QName(root).localname == "article" else root.find(".//{*}article")
    if article.get("article-type") in NOTICE_TYPES:
        assert not rows and report.skipped == {f"article-type {article.get('article-type')}": 1}
        return
    scanned_pages = article.findall(".//{*}graphic[@content-type='scanned-page']")
    if scanned_pages and article.find("{*}body") is None and article.find(".//{*}abstract") is None:
        # PMC's digitised back issues: the pages are images, there is no text to read
        assert not rows and report.skipped == {"no text: scanned pages only": 1}, path.name
        return
    row, *translations = rows
    assert len(translations) == len(article.findall("{*}sub-article[@article-type='translation']"))
    assert all(t["meta"]["translation_of"] == row["id"] and t["id"] != row["id"] for t in translations)
    meta = row["meta"]
    for key in ("doi", "pmid", "pmcid"):
        assert meta.get(key) == getattr(facts, key), f"{path.name}: {key}"
    if facts.licence:
        assert row["license"] == facts.licence, path.name
    title = words(row["title"] or "")
    if not facts.title_parts:
        assert title == facts.title, path.name
    else:  # a formula in the title (Copernicus' chemical formulas): the words around it, in order, nothing else lost
        at = 0
        for part in facts.title_parts:
            found = next((i for i in range(at, len(title) - len(part) + 1) if title[i:i + len(part)] == part), None)
            assert found is not None, f"{path.name}: title words {part} missing from {row['title']!r}"
            at = found + len(part)
    index = WordIndex(words(row["text"]))
    lost = [" ".join(w for part in a for w in part)[:80] for a in facts.abstracts if not index.all_arrive(a)]
    assert not lost, f"{path.name}: abstract paragraphs missing: {lost}"
    written = [" ".join(e)[:80] for e in facts.reference_entries if index.contains(e)]
    assert not written, f"{path.name}: reference-list entries in the text: {written}"
    expected_subjects = [" ".join("".join(s.itertext()).split()) for s in
                         article.find("{*}front/{*}article-meta").iterfind(".//{*}article-categories//{*}subject")]
    assert meta.get("subjects", []) == expected_subjects


def test_conformance_corpus_figures() -> None:
    """Over the whole corpus (bundled samples + tests/fixtures/jats): ≥ 99.5 % of body paragraphs,
    ≥ 99 % of captions and of table rows (every cell, in order), 100 % of abstract paragraphs.
    Prints the figures per publisher."""
    totals: dict[str, list[int]] = {}
    by_publisher: dict[str, dict[str, list[int]]] = {}
    by_dtd: dict[str, dict[str, list[int]]] = {}
    missing: list[str] = []
    checked_articles = [(path.name, checked(path)[0], coverage(path)) for path in ARTICLES]
    checked_articles += [(f"{EUROPE_PMC_BULK.name}:{facts.pmcid}", facts, fact_coverage(facts, row)) for facts, row in bulk_checked()[0]]
    for name, facts, figures in checked_articles:
        for kind, (ok, n) in figures.items():
            for table in (totals, by_publisher.setdefault(facts.publisher or "?", {}), by_dtd.setdefault(facts.dtd, {})):
                table.setdefault(kind, [0, 0])
                table[kind][0] += ok
                table[kind][1] += n
            if ok < n:
                missing.append(f"{name}: {kind} {ok}/{n}")
    cells = sum(facts.table_cells for _, facts, _ in checked_articles)
    print(f"\n{len(checked_articles)} articles, {len(by_publisher)} publishers, {cells} table cells")
    for publisher, table in sorted(by_publisher.items()):
        print(f"  {publisher[:50]:50} " + "  ".join(f"{k} {ok}/{n}" for k, (ok, n) in table.items()))
    for dtd, table in sorted(by_dtd.items()):
        print(f"  {dtd[:80]:80} " + "  ".join(f"{k} {ok}/{n}" for k, (ok, n) in table.items()))
    print("  missing:", missing or "none")
    share = {kind: ok / n for kind, (ok, n) in totals.items() if n}
    assert len(checked_articles) >= 60 and len(by_publisher) >= 8
    assert share["abstracts"] == 1.0 and share["paragraphs"] >= 0.995, share
    assert share["captions"] >= 0.99 and share["table_rows"] >= 0.99, share


def test_europe_pmc_bulk_file_is_one_row_per_article() -> None:
    """Europe PMC's FTP files are `<articles>` sets without an XML declaration, their pmcids
    without the PMC prefix: each article is a row with the ids, licence, title and abstract the
    fact reader finds in it alone, and no reference-list entry in its text."""
    articles, report = bulk_checked()
    assert not report.errors and report.records == len(articles) == 10
    # Read as a stream (what a file of thousands gets): the same rows as read whole
    builder = PMCJatsBuilder("pmc_jats", {}, EUROPE_PMC_BULK.parent)
    streamed_report = FileReport(EUROPE_PMC_BULK.name)
    streamed = list(builder.parse_article_set(EUROPE_PMC_BULK, streamed_report))
    assert streamed == list(builder.parse_document(gzip.decompress(EUROPE_PMC_BULK.read_bytes()), FileReport("whole")))
    assert streamed_report.records == 10 and not streamed_report.errors
    for facts, row in articles:
        assert (row["id"], row["meta"].get("doi"), row["meta"].get("pmid")) == (f"pmc:{facts.pmcid}", facts.doi, facts.pmid)
        assert row["license"] == facts.licence and words(row["title"] or "") == facts.title, facts.pmcid
        index = WordIndex(words(row["text"]))
        assert all(index.all_arrive(a) for a in facts.abstracts), facts.pmcid
        assert not [e for e in facts.reference_entries if index.contains(e)], facts.pmcid


def test_translations_are_rows_of_their_own_and_peer_review_by_option() -> None:
    """SciELO keeps translations as sub-articles: the main article's text is its row, each
    translation a row with its language (never concatenated); eLife's decision letter and author
    response are rows only with `peer_review = true`, and counted otherwise."""
    path = FIXTURES / "jats" / "scielo-article-abstract-en-sub-articles-pt-es.nxml"
    main, pt, es = checked(path)[1]
    assert (main["meta"]["language"], pt["meta"]["language"], es["meta"]["language"]) == ("en", "pt", "es")
    assert "Objetivo" not in main["text"] and "analisar" in pt["text"] and "Análisis" in es["title"]
    assert pt["meta"]["translation_of"] == main["id"] and pt["meta"]["doi"] is None  # same_article keeps it
    elife = FIXTURES / "jats" / "elife-14093-v1.nxml"
    _, rows, report = checked(elife)
    assert len(rows) == 1 and report.skipped == {"sub-article article-commentary (not a row of its own)": 1,
                                                 "sub-article reply (not a row of its own)": 1}
    report = FileReport(elife.name)
    rows = list(PMCJatsBuilder("pmc_jats", {"peer_review": True}, elife.parent).parse(elife, report))
    assert [r["meta"]["article_type"] for r in rows] == ["research-article", "article-commentary", "reply"]
    assert all(r["meta"]["review_of"] == rows[0]["id"] for r in rows[1:]) and "decision" in rows[1]["text"].lower()


def test_floats_group_figures_are_read() -> None:
    path = SAMPLES / "pmc_jats" / "ehp-116-1694.nxml"
    assert b"<floats-group>" in path.read_bytes()
    text = row_of(path)["text"]
    assert text.count("\n\nFigure ") == 3 and "Figure 3: Dietary PBDE-47 exposure elevated mRNA levels" in text


@pytest.mark.parametrize("wrap", ["xsd", "oai", "cdata"])
def test_nlm_xsd_namespace_and_oai_wrapper_read_like_plain_files(wrap: str) -> None:
    """Older PMC exports put the article in the NLM 2.0 XSD namespace, OAI-PMH responses wrap it
    (files derived from the bundled sample by adding exactly that markup). With a CDATA section
    in the file (which could hold a namespace declaration as text) the other way of reading
    namespaces gives the same row."""
    path = SAMPLES / "pmc_jats" / "pntd.0002065.nxml"
    data = path.read_bytes()
    body = data[data.index(b"<article "):]
    ns = b'<article xmlns="http://dtd.nlm.nih.gov/2.0/xsd/archivearticle" '
    namespaced = body.replace(b"<article ", ns, 1)
    if wrap == "oai":
        namespaced = (b'<?xml version="1.0"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record>'
                      b"<metadata>" + namespaced + b"</metadata></record></GetRecord></OAI-PMH>")
    if wrap == "cdata":
        namespaced = namespaced.replace(b"</article>", b'<?cdata-holder?><![CDATA[]]></article>', 1)
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
    # BMC writes the mark in italics (`IN56 (1)<sup><italic>a</italic></sup>`): it goes too.
    bmc = row_of(SAMPLES / "pmc_jats" / "1471-2180-11-174.nxml")["text"]
    assert "IN56 (1) | 230 | 65.1 | 3.24" in bmc and "(1)a" not in bmc and "(2)a" not in bmc


def test_every_abstract_is_text_but_graphics_and_blurbs() -> None:
    """PMC today (2026 files): `highlights` and `plain-language-summary` abstracts are text under
    their own titles (they were left out); a `teaser` (a one-line blurb for a table of contents) is
    not."""
    text = row_of(FIXTURES / "jats" / "PMC13243813.nxml")["text"]
    assert "\n\n## Highlights\n\nThis study provides a scientific rationale for incorporating sarcopenia" in text
    assert "\n\n## Lay Summary\n\nIn older patients with cirrhosis being considered for a TIPS procedure" in text
    text = row_of(FIXTURES / "jats" / "PMC12967033.nxml")["text"]
    assert "Kernza intermediate wheatgrass" in text and "did not lose weight or reduce their body condition" not in text


def test_no_space_left_before_punctuation_where_citations_and_formulas_stood() -> None:
    """`program<sup> <xref ref-type="bibr">9</xref> </sup>.` is "program.", a bare MathML `C_g` in
    brackets is "(C_g)", and a formula before a comma keeps the comma against it."""
    text = checked(FIXTURES / "jats" / "PMC13183359.nxml")[1][0]["text"]  # (and its Portuguese translation)
    assert "largest public transplantation program. Despite" in text and " program ." not in text
    text = row_of(FIXTURES / "jats" / "PMC13133655.nxml")["text"]
    assert "The amount of analyte in the gas phase (C_g), which has" in text
    text = row_of(FIXTURES / "jats" / "PMC13179431.nxml")["text"]
    assert "for both police, M=4.64, 95% CI [4.56, ∞], t(204)=12.39, p<.001" in text


def test_oasis_cals_tables_are_read_like_xhtml_tables() -> None:
    """Copernicus' "Journal Publishing with OASIS Tables": `oasis:table/tgroup/tbody/row/entry` in
    the OASIS exchange namespace. Every row arrives, cell by cell in order (before, none did: the
    caption alone stood for the table)."""
    path = FIXTURES / "jats" / "copernicus-acp-15-1013-2015.nxml"
    assert b"<oasis:entry" in path.read_bytes()
    arrived, expected = coverage(path)["table_rows"]
    assert expected >= 30 and arrived == expected
    assert "GEM / CO | mainland China | 1.4–19.6 | 7.3 | 8.4 | 7.5 | 4.3 | 37 | 0.96" in row_of(path)["text"]


def test_an_article_of_another_schema_is_one_clear_error(tmp_path: Path) -> None:
    """Elsevier's, Nature's, IOP's and RSC's own XML also have an <article> root: the file is
    one error that says it is not JATS and what the article holds, and nothing else is read."""
    path = tmp_path / "elsevier-like.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<article xmlns="http://www.elsevier.com/xml/ja/dtd" version="5.0">'
                     b"<item-info><jid>X</jid></item-info><head><title>T</title></head><tail/></article>")
    report = FileReport(path.name)
    assert list(PMCJatsBuilder("pmc_jats", {}, tmp_path).parse(path, report)) == []
    (error,) = report.errors
    assert error["reason"].startswith("not a JATS article: <article> has no front/article-meta (it holds <item-info>, <head>, <tail>)")
    # A real PubMed file (Karger's record, from pubchunks) in the JATS source: the error names the builder that reads it
    with pytest.raises(ValueError, match=r"<PubmedArticleSet> is not a JATS .*MEDLINE/PubMed XML, which the `medline` builder reads"):
        list(PMCJatsBuilder("pmc_jats", {}, FIXTURES).parse(FIXTURES / "medline" / "metapub_23435529.xml", FileReport("x")))


def test_a_linked_year_stays_with_its_authors() -> None:
    """Wiley links only the year of an author-year citation ("(Stelter et al., <xref>2022</xref>)"):
    the year is not a numeric marker, so the citation stays whole instead of leaving
    "(Stelter et al.,)" (632 such places in the corpus before); numeric markers still go."""
    text = row_of(FIXTURES / "jats" / "PMC13179431.nxml")["text"]
    assert "stopped by police (Stelter et al., 2022) and treated" in text
    assert not re.search(r",\s*[);]", text)
    risman = row_of(FIXTURES / "jats" / "PMC13238454.nxml")["text"]
    assert "As Risman (2004, p.433) argues" in risman


def test_blocks_inside_cells_and_captions_are_not_glued() -> None:
    """Lists and paragraphs inside a table cell (Wiley), and the label, title and paragraphs of a
    source-data file described inside a figure's caption (eLife), are apart, not glued into
    "senescence.Increased", "BreastfeedingDietetingMy Plate", "source data 1.Source files"."""
    cells = row_of(FIXTURES / "jats" / "PMC13254690.nxml")["text"]
    assert "Cellular senescence. Increased pro‐inflammatory and tissue fibrosis. Affects" in cells
    listed = row_of(FIXTURES / "jats" / "PMC13242705.nxml")["text"]
    assert "Breastfeeding Dieteting My Plate" in listed and "BreastfeedingDieteting" not in listed
    elife = row_of(FIXTURES / "jats" / "elife-14093-v1.nxml")["text"]
    assert "Figure 5—source data 1. Source files for simulated permutation" in elife
    assert not re.search(r"[a-z]{3,}\.[A-Z][a-z]{2,}", cells + listed + elife)


def test_box_text_in_its_caption_footnote_markers_and_glued_citations() -> None:
    """Three classes of markup from real files: a box whose text and figures stand in its caption's
    paragraphs (eLife: they were lost); footnote markers (`<xref ref-type="fn">16</xref>`, SciELO)
    glued to the word before them ("moderno16"); an author-year citation linked with no space after
    the word before it ("T. albicollis<xref>Brandt et al., 2009</xref>")."""
    box = row_of(FIXTURES / "jats" / "elife05502.nxml")["text"]
    assert "We built a reaction-diffusion model of the BMP/Sog system" in box
    assert "Box figure 1. Temporal progression of pattern formation." in box
    notes = checked(FIXTURES / "jats" / "scielo-2176-4573-bak-p59553.nxml")[1][0]["text"]  # (the main article's row)
    assert "O nascimento do chamado balé moderno tal como" in notes and "moderno16" not in notes
    cited = row_of(FIXTURES / "jats" / "scielo-1807-0205-paz-62-e202262026.nxml")["text"]
    assert "T. albicollis Brandt et al., 2009)" in cited and "(e.g., Machado, 1999;" in cited


def test_a_list_inside_a_list_items_paragraph_is_its_own_lines() -> None:
    """ADA's Diabetes Care (PMC2992225) nests a list inside a list item's `<p>`; SciELO puts a
    table there (the items were glued: "durationHypertensionCigarette smoking", table cells
    inside the item's line)."""
    text = row_of(FIXTURES / "jats" / "pubchunks-PMC2992225.nxml")["text"]
    assert "- Age >30 years and\n\n- Type 1 or type 2 diabetes of >10 years in duration\n\n- Hypertension\n\n- Cigarette smoking" in text
    assert "durationHypertension" not in text
    scielo = row_of(FIXTURES / "jats" / "scielo-1519-6984-bjb-83-e246904.nxml")["text"]
    assert "\n\nTable 6: Effect of different concentration of NH4NO3" in scielo


def test_full_text_withheld_by_the_publisher_is_marked_or_counted(tmp_path: Path) -> None:
    """PMC's efetch answers with the front matter only, and the comment "The publisher of this
    article does not allow downloading of the full text in XML form.", when the publisher does not
    allow it (a file made from a bundled sample in that shape, as a single file and inside a
    `<pmc-articleset>` beside a full article): the abstract is a row marked
    `full_text_withheld`; without an abstract the article is counted, not an error."""
    path = SAMPLES / "pmc_jats" / "pntd.0002065.nxml"
    full = etree.parse(str(path)).getroot()
    restricted = etree.parse(str(path)).getroot()
    for part in (restricted.find("body"), restricted.find("back")):
        restricted.remove(part)
    restricted.insert(0, etree.Comment("The publisher of this article does not allow downloading of the full text in XML form."))
    single = tmp_path / "restricted.nxml"
    single.write_bytes(etree.tostring(restricted))
    row = row_of(single)
    assert row["meta"]["full_text_withheld"] is True and "## Abstract" in row["text"]
    assert "full_text_withheld" not in row_of(path)["meta"]
    no_abstract = etree.fromstring(etree.tostring(restricted))
    for abstract in no_abstract.findall("front/article-meta/abstract"):
        abstract.getparent().remove(abstract)
    articleset = tmp_path / "efetch.xml"
    articleset.write_bytes(b"<pmc-articleset>" + etree.tostring(no_abstract) + etree.tostring(full) + b"</pmc-articleset>")
    builder = PMCJatsBuilder("pmc_jats", {}, tmp_path)
    for read in (builder.parse, builder.parse_article_set):  # read whole (a small file), and as a stream
        report = FileReport(articleset.name)
        rows = list(read(articleset, report))
        assert report.errors == [] and report.skipped == {"no text: full text withheld by the publisher (front matter only)": 1}
        assert len(rows) == 1 and rows[0]["text"] == row_of(path)["text"] and "full_text_withheld" not in rows[0]["meta"]


@pytest.mark.parametrize("doctype", [True, False])
def test_character_names_of_the_dtd_are_read_as_their_characters(doctype: bool) -> None:
    """`&eacute;`, `&ndash;`, `&alpha;`, `&nbsp;` (names the JATS DTD defines, which we never
    load; a bundled sample with them written in): read as the characters. Before, lxml dropped
    them without a word where the file had a DOCTYPE ("Caf -helixtext") and refused the file
    where it had none."""
    path = SAMPLES / "pmc_jats" / "pntd.0002065.nxml"
    data = path.read_bytes()
    at = data.index(b"<p>", data.index(b"<body>"))  # the body's first paragraph
    data = data[:at] + b"<p>Caf&eacute; &ndash; &alpha;-helix&nbsp;text &amp; more. " + data[at + 3:]
    if not doctype:
        data = data[data.index(b"<article "):]
    text = row_of(path, data)["text"]
    assert "Café – α-helix text & more." in text
