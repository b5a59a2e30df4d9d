"""The lease store: which server owns which env, until when, and which servers are alive.

Two implementations of one interface: :class:`MemoryStore` (the default, for one server
process) and :class:`RedisStore` (``redis.asyncio``), which survives a server restart and is
shared by the servers of a host. Every env record carries a TTL renewed by every call on
the env; a record whose TTL ran out is gone, just like its env. When a server ends an env
for a reason the client should hear about (TTL expired, server restarted), it leaves a
tombstone that answers later calls with 410 and that reason. A store it cannot reach raises
:class:`StoreUnavailable` (the API answers 503); the next call tries again.

Redis keys (all under ``webserv:``): ``env:<id>`` the record (JSON, TTL), ``gone:<id>`` a
tombstone (TTL), ``server:<sid>:envs`` the env ids a server owns, ``server:<sid>`` the
server's registry entry (JSON, TTL renewed by its heartbeat), ``servers`` the server ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

#: How long a tombstone answers 410 before the id becomes a plain 404.
TOMBSTONE_TTL_S = 3600.0
#: How often at most :class:`MemoryStore` frees its expired entries.
SWEEP_INTERVAL_S = 5.0

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The store cannot be reached right now (Redis down or not answering)."""


class EnvRecord(BaseModel):
    """One env as the store knows it: its owner server and client, its lease, its group."""

    env_id: str
    server: str = Field(description="Id of the server process that owns the env.")
    client: str = Field(description="Who created it (X-Webserv-Client header or address).")
    group: str | None = None
    lease: str | None = Field(None, description="The pool lease of its current instance.")
    instance: str | None = None
    ttl_s: float = Field(description="Seconds without a call before the env ends.")
    created_at: float = Field(default_factory=time.time)


class ServerRecord(BaseModel):
    """A server's registry entry: where it listens and what its pool holds."""

    server: str
    url: str
    pid: int
    started_at: float
    envs: int = 0
    pool: dict[str, Any] = Field(default_factory=dict)


class LeaseStore(Protocol):
    """What the server keeps about envs and servers outside its own memory."""

    name: str

    async def put(self, record: EnvRecord, ttl_s: float) -> None: ...

    async def touch(self, env_id: str, ttl_s: float) -> bool:
        """Renew a record's TTL; False when it is no longer there."""
        ...

    async def get(self, env_id: str) -> EnvRecord | None: ...

    async def delete(self, record: EnvRecord, reason: str | None = None) -> None:
        """Remove a record; with ``reason``, leave a tombstone that says it."""
        ...

    async def gone(self, env_id: str) -> str | None:
        """Why ``env_id`` ended, if it ended recently for a reason worth telling."""
        ...

    async def owned(self, server: str) -> list[EnvRecord]:
        """The live records owned by ``server``."""
        ...

    async def heartbeat(self, record: ServerRecord, ttl_s: float) -> None: ...

    async def unregister(self, server: str) -> None:
        """Remove a server's registry entry (it stops)."""
        ...

    async def servers(self) -> list[ServerRecord]: ...

    async def close(self) -> None: ...


class MemoryStore:
    """The store of a single server process: dicts with expiry times.

    A lookup checks the expiry of the entry it reads; the sweep that frees expired entries
    (tombstones pile up for an hour) runs at most every :data:`SWEEP_INTERVAL_S`, so a call's
    cost does not grow with the number of envs and tombstones.
    """

    name = "memory"

    def __init__(self) -> None:
        self._envs: dict[str, tuple[EnvRecord, float]] = {}
        self._gone: dict[str, tuple[str, float]] = {}
        self._servers: dict[str, tuple[ServerRecord, float]] = {}
        self._next_sweep = 0.0

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL_S
        for table in (self._envs, self._gone, self._servers):
            for key in [k for k, (_, until) in table.items() if until < now]:
                del table[key]

    @staticmethod
    def _live(table: dict[str, tuple[T, float]], key: str) -> T | None:
        entry = table.get(key)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del table[key]
            return None
        return entry[0]

    async def put(self, record: EnvRecord, ttl_s: float) -> None:
        self._sweep()
        self._envs[record.env_id] = (record, time.monotonic() + ttl_s)

    async def touch(self, env_id: str, ttl_s: float) -> bool:
        record = self._live(self._envs, env_id)
        if record is None:
            return False
        self._envs[env_id] = (record, time.monotonic() + ttl_s)
        return True

    async def get(self, env_id: str) -> EnvRecord | None:
        return self._live(self._envs, env_id)

    async def delete(self, record: EnvRecord, reason: str | None = None) -> None:
        self._sweep()
        self._envs.pop(record.env_id, None)
        if reason:
            self._gone[record.env_id] = (reason, time.monotonic() + TOMBSTONE_TTL_S)

    async def gone(self, env_id: str) -> str | None:
        return self._live(self._gone, env_id)

    async def owned(self, server: str) -> list[EnvRecord]:
        now = time.monotonic()
        return [r for r, until in self._envs.values() if until >= now and r.server == server]

    async def heartbeat(self, record: ServerRecord, ttl_s: float) -> None:
        self._sweep()
        self._servers[record.server] = (record, time.monotonic() + ttl_s)

    async def unregister(self, server: str) -> None:
        self._servers.pop(server, None)

    async def servers(self) -> list[ServerRecord]:
        now = time.monotonic()
        return [record for record, until in self._servers.values() if until >= now]

    async def close(self) -> None:
        self._envs.clear()
        self._gone.clear()
        self._servers.clear()


class RedisStore:
    """The store in Redis, shared across restarts and by the servers of a host.

    Every call that cannot reach Redis raises :class:`StoreUnavailable`; the client's pool
    connects again on the next call, so the store recovers by itself when Redis is back.
    """

    name = "redis"

    def __init__(self, url: str, prefix: str = "webserv:") -> None:
        import redis.asyncio as redis
        from redis import exceptions

        self.url = url
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        # BusyLoadingError (Redis reading its data after a restart) is a ConnectionError.
        self._down = (exceptions.ConnectionError, exceptions.TimeoutError)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except self._down as err:
            raise StoreUnavailable(f"the lease store (redis) is unreachable: {err}") from err

    async def ping(self) -> None:
        with self._reachable():
            await self._redis.ping()

    async def put(self, record: EnvRecord, ttl_s: float) -> None:
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("env", record.env_id), record.model_dump_json(), px=_ms(ttl_s))
                pipe.sadd(self._key("server", record.server, "envs"), record.env_id)
                await pipe.execute()

    async def touch(self, env_id: str, ttl_s: float) -> bool:
        with self._reachable():
            return bool(await self._redis.pexpire(self._key("env", env_id), _ms(ttl_s)))

    async def get(self, env_id: str) -> EnvRecord | None:
        with self._reachable():
            raw = await self._redis.get(self._key("env", env_id))
        return EnvRecord.model_validate_json(raw) if raw else None

    async def delete(self, record: EnvRecord, reason: str | None = None) -> None:
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key("env", record.env_id))
                pipe.srem(self._key("server", record.server, "envs"), record.env_id)
                if reason:
                    pipe.set(self._key("gone", record.env_id), reason, px=_ms(TOMBSTONE_TTL_S))
                await pipe.execute()

    async def gone(self, env_id: str) -> str | None:
        with self._reachable():
            reason = await self._redis.get(self._key("gone", env_id))
        return None if reason is None else str(reason)

    async def owned(self, server: str) -> list[EnvRecord]:
        members_key = self._key("server", server, "envs")
        with self._reachable():
            ids = sorted(str(env_id) for env_id in await self._redis.smembers(members_key))
            if not ids:
                return []
            raws = await self._redis.mget([self._key("env", env_id) for env_id in ids])
            expired = [env_id for env_id, raw in zip(ids, raws, strict=True) if raw is None]
            if expired:
                await self._redis.srem(members_key, *expired)
        return [EnvRecord.model_validate_json(raw) for raw in raws if raw]

    async def heartbeat(self, record: ServerRecord, ttl_s: float) -> None:
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._key("server", record.server), record.model_dump_json(), px=_ms(ttl_s)
                )
                pipe.sadd(self._key("servers"), record.server)
                await pipe.execute()

    async def unregister(self, server: str) -> None:
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key("server", server))
                pipe.srem(self._key("servers"), server)
                await pipe.execute()

    async def servers(self) -> list[ServerRecord]:
        with self._reachable():
            ids = sorted(str(sid) for sid in await self._redis.smembers(self._key("servers")))
            if not ids:
                return []
            raws = await self._redis.mget([self._key("server", sid) for sid in ids])
            dead = [sid for sid, raw in zip(ids, raws, strict=True) if raw is None]
            if dead:
                await self._redis.srem(self._key("servers"), *dead)
        return [ServerRecord.model_validate_json(raw) for raw in raws if raw]

    async def close(self) -> None:
        await self._redis.aclose()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


async def open_store(redis_url: str | None) -> LeaseStore:
    """A Redis store for ``redis_url`` (checked with a ping), else a memory store."""
    if not redis_url:
        return MemoryStore()
    store = RedisStore(redis_url)
    try:
        await store.ping()
    except Exception:
        await store.close()
        raise
    return store
