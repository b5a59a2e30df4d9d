"""Golden snapshots: one name per site and parameters, seeded once, stored with a manifest."""

import json
from pathlib import Path

import env_fixtures
import pytest

from webserv.pool import golden
from webserv.pool.snapshot import SnapshotStore
from webserv.sites.plugin import GoldenUnavailable
from webserv.sites.registry import get as get_site


def test_ensure_golden_seeds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path / "home"))
    shop = get_site("shop")
    calls = []
    real = type(shop).make_golden
    monkeypatch.setattr(
        type(shop),
        "make_golden",
        lambda self, out, params: (calls.append(out), real(self, out, params)),
    )
    store = SnapshotStore(tmp_path / "store", "copy")
    name = golden.ensure_golden(store, shop, {"scale": 0.01})
    assert name == f"shop-{shop.spec.version}-{shop.fingerprint()}-scale0.01"
    assert golden.ensure_golden(store, shop, {"scale": 0.01}) == name
    store.remove_golden(name)
    assert golden.ensure_golden(store, shop, {"scale": 0.01}) == name  # re-stored, not re-seeded
    assert len(calls) == 1
    manifest = golden.read_manifest(store, name)
    assert manifest is not None and manifest.params == {"seed": 42, "scale": 0.01}
    assert manifest.files and manifest.size_bytes and manifest.checksum


def test_golden_name_tracks_the_generator(monkeypatch):
    shop = get_site("shop")
    before = shop.golden_name()
    monkeypatch.setattr(type(shop), "fingerprint", lambda self: "0123456789")
    assert shop.golden_name() != before
    assert shop.golden_name({"seed": 7}) == f"shop-{shop.spec.version}-0123456789-seed7"
    with pytest.raises(ValueError, match="not \\['colour'\\]"):
        shop.golden_name({"colour": "red"})


def test_seed_then_store_names_the_golden_as_the_runtime_does(tmp_path, monkeypatch):
    """``site seed`` records its parameters; ``pool golden`` stores the data under the name
    ``ensure_golden`` (the runtime) looks for, so nothing is seeded again."""
    shop = get_site("shop")
    data = tmp_path / "data"
    golden.seed_data(shop, data, {"scale": 0.01, "seed": 3})
    store = SnapshotStore(tmp_path / "store", "copy")
    stored = golden.store_golden(store, shop, data)
    assert stored.name == shop.golden_name({"seed": 3, "scale": 0.01})
    monkeypatch.setattr(type(shop), "make_golden", lambda *a: pytest.fail("seeded again"))
    assert golden.ensure_golden(store, shop, {"seed": 3, "scale": 0.01}) == stored.name
    recorded = json.loads((data / golden.RECIPE_FILE).read_text())
    assert recorded["params"] == {"seed": 3, "scale": 0.01}
    store.wipe()  # goldens and their manifests
    assert not store.base.exists()


def test_exported_golden_cannot_be_made_and_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path / "home"))
    store = SnapshotStore(tmp_path / "store", "copy")
    with pytest.raises(GoldenUnavailable, match="docker cp wa-export:/var/lib/mysql"):
        golden.ensure_golden(store, get_site("shopping"))
    exported = tmp_path / "mysql"
    exported.mkdir()
    (exported / "ibdata1").write_bytes(b"x" * 100)
    stored = golden.store_golden(store, get_site("shopping"), exported)
    assert stored.name == "shopping-final_0712" and stored.size_bytes == 100
    assert golden.ensure_golden(store, get_site("shopping")) == stored.name


SNAPSHOTS = Path(__file__).parents[2] / "snapshots"


def test_committed_shop_manifest_is_what_the_generator_makes(shop_golden: Path):
    """``snapshots/shop/snapshot.json`` names and checksums the data the shop suite targets."""
    shop = get_site("shop")
    committed = golden.SnapshotManifest.model_validate_json(
        (SNAPSHOTS / "shop" / "snapshot.json").read_text()
    )
    made = golden.manifest_of(shop, env_fixtures.suite_params(), shop_golden)
    assert made.model_copy(update={"created_at": None}) == committed, (
        "snapshots/shop/snapshot.json is stale: regenerate it as snapshots/README.md says"
    )


def test_every_registered_site_has_a_committed_manifest():
    for name in ("shop", "wordpress", "redmine", "shopping", "shopping_admin", "gitlab", "reddit"):
        path = SNAPSHOTS / name / "snapshot.json"
        manifest = golden.SnapshotManifest.model_validate_json(path.read_text())
        site = get_site(name)
        assert manifest.site == name and manifest.recipe == site.recipe
        assert manifest.name == site.golden_name(manifest.params or None)


@pytest.mark.docker
def test_a_database_site_seeds_in_its_image(tmp_path, monkeypatch):
    """The site's code writes the input, its image turns it into data (here: the base
    image copies it, as a database server would load it), then the input is gone."""
    import docker_fixtures

    from webserv.pool.backends.docker import DockerError
    from webserv.pool.images.build import BASE_IMAGE, build_base
    from webserv.sites.plugin import Site
    from webserv.sites.spec import GoldenRecipe, SiteSpec

    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path / "home"))
    script = (
        'import json, os, shutil; p = json.loads(os.environ["WEBSERV_GOLDEN_PARAMS"]); '
        'text = open("/data/seed/input.txt").read(); '
        'open("/data/db.txt", "w").write(text * p["scale"]); shutil.rmtree("/data/seed")'
    )

    class ImageSeeded(Site):
        spec = SiteSpec(
            name="imageseeded", version="1", image=BASE_IMAGE, container_data_dir="/data"
        )
        recipe = GoldenRecipe(
            kind="seed", params={"scale": 2}, container_command=["python3", "-c", script]
        )

        def make_golden(self, out: Path, params) -> None:
            (out / "seed").mkdir(parents=True)
            (out / "seed" / "input.txt").write_text("row\n")

    engine = docker_fixtures.docker_client()
    build_base(engine)
    site = ImageSeeded()
    values = golden.seed_data(site, tmp_path / "out", {"scale": 3})
    assert values == {"scale": 3}
    assert (tmp_path / "out" / "db.txt").read_text() == "row\n" * 3
    assert not (tmp_path / "out" / "seed").exists()

    failing = ImageSeeded()
    failing.recipe = GoldenRecipe(kind="seed", container_command=["sh", "-c", "echo boom; exit 3"])
    with pytest.raises(DockerError, match=r"exited 3[\s\S]*boom"):
        golden.seed_data(failing, tmp_path / "out2")
    assert not engine.containers.list(all=True, filters={"label": "webserv.site=imageseeded"})
