"""Files and storage, the lowest layer: atomic writes, hashing, size-capped reading, one
JSON/JSONL record reader, safe XML, fsspec staging, and where the bundled data lives."""
