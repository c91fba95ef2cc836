"""Textbooks: the real OpenStax CNXML chapter, and the same text as plain text (MedQA
textbook layout), PDF and EPUB files made here from it."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from builders.textbooks import TextbookBuilder
from medc.ingest.builder import FileReport
from tests.conftest import FIXTURES, SAMPLES
from tests.docmakers import make_epub, make_pdf

BOOK = SAMPLES / "textbooks" / "openstax_anatomy_physiology_2e"
COLLECTION = BOOK / "anatomy-and-physiology-2e.collection.xml"
ENDS_SENTENCE = re.compile(r"[.!?:)\"”]$")


def build(path: Path, root: Path = SAMPLES, **options) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    return list(TextbookBuilder("textbooks", options, root).parse(path, report)), report


def module_paragraphs(name: str) -> list[str]:
    """Every <para> of a module's content outside exercises, as whitespace-collapsed text."""
    root = etree.parse(str(BOOK / name)).getroot()
    out = []
    for para in root.iter("{http://cnx.rice.edu/cnxml}para"):
        if any(etree.QName(a).localname in ("exercise", "metadata", "figure") for a in para.iterancestors()):
            continue
        text = " ".join("".join(para.itertext()).split())
        if len(text.split()) > 8 and "<link" not in etree.tostring(para, encoding=str):
            out.append(text)
    return out


def test_cnxml_collection_in_module_order_without_exercises() -> None:
    rows, report = build(COLLECTION)
    assert report.errors == [] and rows
    assert report.skipped == {"module file not present": 190}  # the sample holds chapter 1 (8 of 198 modules)
    assert {r["license"] for r in rows} == {"cc-by-nc-sa-4.0"}  # from the collection's md:license
    assert {r["meta"]["chapter"] for r in rows} == {"An Introduction to the Human Body"}
    assert [r["meta"]["part"] for r in rows] == list(range(1, len(rows) + 1))
    text = "\n\n".join(r["text"] for r in rows)
    # Module order from the collection: m45981 (Introduction), m45983 (Overview), m45985 (Structural Organization) ...
    order = [text.index("## Introduction"), text.index("## Overview of Anatomy and Physiology"),
             text.index("## Structural Organization of the Human Body"), text.index("## Medical Imaging")]
    assert order == sorted(order)
    for name in ("m45983.index.cnxml", "m45990.index.cnxml"):
        for para in module_paragraphs(name):
            assert para in text, para[:80]
    assert "Which of the following specialties might focus" not in text  # exercises left out
    assert "Review Questions" not in text  # its heading goes with them
    assert "- anatomy: science that studies the form and composition of the body’s structures" in text  # glossary kept
    for row in rows:
        assert len(row["text"].split()) <= 2000 + 10  # + the repeated chapter heading
        last = row["text"].rsplit("\n", 1)[-1]
        assert ENDS_SENTENCE.search(last) or last.startswith("- "), last[-80:]  # a sentence or a list item ends it
    # Module files next to their collection are read through it, not twice.
    rows, report = build(BOOK / "m45983.index.cnxml")
    assert rows == [] and not report.skipped and report.info == {"module read through its collection": 1}


def plain_book(tmp_path: Path) -> Path:
    """The chapter as a plain-text book in the MedQA layout: bare heading lines, one paragraph per line."""
    rows, _ = build(COLLECTION)
    lines = ["Chapter 1 An Introduction to the Human Body", ""]
    for row in rows:
        for block in row["text"].split("\n\n")[1:]:
            lines += [block.lstrip("#").strip()] if block.startswith("#") else block.split("\n")
            lines.append("")
    lines += ["CHAPTER 2 THE CHEMICAL LEVEL OF ORGANIZATION", "", "Atoms, isotopes, ions and molecules are the building blocks of the body. " * 12]
    path = tmp_path / "textbooks" / "Anatomy_Physiology.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes("\r\n".join(lines).encode())  # CRLF, no final newline
    return path


@pytest.mark.parametrize("max_words", [2000, 60])
def test_plain_text_chapters_and_pieces_never_cut_mid_sentence(tmp_path: Path, max_words: int) -> None:
    path = plain_book(tmp_path)
    rows, report = build(path, tmp_path, max_words=max_words)
    assert report.errors == []
    chapters = [r["meta"]["chapter"] for r in rows]
    assert chapters[0] == "Chapter 1 An Introduction to the Human Body" and chapters[-1] == "CHAPTER 2 THE CHEMICAL LEVEL OF ORGANIZATION"
    assert len(set(chapters)) == 2 and rows[0]["id"] == "book:textbooks-anatomy-physiology-txt:001-001"
    for row in rows:
        body = row["text"].split("\n\n", 1)[1]
        assert row["text"].startswith(f"# {row['meta']['chapter']}\n\n")
        last = body.rsplit("\n\n", 1)[-1]
        assert ENDS_SENTENCE.search(last) or last.startswith("- "), last[-80:]  # a sentence or the glossary list
        assert not body.endswith(tuple(f"## {s}" for s in row["meta"]["sections"]))  # no heading left dangling
        longest_sentence = 70  # one sentence alone may exceed a tiny max_words
        assert len(body.split()) <= max(max_words, longest_sentence)
    assert "## Overview of Anatomy and Physiology" in "\n".join(r["text"] for r in rows)  # bare short line → heading
    joined = " ".join(" ".join(r["text"].split("\n\n")[1:]) for r in rows)
    for para in module_paragraphs("m45983.index.cnxml"):
        assert para in joined  # nothing lost when pieces are cut


def test_pdf_headers_footers_and_hyphenation(tmp_path: Path) -> None:
    # Helvetica in a plain PDF speaks Latin-1: typographic quotes become ASCII ones.
    fold = str.maketrans({"’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
    paras = [p.translate(fold) for p in module_paragraphs("m45983.index.cnxml")[:3]]
    words = " ".join(paras).split()
    lines, line = [], ""
    for w in words:  # wrap at ~70 characters, hyphenating "anatomy" across a line end once
        if len(line) + len(w) > 70:
            if w == "anatomy" and "anat-" not in "".join(lines):
                lines.append(f"{line} anat-")
                line = "omy"
                continue
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    pages = [["Anatomy Handbook"] + (["Chapter 1 Overview"] if i == 0 else []) + lines[i:i + 20] + [str(i // 20 + 1)]
             for i in range(0, len(lines), 20)]
    assert len(pages) >= 2
    path = tmp_path / "textbooks" / "handbook.pdf"
    path.parent.mkdir()
    make_pdf(path, pages, title="Anatomy Handbook")
    rows, report = build(path, tmp_path)
    assert report.errors == [] and len(rows) == 1
    text = rows[0]["text"]
    assert rows[0]["meta"]["chapter"] == "Chapter 1 Overview" and rows[0]["meta"]["book"] == "Anatomy Handbook"
    assert "Anatomy Handbook" not in text.split("\n\n", 1)[1]  # running header gone
    assert "anat-" not in text and "anat- omy" not in text
    assert re.search(r"\n2\n|\s2$", text) is None  # page numbers gone
    flat = " ".join(text.split()).translate(fold)  # Helvetica's StandardEncoding quote comes back as ’
    for para in paras:
        assert para in flat, para[:80]


def test_epub_spine_order_and_bad_files(tmp_path: Path) -> None:
    paras = module_paragraphs("m45983.index.cnxml")
    path = tmp_path / "textbooks" / "book.epub"
    path.parent.mkdir()
    make_epub(path, "Anatomy Notes", [("Overview", paras[:2]), ("Specialties", paras[2:4])])
    rows, report = build(path, tmp_path, min_words=10)
    assert report.errors == [] and [r["meta"]["chapter"] for r in rows] == ["Overview", "Specialties"]
    assert rows[0]["title"] == "Anatomy Notes: Overview" and paras[0] in rows[0]["text"] and paras[3] in rows[1]["text"]
    (tmp_path / "textbooks" / "broken.epub").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an EPUB"):
        build(tmp_path / "textbooks" / "broken.epub", tmp_path)
    (tmp_path / "textbooks" / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(ValueError, match="PDF"):
        build(tmp_path / "textbooks" / "broken.pdf", tmp_path)


def test_line_break_hyphens_kept_where_the_text_says_they_belong() -> None:
    from medc.text.normalize import dehyphenate

    text = ("The drug has a long half-\nlife. Half of the dose is cleared, and life expectancy rose after treat-\nment "
            "with a long-\nterm regimen; long-term use is safe. Anti-\nTNF drugs and anti-\ninflammatory ones differ.")
    assert dehyphenate(text) == ("The drug has a long half-life. Half of the dose is cleared, and life expectancy rose after "
                                 "treatment with a long-term regimen; long-term use is safe. Anti-TNF drugs and antiinflammatory "
                                 "ones differ.")


def test_cnxml_cross_references_carry_the_numbers_the_book_prints() -> None:
    """OpenStax writes figure references as empty links (`<link target-id="fig-ch01_02_01"/>`)
    and numbers figures per chapter when it renders the book: "(Figure 1.2 a)", never
    "(Figure)" or "as illustrated in Figure ." (the book's chapter 1: the opener is Figure
    1.1, the organ systems are Figures 1.4 and 1.5, metabolism is Figure 1.6)."""
    text = "\n".join(r["text"] for r in TextbookBuilder("textbooks", {}, BOOK.parent).parse(COLLECTION, FileReport("c")))
    assert "(Figure)" not in text and not re.search(r"\b(Figure|Table)\s*[.,;)]", text)
    assert "the human body (Figure 1.4 and Figure 1.5)" in text and "take place in the body (Figure 1.6)" in text
    ids = re.findall(rb'<figure id="([^"]+)"', b"".join(p.read_bytes() for p in [BOOK / f"{m}.index.cnxml" for m in
                     re.findall(r'document="([^"]+)"', COLLECTION.read_text())[:8]] if p.is_file()))
    assert ids[0] == b"fig-ch01_00_01"  # the chapter opener, Figure 1.1


def test_real_epub_chapters_follow_the_books_own_table_of_contents() -> None:
    """A real EPUB 3 (Alice's Adventures in Wonderland, from epub.js's test data): the `nav`
    table of contents is not text, and the chapters are the ones that table lists, in its
    order, each starting with its first paragraph."""
    path = FIXTURES / "epub" / "alice.epub"
    with zipfile.ZipFile(path) as zf:
        nav = etree.fromstring(zf.read("OPS/toc.xhtml"))
        chapter_one = etree.fromstring(zf.read("OPS/chapter_001.xhtml"))
    listed = [" ".join("".join(a.itertext()).split()) for a in nav.iter("{*}a")][1:]  # after "Title Page"
    first_para = " ".join("".join(next(chapter_one.iter("{*}p")).itertext()).split())
    rows, report = build(path, FIXTURES, max_words=100000, min_words=10)
    chapters = list(dict.fromkeys(r["meta"]["chapter"] for r in rows))
    assert report.errors == [] and chapters[-len(listed):] == listed and "Contents" not in chapters
    assert first_para.startswith("Alice was beginning") and first_para in rows[chapters.index(listed[0])]["text"]


def test_several_chapters_in_one_epub_file_are_not_nested(tmp_path: Path) -> None:
    """A file that holds "Chapter 1" and "Chapter 2" gives two chapters, not chapter 2 as a
    section of chapter 1."""
    paras = module_paragraphs("m45983.index.cnxml")
    path = tmp_path / "textbooks" / "one.epub"
    path.parent.mkdir()
    make_epub(path, "Notes", [("Chapter 1", paras[:2]), ("Chapter 2", paras[2:4])], one_file=True)
    rows, _ = build(path, tmp_path, min_words=10)
    assert [r["meta"]["chapter"] for r in rows] == ["Chapter 1", "Chapter 2"] and "Chapter 2" not in rows[0]["text"]


def test_book_licences_from_the_book_or_a_licences_table(tmp_path: Path) -> None:
    """An EPUB's `dc:rights` becomes its rows' licence ("Public domain in the USA."); a
    `licenses.csv` beside the books (file,license) names the licence of each file of a mixed
    folder and wins over what a book says; a book neither names keeps the source's option."""
    rows, _ = build(FIXTURES / "epub" / "alice.epub", FIXTURES, max_words=100000, min_words=10)
    assert {r["license"] for r in rows} == {"public-domain"}
    books = tmp_path / "textbooks" / "shelf"
    books.mkdir(parents=True)
    shutil.copy(FIXTURES / "epub" / "alice.epub", books / "alice.epub")
    paras = module_paragraphs("m45983.index.cnxml")
    make_epub(books / "notes.epub", "Notes", [("Overview", paras[:2])])
    (tmp_path / "textbooks" / "licenses.csv").write_text("file,license\nshelf/alice.epub,CC-BY-4.0\n")
    rows, _ = build(books / "alice.epub", tmp_path, max_words=100000, min_words=10)
    assert {r["license"] for r in rows} == {"cc-by-4.0"}
    rows, _ = build(books / "notes.epub", tmp_path, min_words=10, license="cc-by-sa-4.0")
    assert {r["license"] for r in rows} == {"cc-by-sa-4.0"}


def toc_titles(path: Path) -> list[tuple[str, list[str]]]:
    """A book's `nav` table of contents read here: (title, titles of the entries under it) per
    top-level entry."""
    with zipfile.ZipFile(path) as zf:
        opf_name = etree.fromstring(zf.read("META-INF/container.xml")).find(".//{*}rootfile").get("full-path")
        opf = etree.fromstring(zf.read(opf_name))
        nav_href = next(i.get("href") for i in opf.iter("{*}item") if "nav" in (i.get("properties") or "").split())
        nav = etree.fromstring(zf.read(str(Path(opf_name).parent / nav_href)))
    toc = next(n for n in nav.iter("{*}nav") if "toc" in (n.get("{http://www.idpf.org/2007/ops}type") or "").split())
    text = lambda el: " ".join("".join(el.find("{*}a").itertext()).split())  # noqa: E731
    return [(text(li), [text(c) for c in li.findall("{*}ol/{*}li")]) for li in toc.find("{*}ol").findall("{*}li")]


def test_real_epubs_chapters_follow_their_table_of_contents() -> None:
    """IDPF's real EPUB 3 samples (tests/fixtures/epub/SOURCES.md). Beezer's linear algebra keeps
    one file per section and groups its chapters under "Part" pages: the chapters are the
    table of contents' chapters (a part's entries), its sections stay inside them (before, each
    of the 60 section files was a chapter of its own); its title and copyright pages are left out.
    Moby-Dick's "Brief Contents" page is a table of contents, not a chapter; its 135 chapters
    are all there, in order."""
    algebra = FIXTURES / "epub" / "linear-algebra.epub"
    rows, report = build(algebra, FIXTURES, max_words=10**7, min_words=1)
    chapters = list(dict.fromkeys(r["meta"]["chapter"] for r in rows))
    # Its title page and copyright page are pages about the edition (their `body`s are typed so):
    # left out and counted, as the imprint and colophon of any EPUB 3 are.
    with zipfile.ZipFile(algebra) as zf:
        typed = [etree.fromstring(zf.read(f"EPUB/xhtml/{n}.xhtml")).find("{*}body").get("{http://www.idpf.org/2007/ops}type")
                 for n in ("titlepage", "copyright")]
    assert typed == ["frontmatter titlepage", "frontmatter copyright-page"]
    edition_pages = {"A First Course in Linear Algebra", "Copyright"}  # their titles in the table of contents
    expected = [t for title, under in toc_titles(algebra) if title != "Table of Contents" and title not in edition_pages
                for t in ([title] + (under if title.startswith("Part ") else []))]
    assert report.errors == [] and chapters == expected
    assert report.skipped["page about the edition (epub:type titlepage)"] == 1
    assert report.skipped["page about the edition (epub:type copyright-page)"] == 1
    sle = next(r["text"] for r in rows if r["meta"]["chapter"].startswith("Chapter 1. Chapter SLE"))
    assert "## Section WILA What is Linear Algebra?" in sle and not any(c.startswith("Section ") for c in chapters)
    moby = FIXTURES / "epub" / "moby-dick.epub"
    rows, report = build(moby, FIXTURES, max_words=10**7, min_words=1)
    chapters = list(dict.fromkeys(r["meta"]["chapter"] for r in rows))
    listed = [t for t, _ in toc_titles(moby) if t.startswith("Chapter ")]
    assert report.errors == [] and len(listed) == 135 and [c for c in chapters if c.startswith("Chapter ")] == listed
    assert "Brief Contents" not in chapters and not any("Show detailed contents" in r["text"] for r in rows)


def test_epub2_ncx_table_of_contents_starts_the_chapters(tmp_path: Path) -> None:
    """An EPUB 2 book has no `nav`, only an NCX: its navPoints start the chapters the same way
    (here chapter 2 is split into two files, one per section: one chapter, two sections). No
    real EPUB 2 with sections in files of their own is in the fixtures; this one is made here."""
    paras = module_paragraphs("m45983.index.cnxml")
    files = {"c1.html": ("Chapter 1 Cells", paras[:2]), "c2.html": ("Chapter 2 Tissues", paras[2:3]),
             "c2s2.html": ("Epithelium", paras[3:4])}
    path = tmp_path / "textbooks" / "book.epub"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                    '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        zf.writestr("OEBPS/book.opf", '<package xmlns="http://www.idpf.org/2007/opf" version="2.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
                    '<dc:title>Histology</dc:title></metadata><manifest><item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
                    + "".join(f'<item id="{n}" href="{n}" media-type="application/xhtml+xml"/>' for n in files)
                    + '</manifest><spine toc="ncx">' + "".join(f'<itemref idref="{n}"/>' for n in files) + "</spine></package>")
        zf.writestr("OEBPS/toc.ncx", '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>'
                    '<navPoint id="a"><navLabel><text>Chapter 1 Cells</text></navLabel><content src="c1.html"/></navPoint>'
                    '<navPoint id="b"><navLabel><text>Chapter 2 Tissues</text></navLabel><content src="c2.html"/>'
                    '<navPoint id="c"><navLabel><text>Epithelium</text></navLabel><content src="c2s2.html"/></navPoint></navPoint>'
                    "</navMap></ncx>")
        for name, (heading, body) in files.items():
            zf.writestr(f"OEBPS/{name}", '<html xmlns="http://www.w3.org/1999/xhtml"><body>'
                        f"<h1>{heading}</h1>" + "".join(f"<p>{p}</p>" for p in body) + "</body></html>")
    rows, report = build(path, tmp_path, min_words=10)
    assert report.errors == [] and list(dict.fromkeys(r["meta"]["chapter"] for r in rows)) == ["Chapter 1 Cells", "Chapter 2 Tissues"]
    tissues = "\n".join(r["text"] for r in rows if r["meta"]["chapter"] == "Chapter 2 Tissues")
    assert "## Epithelium" in tissues and paras[3][:40] in tissues


def test_pages_about_the_edition_are_left_out_and_counted() -> None:
    """A Standard Ebooks book: its title page, imprint, colophon and copyright page (typed so by
    EPUB 3's structural semantics: volunteers' credits, the CC0 dedication) are not text of the
    book; they are counted by type. The twelve stories are the chapters, in the table of
    contents' order."""
    holmes = FIXTURES / "epub" / "sherlock-holmes.epub"
    rows, report = build(holmes, FIXTURES, max_words=10**7, min_words=1)
    stories = [t for t, _ in toc_titles(holmes) if t not in ("Titlepage", "Imprint", "Colophon", "Uncopyright")]
    assert len(stories) == 12 and [r["meta"]["chapter"] for r in rows] == stories
    assert report.errors == [] and report.skipped == {f"page about the edition (epub:type {t})": 1
                                                      for t in ("titlepage", "imprint", "colophon", "copyright-page")}
    assert not any("Standard Ebooks" in r["text"] for r in rows)
