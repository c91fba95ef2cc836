"""Recipes, above the steps: the TOML files that say which sources, steps, outputs and
mixture a dataset has, loaded into typed objects and validated with the file and key in
every error."""
