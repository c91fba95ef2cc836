"""medc: build, release and train on the datasets behind medical language models."""

__version__ = "0.1.0"
