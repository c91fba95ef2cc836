"""The build engine, above the release layer: plan shards, run the map stage on an executor,
decide globally in the driver, write the repo. Knows nothing of what a builder or step does."""
