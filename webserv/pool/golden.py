"""Golden snapshots: one name per site and parameters, made once, with a manifest.

Every tool names a golden the same way (:meth:`Site.golden_name`): ``webserv pool golden``
stores a data dir under the name the runtime then looks for. A seeded site's data is
generated on demand; an exported site's data must be stored by its user first. Next to
each golden the store keeps its manifest (:class:`SnapshotManifest`), the format of
``snapshots/<site>/snapshot.json`` in the repository.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from webserv import paths
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.plugin import Site
from webserv.sites.spec import GoldenRecipe

log = logging.getLogger(__name__)

#: What ``webserv site seed`` leaves in a data dir: which site and parameters made it.
RECIPE_FILE = "webserv-golden.json"


class SnapshotManifest(BaseModel):
    """A golden snapshot: how it was made, from which code, and what it holds."""

    name: str
    site: str
    version: str
    fingerprint: str = Field("", description="Hash of the generator code (seeded sites).")
    recipe: GoldenRecipe
    params: dict[str, Any] = Field(default_factory=dict)
    files: int | None = None
    size_bytes: int | None = None
    checksum: str | None = Field(None, description="sha256 over relative paths and contents.")
    created_at: str | None = None


def data_checksum(root: Path) -> tuple[int, int, str]:
    """Files, apparent bytes and a sha256 of every file's relative path and content (the
    recipe record of ``site seed`` left out: it describes the data, it is not data)."""
    digest = hashlib.sha256()
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or path == root / RECIPE_FILE:
                continue
            data = path.read_bytes()
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(data).digest())
            files += 1
            size += len(data)
    return files, size, digest.hexdigest()


def manifest_of(site: Site, params: Mapping[str, Any], source: Path) -> SnapshotManifest:
    values = site.golden_params(params) if site.recipe.kind == "seed" else dict(params)
    files, size, checksum = data_checksum(source)
    return SnapshotManifest(
        name=site.golden_name(values),
        site=site.name,
        version=site.spec.version,
        fingerprint=site.fingerprint(),
        recipe=site.recipe,
        params=values,
        files=files,
        size_bytes=size,
        checksum=checksum,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def manifest_path(store: SnapshotStore, name: str) -> Path:
    """Beside the store's goldens, not among them (their directory holds goldens only)."""
    return store.base / "manifests" / f"{name}.json"


def read_manifest(store: SnapshotStore, name: str) -> SnapshotManifest | None:
    path = manifest_path(store, name)
    return SnapshotManifest.model_validate_json(path.read_text()) if path.is_file() else None


def store_golden(
    store: SnapshotStore,
    site: Site,
    source: Path,
    params: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> SnapshotManifest:
    """Store ``source`` as ``site``'s golden for ``params`` and write its manifest.

    Without ``params``, those a ``webserv site seed`` left in ``source`` are used (else the
    recipe's defaults), so the golden is named as the runtime will look for it."""
    if params is None:
        params = recorded_params(site, source)
    manifest = manifest_of(site, params, source)
    store.create_golden(manifest.name, source, replace=replace)
    path = manifest_path(store, manifest.name)
    path.parent.mkdir(exist_ok=True)
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def recorded_params(site: Site, source: Path) -> dict[str, Any]:
    """The parameters ``webserv site seed`` recorded in ``source`` (the defaults if none)."""
    recorded = source / RECIPE_FILE
    if not recorded.is_file():
        return site.golden_params() if site.recipe.kind == "seed" else {}
    data = json.loads(recorded.read_text())
    if data.get("site") != site.name:
        raise ValueError(f"{source} holds data of site {data.get('site')!r}, not {site.name!r}")
    return site.golden_params(data.get("params", {}))


def seed_data(site: Site, out: Path, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Generate ``site``'s data at ``out`` and record which parameters made it: with the
    site's code, then (a database's data directory) in a container of the site's image."""
    values = site.golden_params(params)
    site.make_golden(out, values)
    if command := site.recipe.container_command:
        seed_in_image(site, out, values, command)
    record = {"site": site.name, "version": site.spec.version, "params": values}
    (out / RECIPE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return values


def seed_in_image(site: Site, out: Path, values: Mapping[str, Any], command: list[str]) -> None:
    """Run the site's seed command in its image (built first if absent or outdated)."""
    from webserv.pool.backends.docker import docker_client, run_to_end
    from webserv.pool.images.build import ensure_site_image

    if site.spec.image is None:
        raise ValueError(f"site {site.name} seeds in its image but names none")
    client = docker_client()
    try:
        ensure_site_image(client, site.name, site.spec.image)
        run_to_end(client, site.spec, out, command, {"WEBSERV_GOLDEN_PARAMS": json.dumps(values)})
    finally:
        client.close()


def seeded_source(site: Site, params: Mapping[str, Any] | None = None) -> Path:
    """A seeded data dir for ``site``, generated once under the webserv home and reused."""
    out = paths.home() / "seeded" / site.golden_name(params)
    marker = out.with_name(out.name + ".done")
    if not marker.exists():
        if out.exists():  # an interrupted seed: start over
            shutil.rmtree(out)
        how = "in its image, minutes" if site.recipe.container_command else "seconds"
        log.info("seeding golden data %s (once; %s)", out.name, how)
        seed_data(site, out, params)
        marker.touch()
    return out


def ensure_golden(
    store: SnapshotStore,
    site: Site,
    params: Mapping[str, Any] | None = None,
    source: Path | None = None,
) -> str:
    """The name of ``site``'s golden for ``params`` in ``store``: already there, stored from
    ``source``, or (a seeded site) generated once. An exported site's missing golden is an
    error that says how to make it."""
    name = site.golden_name(params if site.recipe.kind == "seed" else None)
    if store.has_golden(name):
        return name
    # Runtimes of one host (several servers, a cluster's node agents) take turns: the first
    # makes it, the others find it made.
    with open(store.base / f".golden-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if store.has_golden(name):
            return name
        if source is None:
            source = seeded_source(site, params)  # raises GoldenUnavailable for exported data
        return store_golden(store, site, source, params).name
