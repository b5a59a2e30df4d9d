"""The docker backend: one container per instance on the local Docker Engine.

Each container runs the site's image with the instance's snapshot clone bind-mounted at the
spec's ``container_data_dir``, its ``container_port`` published on 127.0.0.1 only, the
spec's memory/CPU limits, and labels (owner, instance, site, port, data dir) from which a
restarted manager rebuilds its :class:`Instance` objects. The Docker SDK is synchronous:
every call runs in a worker thread.

With ``runtimes=N`` the backend keeps N pre-started containers per site (see
``runtimes.py``): started, the site's code imported, the port published, but no data dir
yet. A launch that lets the backend choose the port (``port=None``) takes one, mounts the
clone into it and tells it to serve, so it pays for a mount and a socket bind instead of a
container start and an interpreter's imports; a new runtime is started in the background.
Only images whose entrypoint is ``[python, -m, module]`` can be pre-started; others, and
launches on a given port, start a fresh container.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from webserv import ksm, paths
from webserv.pool.backends import runtimes
from webserv.pool.backends.base import (
    INSTANCE_LABEL,
    OWNER_LABEL,
    SITE_LABEL,
    ExecError,
    Instance,
    free_port,
)
from webserv.pool.backends.runtimes import CONTROL_DIR, RUNTIME_LABEL, SOCKET_NAME, Runtime
from webserv.sites.spec import SiteSpec

log = logging.getLogger(__name__)

PORT_LABEL = "webserv.port"
#: An image label: the JSON argv of the agent that starts the image as a runtime.
RUNTIME_AGENT_LABEL = "webserv.runtime"
DATA_DIR_LABEL = "webserv.data-dir"

T = TypeVar("T")


class DockerError(RuntimeError):
    """The Docker engine is unreachable or refused a request; the message says which and why."""


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Turn the SDK's transport and API errors into a :class:`DockerError` naming ``what``."""
    try:
        yield
    except requests.exceptions.ConnectionError as exc:
        raise DockerError(
            f"{what}: the Docker engine at {_engine_address()} is not reachable; "
            "start it with `bash scripts/services.sh`"
        ) from exc
    except APIError as exc:
        raise DockerError(f"{what}: {exc.explanation or exc}") from exc
    except DockerException as exc:
        raise DockerError(f"{what}: {exc}") from exc


def docker_client(timeout_s: int = 120) -> docker.DockerClient:
    """A client for the local engine, checked with a ping so a stopped engine fails here."""
    with _engine_errors("connecting to Docker"):
        try:
            client = docker.from_env(timeout=timeout_s)
            client.ping()
        except DockerException as exc:
            raise DockerError(
                f"the Docker engine at {_engine_address()} is not reachable ({exc}); "
                "start it with `bash scripts/services.sh`"
            ) from exc
    return client


def run_to_end(
    client: docker.DockerClient,
    spec: SiteSpec,
    data_dir: Path,
    argv: list[str],
    env: Mapping[str, str],
    timeout_s: float = 3600.0,
) -> str:
    """Run ``argv`` in a container of the site's image with ``data_dir`` mounted at its data
    dir and no port published; return its output, raise :class:`DockerError` with the
    output's tail when it fails. The container is removed whatever happens (blocking)."""
    image = spec.image
    if not (image and spec.container_data_dir):
        raise DockerError(f"site {spec.name!r} has no image and data dir to run a command in")
    api = client.api
    with _engine_errors(f"running {argv[0]} in {image}"):
        handle = api.create_container(
            image,
            command=argv,
            labels={OWNER_LABEL: "golden", SITE_LABEL: spec.name},
            environment={**spec.container_env, **env},
            host_config=api.create_host_config(
                binds={str(Path(data_dir).resolve()): {"bind": spec.container_data_dir}}
            ),
        )["Id"]
        try:
            api.start(handle)
            code = api.wait(handle, timeout=timeout_s)["StatusCode"]
            output = api.logs(handle).decode(errors="replace")
        finally:
            api.remove_container(handle, force=True)
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise DockerError(f"{' '.join(argv)} exited {code} in {image}:\n{tail}")
    return output


@dataclass(frozen=True)
class RuntimeStart:
    """How an image starts as a runtime: ``launcher`` (its argv up to the control socket),
    what follows the socket, and the args its one request carries (the image's command)."""

    launcher: tuple[str, ...]
    serve: tuple[str, ...]
    args: list[str]

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> RuntimeStart | None:
        """From an image's config: an entrypoint ``python -m module`` runs webserv's launcher,
        which imports the module (and the site's preloads) before it waits; a label
        ``webserv.runtime`` names an agent (``webserv-runtime``, in the base image) that runs
        the image's own entrypoint once the data dir is there."""
        entry, cmd = list(config.get("Entrypoint") or []), list(config.get("Cmd") or [])
        agent = (config.get("Labels") or {}).get(RUNTIME_AGENT_LABEL)
        if agent:
            return cls(tuple(json.loads(agent)), ("--", *entry), cmd)
        if len(entry) == 3 and entry[1] == "-m":
            return cls((entry[0], "-m", "webserv.pool.backends.zygote"), (entry[2],), cmd)
        return None

    def argv(self, control: str, preload: Sequence[str]) -> list[str]:
        """The runtime container's entrypoint (preloads go to webserv's launcher only)."""
        extra = [] if self.serve[:1] == ("--",) else list(preload)
        return [*self.launcher, "--control", control, *self.serve, *extra]


class DockerBackend:
    """Runs site instances as containers labelled with this backend's ``owner``.

    ``runtimes`` is how many pre-started containers to keep per site (0: none, every launch
    starts a fresh container); ``preload`` maps a site to what its runtimes import before
    they wait (as for the process backend's zygote); slots live under ``runtime_root``.
    With ``merge_memory``, each container marks its processes for the kernel's same-page
    merging before it runs its command (see :func:`webserv.ksm.container_marking`), where
    its image can: a container's processes are the engine's children, never webserv's.
    """

    name = "docker"

    def __init__(
        self,
        owner: str = "default",
        client: docker.DockerClient | None = None,
        runtimes: int = 0,
        preload: Mapping[str, Sequence[str]] | None = None,
        runtime_root: Path | None = None,
        merge_memory: bool = False,
    ) -> None:
        self.owner = owner
        self.merge_memory = merge_memory
        #: Per image: the argv prefix that marks its containers' memory (None: it cannot).
        self._marking: dict[str, list[str] | None] = {}
        self._commands: dict[str, list[str]] = {}  # per image: its entrypoint and command
        self._client = client
        self.runtimes = runtimes
        self.preload = dict(preload or {})
        self.runtime_root = runtime_root or paths.home() / "pool" / "docker-runtimes"
        self._idle: dict[str, deque[Runtime]] = {}
        self._pending: dict[str, set[asyncio.Task[Runtime]]] = {}
        #: Seconds each recent runtime took from creation to ready (for benchmarks).
        self.runtime_start_s: deque[float] = deque(maxlen=100)
        self._held: set[str] = set()  # slots of this backend's idle or starting runtimes
        self._entrypoints: dict[str, RuntimeStart | None] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def chooses_port(self) -> bool:
        """With runtimes, a launch serves on the port its runtime already publishes."""
        return self.runtimes > 0

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            with _engine_errors(what):
                return fn(*args, **kwargs)

        return await asyncio.to_thread(call)

    @staticmethod
    def _checked(spec: SiteSpec) -> tuple[str, int, str]:
        if not (spec.image and spec.container_port and spec.container_data_dir):
            raise DockerError(
                f"site {spec.name!r} needs image, container_port and container_data_dir "
                "to run on the docker backend"
            )
        return spec.image, spec.container_port, spec.container_data_dir

    def _create(
        self,
        spec: SiteSpec,
        name: str,
        labels: dict[str, str],
        port: int,
        binds: dict[str, dict[str, str]],
        env: dict[str, str],
        entrypoint: list[str] | None = None,
    ) -> str:
        """Create and start a container of the site's image; return its id (blocking)."""
        image, cport, _ = self._checked(spec)
        api = self.client.api
        if self.merge_memory and (mark := self._mark_prefix(image)):
            entrypoint = [*mark, *(entrypoint or self._image_command(image))]
        host_config = api.create_host_config(
            port_bindings={cport: ("127.0.0.1", port)},
            binds=binds,
            mem_limit=spec.memory_limit,
            nano_cpus=int(spec.cpu_limit * 1e9) if spec.cpu_limit else None,
        )
        try:
            # create + start rather than the SDK's run, which pulls a missing image.
            handle = api.create_container(
                image,
                name=name,
                labels=labels,
                ports=[cport],
                environment={**spec.container_env, **env},
                host_config=host_config,
                entrypoint=entrypoint,
                command=[] if entrypoint else None,
            )["Id"]
        except ImageNotFound as exc:
            raise DockerError(
                f"image {image!r} of site {spec.name!r} is not present; "
                "build it with `webserv images build`"
            ) from exc
        try:
            api.start(handle)
        except BaseException:
            api.remove_container(handle, force=True)
            raise
        return handle

    def _mark_prefix(self, image: str) -> list[str] | None:
        """The argv prefix that marks a container of ``image`` mergeable, once a probe
        container has shown that the image can run it on this kernel (blocking; cached)."""
        if image not in self._marking:
            marking = None
            if ksm.supported():
                marking = ksm.container_marking(self.client.info().get("Architecture", ""))
            works = marking is not None and self._exits_0(image, marking[1])
            self._marking[image] = marking[0] if works and marking is not None else None
        return self._marking[image]

    def _image_command(self, image: str) -> list[str]:
        """The image's own entrypoint and command (blocking; asked of the engine once)."""
        if image not in self._commands:
            config = self.client.api.inspect_image(image)["Config"]
            self._commands[image] = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        return self._commands[image]

    def _exits_0(self, image: str, argv: list[str]) -> bool:
        """Whether ``argv`` runs and exits 0 in a container of ``image``, which is removed
        (blocking)."""
        api = self.client.api
        try:
            handle = api.create_container(image, entrypoint=argv, command=[], network_disabled=True)
        except DockerException:
            return False  # no such image: the launch itself says so
        try:
            api.start(handle["Id"])
            return bool(api.wait(handle["Id"], timeout=60)["StatusCode"] == 0)
        except (DockerException, requests.RequestException):
            return False  # the image has no perl, or it hung
        finally:
            api.remove_container(handle["Id"], force=True)

    async def start(
        self, spec: SiteSpec, instance_id: str, data_dir: Path, port: int | None
    ) -> Instance:
        self._checked(spec)
        if port is None:
            warm = await self._start_on_runtime(spec, instance_id, data_dir)
            if warm is not None:
                return warm
            port = free_port()
        _, _, cdir = self._checked(spec)
        chosen = port

        def run() -> Instance:
            source = Path(data_dir).resolve()
            labels = {
                OWNER_LABEL: self.owner,
                INSTANCE_LABEL: instance_id,
                SITE_LABEL: spec.name,
                PORT_LABEL: str(chosen),
                DATA_DIR_LABEL: str(source),
            }
            handle = self._create(
                spec,
                f"webserv-{self.owner}-{instance_id}",
                labels,
                chosen,
                {str(source): {"bind": cdir, "mode": "rw"}},
                {"WEBSERV_INSTANCE": instance_id},
            )
            return Instance(
                id=instance_id,
                site=spec.name,
                backend=self.name,
                port=chosen,
                data_dir=source,
                handle=handle,
                labels=labels,
            )

        starting = asyncio.ensure_future(
            self._call(f"starting {spec.name} instance {instance_id}", run)
        )
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The engine call runs on in its thread: remove what it creates, leave no orphan.
            with contextlib.suppress(Exception):
                await self.stop(await starting)
            raise

    # -- pre-started runtimes ----------------------------------------------------------

    async def prepare(self, spec: SiteSpec) -> None:
        """Start the site's missing runtimes (if this backend keeps any) and wait until all
        of them, those already starting included, are ready."""
        if self.runtimes and await self.takes_runtimes(spec):
            await self._top_up(spec)

    async def takes_runtimes(self, spec: SiteSpec) -> bool:
        """Whether the site's image can start as a runtime (its entrypoint is ``python -m``,
        the launcher's protocol); other images always start a fresh container."""
        return await self._entrypoint(spec) is not None

    def idle_runtimes(self, site: str) -> int:
        """How many ready runtimes of ``site`` wait for an instance."""
        return sum(1 for runtime in self._idle.get(site, ()) if runtime.usable())

    async def _entrypoint(self, spec: SiteSpec) -> RuntimeStart | None:
        """How the site's image starts as a runtime, if it can: through webserv's launcher
        (an entrypoint ``python -m module``) or an agent its ``webserv.runtime`` label names."""
        image, _, _ = self._checked(spec)
        if image not in self._entrypoints:

            def inspect() -> dict[str, Any]:
                try:
                    return self.client.api.inspect_image(image)
                except ImageNotFound as exc:
                    raise DockerError(
                        f"image {image!r} of site {spec.name!r} is not present; "
                        "build it with `webserv images build`"
                    ) from exc

            attrs = await self._call(f"inspecting image {image}", inspect)
            self._entrypoints[image] = RuntimeStart.of(attrs.get("Config") or {})
            if self._entrypoints[image] is None:
                log.debug(
                    "image %s has neither a `python -m` entrypoint nor a runtime agent", image
                )
        return self._entrypoints[image]

    async def _top_up(self, spec: SiteSpec) -> None:
        """Start as many runtimes as the site lacks, wait for every one that is starting;
        raise the first failure."""
        idle = self._idle.setdefault(spec.name, deque())
        for runtime in [r for r in idle if not r.usable()]:
            idle.remove(runtime)
            await self._drop(runtime)
        pending = self._pending.setdefault(spec.name, set())
        for _ in range(self.runtimes - len(idle) - len(pending)):
            task = asyncio.ensure_future(self._new_runtime(spec))
            pending.add(task)
            task.add_done_callback(pending.discard)
        results = await asyncio.gather(*pending, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _new_runtime(self, spec: SiteSpec) -> Runtime:
        start = await self._entrypoint(spec)
        assert start is not None
        _, _, cdir = self._checked(spec)
        slot = f"rt-{uuid.uuid4().hex[:12]}"
        directory = self.runtime_root / self.owner / slot
        port = free_port()
        labels = {
            OWNER_LABEL: self.owner,
            SITE_LABEL: spec.name,
            RUNTIME_LABEL: slot,
            PORT_LABEL: str(port),
        }
        runtime = Runtime(slot, spec.name, port, directory, labels)
        self._held.add(slot)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            await asyncio.to_thread(runtimes.make_slot, self.runtime_root, directory)
            await runtime.listen()
            control = f"{CONTROL_DIR}/{SOCKET_NAME}"
            entrypoint = start.argv(control, self.preload.get(spec.name, []))
            binds = {
                str(runtime.data_mount): {"bind": cdir, "mode": "rw", "propagation": "rslave"},
                str(directory / "control"): {"bind": CONTROL_DIR, "mode": "rw"},
            }
            creating = asyncio.ensure_future(
                self._call(
                    f"starting a {spec.name} runtime",
                    self._create,
                    spec,
                    f"webserv-{self.owner}-{slot}",
                    labels,
                    port,
                    binds,
                    {},
                    entrypoint,
                )
            )
            try:
                runtime.handle = await asyncio.shield(creating)
            except asyncio.CancelledError:
                # The engine call runs on in its thread: learn its container to remove it.
                with contextlib.suppress(Exception):
                    runtime.handle = await creating
                raise
            await runtime.wait_ready(spec.ready_timeout_s)
        except BaseException:
            await asyncio.shield(self._drop(runtime))
            raise
        self.runtime_start_s.append(loop.time() - began)
        self._idle.setdefault(spec.name, deque()).append(runtime)
        return runtime

    async def _hand_over(
        self, runtime: Runtime, instance_id: str, data_dir: Path, request: dict[str, object]
    ) -> Path:
        """Mount the clone into the runtime and tell it to serve; return the clone's path."""
        source = await asyncio.to_thread(runtimes.mount_clone, runtime, instance_id, data_dir)
        await runtime.launch(request)
        return source

    async def _drop(self, runtime: Runtime, after: asyncio.Future[Any] | None = None) -> None:
        """Remove a runtime that will serve no instance: container, control socket, slot
        (once ``after``, a hand-over to it, has finished)."""
        if after is not None:
            await asyncio.wait([after])
        runtime.close_control()
        self._held.discard(runtime.slot)
        instance = Instance(
            runtime.slot,
            runtime.site,
            self.name,
            runtime.port,
            runtime.data_mount,
            runtime.handle,
            labels=runtime.labels,
        )
        await self.stop(instance)

    def _refill(self, spec: SiteSpec) -> None:
        async def refill() -> None:
            try:
                await self._top_up(spec)
            except Exception as exc:  # the next launch starts a fresh container instead
                log.warning("starting a %s runtime failed: %s", spec.name, exc)

        task = asyncio.ensure_future(refill())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _start_on_runtime(
        self, spec: SiteSpec, instance_id: str, data_dir: Path
    ) -> Instance | None:
        """Hand the clone to a ready runtime of the site; None if there is none (then one is
        started for the next launch)."""
        entry = await self._entrypoint(spec) if self.runtimes else None
        if entry is None:
            return None
        idle = self._idle.setdefault(spec.name, deque())
        while idle:
            runtime = idle.popleft()
            self._held.discard(runtime.slot)
            if not runtime.usable():
                await self._drop(runtime)
                continue
            request: dict[str, object] = {
                "args": entry.args,
                "env": {"WEBSERV_INSTANCE": instance_id},
            }
            handing = asyncio.ensure_future(
                self._hand_over(runtime, instance_id, data_dir, request)
            )
            try:
                source = await asyncio.shield(handing)
            except BaseException as exc:
                # Failed or cancelled: once the hand-over has run its course (a mount runs on
                # in its thread), remove the runtime with whatever it was given.
                await asyncio.shield(self._drop(runtime, after=handing))
                if not isinstance(exc, (OSError, ConnectionError)):
                    raise
                log.warning(
                    "runtime %s could not take instance %s: %s", runtime.slot, instance_id, exc
                )
                continue
            self._refill(spec)
            labels = {**runtime.labels, INSTANCE_LABEL: instance_id, DATA_DIR_LABEL: str(source)}
            return Instance(
                id=instance_id,
                site=spec.name,
                backend=self.name,
                port=runtime.port,
                data_dir=source,
                handle=runtime.handle,
                labels=labels,
            )
        self._refill(spec)
        return None

    async def stop(self, instance: Instance) -> None:
        """Remove the container and, for a runtime, unmount the clone and delete its slot."""

        def remove() -> None:
            if instance.handle:
                with contextlib.suppress(NotFound):
                    self.client.api.remove_container(instance.handle, force=True)

        await self._call(f"removing container of instance {instance.id}", remove)
        if slot := instance.labels.get(RUNTIME_LABEL):
            owner = instance.labels.get(OWNER_LABEL, self.owner)
            await asyncio.to_thread(runtimes.remove_slot, self.runtime_root / owner / slot)

    async def exec(self, instance: Instance, argv: list[str]) -> str:
        def run() -> tuple[int, bytes]:
            result = self.client.containers.get(instance.handle).exec_run(argv)
            return result.exit_code, result.output or b""

        code, out = await self._call(f"running {argv[0]} in instance {instance.id}", run)
        text = out.decode(errors="replace")
        if code != 0:
            raise ExecError(
                f"{' '.join(argv)} exited {code} in instance {instance.id}: {text.strip()[-500:]}"
            )
        return text

    def _state(self, instance: Instance) -> dict[str, Any] | None:
        if not instance.handle:
            return None
        try:
            return self.client.api.inspect_container(instance.handle)["State"]
        except NotFound:
            return None

    async def alive(self, instance: Instance) -> bool:
        state = await self._call(f"inspecting instance {instance.id}", self._state, instance)
        return bool(state and state.get("Running"))

    async def owned(self, owner: str) -> list[Instance]:
        """Containers labelled ``owner`` (instances, and runtimes no live backend holds),
        plus runtime slots left without a container, so that stopping them cleans up."""
        containers = await self._call(
            f"listing containers of owner {owner}",
            self.client.api.containers,
            all=True,
            filters={"label": f"{OWNER_LABEL}={owner}"},
        )
        found = []
        slots = set()
        for container in containers:
            labels = container.get("Labels") or {}
            try:
                port = int(labels[PORT_LABEL])
                site = labels[SITE_LABEL]
            except (KeyError, ValueError):
                continue  # labelled by hand, not started by a DockerBackend
            slot = labels.get(RUNTIME_LABEL)
            if slot is not None:
                slots.add(slot)
                if slot in self._held:
                    continue  # this backend's own idle runtime, not a leftover
                state = runtimes.recorded(self.runtime_root / owner / slot) or {}
                instance_id = state.get("id", slot)
                data_dir = state.get("data_dir", str(self.runtime_root / owner / slot / "data"))
                labels = {**labels, INSTANCE_LABEL: instance_id, DATA_DIR_LABEL: data_dir}
            elif INSTANCE_LABEL not in labels:
                continue
            found.append(
                Instance(
                    id=labels[INSTANCE_LABEL],
                    site=site,
                    backend=self.name,
                    port=port,
                    data_dir=Path(labels.get(DATA_DIR_LABEL, "")),
                    handle=container["Id"],
                    labels=labels,
                )
            )
        owner_dir = self.runtime_root / owner
        for directory in sorted(owner_dir.iterdir()) if owner_dir.is_dir() else []:
            if directory.name in slots or directory.name in self._held:
                continue
            labels = {OWNER_LABEL: owner, RUNTIME_LABEL: directory.name}
            found.append(
                Instance(directory.name, "", self.name, 0, directory / "data", "", labels=labels)
            )
        return found

    async def memory_bytes(self, instance: Instance) -> int:
        """The container's cgroup memory use less its inactive page cache (as ``docker stats``)."""

        def usage() -> int:
            try:
                stats = self.client.api.stats(instance.handle, stream=False, one_shot=True)
            except NotFound:
                return 0
            memory = stats.get("memory_stats") or {}
            inner = memory.get("stats") or {}
            inactive = inner.get("total_inactive_file", inner.get("inactive_file", 0))
            return max(0, int(memory.get("usage", 0)) - int(inactive))

        return await self._call(f"reading memory of instance {instance.id}", usage)

    async def diagnose(self, instance: Instance, tail: int = 20) -> str:
        """Why an instance is not running: exit code, OOM kill and the last log lines."""

        def describe() -> str:
            state = self._state(instance)
            if state is None:
                return f"container {instance.handle[:12]} of instance {instance.id} is gone"
            if state.get("Running"):
                return f"container {instance.handle[:12]} of instance {instance.id} is running"
            logs = self.client.api.logs(instance.handle, tail=tail).decode(errors="replace")
            oom = ", killed for lack of memory" if state.get("OOMKilled") else ""
            return (
                f"container {instance.handle[:12]} of instance {instance.id} exited with code "
                f"{state.get('ExitCode')}{oom}; last log lines:\n{logs.rstrip()}"
            )

        return await self._call(f"inspecting instance {instance.id}", describe)

    async def close(self) -> None:
        """Remove the idle runtimes and close the engine connection (instances keep running
        until stopped)."""
        tasks = [*self._background, *(t for pending in self._pending.values() for t in pending)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        idle = [runtime for queue in self._idle.values() for runtime in queue]
        self._idle.clear()
        await asyncio.gather(*(self._drop(runtime) for runtime in idle), return_exceptions=True)
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None
