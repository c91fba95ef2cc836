"""Text algorithms, above the file layer: normalisation, sentences, headings, word n-grams,
MinHash, quality signals, abbreviations and licence ids. Pure functions of strings and
columns; nothing here knows about recipes, shards or repos."""
