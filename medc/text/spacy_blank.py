"""spaCy's blank English pipeline, imported without PyTorch.

thinc, spaCy's machine-learning layer, imports torch whenever it is installed (medc installs it
for `training`): about 6 s and a few hundred MB in every process that imports spaCy, though
medc's pipelines (the tokenizer, the sentencizers, the abbreviation detector) never use it.
So spaCy is imported with torch hidden, when torch is not loaded yet in this process; torch
stays importable afterwards (only thinc's own torch support is off, which these pipelines do
not need).

A blank pipeline is also made without loading the factories that other installed packages
register with spaCy (`spacy_factories` entry points): spaCy imports every one of them when a
pipeline is made, and Presidio's (installed with medc's `presidio` extra) imports transformers
and torch: 6 s and 800 MB in every worker, for factories a blank pipeline never uses. spaCy's
own factories, and those registered by importing a package (scispaCy's abbreviation detector),
are there as before.
"""

from __future__ import annotations

import sys
from typing import Any


def blank_english() -> Any:
    """`spacy.blank("en")`, spaCy imported without torch when this process has not loaded it."""
    if "spacy" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError: thinc goes without
        try:
            import spacy
        finally:
            del sys.modules["torch"]
    import spacy
    from spacy.util import registry

    entry_point_factories = getattr(registry, "_entry_point_factories", None)  # (spaCy 3's name for them)
    if entry_point_factories is None:
        return spacy.blank("en")
    loads = entry_point_factories.entry_points
    entry_point_factories.entry_points = False
    try:
        return spacy.blank("en")
    finally:
        entry_point_factories.entry_points = loads
