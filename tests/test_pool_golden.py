"""Golden snapshots made on demand are seeded once and keyed by the generator's code."""

from webserv.pool import golden
from webserv.pool.sites import shop_spec
from webserv.pool.snapshot import SnapshotStore


def test_ensure_golden_seeds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSERV_HOME", str(tmp_path / "home"))
    calls = []
    real = golden.SEEDERS["shop"]
    monkeypatch.setitem(
        golden.SEEDERS, "shop", lambda out, seed, scale: (calls.append(out), real(out, seed, scale))
    )
    store = SnapshotStore(tmp_path / "store", "copy")
    spec = shop_spec()
    name = golden.ensure_golden(store, spec, scale=0.01)
    assert name == f"shop-{spec.version}-{golden.generator_fingerprint('shop')}-seed42-scale0.01"
    assert (store.golden_path(name) / "shop.db").is_file()
    assert golden.ensure_golden(store, spec, scale=0.01) == name
    store.remove_golden(name)
    assert golden.ensure_golden(store, spec, scale=0.01) == name  # re-stored, not re-seeded
    assert len(calls) == 1


def test_golden_name_tracks_the_generator(monkeypatch):
    spec = shop_spec()
    before = golden.golden_name(spec)
    monkeypatch.setattr(golden, "generator_fingerprint", lambda site: "0123456789")
    assert golden.golden_name(spec) != before
    assert golden.golden_name(spec, seed=7) == f"shop-{spec.version}-0123456789-seed7-scale1"
