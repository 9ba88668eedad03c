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


# The extra that installs each backend's driver, and how to name the driver in a message.
_DRIVER_EXTRAS = {
    "mysql": ("MySQL/MariaDB driver", "mysql"),
    "mariadb": ("MySQL/MariaDB driver", "mysql"),
    "postgresql": ("PostgreSQL driver", "postgres"),
    "postgres": ("PostgreSQL driver", "postgres"),
    "redis": ("Redis client", "redis"),
    "rediss": ("Redis client", "redis"),
}


class MissingDriver(ConfigError):
    """A URL names a backend whose driver is not installed; the message names the extra to install."""

    @classmethod
    def for_backend(cls, which: str, backend: str) -> MissingDriver:
        """The error for ``which`` URL (``"database"``, ``"lock"``) of ``backend`` (``mysql``, ``redis``...)."""
        driver, extra = _DRIVER_EXTRAS.get(backend.split("+", 1)[0].lower(), (f"{backend} driver", backend))
        return cls(f"the {which} URL needs the {driver}: pip install 'scrapesched[{extra}]'")


class InvalidRecords(ConfigError):
    """A file handed to a command holds records that do not validate; nothing of it was written."""
