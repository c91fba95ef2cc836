"""Ingest, above the text layer: the `Builder` interface and its registry, the per-file
report, the benchmark test-set readers and the instruction-row helpers that builders use."""
