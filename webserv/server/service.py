"""EnvService: the server's envs, each an :class:`EnvSession` with an owner, a TTL and a lock.

It turns HTTP calls into env operations and env failures into :mod:`errors`: a full pool
into 503 with Retry-After, too many envs into 429, a call on an ended episode into 409, an
env whose TTL ran out or whose server restarted into 410. It keeps the lease store current
(every call renews the env's TTL there), ends envs nobody called within their TTL, publishes
the server's registry entry, and on start ends the envs a previous run of the same server
left in the store (their browser contexts died with that process; the pool reconciles their
instances by label when the runtime starts).

Env ids are ``<server>-<boot>-<random>``: a hash of the server id (:func:`server_key`), an
id of this run of the server, 128 random bits; group ids alike with 48 random bits. An id of
this server from another run ended with that run, which the server can tell without the
store (the memory store forgets everything at a restart). A cluster's router reads the
server, hence the node, an id belongs to from its first part.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
from gymnasium.utils.seeding import np_random

from webserv.browser.actions import ActionError, parse
from webserv.browser.observation import Observation
from webserv.browser.screenshot import ScreenshotOptions
from webserv.browser.session import SessionConfig
from webserv.env.runtime import EnvRuntime, UnservedSite
from webserv.env.session import EnvSession, EpisodeOver, Session, StepResult
from webserv.pool.health import NotReady
from webserv.pool.manager import Lease, PoolFull, PoolStatus
from webserv.server import errors
from webserv.server.config import ServerConfig
from webserv.server.metrics import Metrics
from webserv.server.store import EnvRecord, LeaseStore, ServerRecord, StoreUnavailable
from webserv.sites.registry import UnknownSite
from webserv.tasks.config import TaskConfig
from webserv.tasks.suite import Suite
from webserv.wire import (
    CreateRequest,
    EnvOptions,
    EnvSummary,
    GroupRequest,
    ResetRequest,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How much longer than the env's TTL the pool keeps its instance leased: the pool's own
#: reaper is the backstop should the server's miss an env.
POOL_LEASE_MARGIN_S = 60.0
#: How often envs are checked for an expired TTL.
REAPER_INTERVAL_S = 0.25


def server_key(owner: str) -> str:
    """The first part of the ids of the envs and groups of server ``owner``."""
    return hashlib.sha256(owner.encode()).hexdigest()[:8]


class RecordedSite(Protocol):
    """Sessions served without a site instance or a browser: a replay of recorded sessions
    (:class:`webserv.behaviour.replay_env.ReplaySource`), one task per session."""

    suite: Suite

    def session(self, max_steps: int, screenshot: bool) -> Session: ...


@dataclass(eq=False)
class ServedEnv:
    """One env of the server: its session, its options, its RNG, who owns it, until when."""

    record: EnvRecord
    session: Session
    options: EnvOptions
    suite: Suite
    rng: np.random.Generator
    site: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deadline: float = 0.0

    @property
    def id(self) -> str:
        return self.record.env_id

    @property
    def ttl_s(self) -> float:
        return self.record.ttl_s


class EnvService:
    """All envs of one server process."""

    def __init__(
        self,
        config: ServerConfig,
        runtime: EnvRuntime,
        store: LeaseStore,
        metrics: Metrics,
        recorded: Mapping[str, RecordedSite] | None = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.recorded = dict(recorded or {})
        self.store = store
        self.metrics = metrics
        self.owner = config.owner
        self.boot = secrets.token_hex(4)
        server = server_key(self.owner)
        self._ids = f"{server}-{self.boot}-"
        self._earlier_ids = re.compile(rf"{server}-(?!{self.boot})[0-9a-f]{{8}}-[0-9a-f]{{32}}")
        self.suites = config.load_suites()
        self.suites |= {name: site.suite for name, site in self.recorded.items()}
        self.envs: dict[str, ServedEnv] = {}
        self.groups: dict[str, list[str]] = {}
        self.started_at = time.time()
        self._pending = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._ending: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self.reclaim()
        self._tasks = [
            asyncio.create_task(self._reaper()),
            asyncio.create_task(self._heartbeat()),
        ]

    async def reclaim(self) -> int:
        """End the envs a previous run of this server left in the store; how many there were."""
        leftovers = await self.store.owned(self.owner)
        for record in leftovers:
            await self.store.delete(record, reason=self._restarted(record.env_id))
        if leftovers:
            log.info("ended %d envs left by a previous run of %s", len(leftovers), self.owner)
        return len(leftovers)

    async def shutdown(self) -> None:
        """Stop the loops, end every env (their instances go back to the pool) and leave the
        registry."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(
                self._end(env, f"env {env.id} ended: its server shut down")
                for env in self.envs_list()
            )
        )
        await asyncio.gather(*self._ending, return_exceptions=True)
        # Gone from the registry at once, not a few heartbeats later; a killed server's entry
        # expires, and its id leaves the set of servers when the set is next read.
        try:
            await self.store.unregister(self.owner)
        except StoreUnavailable as err:
            log.warning("leaving the server registry failed: %s", err)

    def envs_list(self) -> list[ServedEnv]:
        return list(self.envs.values())

    # -- envs ------------------------------------------------------------------------

    async def create(self, req: CreateRequest, client: str) -> tuple[ServedEnv, Observation, dict]:
        """A new env with its first episode started."""
        suite = self._suite_for(req)
        env = self._new_env(req, suite, client, group=None)
        task = self._pick(env, req)  # a request naming no task it can run is a 400, full or not
        self._admit(1)
        self._pending += 1
        try:
            obs, info = await self._reset(env, task, leases=None)
            await self._register([env])
        except BaseException:
            await self._discard(env)
            raise
        finally:
            self._pending -= 1
        return env, obs, info

    async def create_group(
        self, req: GroupRequest, client: str
    ) -> tuple[str, list[tuple[ServedEnv, Observation, dict]]]:
        """``n`` envs whose first episodes run the same task from identical instances."""
        suite = self._suite_for(req)
        group = self._ids + secrets.token_hex(6)
        envs = [self._new_env(req, suite, client, group) for _ in range(req.n)]
        task = self._pick_group(envs, req)
        self._admit(req.n)
        self._pending += req.n
        try:
            results = await self._reset_group(envs, task)
            await self._register(envs)
        except BaseException:
            await asyncio.gather(*(self._discard(env) for env in envs))
            raise
        finally:
            self._pending -= req.n
        self.groups[group] = [env.id for env in envs]
        return group, [(env, obs, info) for env, (obs, info) in zip(envs, results, strict=True)]

    async def reset(self, env_id: str, req: ResetRequest) -> tuple[ServedEnv, Observation, dict]:
        env = await self.get(env_id)
        async with self._using(env):
            obs, info = await self._reset(env, self._pick(env, req), leases=None)
        return env, obs, info

    async def reset_group(
        self, group: str, req: ResetRequest
    ) -> list[tuple[ServedEnv, Observation, dict]]:
        """A new episode for every env of ``group``: one task, identical start state."""
        envs = [self.envs[i] for i in self.groups.get(group, []) if i in self.envs]
        if not envs:
            raise errors.NotFound(f"unknown group {group!r} (closed, expired or never created)")
        async with contextlib.AsyncExitStack() as stack:
            for env in envs:
                await stack.enter_async_context(self._using(env))
            results = await self._reset_group(envs, self._pick_group(envs, req))
        return [(env, obs, info) for env, (obs, info) in zip(envs, results, strict=True)]

    async def step(self, env_id: str, action: str | dict[str, Any]) -> StepResult:
        self._check_action(action)
        env = await self.get(env_id)
        async with self._using(env):
            started = time.perf_counter()
            result = await self._call(env.session.step(action))
            self.metrics.step_seconds.observe(time.perf_counter() - started)
            self.metrics.steps.inc()
        return result

    async def screenshot(self, env_id: str) -> bytes:
        env = await self.get(env_id)
        async with self._using(env):
            obs = await self._call(env.session.observe(screenshot=True))
        if obs.screenshot is None:
            raise errors.NotFound(f"env {env_id} shows a recorded page without a screenshot")
        return obs.screenshot

    async def close(self, env_id: str) -> list[str]:
        env = await self.get(env_id)
        await self._end(env, f"env {env_id} was closed by its client")
        return [env_id]

    async def close_group(self, group: str) -> list[str]:
        ids = [i for i in self.groups.get(group, []) if i in self.envs]
        if not ids:
            raise errors.NotFound(f"unknown group {group!r} (closed, expired or never created)")
        await asyncio.gather(
            *(self._end(self.envs[i], f"env {i} was closed with its group") for i in ids)
        )
        return ids

    async def get(self, env_id: str) -> ServedEnv:
        """The env ``env_id`` of this server, or the error that says why there is none."""
        env = self.envs.get(env_id)
        if env is not None:
            return env
        reason = await self.store.gone(env_id)
        if reason:
            raise errors.Gone(reason)
        if self._earlier_ids.fullmatch(env_id):
            raise errors.Gone(self._restarted(env_id))
        record = await self.store.get(env_id)
        if record is not None and record.server != self.owner:
            raise errors.NotFound(f"env {env_id} is served by server {record.server}, not this one")
        raise errors.NotFound(f"unknown env {env_id!r}")

    def summary(self, env: ServedEnv) -> EnvSummary:
        task = env.session.task
        return EnvSummary(
            env_id=env.id,
            group=env.record.group,
            client=env.record.client,
            suite=env.suite.manifest.name,
            task_id=task.task_id if task else None,
            steps=env.session.steps,
            episode_running=not env.session.done,
            instance_url=env.session.instance_url,
            expires_in_s=round(max(0.0, env.deadline - time.monotonic()), 1),
        )

    @property
    def served(self) -> list[str]:
        """The sites this server serves: live ones, then recorded ones."""
        return [*self.runtime.served, *self.recorded]

    def pool_status(self) -> list[PoolStatus]:
        return self.runtime.status()

    def room(self, site: str) -> int:
        """How many more envs of ``site`` this server can open now: within ``max_envs`` and
        its pool's instances, none when the pool is short of memory."""
        if site not in self.served:
            return 0
        free = self.config.max_envs - len(self.envs) - self._pending
        if site in self.recorded:
            return max(0, free)
        for status in self.pool_status():
            # A deployment (url backend) is shared by its leases: no instance to run out of.
            if site in status.sites and status.backend != "url":
                if status.available_memory_bytes < status.min_free_memory_bytes:
                    return 0
                leased = sum(s.leased for s in status.sites.values())
                free = min(free, status.max_instances - leased)
        return max(0, free)

    # -- internals -------------------------------------------------------------------

    def _restarted(self, env_id: str) -> str:
        return (
            f"env {env_id} was lost when its server {self.owner} restarted "
            "(its browser and instance are gone); create a new env"
        )

    def _suite_for(self, req: CreateRequest) -> Suite:
        """The suite an env draws its tasks from: ``req.suite``, else the site's first."""
        served = self.served
        if req.site not in served:
            raise errors.BadRequest(
                f"unknown site {req.site!r}; this server serves {', '.join(served)}"
            )
        if req.site in self.recorded:
            if req.suite not in (None, req.site):
                raise errors.BadRequest(
                    f"site {req.site} serves recorded sessions, its own suite only"
                )
            return self.recorded[req.site].suite
        if req.suite is not None:
            if req.suite not in self.suites:
                raise errors.BadRequest(
                    f"unknown suite {req.suite!r}; this server offers {', '.join(self.suites)}"
                )
            return self.suites[req.suite]
        named = [s for s in self.suites.values() if req.site in s.manifest.sites]
        # A bare task file names no site: it runs on whichever the server serves.
        bare = [s for s in self.suites.values() if not s.manifest.sites]
        for suite in [*named, *bare]:
            return suite
        raise errors.BadRequest(
            f"site {req.site} has no task suite on this server; name one with `suite` "
            f"({', '.join(self.suites) or 'none loaded: start the server with --suite'})"
        )

    def _check_action(self, action: str | dict[str, Any]) -> None:
        size = len(action) if isinstance(action, str) else len(repr(action))
        limit = self.config.max_action_chars
        if size > limit:
            raise errors.TooLarge(f"the action has {size} characters, more than {limit}")
        if size <= self.config.max_typed_chars:
            return  # the text it types is shorter than the action itself: no need to parse
        try:
            parsed = parse(action)
        except ActionError:
            return  # the env reports it in the observation, as in process
        text = parsed.args.get("text")
        if isinstance(text, str) and len(text) > self.config.max_typed_chars:
            raise errors.TooLarge(
                f"type() would enter {len(text)} characters, more than "
                f"{self.config.max_typed_chars}"
            )

    def _admit(self, n: int) -> None:
        open_envs = len(self.envs) + self._pending
        if open_envs + n > self.config.max_envs:
            raise errors.TooManyEnvs(
                f"{open_envs} envs open or starting, {n} more asked, max_envs="
                f"{self.config.max_envs}; close envs or retry later",
                headers=errors.retry_after(5),
            )

    def _new_env(
        self, req: CreateRequest, suite: Suite, client: str, group: str | None
    ) -> ServedEnv:
        options = req.options
        session: Session
        if req.site in self.recorded:
            session = self.recorded[req.site].session(options.max_steps, options.screenshot)
        else:
            browser_config = SessionConfig(
                token_budget=options.token_budget,
                park_after_s=self.config.park_after_s,
                **options.model_dump(include=set(ScreenshotOptions.model_fields)),
            )
            session = EnvSession(
                self.runtime, max_steps=options.max_steps, browser_config=browser_config
            )
        record = EnvRecord(
            env_id=self._ids + secrets.token_hex(16),
            server=self.owner,
            client=client,
            group=group,
            ttl_s=options.ttl_s or self.config.env_ttl_s,
        )
        return ServedEnv(record, session, options, suite, np_random(None)[0], req.site)

    def _pick(self, env: ServedEnv, req: ResetRequest) -> TaskConfig:
        """The task ``req`` names, else one drawn with the env's RNG (as WebEnv does); a 400
        if this server cannot run it."""
        if req.seed is not None:
            env.rng = np_random(req.seed)[0]
        if req.task is not None:
            try:
                task = env.suite.task(req.task)
            except KeyError as err:
                raise errors.BadRequest(str(err.args[0])) from err
        else:
            tasks = env.suite.tasks
            task = tasks[int(env.rng.integers(len(tasks)))]
        if env.site in self.recorded:
            return task
        try:
            self.runtime.sites_of(task.sites)
        except (UnservedSite, UnknownSite) as err:
            raise errors.BadRequest(f"task {task.task_id}: {err}") from err
        return task

    def _pick_group(self, envs: list[ServedEnv], req: ResetRequest) -> TaskConfig:
        """One task for every env of a group, each env's RNG seeded alike."""
        seeded = req.model_copy(
            update={"seed": req.seed if req.seed is not None else secrets.randbits(63)}
        )
        first = self._pick(envs[0], seeded)
        for env in envs[1:]:
            self._pick(env, seeded)
        return first

    async def _reset(
        self, env: ServedEnv, task: TaskConfig, leases: dict[str, Lease] | None
    ) -> tuple[Observation, dict]:
        started = time.perf_counter()
        obs, info = await self._call(env.session.reset(task, leases=leases))
        self.metrics.reset_seconds.observe(time.perf_counter() - started)
        self.metrics.resets.inc()
        for lease in env.session.leases.values():
            self.runtime.renew(lease, env.ttl_s + POOL_LEASE_MARGIN_S)
        env.record.lease = info["lease"]
        env.record.instance = info["instance_url"]
        info["env_id"] = env.id
        return obs, info

    async def _reset_group(
        self, envs: list[ServedEnv], task: TaskConfig
    ) -> list[tuple[Observation, dict]]:
        leases: list[dict[str, Lease] | None] = [None] * len(envs)
        if envs[0].site not in self.recorded:
            sites = self.runtime.sites_of(task.sites)
            leases = list(await self._call(self.runtime.acquire_sets(sites, len(envs))))
        outcomes = await asyncio.gather(
            *(self._reset(env, task, held) for env, held in zip(envs, leases, strict=True)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Run an env operation under the request timeout, its failures as API errors."""
        try:
            # A timeout scope, not wait_for: the call runs in the request's own task, without
            # another task and loop round trip per call.
            async with asyncio.timeout(self.config.request_timeout_s):
                return await awaitable
        except TimeoutError as err:
            raise errors.Timeout(
                f"the call took longer than {self.config.request_timeout_s} s"
            ) from err
        except PoolFull as err:
            headers = errors.retry_after(err.retry_after_s)
            raise errors.PoolFullError(str(err), headers=headers) from err
        except EpisodeOver as err:
            raise errors.EpisodeOverError(str(err)) from err
        except (NotReady, OSError) as err:
            raise errors.PoolFullError(
                f"no instance could be started: {err}", headers=errors.retry_after(5)
            ) from err

    @contextlib.asynccontextmanager
    async def _using(self, env: ServedEnv) -> AsyncIterator[None]:
        """Hold ``env`` for one call: one call at a time, and its TTL renewed."""
        if env.lock.locked():
            raise errors.Busy(f"env {env.id} is busy with another call; one call at a time")
        async with env.lock:
            if env.id not in self.envs:
                raise await self._missing(env.id)
            await self._touch(env)
            try:
                yield
            finally:
                # The TTL counts from the end of the call; the store's copy is renewed by
                # the next call (one store round trip per call is enough).
                env.deadline = time.monotonic() + env.ttl_s

    async def _missing(self, env_id: str) -> errors.ApiError:
        try:
            await self.get(env_id)
        except errors.ApiError as err:
            return err
        return errors.NotFound(f"unknown env {env_id!r}")

    async def _touch(self, env: ServedEnv) -> None:
        env.deadline = time.monotonic() + env.ttl_s
        if env.id in self.envs and not await self.store.touch(env.id, env.ttl_s):
            await self.store.put(env.record, env.ttl_s)  # the store lost it (flushed): put it back

    async def _register(self, envs: list[ServedEnv]) -> None:
        """Serve ``envs`` once the store holds them all: an env the store did not take is
        never listed nor counted (its creation fails, the caller closes it)."""
        stored: list[ServedEnv] = []
        try:
            for env in envs:
                await self.store.put(env.record, env.ttl_s)
                stored.append(env)
        except BaseException:
            for env in stored:
                # Best effort: a record left in an unreachable store expires with its TTL.
                with contextlib.suppress(StoreUnavailable):
                    await self.store.delete(env.record)
            raise
        for env in envs:
            env.deadline = time.monotonic() + env.ttl_s
            self.envs[env.id] = env

    async def _discard(self, env: ServedEnv) -> None:
        """Close an env that never got registered (its creation failed)."""
        with contextlib.suppress(Exception):
            await env.session.close()

    async def _end(self, env: ServedEnv, reason: str) -> None:
        """Unregister ``env`` (new calls see ``reason``), then close it when its call is done."""
        if self.envs.pop(env.id, None) is None:
            return
        try:
            await self.store.delete(env.record, reason)
        except StoreUnavailable as err:
            # The env ends all the same: its instance must go back to the pool. Its record
            # expires with its TTL; without the tombstone, later calls get 404, not 410.
            log.warning("env %s ended without its tombstone: %s", env.id, err)
        group = env.record.group
        if group is not None and group in self.groups:
            self.groups[group] = [i for i in self.groups[group] if i != env.id]
            if not self.groups[group]:
                del self.groups[group]
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                async with env.lock:
                    await env.session.close()
        except Exception as err:  # closing is best effort; the pool reaps what is left
            log.warning("closing env %s failed: %s", env.id, err)

    async def _reaper(self) -> None:
        """End envs no call touched within their TTL (their trainer is gone)."""
        while True:
            await asyncio.sleep(REAPER_INTERVAL_S)
            now = time.monotonic()
            for env in self.envs_list():
                if env.deadline < now and not env.lock.locked():
                    self.metrics.reaped.inc()
                    reason = (
                        f"env {env.id} expired: no call for {env.ttl_s:g} s "
                        "(its TTL); create a new env"
                    )
                    task = asyncio.create_task(self._end(env, reason))
                    self._ending.add(task)
                    task.add_done_callback(self._ending.discard)

    async def _heartbeat(self) -> None:
        """Keep this server's registry entry current."""
        config = self.config
        url = config.public_url or f"http://{config.host}:{config.port}"
        failing = False
        while True:
            pool: dict[str, Any] = {
                name: site.model_dump()
                for status in self.pool_status()
                for name, site in status.sites.items()
            }
            record = ServerRecord(
                server=self.owner,
                url=url,
                pid=os.getpid(),
                started_at=self.started_at,
                envs=len(self.envs),
                pool=pool,
            )
            try:
                await self.store.heartbeat(record, ttl_s=config.heartbeat_s * 3)
            except Exception as err:  # a store hiccup must not end the loop
                if not failing:  # once per outage, not every beat
                    log.warning("heartbeat to the %s store failed: %s", self.store.name, err)
                failing = True
            else:
                if failing:
                    log.warning("heartbeat to the %s store works again", self.store.name)
                failing = False
            await asyncio.sleep(config.heartbeat_s)
