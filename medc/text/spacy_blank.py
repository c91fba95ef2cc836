"""spaCy's blank English pipeline, imported without PyTorch.

thinc, spaCy's machine-learning layer, imports torch whenever it is installed (medc installs it
for `training`): about 6 s and a few hundred MB in every process that imports spaCy, though
medc's pipelines (the tokenizer, the sentencizers, the abbreviation detector) never use it.
So spaCy is imported with torch hidden, when torch is not loaded yet in this process; torch
stays importable afterwards (only thinc's own torch support is off, which these pipelines do
not need).
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

    return spacy.blank("en")
