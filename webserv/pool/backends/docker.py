"""The docker backend: one container per instance on the local Docker Engine.

Each container runs the site's image with the instance's snapshot clone bind-mounted at the
spec's ``container_data_dir``, its ``container_port`` published on 127.0.0.1 only, the
spec's memory/CPU limits, and labels (owner, instance, site, port, data dir) from which a
restarted manager rebuilds its :class:`Instance` objects. The Docker SDK is synchronous:
every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from webserv.pool.backends.base import INSTANCE_LABEL, OWNER_LABEL, SITE_LABEL, Instance
from webserv.pool.spec import SiteSpec

PORT_LABEL = "webserv.port"
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


class DockerBackend:
    """Runs site instances as containers labelled with this backend's ``owner``."""

    name = "docker"

    def __init__(self, owner: str = "default", client: docker.DockerClient | None = None) -> None:
        self.owner = owner
        self._client = client

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

    async def start(self, spec: SiteSpec, instance_id: str, data_dir: Path, port: int) -> Instance:
        if not (spec.image and spec.container_port and spec.container_data_dir):
            raise DockerError(
                f"site {spec.name!r} needs image, container_port and container_data_dir "
                "to run on the docker backend"
            )
        image, cport, cdir = spec.image, spec.container_port, spec.container_data_dir

        def run() -> Instance:
            source = Path(data_dir).resolve()
            labels = {
                OWNER_LABEL: self.owner,
                INSTANCE_LABEL: instance_id,
                SITE_LABEL: spec.name,
                PORT_LABEL: str(port),
                DATA_DIR_LABEL: str(source),
            }
            api = self.client.api
            host_config = api.create_host_config(
                port_bindings={cport: ("127.0.0.1", port)},
                binds={str(source): {"bind": cdir, "mode": "rw"}},
                mem_limit=spec.memory_limit,
                nano_cpus=int(spec.cpu_limit * 1e9) if spec.cpu_limit else None,
            )
            try:
                # create + start rather than the SDK's run, which pulls a missing image.
                handle = api.create_container(
                    image,
                    name=f"webserv-{self.owner}-{instance_id}",
                    labels=labels,
                    ports=[cport],
                    environment={**spec.container_env, "WEBSERV_INSTANCE": instance_id},
                    host_config=host_config,
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
            return Instance(
                id=instance_id,
                site=spec.name,
                backend=self.name,
                port=port,
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

    async def stop(self, instance: Instance) -> None:
        def remove() -> None:
            with contextlib.suppress(NotFound):
                self.client.api.remove_container(instance.handle, force=True)

        await self._call(f"removing container of instance {instance.id}", remove)

    def _state(self, instance: Instance) -> dict[str, Any] | None:
        try:
            return self.client.api.inspect_container(instance.handle)["State"]
        except NotFound:
            return None

    async def alive(self, instance: Instance) -> bool:
        state = await self._call(f"inspecting instance {instance.id}", self._state, instance)
        return bool(state and state.get("Running"))

    async def owned(self, owner: str) -> list[Instance]:
        containers = await self._call(
            f"listing containers of owner {owner}",
            self.client.api.containers,
            all=True,
            filters={"label": f"{OWNER_LABEL}={owner}"},
        )
        found = []
        for container in containers:
            labels = container.get("Labels") or {}
            try:
                port = int(labels[PORT_LABEL])
                instance_id, site = labels[INSTANCE_LABEL], labels[SITE_LABEL]
            except (KeyError, ValueError):
                continue  # labelled by hand, not started by a DockerBackend
            found.append(
                Instance(
                    id=instance_id,
                    site=site,
                    backend=self.name,
                    port=port,
                    data_dir=Path(labels.get(DATA_DIR_LABEL, "")),
                    handle=container["Id"],
                    labels=labels,
                )
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
        """Close the engine connection (containers keep running until stopped)."""
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None
