"""Textbooks (plain text / Markdown, OpenStax CNXML, PDF, EPUB): the `textbooks` builder and
one reader per format."""

from builders.textbooks.builder import TextbookBuilder

__all__ = ["TextbookBuilder"]
