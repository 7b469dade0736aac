"""Build Sheriff: keeps a repository's default branch green."""

__version__ = "0.1.0"
