"""Builders by name. Recipes refer to builders by these strings; `medc` imports them lazily.

Third-party builders register through the `medc.builders` entry-point group
(`name = "package.module:Class"`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from medc.builder import Builder
from medc.errors import UserError

BUILDERS: dict[str, str] = {
    "pmc_jats": "builders.pmc_jats:PMCJatsBuilder",
    "pubmedqa": "builders.pubmedqa:PubMedQABuilder",
    "clinical_notes": "builders.clinical_notes:ClinicalNotesBuilder",
    "medline": "builders.medline:MedlineBuilder",
    "s2orc": "builders.s2orc:S2ORCBuilder",
    "textbooks": "builders.textbooks:TextbookBuilder",
    "replay": "builders.replay:ReplayBuilder",
    "medqa": "builders.exam_qa:MedQABuilder",
    "medmcqa": "builders.exam_qa:MedMCQABuilder",
    "dialogues": "builders.dialogues:DialogueBuilder",
    "umls": "builders.umls:UMLSBuilder",
    "abbreviations": "builders.abbreviations:AbbreviationBuilder",
}


def available() -> dict[str, str]:
    found = dict(BUILDERS)
    for ep in entry_points(group="medc.builders"):
        found.setdefault(ep.name, ep.value)
    return found


def builder_class(name: str) -> type[Builder]:
    targets = available()
    if name not in targets:
        raise UserError(f"unknown builder {name!r} (available: {', '.join(sorted(targets))})")
    module_name, _, attr = targets[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Builder)):
        raise UserError(f"builder {name!r} ({targets[name]}) is not a medc.builder.Builder")
    return cls
