"""Command-line options that several ``webserv`` commands share, spelled and meant one way.

Defaults come from the pydantic configs, so the CLI and the Python API agree.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from webserv.browser.chromium import BrowserBuild
from webserv.env.config import RuntimeConfig

if TYPE_CHECKING:
    from webserv.behaviour.rewards import AnyRewardConfig

_RUNTIME = RuntimeConfig.model_fields

#: ``--site NAME[:BACKEND]`` (repeatable): the sites to serve and their backends.
Sites = Annotated[
    list[str],
    typer.Option(
        "--site",
        help="A site to serve, NAME[:process|docker] or NAME:url=BASE_URL (repeatable; "
        "`webserv site list` shows the registered ones). Default: the suite's sites.",
    ),
]
#: ``--json``: print the result as one JSON document instead of text.
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
SnapshotRoot = Annotated[
    Path | None, typer.Option("--snapshot-root", help=_RUNTIME["snapshot_root"].description)
]
SnapshotDriver = Annotated[
    str | None, typer.Option("--snapshot-driver", help=_RUNTIME["snapshot_driver"].description)
]
MaxInstances = Annotated[
    int, typer.Option("--max-instances", min=1, help=_RUNTIME["max_instances"].description)
]
DEFAULT_MAX_INSTANCES: int = _RUNTIME["max_instances"].default
#: ``--browser``: the Chromium build of the sessions.
BrowserBuildOption = Annotated[
    BrowserBuild | None, typer.Option("--browser", help=_RUNTIME["browser"].description)
]
#: ``--suite`` (repeatable): task suites a server offers besides its sites' own.
ExtraSuites = Annotated[
    list[str],
    typer.Option(
        "--suite", help="A suite (name, dir or task file) besides the sites' own; repeatable."
    ),
]
#: ``--token``: the bearer token clients must send.
Token = Annotated[
    str | None,
    typer.Option(envvar="WEBSERV_TOKEN", help="Bearer token clients must send."),
]
#: ``--redis``: the lease store.
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis",
        envvar="WEBSERV_REDIS_URL",
        help="Lease store, e.g. redis://127.0.0.1:6379/0",
    ),
]
#: Where a command that serves pages binds (off loopback it needs a token).
BindHost = Annotated[
    str, typer.Option("--host", help="Address to bind; off loopback a token is required.")
]
BindPort = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to bind.")]
Standby = Annotated[int, typer.Option(min=0, help="Ready instances kept warm per site.")]
MaxEnvs = Annotated[int, typer.Option(min=1, help="Open envs at most (beyond: 429).")]
EnvTtl = Annotated[float, typer.Option(min=1, help="Seconds without a call before an env ends.")]


class RulesChoice(StrEnum):
    opera = "opera"
    shop_r1 = "shop-r1"


class RewardChoice(StrEnum):
    shop_r1 = "shop-r1"
    customer_r1 = "customer-r1"


class NameCompareChoice(StrEnum):
    rouge_l = "rouge-l"
    distinguishing = "distinguishing"
    exact = "exact"


#: ``--rules``: the exact-match rule set of the behaviour metrics.
Rules = Annotated[
    RulesChoice,
    typer.Option(
        "--rules",
        help="Exact match: opera (typed text identical after trimming) or shop-r1 "
        "(ROUGE-L >= 0.75).",
    ),
]
#: ``--reward``: the reward of a predicted action against the recorded one.
Reward = Annotated[RewardChoice, typer.Option("--reward", help="The reward scheme.")]
NameCompareOption = Annotated[
    NameCompareChoice | None,
    typer.Option(
        "--name-compare",
        help="Shop-R1 only: element names by ROUGE-L (as published; long ids sharing a "
        "prefix earn most of a right click), by their distinguishing part, or exactly.",
    ),
]


def reward_of(scheme: RewardChoice, name_compare: NameCompareChoice | None) -> AnyRewardConfig:
    """The reward config of ``--reward`` and ``--name-compare``; a mismatch exits with 2."""
    from pydantic import ValidationError

    from webserv.behaviour.rewards import reward_config

    constants = {} if name_compare is None else {"name_compare": name_compare.value}
    try:
        return reward_config(scheme.value, **constants)
    except ValidationError as err:
        typer.echo(f"error: --name-compare is Shop-R1's, not {scheme.value}'s", err=True)
        raise typer.Exit(2) from err
