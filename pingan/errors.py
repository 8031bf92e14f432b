"""The one exception root of the project.

Every error a user can cause (bad input, bad configuration, a missing broker) is a subclass of
:class:`PinganError`; the CLI prints its message on one line and exits non-zero, never with a
traceback.
"""

from __future__ import annotations


class PinganError(Exception):
    """Root of every error Pingan raises on purpose."""

    exit_code = 2


class ConfigError(PinganError):
    """The configuration is invalid or incomplete."""


class InvalidEvent(PinganError):
    """An input message does not match the wire contract; it goes to the dead-letter topic."""

    def __init__(self, reason: str, *, details: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details or []


class RuleError(PinganError):
    """A rule set is invalid. ``problems`` holds every problem found, not just the first."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class UnavailableError(PinganError):
    """A service Pingan needs (Kafka, ClickHouse, Grafana) cannot be reached."""


class BackpressureError(PinganError):
    """A sink cannot accept more rows until its backlog has been written."""
