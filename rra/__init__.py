"""rra: the Run Record Archiver as a doit build graph."""

__version__ = "0.1.0"
