"""PHI de-identification (issue "Evidence-aware curation and clinical privacy", part 4).

Measured on two sets whose identifiers we know without asking the code under test:
* synthetic notes with planted identifiers of every Safe Harbor type, in the free-text and
  the MIMIC layouts (tests/phi_notes.py: every name, place and number is made up there);
* the five i2b2 2014 de-identification challenge notes that philter-lite ships with its
  annotations (`philter_lite/data/i2b2_xml`: surrogate PHI tagged by the i2b2 annotators),
  read with lxml here. The Safe Harbor types among the tags are scored.
The build through the default MedC-K recipe (no planted identifier in any file it writes) is
in tests/test_curation_build.py.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from lxml import etree

from medc.errors import UserError
from medc.recipes.recipe import load_recipe
from medc.text.deidentify import PHI_TYPES, deidentify, find_phi
from tests.conftest import REPO
from tests.phi_notes import planted_notes, score

# i2b2 tag types that Safe Harbor requires removed (states, countries and professions are not
# among its identifiers; ages are scored when over 89).
SAFE_HARBOR_I2B2 = {"PATIENT", "DOCTOR", "USERNAME", "HOSPITAL", "STREET", "CITY", "ZIP", "LOCATION-OTHER",
                    "ORGANIZATION", "DATE", "PHONE", "FAX", "EMAIL", "URL", "IPADDR", "SSN", "MEDICALRECORD",
                    "HEALTHPLAN", "ACCOUNT", "LICENSE", "DEVICE", "IDNUM", "BIOID", "VEHICLE"}


def detected(text: str) -> list[tuple[int, int, str]]:
    return [(start, end, kind) for start, end, kind, _ in find_phi(text)]


def test_planted_identifiers_recall_per_type_and_content_kept() -> None:
    scores = score(planted_notes(30), detected)
    print()
    for kind in PHI_TYPES:
        print(f"  {kind:9} planted {scores.planted[kind]:4}  recall {scores.recall(kind):.3f}  "
              f"typed right {scores.typed.get(kind, 0) / scores.planted[kind]:.3f}")
    print(f"  character precision {scores.precision():.3f}; content words intact "
          f"{scores.content_intact}/{scores.content}")
    assert set(scores.planted) == set(PHI_TYPES)  # every type is planted
    assert all(scores.recall(kind) >= 0.95 for kind in PHI_TYPES), {k: scores.recall(k) for k in PHI_TYPES}
    assert scores.content_intact / scores.content >= 0.98
    assert scores.precision() >= 0.9


def test_i2b2_annotated_notes_recall() -> None:
    planted = found = detected_chars = true_chars = 0
    notes = sorted((p for p in files("philter_lite").joinpath("data/i2b2_xml").iterdir() if p.name.endswith(".xml")),
                   key=lambda p: p.name)
    assert len(notes) == 5
    for path in notes:
        root = etree.fromstring(path.read_bytes())
        text = root.find("TEXT").text
        covered = bytearray(len(text))
        for start, end, _ in detected(text):
            covered[start:end] = b"\x01" * (end - start)
        truth = bytearray(len(text))
        for tag in root.find("TAGS"):
            start, end = int(tag.get("start")), int(tag.get("end"))
            truth[start:end] = b"\x01" * (end - start)
            kind = tag.get("TYPE")
            if kind in SAFE_HARBOR_I2B2 or (kind == "AGE" and int(tag.get("text")) > 89):
                planted += 1
                chars = [i for i in range(start, end) if text[i].isalnum()]
                found += all(covered[i] for i in chars)
        detected_chars += sum(1 for i, c in enumerate(text) if covered[i] and c.isalnum())
        true_chars += sum(1 for i, c in enumerate(text) if covered[i] and truth[i] and c.isalnum())
    print(f"\n  i2b2: {found}/{planted} Safe Harbor identifiers removed; character precision "
          f"{true_chars / detected_chars:.3f}")
    assert planted >= 40 and found / planted >= 0.95


def test_surrogates_are_typed_and_consistent_within_a_document() -> None:
    text = ("Patient John Whitfield (MRN 48213377) was seen on 03/14/2021 by Dr. Amara Okafor. Mr. Whitfield "
            "is a 93-year-old man on metformin 500 mg. Call 617-555-0132. Seen at [**Hospital1 18**] with "
            "[**Known lastname 1234**]; [**Known lastname 1234**] agreed. Dr. Okafor will call.")
    out, audit = deidentify(text)
    print("\n  " + out)
    for secret in ("Whitfield", "John", "48213377", "03/14/2021", "Okafor", "Amara", "93", "617-555-0132",
                   "Hospital1", "Known lastname"):
        assert secret not in out
    assert "metformin 500 mg" in out  # content stays
    assert out.count("[NAME-1]") == 2  # John Whitfield, then Mr. Whitfield: one person, one surrogate
    assert out.count("[NAME-2]") == 2  # Dr. Amara Okafor, Dr. Okafor
    assert out.count("[NAME-3]") == 2  # the same MIMIC placeholder twice
    assert "[LOCATION-1]" in out and "[ID-1]" in out and "[DATE-1]" in out and "[AGE-1]" in out and "[PHONE-1]" in out
    assert audit.mimic_placeholders == 3 and audit.rows_touched == 1
    assert audit.identifiers["NAME"] == 6


def test_recipe_puts_deidentify_first_and_names_real_sources(tmp_path: Path) -> None:
    recipe = (REPO / "pipelines" / "medc-k.toml").read_text()
    late = recipe.replace('[[steps]]\nstep = "deidentify"\nsources = ["clinical_notes"]\n\n', "").replace(
        '[[steps]]\nstep = "quality_signals"', '[[steps]]\nstep = "deidentify"\n\n[[steps]]\nstep = "quality_signals"')
    (tmp_path / "late.toml").write_text(late)
    with pytest.raises(UserError, match=r"step 'deidentify' must come first .* before 'min_length'"):
        load_recipe(tmp_path / "late.toml")
    (tmp_path / "typo.toml").write_text(recipe.replace('sources = ["clinical_notes"]', 'sources = ["clinical_note"]'))
    with pytest.raises(UserError, match=r"'clinical_note' is not a source of this recipe \(did you mean 'clinical_notes'\?\)"):
        load_recipe(tmp_path / "typo.toml")


def test_presidio_as_a_second_detector(tmp_path: Path) -> None:
    """`engines = ["philter", "presidio"]`: Presidio's spans are added to Philter's. With no
    spaCy model installed it runs its pattern recognisers only (and says so); with a pipeline
    folder, its NER finds names: here a pipeline of our own whose entity ruler marks a
    lower-case name whose first word is an English word, which Philter keeps.
    Nothing is downloaded either way."""
    import spacy

    from medc.steps.base import make_step
    from medc.steps.privacy import Deidentify
    from medc.text.deidentify import Presidio
    from medc.text.presidio_phi import PATTERNS_ONLY, analyzer, presidio_spans

    text = "my name is will rose, card 4111 1111 1111 1111, seen 03/04/2019. Call 617-555-0142."
    alone = [text[s:e] for s, e, _ in detected(text)]
    assert "will rose" not in alone and "rose" in alone and not any("4111" in span for span in alone)  # "will" is an English word
    assert analyzer("en_core_web_lg")[1] == PATTERNS_ONLY  # not installed here: never fetched
    patterns = presidio_spans(text)
    assert ("4111 1111 1111 1111", "ID") in [(text[s:e], k) for s, e, k in patterns]
    pipeline = spacy.blank("en")
    pipeline.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": "will rose"}])
    pipeline.to_disk(tmp_path / "ner")
    model = str(tmp_path / "ner")
    assert analyzer(model)[1] == model
    with_ner = [(text[s:e], k) for s, e, k, _ in find_phi(text, presidio=Presidio(model))]
    assert ("will rose", "NAME") in with_ner and ("4111 1111 1111 1111", "ID") in with_ner
    out, audit = deidentify(text, presidio=Presidio(model))
    assert "will rose" not in out and "4111" not in out and audit.identifiers["NAME"] == 1

    # The step: the method and what found names for Presidio go into the rows and the audit.
    import polars as pl

    step = make_step("deidentify", {"sources": ["notes"], "engines": ["philter", "presidio"]}, "instruction")
    assert isinstance(step, Deidentify)
    df = pl.DataFrame({"source": ["notes"], "instruction": ["Summarise."], "input": [text], "output": ["ok"], "meta": ["{}"]})
    out_df, _, step_audit = step.apply_audited(df)
    assert "my name is will [NAME-1]" in out_df["input"][0] and "4111" not in out_df["input"][0]  # patterns only: no NER
    assert '"method":"philter+presidio"' in out_df["meta"][0].replace(" ", "")
    assert step_audit[f"presidio:{PATTERNS_ONLY}"] == 1
    with pytest.raises(UserError, match="engines must be"):
        make_step("deidentify", {"engines": ["presidio"]}, "instruction")


def test_mimic_iv_placeholders_are_typed_by_their_labels_and_seasons_are_kept() -> None:
    """MIMIC-IV writes `___` for whatever it removed: each becomes a surrogate of its own, typed
    from its label or neighbours (the discharge summary header as MIMIC-IV-Note lays it out).
    A season alone is not a Safe Harbor date element, and "fall" is a clinical event: kept."""
    note = ("Name:  ___                     Unit No:   ___\n \nAdmission Date:  ___              Discharge Date:   ___\n \n"
            "Date of Birth:  ___             Sex:   F\n \nAttending: ___.\n \n"
            "HPI: Ms. ___ is a ___ y/o woman with CHF who presented to ___ Hospital on ___ after a fall at home. "
            "She used that last summer. Dr. ___ was called.")
    out, audit = deidentify(note)
    assert out.startswith("Name:  [NAME-1]                     Unit No:   [ID-1]\n \n"
                          "Admission Date:  [DATE-1]              Discharge Date:   [DATE-2]\n \nDate of Birth:  [DATE-3]")
    assert "Attending: [NAME-2]." in out and "Ms. [NAME-3] is a [AGE-1] y/o woman" in out
    assert "presented to [LOCATION-1] Hospital on [DATE-4] after a fall at home. She used that last summer. Dr. [NAME-4]" in out
    assert "___" not in out and audit.mimic_placeholders == 11
