"""Pipeline steps, above ingest: one module per family, each step registered where it is
defined (`@register_step`). Importing this package registers every step."""

from medc.steps import curation, decontamination, dedup, privacy, quality, sampling, text  # noqa: F401  (each registers its steps)
