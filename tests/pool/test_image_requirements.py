"""The one requirement walk the wheels of both images are pinned with (containers/shop and
containers/server)."""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from webserv.pool.images.build import (
    ImageBuildError,
    requirements_closure,
    site_requirements,
    source_root,
)
from webserv.server.image import server_requirements


def test_the_walk_pins_what_its_roots_need_for_the_image_python():
    closure = requirements_closure(
        [Requirement("redis"), Requirement("pytest; python_version<'3'")]
    )
    # Debian 12's Python 3.11.2 needs async-timeout through redis; it is kept as a requirement
    # when the Python running the build does not have it.
    assert f"redis=={metadata.version('redis')}" in closure
    assert any(r.startswith("async-timeout") for r in closure)
    assert not [r for r in closure if r.startswith("pytest")]  # a root the image never needs


def test_a_root_that_is_not_installed_is_an_error():
    with pytest.raises(ImageBuildError, match="no-such-distribution is needed"):
        requirements_closure([Requirement("no-such-distribution")])


def test_both_images_pin_through_the_same_walk():
    site, server = set(site_requirements()), set(server_requirements())
    # every site dependency is also webserv's, so the shop's pins are the server's
    assert site <= server and "uvicorn==" + metadata.version("uvicorn") in site


def test_the_server_pins_every_dependency_webserv_declares():
    # The image installs webserv's wheel without its dependencies: the pins must hold them all.
    project = tomllib.loads((source_root() / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    pinned = {canonicalize_name(pin.split("==")[0]) for pin in server_requirements()}
    assert declared <= pinned
