"""PubMed Central JATS / NLM XML: the `pmc_jats` builder and its parts (element helpers,
citations, MathML, inline markup, block renderer, metadata, OA file list)."""

from builders.pmc_jats.builder import PMCJatsBuilder

__all__ = ["PMCJatsBuilder"]
