"""The package version (the sweep cache keys its points on it)."""

__version__ = "0.1.0"
