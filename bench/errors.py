"""User-facing errors: one clear paragraph, never a traceback.

Anything a user can cause (a bad suite file, a missing data folder, a corrupt HDF5 file) is
raised as a ``BenchError``; the CLI prints its message and exits with status 2.
"""

from __future__ import annotations


class BenchError(Exception):
    """A mistake in the user's input, reported as one paragraph naming what was expected."""


class SuiteError(BenchError):
    """The suite definition is invalid (unknown name, missing field, wrong type...)."""


class DataError(BenchError):
    """A recording or data folder cannot be used (missing, corrupt, empty, inconsistent)."""
