"""The ``table`` backend (the default): leases as rows of the lease table (``scrapesched_leases``) of the main
database, ShedLock style.

Works on SQLite, MariaDB/MySQL and PostgreSQL, so the embedded set-up needs no lock server. Each operation
is ONE conditional statement (on MariaDB/MySQL and PostgreSQL one autocommit round trip, see
``locks/tokens.py``), with every time taken from the database's clock:

- acquire: an upsert of the name's row: inserted (token 1) if absent, else
           ``SET holder = ?, token = token + 1, lock_until = now + ttl, locked_at = now
           WHERE lock_until IS NULL OR lock_until <= now``, returning the new token
- renew:   ``UPDATE scrapesched_leases SET lock_until = now + ttl
           WHERE name = ? AND holder = ? AND token = ? AND lock_until > now``
- release: ``UPDATE scrapesched_leases SET lock_until = now WHERE name = ? AND holder = ? AND token = ?``
- holder:  ``SELECT holder, token, lock_until FROM scrapesched_leases WHERE name = ? AND lock_until > now``

The row is also the name's fencing-token counter, which every backend shares (``locks/tokens.py``: the
token bump is its). The token bumped by the acquire is the lease's fencing token,
so the claim and the token are one write. A renewal or release by anyone but the current holder matches no
row and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Double, Engine, Update, bindparam, or_, select, update

from scrapesched.db.clock import db_now, db_now_plus
from scrapesched.db.engine import describe_target
from scrapesched.db.schema import leases
from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import LockNotOwned
from scrapesched.locks.tokens import TokenBump, TokenStore

# Built once; parameters: lease_name, lease_holder, lease_token, ttl.
_c = leases.c
_NAME = bindparam("lease_name", type_=_c.name.type)
_OURS = (
    _c.name == _NAME,
    _c.holder == bindparam("lease_holder", type_=_c.holder.type),
    _c.token == bindparam("lease_token", type_=_c.token.type),
)
# acquire: the name's next token, only where its lease has expired (or was never taken)
_ACQUIRE = TokenBump(or_(_c.lock_until.is_(None), _c.lock_until <= db_now()))
_RENEW = (
    update(leases)
    .where(*_OURS, _c.lock_until > db_now())
    .values(lock_until=db_now_plus(bindparam("ttl", type_=Double())))
)
_RELEASE = update(leases).where(*_OURS).values(lock_until=db_now())
_HOLDER = select(_c.holder, _c.token, _c.lock_until).where(_c.name == _NAME, _c.lock_until > db_now())


class TableBackend(LockBackend):
    """Leases as rows of the lease table, judged by the database's clock."""

    kind = "table"

    def __init__(self, engine: Engine, *, holder_id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(holder_id=holder_id, clock=clock)
        self._tokens = TokenStore(engine)

    @property
    def description(self) -> str:
        return f"table locks at {describe_target(self._tokens.engine.url)}"

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        started = time.monotonic()
        token = self._tokens.claim(_ACQUIRE, name, self.holder_id, ttl)
        return None if token is None else self._new_lease(name, token, ttl, None, started)

    def _ours(self, stmt: Update, lease: Lease, what: str) -> bool:
        """``stmt`` on the lease's row if it is still this acquisition's: True when it matched."""
        params = {"lease_name": lease.name, "lease_holder": lease.holder, "lease_token": lease.token, "ttl": lease.ttl}

        def work(conn: Connection) -> bool:
            return conn.execute(stmt, params).rowcount == 1

        return self._tokens.run(work, what)

    def _renew(self, lease: Lease, handle: object) -> None:
        if not self._ours(_RENEW, lease, "lease renew"):
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) expired or was taken by another holder")

    def _release(self, lease: Lease, handle: object) -> None:
        if not self._ours(_RELEASE, lease, "lease release"):
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) was taken by another holder")

    def _holder(self, name: str) -> LeaseInfo | None:
        def work(conn: Connection) -> LeaseInfo | None:
            row = conn.execute(_HOLDER, {"lease_name": name}).first()
            return None if row is None else LeaseInfo(name, row.holder or "", int(row.token), row.lock_until)

        return self._tokens.run(work, "lease lookup")

    def _close(self) -> None:
        """The engine belongs to the caller: only the token store's own connections are closed."""
        self._tokens.close()
