"""User-facing errors: the CLI prints them as one clear message, never a traceback."""

from __future__ import annotations


class FinesiftError(Exception):
    """Base class for errors caused by input or configuration rather than a bug."""


class InputError(FinesiftError):
    """The input data is malformed. Carries the file, the line or row, and what was expected."""

    def __init__(self, source: str, reason: str, *, line: int | None = None, row: int | None = None,
                 expected: str | None = None):
        self.source, self.reason, self.line, self.row, self.expected = source, reason, line, row, expected
        where = source
        if line is not None:
            where += f":{line}"
        elif row is not None:
            where += f" (row {row})"
        msg = f"{where}: {reason}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class ConfigError(FinesiftError):
    """A configuration value, recipe or command-line option is invalid."""


class MissingDependencyError(FinesiftError):
    """An optional heavy dependency is not installed; the message says what to install."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        hint = f"pip install 'finesift[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package '{package}', which is not installed. Install it with: {hint}")


class OutputError(FinesiftError):
    """An output path cannot be used or written: a file where a folder is needed, no permission, a full disk."""
