"""Build the server image ``webserv/server:latest`` (used by ``docker-compose.yml``).

On top of the base image of ``webserv images build`` it installs Chromium and redis-server
from Debian, webserv's Python dependencies from the local wheelhouse (the versions
installed here, resolved from webserv's own requirements) and webserv's code. Like the
other images it carries a content hash label of its inputs and is reused when it matches.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from importlib import metadata, resources
from pathlib import Path

import docker
from packaging.requirements import Requirement

from webserv.pool.images.build import (
    BASE_IMAGE,
    HASH_LABEL,
    BuiltImage,
    ImageBuildError,
    Log,
    build_base,
    build_wheelhouse,
    images_dir,
    requirements_closure,
    source_root,
)

SERVER_IMAGE = "webserv/server:latest"
#: What of the checkout the image runs: webserv itself and the benchmarks its CLI mounts.
PACKAGES = ("webserv", "benchmarks")


def server_requirements() -> list[str]:
    """webserv's run-time dependencies (not webserv itself, whose code is copied in)."""
    return requirements_closure(map(Requirement, metadata.distribution("webserv").requires or []))


def server_sources(root: Path) -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and "results" not in path.relative_to(root).parts
                and path.suffix != ".pyc"
            ):
                files.append(path)
    return files


def _dockerfile() -> str:
    return resources.files(__package__).joinpath("Dockerfile.server").read_text()


def server_hash(base_id: str, pins: list[str], root: Path) -> str:
    h = hashlib.sha256()
    for part in ["server-1", base_id, _dockerfile(), *pins]:
        h.update(part.encode() + b"\0")
    for path in server_sources(root):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def build_server(
    client: docker.DockerClient, force: bool = False, log: Log = print
) -> list[BuiltImage]:
    """Build (or reuse) the base image, then the server image on it."""
    base = build_base(client, force, log)
    started = time.monotonic()
    root = source_root()
    pins = server_requirements()
    want = server_hash(base.image_id, pins, root)
    try:
        image = client.images.get(SERVER_IMAGE)
        if not force and image.labels.get(HASH_LABEL) == want:
            return [base, _built(image, want, False, started)]
    except docker.errors.ImageNotFound:
        pass
    house = build_wheelhouse(pins, log)
    images_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="server-context-", dir=images_dir()) as tmp:
        context = Path(tmp)
        shutil.copytree(house, context / "deps")
        for path in server_sources(root):
            dest = context / "app" / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        (context / "Dockerfile").write_text(_dockerfile())
        log(f"building {SERVER_IMAGE} on {BASE_IMAGE}")
        stream = client.api.build(
            path=str(context),
            tag=SERVER_IMAGE,
            buildargs={"BASE_IMAGE": base.image_id},
            labels={HASH_LABEL: want},
            nocache=force,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise ImageBuildError(f"docker build of {SERVER_IMAGE} failed: {chunk['error']}")
            if line := chunk.get("stream", "").strip():
                log(line)
    image = client.images.get(SERVER_IMAGE)
    if image.labels.get(HASH_LABEL) != want:
        raise ImageBuildError(f"docker build did not produce {SERVER_IMAGE} with its label")
    return [base, _built(image, want, True, started)]


def _built(image: docker.models.images.Image, want: str, built: bool, started: float) -> BuiltImage:
    return BuiltImage(
        tag=SERVER_IMAGE,
        image_id=image.id,
        content_hash=want,
        built=built,
        seconds=time.monotonic() - started,
        size_bytes=int(image.attrs.get("Size", 0)),
    )
