"""The single ``webserv`` command.

Each layer owns its sub-commands in its own ``cli.py``; this module only mounts them.
Sub-command modules import their heavy dependencies (Playwright, Docker SDK, ...) inside
the command bodies so that ``webserv site run`` starts fast. Commands that live outside the
package (``webserv bench``, from the repository's ``benchmarks/``) are mounted from the
``webserv.commands`` entry point group when they can be imported: in a checkout, not in
the wheel.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

from webserv.behaviour.cli import app as behaviour_app
from webserv.browser.cli import observe
from webserv.cluster.cli import app as cluster_app
from webserv.demo import demo
from webserv.pool.cli import images_app, pool_app
from webserv.rollout.cli import rollout
from webserv.server.cli import build_image, serve
from webserv.sites.cli import app as site_app
from webserv.tasks.cli import app as suite_app
from webserv.view.cli import view

app = typer.Typer(
    name="webserv",
    help="RL environment server for web agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """RL environment server for web agents."""
    # webserv's own notices (an image being built, golden data being seeded: minutes, once)
    # go to stderr; other libraries keep their defaults.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("webserv: %(message)s"))
    logger = logging.getLogger("webserv")
    if not logger.handlers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


app.add_typer(site_app, name="site")
app.add_typer(pool_app, name="pool")
images_app.command("build-server")(build_image)
app.add_typer(images_app, name="images")
app.add_typer(suite_app, name="suite")
app.add_typer(behaviour_app, name="behaviour")
app.add_typer(cluster_app, name="cluster")
app.command("observe")(observe)
app.command("demo")(demo)
app.command("serve")(serve)
app.command("rollout")(rollout)
app.command("view")(view)


def _mount_extra_commands() -> None:
    for ep in entry_points(group="webserv.commands"):
        try:
            extra = ep.load()
        except ImportError:
            continue  # a development command whose code is not installed
        app.add_typer(extra, name=ep.name)


_mount_extra_commands()

if __name__ == "__main__":
    app()
