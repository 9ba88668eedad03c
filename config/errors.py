"""The family of errors a user can cause (bad input, a server down); each carries its exit status.

Library code raises these; only the CLI turns them into one line on stderr and an exit status.
"""

from __future__ import annotations


class ScrapeschedError(Exception):
    """Base of every error a user can cause or fix; never shown with a traceback."""

    exit_code = 1


class ConfigError(ScrapeschedError):
    """A setting, config file or command-line value is wrong."""

    exit_code = 2


class DatabaseUnavailable(ScrapeschedError):
    """The database cannot be reached (server down, wrong host, refused login)."""

    exit_code = 1


class SchemaError(ScrapeschedError):
    """The database schema does not match what this version expects, or a write cannot be expressed."""

    exit_code = 1
