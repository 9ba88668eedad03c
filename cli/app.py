"""What every CLI command receives: the loaded settings, the secret redactor and a lazily made engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scrapesched.config.redact import Redactor

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scrapesched.config.settings import Settings
    from scrapesched.locks import LockBackend


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings: URL passwords and tokens, for the redactor."""
    from sqlalchemy.engine import make_url

    out: list[str] = []
    for url in (settings.database_url, settings.lock_url):
        if "://" in url:
            password = make_url(url).password
            if password:
                out.append(str(password))
    out.extend(settings.github.all_tokens())
    if settings.console_write_token is not None:
        out.append(settings.console_write_token.get_secret_value())
    return out


@dataclass
class App:
    """Per-process state of the CLI: created by ``main`` and handed to each command."""

    redactor: Redactor = field(default_factory=Redactor)
    settings: Settings | None = None
    _engine: Engine | None = None
    _locks: LockBackend | None = None

    def require_settings(self) -> Settings:
        assert self.settings is not None, "settings are loaded by the root command"
        return self.settings

    def engine(self) -> Engine:
        """The database engine, connected once (DatabaseUnavailable when it cannot be reached)."""
        if self._engine is None:
            from scrapesched.db.engine import connect_engine

            settings = self.require_settings()
            self._engine = connect_engine(
                settings.database_url,
                connect_timeout=settings.db_connect_timeout,
                lock_timeout=settings.db_lock_timeout,
                idle_transaction_timeout=settings.db_idle_transaction_timeout,
            )
        return self._engine

    def locks(self) -> LockBackend:
        """The lease backend named by ``lock_url`` (tokens in the main database)."""
        if self._locks is None:
            from scrapesched import locks

            settings = self.require_settings()
            self._locks = locks.connect(settings.lock_url, engine=self.engine(), holder_id=settings.instance_id)
        return self._locks

    def close(self) -> None:
        if self._locks is not None:
            self._locks.close()
            self._locks = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
