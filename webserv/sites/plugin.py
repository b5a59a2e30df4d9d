"""The site plugin contract: one :class:`Site` per site, found through entry points.

A site is its :class:`SiteSpec` plus hooks: how its golden data is made, which WebArena
site names it serves (``aliases``), what runs once an instance is healthy (a base URL the
app keeps in its database, rewritten to the instance's address), what a reset of a shared
deployment does, helpers for WebArena ``func:`` expressions, and its task suites. Nothing
above this layer names a particular site.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx

from webserv.sites.spec import GoldenRecipe, SiteAlias, SiteSpec

BACKENDS = ("process", "docker", "url")


class GoldenUnavailable(RuntimeError):
    """A golden snapshot that webserv cannot make itself (it is exported from an image)."""


class LaunchedInstance(Protocol):
    """What a site's ``after_launch`` hook gets: a healthy instance it may adjust."""

    @property
    def url(self) -> str: ...

    @property
    def backend(self) -> str: ...

    async def exec(self, argv: list[str]) -> str:
        """Run ``argv`` where the instance runs (in its container, or on the host with the
        data dir as working directory); return its output, raise on a non-zero exit."""
        ...


def code_fingerprint(root: Path, paths: Iterable[Path]) -> str:
    """A short hash of source files, so golden data made by older code is never reused."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


class Site:
    """One site webserv can serve. Subclass it, set ``spec`` and what applies, and register
    an instance (or a callable returning one) under the ``webserv.sites`` entry point group.
    """

    spec: SiteSpec
    recipe: GoldenRecipe = GoldenRecipe(kind="export")
    #: WebArena site names this site serves, e.g. ``{"shopping": SiteAlias(role="customer")}``.
    aliases: ClassVar[Mapping[str, SiteAlias]] = {}
    #: Modules a pre-forked launcher imports (or ``module:function`` it runs) before launches.
    preload: ClassVar[tuple[str, ...]] = ()
    #: The folder of the site's Dockerfile (``docker build`` works on it as it is).
    container: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends this site runs on: ``process`` with a command, ``docker`` with an
        image, and always ``url`` (a deployment that is already running)."""
        have = {"process": self.spec.command is not None, "docker": self.spec.image is not None}
        return tuple(b for b in BACKENDS if have.get(b, True))

    def served_names(self) -> dict[str, SiteAlias]:
        """Every task site name this site answers to: its own name and its aliases."""
        return {self.name: SiteAlias(), **self.aliases}

    # -- golden data -----------------------------------------------------------------

    def fingerprint(self) -> str:
        """A hash of the code that generates the data ("" when the data is exported)."""
        return ""

    def golden_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The recipe's default parameters, updated with ``params``."""
        unknown = set(params or {}) - set(self.recipe.params)
        if unknown:
            raise ValueError(
                f"site {self.name} takes golden parameters {sorted(self.recipe.params)}, "
                f"not {sorted(unknown)}"
            )
        return {**self.recipe.params, **(params or {})}

    def golden_name(self, params: Mapping[str, Any] | None = None) -> str:
        """``<site>-<version>[-<code hash>]``, plus the parameters that differ from the
        recipe's defaults: every tool names one golden the same way."""
        values = self.golden_params(params)
        parts = [self.name, self.spec.version]
        if fingerprint := self.fingerprint():
            parts.append(fingerprint)
        for key, value in sorted(values.items()):
            if value != self.recipe.params.get(key):
                parts.append(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}")
        return "-".join(parts)

    def make_golden(self, out: Path, params: Mapping[str, Any]) -> None:
        """Write the site's golden data dir at ``out`` (a seeded site overrides this)."""
        raise GoldenUnavailable(
            f"webserv cannot make {self.name}'s data itself; export it once: "
            f"{self.recipe.command or 'see the site documentation'}"
        )

    # -- hooks -----------------------------------------------------------------------

    async def after_launch(self, instance: LaunchedInstance) -> None:
        """Runs once a fresh instance is healthy, before it is handed out."""

    async def on_reset(self, url: str, client: httpx.AsyncClient) -> None:
        """Runs before an episode on a shared deployment (``url`` backend), which no clone
        resets: a site that can restore its state over HTTP does it here."""

    def evaluator_helpers(
        self, url: str, client: httpx.AsyncClient
    ) -> Mapping[str, Callable[..., Any]]:
        """Functions WebArena ``func:`` expressions of this site's tasks may call, bound to
        the episode's instance at ``url`` (``client`` keeps no cookies). A helper takes the
        expression's literal arguments (a page argument, ``__page__``, is a
        :class:`webserv.tasks.evaluators.ReaderPage`), may be async, and returns a string."""
        return {}

    def suites(self) -> Mapping[str, Path]:
        """Task suites that run on this site: name to suite directory."""
        return {}
