"""Golden snapshots made on demand: seed a site's data once, store it as its golden copy."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from webserv import paths
from webserv.pool.snapshot import SnapshotStore
from webserv.pool.spec import SiteSpec

DEFAULT_SEED = 42


def _seed_shop(out: Path, seed: int, scale: float) -> None:
    from webserv.sites.shop.seed import seed as seed_shop

    seed_shop(out, seed=seed, scale=scale)


#: Sites whose data webserv can generate itself; WebArena's come from their images.
SEEDERS: dict[str, Callable[[Path, int, float], None]] = {"shop": _seed_shop}


def generator_fingerprint(site: str) -> str:
    """A short hash of the code that generates ``site``'s data, so a changed generator never
    reuses golden data an older one made."""
    if site != "shop":
        raise KeyError(f"webserv cannot seed {site!r}")
    import webserv.sites.shop as shop

    root = Path(shop.__file__).parent
    digest = hashlib.sha256()
    for path in [root / "schema.sql", *sorted((root / "seed").rglob("*.py"))]:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def golden_name(spec: SiteSpec, seed: int = DEFAULT_SEED, scale: float = 1.0) -> str:
    """``shop-1-<generator hash>`` for the default data; seed and scale are in the name
    otherwise."""
    base = f"{spec.name}-{spec.version}-{generator_fingerprint(spec.name)}"
    if seed == DEFAULT_SEED and scale == 1.0:
        return base
    return f"{base}-seed{seed}-scale{scale:g}"


def seeded_source(spec: SiteSpec, seed: int = DEFAULT_SEED, scale: float = 1.0) -> Path:
    """A seeded data dir for ``spec``, generated once under the webserv home and reused."""
    if spec.name not in SEEDERS:
        raise KeyError(f"webserv cannot seed {spec.name!r}; create its golden from its image")
    out = paths.home() / "seeded" / golden_name(spec, seed, scale)
    marker = out.with_name(out.name + ".done")
    if not marker.exists():
        if out.exists():  # an interrupted seed: start over
            shutil.rmtree(out)
        SEEDERS[spec.name](out, seed, scale)
        marker.touch()
    return out


def ensure_golden(
    store: SnapshotStore, spec: SiteSpec, seed: int = DEFAULT_SEED, scale: float = 1.0
) -> str:
    """The name of ``spec``'s golden snapshot in ``store``, seeding and storing it if absent."""
    name = golden_name(spec, seed, scale)
    if not store.has_golden(name):
        store.create_golden(name, seeded_source(spec, seed, scale))
    return name
