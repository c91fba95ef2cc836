"""Release, above the recipes: the typed build manifest, the dataset card (figure,
citations, licences), the repo writer, and the checks behind `publish` and `verify`."""
