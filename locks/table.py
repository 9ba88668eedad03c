"""The ``table`` backend (the default): leases in the ``locks`` table of the main database, ShedLock style.

Works on SQLite, MariaDB/MySQL and PostgreSQL, so the embedded set-up needs no lock server. Each operation
is ONE conditional statement, with every time taken from the database's clock:

- take:    ``UPDATE locks SET holder, token = token + 1, lock_until = now + ttl, locked_at = now
           WHERE name = ? AND lock_until <= now`` (after an insert-if-absent the first time a name is seen)
- renew:   ``UPDATE locks SET lock_until = now + ttl WHERE name = ? AND holder = ? AND token = ? AND lock_until > now``
- release: ``UPDATE locks SET lock_until = now WHERE name = ? AND holder = ? AND token = ?``

The token bumped by the take is the lease's fencing token, so the claim and the token are one write. A
renewal or release by anyone but the current holder matches no row and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Double, Engine, bindparam, select, update

from scrapesched.db.clock import db_now, db_now_plus
from scrapesched.db.engine import describe_target
from scrapesched.db.schema import locks as locks_table
from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import LockNotOwned
from scrapesched.locks.tokens import TokenStore

_c = locks_table.c
_OURS = (
    _c.name == bindparam("lease_name", type_=_c.name.type),
    _c.holder == bindparam("lease_holder", type_=_c.holder.type),
    _c.token == bindparam("lease_token", type_=_c.token.type),
)
_RENEW = (
    update(locks_table)
    .where(*_OURS, _c.lock_until > db_now())
    .values(lock_until=db_now_plus(bindparam("ttl", type_=Double())))
)
_RELEASE = update(locks_table).where(*_OURS).values(lock_until=db_now())
_HOLDER = select(_c.holder, _c.token, _c.lock_until).where(
    _c.name == bindparam("lease_name", type_=_c.name.type), _c.lock_until > db_now()
)


class TableBackend(LockBackend):
    """Leases as rows of the ``locks`` table, judged by the database's clock."""

    kind = "table"

    def __init__(self, engine: Engine, *, holder_id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(holder_id=holder_id, clock=clock)
        self._tokens = TokenStore(engine)

    @property
    def description(self) -> str:
        return f"table locks at {describe_target(self._tokens.engine.url)}"

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        started = time.monotonic()
        token = self._tokens.take(name, self.holder_id, ttl)
        return None if token is None else self._new_lease(name, token, ttl, None, started)

    def _run_update(self, stmt: Any, lease: Lease, what: str) -> int:
        params = {"lease_name": lease.name, "lease_holder": lease.holder, "lease_token": lease.token, "ttl": lease.ttl}

        def work(conn: Connection) -> int:
            return conn.execute(stmt, params).rowcount

        return self._tokens.run(work, what)

    def _renew(self, lease: Lease, handle: object) -> None:
        if self._run_update(_RENEW, lease, "lease renew") != 1:
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) expired or was taken by another holder")

    def _release(self, lease: Lease, handle: object) -> None:
        if self._run_update(_RELEASE, lease, "lease release") != 1:
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) was taken by another holder")

    def _holder(self, name: str) -> LeaseInfo | None:
        def work(conn: Connection) -> LeaseInfo | None:
            row = conn.execute(_HOLDER, {"lease_name": name}).first()
            return None if row is None else LeaseInfo(name, row.holder or "", int(row.token), row.lock_until)

        return self._tokens.run(work, "lease lookup")

    def _close(self) -> None:
        """The engine belongs to the caller: nothing to close."""
