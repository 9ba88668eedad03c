"""The ``redis://`` / ``rediss://`` backend: ``SET key value NX PX ttl``, compare-and-set renew and release in Lua.

Expiry is Redis's (``PX``). The value stored is ``holder|nonce|0``: the nonce (random per backend, then a
counter) makes every acquisition distinct, so two leases of one process never confuse each other, and
renew/release only ever act on the exact value this acquisition wrote. The Lua scripts are class constants,
registered once per backend.

Fencing tokens do not come from Redis, which may lose every key on a restart without persistence: they are
bumped in the lease table (``scrapesched_leases``) of the main database after ``SET NX`` succeeded. An
acquire is two round trips: ``SET NX``, then the token bump (and a release one more). The token is not
written back into the value (that was a third round trip, a compare-and-set, until issue 16): it guarded
nothing. An acquire that took longer than the ttl is refused by ``LockBackend.acquire`` anyway, and a key
that Redis loses while the token is bumped is the same case as a key lost a moment after acquire returned:
the next renewal (``ttl / 3``) finds it gone and reports the lease lost, and ``fenced`` refuses the writes
of whichever holder has the older token. The value's last field stays (always ``0`` now) so that values
written before keep parsing; ``holder()`` reads the token from the name's row of the lease table, which the
holder's bump wrote. Key: ``<prefix><name>``,
prefix ``scrapesched:<8 hex>:lock:`` unless the URL says ``?prefix=...``: the hex digits are a hash of the
main database's identity (:func:`deployment_prefix`), so two deployments sharing one Redis never see each
other's leases. Connection and socket timeouts are 2 s and
a command is retried once only on a broken connection, so a server that is down or hung fails an acquire
within a few seconds. Retrying is safe: every script is a compare-and-set on this acquisition's value.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import URL, Engine

from scrapesched.locks.base import Lease, LeaseInfo, LockBackend
from scrapesched.locks.errors import LockConfigError, LockNotOwned, LockUnavailable
from scrapesched.locks.tokens import TokenStore

TIMEOUT_S = 2.0
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
BACKEND_ALIASES = {"mariadb": "mysql", "postgres": "postgresql"}  # one server, one identity


def deployment_prefix(database: URL) -> str:
    """The default key prefix of a deployment whose main database is ``database``: ``scrapesched:<8 hex>:lock:``.

    The hex digits are the start of the SHA-256 of the database's backend, host, port and name (an SQLite
    file: its absolute path); never of the user name or password, which appear nowhere in the keys. Every
    replica of a deployment spells its database URL the same way, so they share the prefix; another
    deployment (another database) gets another one.
    """
    backend = database.get_backend_name()
    backend = BACKEND_ALIASES.get(backend, backend)
    name = database.database or ""
    if backend == "sqlite" and name and name != ":memory:":
        name = os.path.abspath(name)
    port = database.port or DEFAULT_PORTS.get(backend) or ""
    identity = "|".join((backend, (database.host or "").lower(), str(port), name))
    return f"scrapesched:{hashlib.sha256(identity.encode()).hexdigest()[:8]}:lock:"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisBackend(LockBackend):
    """Leases as Redis keys with ``PX`` expiry; tokens from the database."""

    kind = "redis"

    # KEYS[1] key, ARGV[1] our value: delete only our own key.
    LUA_RELEASE = """
        if redis.call('get', KEYS[1]) ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    """
    # KEYS[1] key, ARGV[1] our value, ARGV[2] ttl ms: a full ttl from now, only for our own key.
    LUA_EXTEND = """
        if redis.call('get', KEYS[1]) ~= ARGV[1] then
            return 0
        end
        redis.call('pexpire', KEYS[1], ARGV[2])
        return 1
    """

    def __init__(
        self,
        url: str,
        *,
        engine: Engine,
        prefix: str | None = None,
        holder_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(holder_id=holder_id, clock=clock)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        url_prefix = [v for k, v in query if k == "prefix"]
        if prefix is None:
            prefix = url_prefix[-1] if url_prefix else deployment_prefix(engine.url)
        self.prefix = prefix
        clean = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "prefix"])))
        self._target = f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                clean,
                socket_connect_timeout=TIMEOUT_S,
                socket_timeout=TIMEOUT_S,
                # One immediate retry on a broken connection (e.g. pooled before a Redis restart); none on a
                # timeout, so a hung server fails the command after TIMEOUT_S.
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                health_check_interval=0,
            )
        except ValueError as exc:
            raise LockConfigError(f"bad Redis lock URL for {self._target}: {exc}") from None
        self._tokens = TokenStore(engine)
        self._release_script = self._client.register_script(self.LUA_RELEASE)
        self._extend_script = self._client.register_script(self.LUA_EXTEND)
        # Every acquisition's value is distinct: random per backend object, then a counter.
        self._nonce_base = os.urandom(8).hex()
        self._nonces = itertools.count(1)

    @property
    def description(self) -> str:
        return f"Redis at {self._target}"

    def key(self, name: str) -> str:
        """The Redis key of a lease name."""
        return self.prefix + name

    def _unavailable(self, what: str, exc: redis.RedisError) -> LockUnavailable:
        return LockUnavailable(f"{what}: Redis lock server at {self._target} failed: {type(exc).__name__}: {exc}")

    def _try_acquire(self, name: str, ttl: float) -> Lease | None:
        key = self.key(name)
        value = f"{self.holder_id}|{self._nonce_base}{next(self._nonces):x}|0"
        started = time.monotonic()
        try:
            if not self._client.set(key, value, nx=True, px=_ms(ttl)):
                return None
        except redis.RedisError as exc:
            raise self._unavailable("lease acquire", exc) from exc
        try:
            token = self._tokens.issue(name, self.holder_id, ttl)
        except Exception:
            self._quiet_release(key, value)
            raise
        return self._new_lease(name, token, ttl, value, started)

    def _quiet_release(self, key: str, value: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it expires by its ttl
            self._release_script(keys=[key], args=[value])

    def _renew(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, str)
        try:
            ok = self._extend_script(keys=[self.key(lease.name)], args=[handle, _ms(lease.ttl)])
        except redis.RedisError as exc:
            raise self._unavailable("lease renew", exc) from exc
        if not ok:
            raise LockNotOwned(
                f"lease {lease.name!r} (token {lease.token}) expired, was lost by Redis or was taken by another holder"
            )

    def _release(self, lease: Lease, handle: object) -> None:
        assert isinstance(handle, str)
        try:
            ok = self._release_script(keys=[self.key(lease.name)], args=[handle])
        except redis.RedisError as exc:
            raise self._unavailable("lease release", exc) from exc
        if not ok:
            raise LockNotOwned(f"lease {lease.name!r} (token {lease.token}) expired or was taken by another holder")

    def _holder(self, name: str) -> LeaseInfo | None:
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.get(self.key(name))
            pipe.pttl(self.key(name))
            pipe.time()
            raw, pttl, (seconds, micros) = pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable("lease lookup", exc) from exc
        if raw is None or pttl is None or pttl < 0:
            return None
        value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        holder, _nonce, token = _split(value)
        if not token:  # not in the value: the holder's bump recorded it in the lease table
            row = self._tokens.row(name)
            token = row.token if row is not None and row.holder == holder else 0
        until = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros, milliseconds=pttl)
        return LeaseInfo(name, holder, token, until)

    def _close(self) -> None:
        self._client.close()
        self._tokens.close()


def _split(value: str) -> tuple[str, str, int]:
    """``holder|nonce|token`` -> its parts (holder ids may contain ``|``; the last two fields never do)."""
    parts = value.rsplit("|", 2)
    if len(parts) != 3:
        return value, "", 0
    holder, nonce, token = parts
    try:
        return holder, nonce, int(token)
    except ValueError:
        return holder, nonce, 0
