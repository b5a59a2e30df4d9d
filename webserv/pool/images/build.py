"""Build the local Docker images: a Debian base from a debootstrap rootfs, the shop on top.

Nothing is pulled from a registry. The base image is a ``debootstrap --variant=minbase``
Debian 12 rootfs with python3 imported with ``docker import``; the shop image installs the
site's Python dependencies from a local wheelhouse (fetched once with ``pip wheel`` through
the host's pip configuration) plus webserv's site code. Every image carries a content hash
label of its inputs; an image whose label matches is reused, so a second build is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import docker
from docker.models.images import Image
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import webserv
from webserv import paths

BASE_REPO, BASE_TAG = "webserv/base", "bookworm"
SHOP_REPO, SHOP_TAG = "webserv/shop", "latest"
BASE_IMAGE = f"{BASE_REPO}:{BASE_TAG}"
SHOP_IMAGE = f"{SHOP_REPO}:{SHOP_TAG}"
HASH_LABEL = "webserv.content-hash"

DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Parts of the rootfs a server image never needs: package caches, docs, man pages.
BASE_TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
)
BASE_CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/usr/bin/python3"]',
)

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says which step failed and why."""


@dataclass
class BuiltImage:
    """One image after ``build_*``: built now, or reused because its content hash matched."""

    tag: str
    image_id: str
    content_hash: str
    built: bool
    seconds: float
    size_bytes: int


def images_dir() -> Path:
    """Where build inputs live between runs: the wheelhouse and the build contexts."""
    return paths.home() / "images"


def _digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _ignore_log(line: str) -> None:
    del line


def _run(argv: list[str], log: Log, what: str) -> None:
    log(f"$ {' '.join(argv)}")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _current(client: docker.DockerClient, tag: str, content_hash: str) -> Image | None:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get(HASH_LABEL) == content_hash else None


def _result(image: Image, content_hash: str, built: bool, started: float, tag: str) -> BuiltImage:
    return BuiltImage(
        tag=tag,
        image_id=image.id,
        content_hash=content_hash,
        built=built,
        seconds=time.monotonic() - started,
        size_bytes=int(image.attrs.get("Size", 0)),
    )


# --- base image -------------------------------------------------------------------------


def base_hash() -> str:
    """Content hash of the base image's inputs (suite, variant, packages, trimming, config)."""
    return _digest(["base-1", DEBIAN_SUITE, "minbase", *BASE_PACKAGES, *BASE_TRIM, *BASE_CHANGES])


def _unmount_below(root: Path) -> None:
    """Unmount what a failed debootstrap may have left mounted inside the rootfs."""
    prefix = str(root.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def build_base(
    client: docker.DockerClient, force: bool = False, log: Log = _ignore_log
) -> BuiltImage:
    """The Debian 12 base image with python3 and python3-venv, from a debootstrap rootfs."""
    started = time.monotonic()
    want = base_hash()
    if not force and (image := _current(client, BASE_IMAGE, want)):
        return _result(image, want, False, started, BASE_IMAGE)
    if os.geteuid() != 0:
        raise ImageBuildError("building the base image runs debootstrap, which needs root")
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = os.environ.get("WEBSERV_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    images_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="base-", dir=images_dir()))
    rootfs, tarball = work / "rootfs", work / "rootfs.tar"
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                mirror,
            ],
            log,
            "debootstrap",
        )
        for rel in BASE_TRIM:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], log, "tar")
        log(f"importing {BASE_IMAGE}")
        client.api.import_image_from_file(
            str(tarball),
            repository=BASE_REPO,
            tag=BASE_TAG,
            changes=[*BASE_CHANGES, f"LABEL {HASH_LABEL}={want}"],
        )
    finally:
        _unmount_below(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    image = _current(client, BASE_IMAGE, want)
    if image is None:
        raise ImageBuildError(f"docker import did not produce {BASE_IMAGE}")
    return _result(image, want, True, started, BASE_IMAGE)


# --- wheelhouse -------------------------------------------------------------------------


#: The Python of the base image (Debian 12's python3) that every image runs: requirement
#: markers are evaluated for it, not for the Python running the build.
IMAGE_PYTHON = {"python_version": "3.11", "python_full_version": "3.11.2"}


def _applies(req: Requirement, extras: Iterable[str] = ()) -> bool:
    envs = [{**IMAGE_PYTHON, "extra": extra} for extra in ("", *extras)]
    return req.marker is None or any(req.marker.evaluate(env) for env in envs)


def requirements_closure(roots: Iterable[Requirement]) -> list[str]:
    """Pins of every distribution ``roots`` need in an image, transitively.

    A pin is ``name==version`` as installed in this interpreter, so the image runs what the
    tests ran. A dependency only the image's Python needs (so not installed here) is kept as
    its requirement; a root that is not installed is an error.
    """
    stack = [req for req in roots if _applies(req)]
    root_names = {canonicalize_name(req.name) for req in stack}
    pins: dict[str, str] = {}
    unpinned: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        new_extras = set(req.extras) - extras_seen.get(name, set())
        if name in pins and not new_extras:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError as exc:
            if name in root_names:
                raise ImageBuildError(
                    f"{req.name} is needed in the image but not installed"
                ) from exc
            unpinned[name] = f"{name}{req.specifier}"
            continue
        pins[name] = dist.version
        extras_seen.setdefault(name, set()).update(req.extras)
        stack += [d for d in map(Requirement, dist.requires or []) if _applies(d, req.extras)]
    found = [f"{name}=={version}" for name, version in pins.items()]
    return sorted(found + [spec for name, spec in unpinned.items() if name not in pins])


def site_requirements() -> list[str]:
    """What the sites need at run time (``site-requirements.txt``), pinned transitively."""
    text = resources.files(__package__).joinpath("site-requirements.txt").read_text()
    lines = [line for line in text.splitlines() if line.strip() and line[0] != "#"]
    return requirements_closure(map(Requirement, lines))


def build_wheelhouse(pins: list[str], log: Log = _ignore_log) -> Path:
    """A directory with one wheel per pin, made once per set of pins and then reused."""
    house = images_dir() / "wheelhouse" / _digest(pins)[:16]
    if (house / "requirements.txt").is_file():
        return house
    house.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wheels-", dir=house.parent))
    try:
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "wheel", "--no-deps", "-q", "-w", str(tmp), *pins], log, "pip wheel")
        # Written last: its presence marks a complete wheelhouse.
        (tmp / "requirements.txt").write_text("\n".join(pins) + "\n")
        try:
            tmp.rename(house)
        except OSError:
            if not (house / "requirements.txt").is_file():
                raise  # not a concurrent build that finished first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return house


# --- webserv's site code ---------------------------------------------------------------


def source_root() -> Path:
    """The checkout (or site-packages) webserv is imported from."""
    return Path(webserv.__file__).resolve().parent.parent


#: The launcher pre-started containers run (stdlib only), with the packages it sits in.
LAUNCHER_SOURCES = (
    "webserv/pool/__init__.py",
    "webserv/pool/backends/__init__.py",
    "webserv/pool/backends/zygote.py",
)


def site_sources(root: Path) -> list[Path]:
    """What of webserv the image runs: the package root, the ``webserv.sites`` layer and
    the launcher of pre-started containers.

    The sites depend on nothing else in webserv, so the image changes only when they do.
    """
    files = [root / "webserv" / "__init__.py", *(root / path for path in LAUNCHER_SOURCES)]
    for path in sorted((root / "webserv" / "sites").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append(path)
    return files


def source_hash(root: Path) -> str:
    """Content hash of the site code the image runs."""
    return _digest(
        part
        for path in site_sources(root)
        for part in (str(path.relative_to(root)), path.read_bytes())
    )


# --- shop image -------------------------------------------------------------------------


def _dockerfile() -> str:
    return resources.files(__package__).joinpath("Dockerfile.shop").read_text()


def shop_hash(base_id: str, pins: list[str], src_hash: str) -> str:
    """Content hash of the shop image's inputs: base image, Dockerfile, pins, webserv source."""
    return _digest(["shop-1", base_id, _dockerfile(), *pins, src_hash])


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _docker_build(
    client: docker.DockerClient,
    context: Path,
    base_id: str,
    content_hash: str,
    force: bool,
    log: Log,
) -> str:
    """Run the shop's ``docker build`` in ``context``; return the new image's id."""
    stream = client.api.build(
        path=str(context),
        tag=SHOP_IMAGE,
        buildargs={"BASE_IMAGE": base_id},
        labels={HASH_LABEL: content_hash},
        nocache=force,
        rm=True,
        forcerm=True,
        decode=True,
    )
    image_id = None
    for chunk in stream:
        if "error" in chunk:
            raise ImageBuildError(f"docker build of {SHOP_IMAGE} failed: {chunk['error'].strip()}")
        if line := chunk.get("stream", "").strip():
            log(line)
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    if image_id is None:
        raise ImageBuildError(f"docker build of {SHOP_IMAGE} reported no image id")
    return image_id


def build_shop(
    client: docker.DockerClient, base: BuiltImage, force: bool = False, log: Log = _ignore_log
) -> BuiltImage:
    """The shop image on top of ``base``: a venv from the wheelhouse, plus the site code."""
    started = time.monotonic()
    root = source_root()
    pins = site_requirements()
    want = shop_hash(base.image_id, pins, source_hash(root))
    if not force and (image := _current(client, SHOP_IMAGE, want)):
        return _result(image, want, False, started, SHOP_IMAGE)
    house = build_wheelhouse(pins, log)
    images_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shop-context-", dir=images_dir()) as tmp:
        context = Path(tmp)
        (context / "deps").mkdir()
        for wheel in house.iterdir():
            _link_or_copy(wheel, context / "deps" / wheel.name)
        for path in site_sources(root):
            dest = context / "app" / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        (context / "Dockerfile").write_text(_dockerfile())
        log(f"building {SHOP_IMAGE}")
        image_id = _docker_build(client, context, base.image_id, want, force, log)
    image = client.images.get(image_id)
    if image.labels.get(HASH_LABEL) != want:
        raise ImageBuildError(f"docker build produced {image_id} without the expected label")
    # Earlier builds of the same tag are now untagged; drop them unless a container uses them.
    client.images.prune(filters={"dangling": True, "label": HASH_LABEL})
    return _result(image, want, True, started, SHOP_IMAGE)


def build_all(
    client: docker.DockerClient, force: bool = False, log: Log = _ignore_log
) -> list[BuiltImage]:
    """Build (or reuse) the base and the shop image, in that order."""
    base = build_base(client, force, log)
    return [base, build_shop(client, base, force, log)]


def expected_hashes(client: docker.DockerClient) -> dict[str, str]:
    """The content hash each image would have if built now (the base's as it is present)."""
    want = {BASE_IMAGE: base_hash()}
    try:
        base_id = client.images.get(BASE_IMAGE).id
    except docker.errors.ImageNotFound:
        return want
    want[SHOP_IMAGE] = shop_hash(base_id, site_requirements(), source_hash(source_root()))
    return want
