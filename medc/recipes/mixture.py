"""A recipe's declared mixture: groups of sources and their weights (e.g. PMC-LLaMA's
papers : books : general = 15 : 4 : 1), in words or tokens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mixture:
    unit: str  # words | tokens
    groups: dict[str, list[str]]  # group -> its sources (every source in exactly one group)
    weights: dict[str, float]  # group -> weight
