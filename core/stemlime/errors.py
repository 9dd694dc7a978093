"""Errors that reach the user: each message says what went wrong and what to do about it."""

from __future__ import annotations


class StemlimeError(Exception):
    """A failure caused by input, configuration or missing files, not by a bug.

    The command line prints the message alone (no traceback) and exits with status 1.
    """


class UsageError(StemlimeError):
    """A malformed or unknown spec, option, label or argument (command-line exit status 2)."""


class AudioError(StemlimeError):
    """Audio that cannot be read, is too short, or holds NaN/inf samples."""


class ExcerptError(AudioError, UsageError):
    """An excerpt (--start, --duration) that the audio file does not hold: a usage error (exit
    status 2) about audio, so that callers catching AudioError still catch it."""


class ModelFilesError(StemlimeError):
    """Model files that are missing, incomplete or do not match what the model needs."""
