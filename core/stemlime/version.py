"""stemlime's version: one place, read by the package and by what it writes (markers, records)."""

__version__ = "0.1.0"
