"""The version of mixseq-dvae (also in pyproject.toml)."""

__version__ = "0.1.0"
