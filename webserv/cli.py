"""The single ``webserv`` command.

Each layer owns its sub-commands in its own ``cli.py``; this module only mounts them.
Sub-command modules import their heavy dependencies (Playwright, Docker SDK, ...) inside
the command bodies so that ``webserv site run`` starts fast.
"""

from __future__ import annotations

import typer

from benchmarks.cli import app as bench_app
from webserv.behaviour.cli import app as behaviour_app
from webserv.browser.cli import observe
from webserv.demo import demo
from webserv.pool.cli import images_app, pool_app
from webserv.rollout.cli import rollout
from webserv.server.cli import build_image, serve
from webserv.sites.cli import app as site_app
from webserv.tasks.cli import app as suite_app

app = typer.Typer(
    name="webserv",
    help="RL environment server for web agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(site_app, name="site")
app.add_typer(pool_app, name="pool")
images_app.command("build-server")(build_image)
app.add_typer(images_app, name="images")
app.add_typer(bench_app, name="bench")
app.add_typer(suite_app, name="suite")
app.add_typer(behaviour_app, name="behaviour")
app.command("observe")(observe)
app.command("demo")(demo)
app.command("serve")(serve)
app.command("rollout")(rollout)

if __name__ == "__main__":
    app()
