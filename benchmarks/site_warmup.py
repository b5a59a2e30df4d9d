"""The shop launcher's warm-up as it was before instances bound a prebuilt app: build one app
and compile the templates, then throw the app away, so that each instance builds its own.
The baseline of ``bench density --live``'s ``-unwarmed`` variant (a launcher preload)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from webserv.sites.shop import db
from webserv.sites.shop.app import create_app
from webserv.sites.shop.web import templates


def build_and_discard() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db.create(Path(tmp)).close()
        create_app(Path(tmp))
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)
