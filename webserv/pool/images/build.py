"""Build the local Docker images from the repository's ``containers/`` folder.

Each image is one folder, ``containers/<name>``, that plain ``docker build`` builds; this
module runs the same builds for ``webserv images``:

* ``base`` is ``debian:bookworm-slim`` plus python3. No registry is assumed, so its
  ``BASE_IMAGE`` is a ``debootstrap --variant=minbase`` rootfs of Debian 12 imported with
  ``docker import`` (``webserv/rootfs:bookworm``) in place of the registry's image.
* ``shop`` and ``server`` install a venv from the ``wheels/`` of their folder, which
  :func:`write_wheels` fills: webserv's own wheel, and the wheels of their dependencies
  pinned to the versions installed here (fetched once with ``pip wheel`` through the host's
  pip configuration, then reused).

Every image carries a content hash label of its inputs; an image whose label matches is
reused, so a second build is a no-op.
"""

from __future__ import annotations

import filecmp
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import docker
from docker.models.images import Image
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import webserv
from webserv import paths

ROOTFS_REPO, ROOTFS_TAG = "webserv/rootfs", "bookworm"
ROOTFS_IMAGE = f"{ROOTFS_REPO}:{ROOTFS_TAG}"
BASE_IMAGE = "webserv/base:bookworm"
SHOP_IMAGE = "webserv/shop:latest"
SERVER_IMAGE = "webserv/server:latest"
HASH_LABEL = "webserv.content-hash"

#: The image each folder of ``containers/`` builds.
TAGS = {
    "base": BASE_IMAGE,
    "shop": SHOP_IMAGE,
    "server": SERVER_IMAGE,
    "wordpress": "webserv/wordpress:latest",
    "redmine": "webserv/redmine:latest",
}
#: Images built on the base image (all but the base itself).
ON_BASE = tuple(name for name in TAGS if name != "base")

DEBIAN_SUITE = "bookworm"
#: Parts of the rootfs an image never needs: package caches, docs, man pages.
ROOTFS_TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
)
#: The image config of ``debian:bookworm-slim``, which the rootfs stands in for.
ROOTFS_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)

Log = Callable[[str], None]
logger = logging.getLogger(__name__)


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says which step failed and why."""


@dataclass
class BuiltImage:
    """One image after a build: built now, or reused because its content hash matched."""

    tag: str
    image_id: str
    content_hash: str
    built: bool
    seconds: float
    size_bytes: int


def images_dir() -> Path:
    """Where build inputs live between runs: the wheelhouse and webserv's wheel."""
    return paths.home() / "images"


def source_root() -> Path:
    """The checkout (or site-packages) webserv is imported from."""
    return Path(webserv.__file__).resolve().parent.parent


def container_dir(name: str) -> Path:
    """``containers/<name>`` of the checkout: the Dockerfile of one image and its inputs."""
    folder = source_root() / "containers" / name
    if not (folder / "Dockerfile").is_file():
        raise ImageBuildError(
            f"{folder}/Dockerfile not found: images are built from a checkout of webserv"
        )
    return folder


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


# --- the Debian rootfs ------------------------------------------------------------------


def rootfs_hash() -> str:
    """Content hash of the rootfs image's inputs (suite, variant, trimming, config)."""
    return _digest(["rootfs-1", DEBIAN_SUITE, "minbase", *ROOTFS_TRIM, *ROOTFS_CHANGES])


def _unmount_below(root: Path) -> None:
    """Unmount what a failed debootstrap may have left mounted inside the rootfs."""
    prefix = str(root.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def build_rootfs(
    client: docker.DockerClient, force: bool = False, log: Log = _ignore_log
) -> BuiltImage:
    """A minimal Debian 12 from debootstrap, imported as the base image's ``BASE_IMAGE``."""
    started = time.monotonic()
    want = rootfs_hash()
    if not force and (image := _current(client, ROOTFS_IMAGE, want)):
        return _result(image, want, False, started, ROOTFS_IMAGE)
    if os.geteuid() != 0:
        raise ImageBuildError("building the Debian rootfs runs debootstrap, which needs root")
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = os.environ.get("WEBSERV_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    images_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=images_dir()))
    rootfs, tarball = work / "rootfs", work / "rootfs.tar"
    try:
        _run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), mirror],
            log,
            "debootstrap",
        )
        for rel in ROOTFS_TRIM:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], log, "tar")
        log(f"importing {ROOTFS_IMAGE}")
        client.api.import_image_from_file(
            str(tarball),
            repository=ROOTFS_REPO,
            tag=ROOTFS_TAG,
            changes=[*ROOTFS_CHANGES, f"LABEL {HASH_LABEL}={want}"],
        )
    finally:
        _unmount_below(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    image = _current(client, ROOTFS_IMAGE, want)
    if image is None:
        raise ImageBuildError(f"docker import did not produce {ROOTFS_IMAGE}")
    return _result(image, want, True, started, ROOTFS_IMAGE)


# --- pinned dependencies ----------------------------------------------------------------


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
    """What the shop image runs (``containers/shop/requirements.in``), pinned transitively."""
    text = (container_dir("shop") / "requirements.in").read_text()
    lines = [line for line in text.splitlines() if line.strip() and line[0] != "#"]
    return requirements_closure(map(Requirement, lines))


def webserv_requirements() -> list[str]:
    """webserv's run-time dependencies (``pyproject.toml``), pinned transitively."""
    project = tomllib.loads((source_root() / "pyproject.toml").read_text())["project"]
    return requirements_closure(map(Requirement, project["dependencies"]))


#: The images that install from ``wheels/``, and the pins their wheelhouse holds besides
#: webserv's own wheel.
PINS: dict[str, Callable[[], list[str]]] = {
    "shop": site_requirements,
    "server": webserv_requirements,
}


# --- wheels -----------------------------------------------------------------------------


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


def package_sources(root: Path) -> list[Path]:
    """What webserv's wheel is built from: ``pyproject.toml`` and the package's files.

    ``README.md`` goes into the wheel too, as its long description only, so it is left out
    here: editing it rebuilds no image.
    """
    files = [root / "pyproject.toml"]
    for path in sorted((root / "webserv").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append(path)
    return files


def source_hash(root: Path) -> str:
    """Content hash of webserv's sources, as its wheel is built from them."""
    return _digest(
        part
        for path in package_sources(root)
        for part in (str(path.relative_to(root)), path.read_bytes())
    )


def webserv_wheel(log: Log = _ignore_log) -> Path:
    """webserv's wheel, built once per source hash; only the latest one is kept."""
    root = source_root()
    cache = images_dir() / "webserv-wheel"
    done = cache / source_hash(root)[:16]
    if built := sorted(done.glob("webserv-*.whl")):
        return built[0]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as tmp:
        # Built from a clean copy: setuptools builds in the source tree, where a stale
        # build/ would put deleted files into the wheel.
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        for path in [*package_sources(root), root / "README.md"]:
            dest = src / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "wheel", "--no-deps", "-q", "-w", str(out), str(src)], log, "webserv's wheel")
        try:
            out.rename(done)
        except OSError:
            if not any(done.glob("webserv-*.whl")):
                raise  # not a concurrent build that finished first
    for old in cache.iterdir():
        if old != done and not old.name.startswith("build-"):  # another build's work dir
            shutil.rmtree(old, ignore_errors=True)
    return next(done.glob("webserv-*.whl"))


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _mirror(src: Path, dest: Path) -> None:
    """Make ``dest`` hold exactly the files of ``src``, keeping those already the same."""
    dest.mkdir(parents=True, exist_ok=True)
    want = {path.name for path in src.iterdir()}
    for path in dest.iterdir():
        same = path.name in want and path.is_file() and filecmp.cmp(src / path.name, path)
        if not same:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for name in want:
        if not (dest / name).exists():
            _link_or_copy(src / name, dest / name)


def write_wheels(name: str, log: Log = _ignore_log) -> Path:
    """Fill ``containers/<name>/wheels/`` as its Dockerfile needs: ``deps/`` with the pinned
    dependency wheels and their ``requirements.txt``, ``webserv/`` with webserv's wheel."""
    if name not in PINS:
        raise ImageBuildError(f"image {name!r} takes no wheels; these do: {', '.join(PINS)}")
    wheels = container_dir(name) / "wheels"
    _mirror(build_wheelhouse(PINS[name](), log), wheels / "deps")
    _mirror(webserv_wheel(log).parent, wheels / "webserv")
    return wheels


# --- images -----------------------------------------------------------------------------


def image_hash(name: str, base_id: str) -> str:
    """Content hash of an image's inputs: its base image, the files of its folder and, for
    an image with wheels, what they are made of (the pins and webserv's sources)."""
    folder = container_dir(name)
    parts: list[str | bytes] = ["image-2", name, base_id]
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and rel.parts[0] != "wheels":
            parts += [str(rel), path.read_bytes()]
    if name in PINS:
        parts += [*PINS[name](), source_hash(source_root())]
    return _digest(parts)


def _docker_build(
    client: docker.DockerClient, name: str, base_id: str, content_hash: str, force: bool, log: Log
) -> Image:
    """``docker build containers/<name>`` on ``base_id``, labelled with ``content_hash``."""
    tag = TAGS[name]
    log(f"building {tag} from containers/{name}")
    stream = client.api.build(
        path=str(container_dir(name)),
        tag=tag,
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
            raise ImageBuildError(f"docker build of {tag} failed: {chunk['error'].strip()}")
        if line := chunk.get("stream", "").strip():
            log(line)
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    if image_id is None:
        raise ImageBuildError(f"docker build of {tag} reported no image id")
    image = client.images.get(image_id)
    if image.labels.get(HASH_LABEL) != content_hash:
        raise ImageBuildError(f"docker build produced {image_id} without the expected label")
    return image


def build_image(
    client: docker.DockerClient,
    name: str,
    base: BuiltImage,
    force: bool = False,
    log: Log = _ignore_log,
) -> BuiltImage:
    """The image of ``containers/<name>`` on ``base``, its wheels written first."""
    started = time.monotonic()
    tag = TAGS[name]
    want = image_hash(name, base.image_id)
    if not force and (image := _current(client, tag, want)):
        return _result(image, want, False, started, tag)
    logger.info("building image %s from containers/%s (once per change of its sources)", tag, name)
    if name in PINS:
        write_wheels(name, log)
    image = _docker_build(client, name, base.image_id, want, force, log)
    # Earlier builds of the same tag are now untagged; drop them unless a container uses them.
    client.images.prune(filters={"dangling": True, "label": HASH_LABEL})
    return _result(image, want, True, started, tag)


def build_base(
    client: docker.DockerClient, force: bool = False, log: Log = _ignore_log
) -> list[BuiltImage]:
    """Build (or reuse) the Debian rootfs and the base image on it, in that order."""
    rootfs = build_rootfs(client, force, log)
    return [rootfs, build_image(client, "base", rootfs, force, log)]


def build_all(
    client: docker.DockerClient,
    force: bool = False,
    log: Log = _ignore_log,
    names: Iterable[str] = ("shop",),
) -> list[BuiltImage]:
    """Build (or reuse) the rootfs, the base and the images ``names`` on it, in that order."""
    unknown = sorted(set(names) - set(ON_BASE))
    if unknown:
        raise ImageBuildError(f"no image folder {unknown}; images: {', '.join(ON_BASE)}")
    bases = build_base(client, force, log)
    return [*bases, *(build_image(client, name, bases[-1], force, log) for name in names)]


def expected_hashes(client: docker.DockerClient) -> dict[str, str]:
    """The content hash each image would have if built now on the images present."""
    want = {ROOTFS_IMAGE: rootfs_hash()}
    for name, base in (("base", ROOTFS_IMAGE), *((name, BASE_IMAGE) for name in ON_BASE)):
        try:
            base_id = client.images.get(base).id
        except docker.errors.ImageNotFound:
            continue
        want[TAGS[name]] = image_hash(name, base_id)
    return want


def ensure_site_image(
    client: docker.DockerClient, site: str, tag: str, log: Log = _ignore_log
) -> BuiltImage | None:
    """Make sure the docker backend can start ``site``'s image ``tag``: one of webserv's own
    is built here (with its base) when absent or older than its sources; an image of another
    origin (WebArena's, loaded with ``docker load``) that is absent is an error saying so.
    None: an image of another origin that is present."""
    own = TAGS.get(site) == tag
    if own and (source_root() / "containers" / site / "Dockerfile").is_file():
        return build_image(client, site, build_base(client, log=log)[-1], log=log)
    try:
        client.images.get(tag)
        return None
    except docker.errors.ImageNotFound:
        how = "build it from a checkout of webserv" if own else f"docker load --input {tag}.tar"
        raise ImageBuildError(
            f"image {tag} of site {site} is not in the local engine; load or build it first ({how})"
        ) from None
