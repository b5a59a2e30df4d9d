"""Parity: webserv's evaluators score every task of WebArena's task file as WebArena's own
evaluation harness does.

WebArena's code is not copied: the PyPI package ``libwebarena`` (0.0.5, installed by
``scripts/setup.sh`` without its heavy dependencies) ships WebArena's ``evaluation_harness`` and
``test.raw.json`` (812 tasks). For every task, generated cases are scored by WebArena's
``evaluator_router`` and by :func:`webserv.tasks.evaluators.evaluate`, over the same fake world
(:mod:`parity_fixtures`), and the scores must be identical. Where WebArena raises (an unknown
locator, ``url_note`` or ``required_contents``, a failing helper) webserv must raise
:class:`~webserv.tasks.evaluators.NotEvaluable`. Both sides get the task placeholders replaced
by the same base URLs: WebArena in the raw JSON text, as its ``generate_test_data.py`` does;
webserv through ``TaskConfig.resolve``.

Cases per task (a seeded RNG per task picks among alternatives, so runs are reproducible):

- ``string_match``: each reference as is, and alone when there are several; case, whitespace
  and quote changes; embedded in a sentence; a character changed; one reference dropped;
  empty; "N/A", "n/a", "N/A because <string_note>", another reason; for one-character
  ``must_include`` references (NLTK tokenisation) the digit glued into a number, at a
  sentence end, in parentheses. ``fuzzy_match`` judges are one deterministic fake on both
  sides (the reference, or the ``string_note`` reason, appears in the answer), and the
  arguments each side passes to the judge are compared too.
- ``url_match``: each `` |OR| `` alternative exactly; with and without a trailing slash; an
  extra, missing, changed, reordered or decoded query parameter; a fragment; a longer path,
  another path, a cut path, upper case; another port, host or scheme; ``about:blank``.
- ``program_html``: fake pages built from each target's required contents: all satisfied, one
  missing, HTML entities, case and quotes, padding, each `` |OR| `` alternative; JS values of
  other Python types (int, float, bool, None, list, "") and throwing expressions; targets
  behind ``prep_actions`` (values readable only once the preparation ran; the preparation
  throwing); ``last`` targets reading the agent's page, empty agent or other pages;
  ``func:`` targets with the helpers faked identically (WebArena: names patched in its
  evaluators module; webserv: the ``helpers`` mapping, sync or async), failing helpers, a
  moved latest order. ``reddit_get_post_url`` runs as WebArena wrote it, on both sides.
- constructs: an unknown ``url_note``, locator or ``required_contents`` (both must raise), an
  unknown ``reference_answers`` approach (both ignore it).

Not compared, and why:

- the LLM judges themselves (prompts, parsing of the model's reply) and what happens when they
  fail: WebArena raises, webserv reports the task not evaluable by design; both sides get the
  same fake judge here;
- the real ``func:`` helpers (Magento REST calls, GitLab's members page): both sides get the
  same fakes; webserv's own helpers have their tests (``tests/sites/test_webarena_helpers.py``);
  a helper returning a non-string is outside WebArena's contract (its helpers return ``str``;
  WebArena would fail in ``html.unescape`` where webserv takes ``str()`` of it);
- a missing answer (``None``): WebArena's ``run.py`` always passes a string;
- a real browser (redirects, settling, JS semantics): pages are fakes. Upstream WebArena
  navigates the agent's own tab for non-``last`` targets where libwebarena (and webserv)
  open a new one; without redirects no score differs (``url_match`` runs before
  ``program_html`` in every task, and the only later use of the agent's URL,
  ``reddit_get_post_url``, maps a post URL to itself).

Beyond the file, a few synthetic tasks compare rules its tasks cannot tell apart: query
values unioned across `` |OR| `` reference URLs (no alternative in the file has a query), a JS
``null`` read as "None", and ``fuzzy_match: "N/A"`` combined with ``exact_match`` in either key
order (WebArena scores the approaches in the task's key order; so does webserv).
"""

from __future__ import annotations

import ast
import copy
import html
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pytest
from webarena_harness import (
    BASE_URLS,
    FAKED_HELPERS,
    THROWS,
    FakeJudge,
    FakeReader,
    PageSpec,
    WebArenaHarness,
    World,
    WorldHelpers,
    as_async,
    resolve_raw,
    webarena_task_file,
)

from webserv.tasks.config import TaskConfig, load_tasks
from webserv.tasks.evaluators import EpisodeOutcome, NotEvaluable, evaluate

pytestmark = pytest.mark.parity

RAW_FILE = webarena_task_file()
if RAW_FILE is None:
    pytest.skip(
        "libwebarena is not installed (scripts/setup.sh installs it)", allow_module_level=True
    )
RAW_TASKS: list[dict[str, Any]] = json.loads(RAW_FILE.read_text())
BY_ID = {task["task_id"]: task for task in RAW_TASKS}
SEED = 812


#: (task id, case) -> why webserv scores it differently from WebArena (xfail, strict).
KNOWN_GAPS: dict[tuple[int | str, str], str] = {}

OR = " |OR| "


@dataclass
class Case:
    name: str
    answer: str
    last_url: str
    world: World
    mutation: str | None = None
    async_helpers: bool = False


# --------------------------------------------------------------------------- answers


def change_char(text: str, rng: random.Random) -> str:
    """``text`` with one letter or digit replaced by another."""
    spots = [i for i, char in enumerate(text) if char.isalnum()]
    if not spots:
        return text + "x"
    i = rng.choice(spots)
    pool = "0123456789" if text[i].isdigit() else "abcdefghijklmnopqrstuvwxyz"
    other = rng.choice([char for char in pool if char != text[i].lower()])
    return text[:i] + other + text[i + 1 :]


def reference_entries(refs: dict[str, Any]) -> list[str]:
    """The reference strings an agent has to state, in the task's order."""
    entries: list[str] = []
    for approach, value in refs.items():
        if approach == "exact_match":
            entries.append(str(value))
        elif approach in ("must_include", "fuzzy_match"):
            entries += ["N/A"] if value == "N/A" else list(value)
    return entries


def answer_variants(task: dict[str, Any], rng: random.Random) -> list[tuple[str, str]]:
    spec = task["eval"]
    refs = spec["reference_answers"]
    note = spec.get("string_note") or ""
    entries = reference_entries(refs)
    good = ", ".join(entries)
    out = [
        ("as-is", good),
        ("upper", good.upper()),
        ("padded", f"  {good} \n"),
        ("double-quoted", f'"{good}"'),
        ("single-quoted", f"'{good}'"),
        ("nested-quotes", f"\"'{good}'\""),
        ("one-quote", f'"{good}'),
        ("sentence", f"The answer is {good}."),
        ("char-changed", change_char(good, rng)),
        ("empty", ""),
        ("na", "N/A"),
        ("na-lower", " n/a "),
        ("na-because-note", f"N/A because {note}"),
        ("na-other-reason", "N/A: the page would not load"),
    ]
    if len(entries) > 1:
        out += [(f"only-{i}", entry) for i, entry in enumerate(entries[:4])]
        dropped = rng.randrange(len(entries))
        out.append(("partial", ", ".join(e for i, e in enumerate(entries) if i != dropped)))
    single = refs.get("must_include")
    if isinstance(single, list) and len(single) == 1 and len(single[0].strip()) == 1:
        ref = single[0].strip()
        out += [
            ("token-glued-after", f"{ref}0"),
            ("token-glued-before", f"1{ref}"),
            ("token-sentence-end", f"There are {ref}."),
            ("token-parenthesized", f"({ref})"),
            ("token-ordinal", f"the {ref}th"),
        ]
    exact = refs.get("exact_match")
    if isinstance(exact, str) and re.fullmatch(r"-?\d+(\.\d+)?", exact.strip()):
        out += [("number-reformatted", f"{float(exact):.2f}"), ("number-in-text", f"{exact} items")]
    return out


# --------------------------------------------------------------------------- URLs


def with_path(url: str, change: Callable[[str], str]) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=change(parts.path)))


def with_query(url: str, pairs: list[tuple[str, str]], *, raw: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=raw if raw is not None else urlencode(pairs)))


def url_variants(reference: str, rng: random.Random) -> list[tuple[str, str]]:
    alternatives = reference.split(OR)
    out = [(f"ref-{i}", alt) for i, alt in enumerate(alternatives)]
    url = rng.choice(alternatives)
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    port = parts.port or 80
    out += [
        ("trailing-slash", with_path(url, lambda p: p.rstrip("/") + "/")),
        ("no-trailing-slash", with_path(url, lambda p: p.rstrip("/"))),
        ("slash-at-end", url + "/"),
        ("extra-param", with_query(url, [*pairs, ("utm_source", "agent")])),
        ("fragment", url + "#main"),
        ("longer-path", with_path(url, lambda p: p.rstrip("/") + "/more")),
        ("other-path", with_path(url, lambda p: p.rstrip("/").rsplit("/", 1)[0] + "/elsewhere")),
        ("cut-path", with_path(url, lambda p: p.rstrip("/")[:-1])),
        ("upper-path", with_path(url, str.upper)),
        ("other-port", url.replace(f":{port}", f":{port + 1}", 1)),
        ("other-host", url.replace("127.0.0.1", "localhost", 1)),
        ("https", url.replace("http://", "https://", 1)),
        ("blank", "about:blank"),
    ]
    if pairs:
        dropped = rng.randrange(len(pairs))
        changed = rng.randrange(len(pairs))
        out += [
            ("missing-param", with_query(url, [p for i, p in enumerate(pairs) if i != dropped])),
            (
                "changed-param",
                with_query(
                    url, [(k, v + "x" if i == changed else v) for i, (k, v) in enumerate(pairs)]
                ),
            ),
            ("reordered-params", with_query(url, pairs[::-1])),
            ("decoded-query", with_query(url, [], raw=unquote(parts.query))),
            ("no-query", with_query(url, [], raw="")),
        ]
    return out


# --------------------------------------------------------------------------- pages

JS_STYLES = {
    "js-none": None,
    "js-true": True,
    "js-false": False,
    "js-zero": 0,
    "js-float": 1.5,
    "js-empty": "",
    "js-throws": THROWS,
}


def entity_encode(text: str) -> str:
    """``text`` with HTML entities: escaped specials, a numeric entity for its first letter
    or digit (else its first character), an encoded space."""
    spots = [i for i, char in enumerate(text) if char.isalnum()] or [0]
    out = []
    for i, char in enumerate(text):
        if i == spots[0]:
            out.append(f"&#{ord(char)};")
        elif char == " " and "&#32;" not in out:
            out.append("&#32;")
        else:
            out.append(html.escape(char, quote=True))
    return "".join(out)


def typed(text: str) -> Any:
    """The JS value a page would hold for ``text``: a number or boolean where it reads as one."""
    stripped = text.strip()
    if re.fullmatch(r"-?\d+", stripped):
        return int(stripped)
    if re.fullmatch(r"-?\d+\.\d+", stripped):
        return float(stripped)
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return text


def target_value(required: dict[str, Any], style: str, rng: random.Random) -> Any:
    """What a target's locator yields so that ``required`` holds (or, by ``style``, not)."""
    if "exact_match" in required:
        text = str(required["exact_match"])
    elif "must_include" in required:
        picks = []
        for entry in required["must_include"]:
            alternatives = entry.split(OR)
            if style == "or-first":
                picks.append(alternatives[0])
            elif style == "or-last":
                picks.append(alternatives[-1])
            else:
                picks.append(rng.choice(alternatives))
        if style == "missing-one":
            del picks[rng.randrange(len(picks))]
            return "Summary: " + " ; ".join(picks) if picks else "Nothing here"
        if style == "typed" and len(picks) == 1:
            return typed(picks[0])
        if style == "entities":  # within each reference, not only around them
            return "Summary: " + " ; ".join(entity_encode(pick) for pick in picks) + "."
        text = "Summary: " + " ; ".join(picks) + "."
    else:
        text = "unrelated"
    if style == "missing-one":
        return change_char(text, rng)
    if style == "case-quotes":
        return f'"{text.upper()}"'
    if style == "padded":
        return f"  {text}\n"
    if style == "entities":
        return entity_encode(text)
    if style == "typed":
        return typed(text)
    return text


def place(
    world: World, spec: PageSpec, page_url: str, target: dict[str, Any], value: Any, style: str
) -> None:
    """Make ``target``'s locator on ``spec`` (a page on ``page_url``) yield ``value``."""
    locator: str = target["locator"]
    if not locator.strip():
        text = str(value)
        if "exact_match" in target["required_contents"]:
            spec.html = text
        else:
            spec.html += f"<div class='content'>{text}</div>\n"
    elif locator.startswith(("document.", "[...document.")):
        spec.js[locator] = JS_STYLES.get(style, [value] if style == "js-list" else value)
        preps = target.get("prep_actions", [])
        if style not in ("prep-fails", "prep-fails-ungated"):
            for action in preps:
                spec.js[action] = None  # a click returns undefined
        if preps and style != "prep-fails-ungated":
            spec.gated[locator] = preps[-1]
    elif locator.startswith("func:"):
        call = ast.parse(locator.split("func:", 1)[1], mode="eval").body
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        name, key = call.func.id, ast.literal_eval(call.args[-1])
        text = "" if value is None else str(value)
        if name == "gitlab_get_project_memeber_role":
            world.member_roles[(page_url, key)] = text
        elif name == "shopping_get_sku_latest_review_author":
            world.review_authors[key] = text
        elif name == "shopping_get_sku_latest_review_rating":
            world.review_ratings[key] = text
        else:
            raise AssertionError(f"no fake for the helper {name}")


def page_styles(task: dict[str, Any]) -> list[str]:
    targets = task["eval"]["program_html"]
    text = json.dumps(targets)
    locators = [target["locator"] for target in targets]
    urls = {target["url"] == "last" for target in targets}
    styles = ["all", "missing-one", "entities", "case-quotes", "padded", "typed", "empty"]
    if OR in text:
        styles += ["or-first", "or-last"]
    if any(loc.startswith(("document.", "[...document.")) for loc in locators):
        styles += [*JS_STYLES, "js-list"]
    if any("prep_actions" in target for target in targets):
        styles += ["prep-fails", "prep-fails-ungated"]
    if urls == {True, False}:
        styles += ["last-empty", "others-empty"]
    if "func:shopping_" in text:
        styles.append("helper-raises")
    if "shopping_get_latest_order_url" in text:
        styles.append("order-moved")
    return styles


def build_world(
    task: dict[str, Any],
    last_url: str,
    style: str,
    rng: random.Random,
    reddit_get_post_url: Callable[[str], str],
) -> World:
    """A world in which the task's ``program_html`` targets read as ``style`` says."""
    order = rng.randint(100, 999)
    world = World(order_url=f"{BASE_URLS['shopping']}/sales/order/view/order_id/{order}/")
    helpers = WorldHelpers(reddit_get_post_url)
    helpers.world = world
    targets = task["eval"]["program_html"]
    broken = rng.randrange(len(targets)) if targets else -1
    for i, target in enumerate(targets):
        url: str = target["url"]
        if url == "last":
            page_url, spec = last_url, world.agent
        else:
            page_url = url
            if url.startswith("func"):
                page_url = str(helpers.call(url.replace("__last_url__", last_url), last_url))
            spec = world.pages.setdefault(page_url, PageSpec())
        skip = (
            style == "empty"
            or (style == "last-empty" and url == "last")
            or (style == "others-empty" and url != "last")
        )
        if skip:
            continue
        target_style = style if style != "missing-one" or i == broken else "all"
        value = target_value(target["required_contents"], target_style, rng)
        place(world, spec, page_url, target, value, target_style)
    if style == "helper-raises":
        world.failing_helpers = frozenset(name for name in FAKED_HELPERS if "shopping" in name)
    if style == "order-moved":
        world.order_url = f"{BASE_URLS['shopping']}/sales/order/view/order_id/{order + 1}/"
    return world


# --------------------------------------------------------------------------- cases


def start_url(task: dict[str, Any]) -> str:
    return task["start_url"].split(" |AND| ")[0].strip()


def mutations(task: dict[str, Any]) -> list[str]:
    types_ = task["eval"]["eval_types"]
    out = []
    if "string_match" in types_:
        out.append("extra-approach")
    if "url_match" in types_:
        out.append("unknown-url-note")
    if "program_html" in types_:
        out += ["unknown-locator", "unknown-required-contents"]
    return out


def mutate(raw: dict[str, Any], mutation: str | None, task_id: int | str) -> dict[str, Any]:
    """The task (unresolved) with one construct changed; ``None``: as it is."""
    if mutation is None:
        return raw
    task = copy.deepcopy(raw)
    spec = task["eval"]
    rng = random.Random(f"{SEED}-{task_id}-{mutation}")
    if mutation == "extra-approach":
        spec["reference_answers"]["regex_match"] = "^zzz$"
    elif mutation == "unknown-url-note":
        spec["url_note"] = "EXACT"
    elif mutation == "unknown-locator":
        rng.choice(spec["program_html"])["locator"] = "xpath=//main"
    elif mutation == "unknown-required-contents":
        rng.choice(spec["program_html"])["required_contents"] = {"fuzzy_match": ["anything"]}
    else:
        raise AssertionError(mutation)
    return task


def generate_cases(task: dict[str, Any], reddit_get_post_url: Callable[[str], str]) -> list[Case]:
    """Every case of one (resolved) task."""
    task_id = task["task_id"]
    rng = random.Random(f"{SEED}-{task_id}")
    spec = task["eval"]
    types_ = spec["eval_types"]
    answer = (
        ", ".join(reference_entries(spec["reference_answers"])) if "string_match" in types_ else ""
    )
    url = rng.choice(spec["reference_url"].split(OR)) if "url_match" in types_ else start_url(task)
    if "reddit_get_post_url" in json.dumps(spec["program_html"]):
        # the agent ends on the post it made (WebArena reads the post from the last URL)
        url = url.rstrip("/") + f"/{rng.randint(1000, 99999)}/a-post-title"
    cases: list[Case] = []

    def add(name: str, *, answer: str = answer, url: str = url, style: str = "all", **kw: Any):
        world = build_world(task, url, style, rng, reddit_get_post_url)
        cases.append(Case(name, answer, url, world, async_helpers=rng.random() < 0.5, **kw))

    add("reference")
    if "string_match" in types_:
        for name, variant in answer_variants(task, rng):
            add(f"answer:{name}", answer=variant)
    if "url_match" in types_:
        for name, variant in url_variants(spec["reference_url"], rng):
            add(f"url:{name}", url=variant)
    if spec["program_html"]:
        for style in page_styles(task):
            add(f"page:{style}", style=style)
    add("all-wrong", answer="I could not do it", url="about:blank", style="empty")
    for mutation in mutations(task):
        add(f"construct:{mutation}", mutation=mutation)
    return cases


# --------------------------------------------------------------------------- running both


class TaskFiles:
    """Per task and construct: WebArena's config file and webserv's resolved task."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[tuple[int | str, str | None], tuple[Path, TaskConfig]] = {}

    def get(self, task: dict[str, Any], mutation: str | None) -> tuple[Path, TaskConfig]:
        """``task`` unresolved, as in the task file."""
        key = (task["task_id"], mutation)
        if key not in self.files:
            raw = mutate(task, mutation, task["task_id"])
            path = self.root / f"{task['task_id']}-{mutation or 'as-is'}.json"
            path.write_text(json.dumps(resolve_raw(raw)))
            model = TaskConfig.model_validate(raw).resolve(BASE_URLS)
            self.files[key] = (path, model)
        return self.files[key]


@pytest.fixture(scope="module")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> TaskFiles:
    return TaskFiles(tmp_path_factory.mktemp("webarena-tasks"))


def _outcome(run: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "score", run()
    except Exception as err:
        return "raises", err


async def compare(
    webarena: WebArenaHarness, files: TaskFiles, task: dict[str, Any], case: Case
) -> str:
    """ "" when both sides agree on ``case`` of (unresolved) ``task``, else what differs."""
    config_file, model = files.get(task, case.mutation)
    wa_kind, wa = _outcome(
        lambda: webarena.score(config_file, case.answer, case.last_url, case.world)
    )
    wa_calls = webarena.judge_calls
    judge = FakeJudge()
    helpers = WorldHelpers(webarena.helpers.reddit_get_post_url)
    helpers.world = case.world
    table = helpers.table()
    if case.async_helpers:
        table = {name: as_async(function) for name, function in table.items()}
    outcome = EpisodeOutcome(answer=case.answer, last_url=case.last_url)
    try:
        result = await evaluate(
            model, outcome, reader=FakeReader(case.world, case.last_url), judge=judge, helpers=table
        )
        ws_kind, ws = "score", result.score
    except Exception as err:
        ws_kind, ws = "raises", err
    where = f"task {task['task_id']} case {case.name!r}"
    if wa_kind == ws_kind == "raises":
        if isinstance(ws, NotEvaluable):
            return ""
        return f"{where}: both raise, webserv not NotEvaluable: {ws!r} (WebArena: {wa!r})"
    if wa_kind != ws_kind or wa != ws:
        shown = {"score": lambda v: v, "raises": lambda e: f"raises {e!r}"}
        return (
            f"{where}: WebArena {shown[wa_kind](wa)} vs webserv {shown[ws_kind](ws)}"
            f" (answer {case.answer!r}, last URL {case.last_url!r})"
        )
    if wa_calls != judge.calls:
        return f"{where}: same score {wa}, judge asked {wa_calls} vs {judge.calls}"
    return ""


TASK_IDS = [task["task_id"] for task in RAW_TASKS]


@pytest.mark.parametrize("task_id", TASK_IDS)
async def test_webserv_scores_every_case_as_webarena(
    task_id: int, webarena: WebArenaHarness, task_files: TaskFiles
):
    cases = generate_cases(resolve_raw(BY_ID[task_id]), webarena.helpers.reddit_get_post_url)
    assert len(cases) >= 5
    problems = []
    for case in cases:
        if (task_id, case.name) in KNOWN_GAPS:
            continue
        problem = await compare(webarena, task_files, BY_ID[task_id], case)
        if problem:
            problems.append(problem)
    assert not problems, f"{len(problems)} of {len(cases)} cases disagree:\n" + "\n".join(problems)


# Cases of the file listed in KNOWN_GAPS run here, expected to fail, so a fix shows up as an
# XPASS.
if any(isinstance(task_id, int) for task_id, _ in KNOWN_GAPS):

    @pytest.mark.parametrize(
        ("task_id", "case_name"),
        [
            pytest.param(
                *key,
                marks=pytest.mark.xfail(strict=True, reason=reason),
                id="-".join(map(str, key)),
            )
            for key, reason in sorted(KNOWN_GAPS.items(), key=str)
            if isinstance(key[0], int)
        ],
    )
    async def test_known_gaps(
        task_id: int, case_name: str, webarena: WebArenaHarness, task_files: TaskFiles
    ):
        cases = generate_cases(resolve_raw(BY_ID[task_id]), webarena.helpers.reddit_get_post_url)
        (case,) = [case for case in cases if case.name == case_name]
        assert await compare(webarena, task_files, BY_ID[task_id], case) == ""


# --------------------------------------------------------------------------- beyond the file


def synthetic_task(name: str, **spec: Any) -> dict[str, Any]:
    """A task in WebArena's format with a construct that no task of the file has."""
    return {
        "task_id": f"synthetic-{name}",
        "sites": ["shopping"],
        "start_url": "__SHOPPING__",
        "intent": "A synthetic task",
        "eval": {
            "reference_answers": None,
            "reference_url": "",
            "program_html": [],
            "string_note": "",
            **spec,
        },
    }


SHOP = BASE_URLS["shopping"]
NULL_LOCATOR = "document.querySelector('#missing-value')"
OR_QUERIES = synthetic_task(
    "or-queries",
    eval_types=["url_match"],
    reference_url="__SHOPPING__/a?x=1 |OR| __SHOPPING__/b?y=2",
    url_note="GOLD in PRED",
)
JS_NULL = synthetic_task(
    "js-null",
    eval_types=["program_html"],
    program_html=[
        {"url": "last", "locator": NULL_LOCATOR, "required_contents": {"exact_match": "None"}}
    ],
)
NA_FIRST = synthetic_task(
    "na-first",
    eval_types=["string_match"],
    reference_answers={"fuzzy_match": "N/A", "exact_match": "closed"},
    string_note="the store is closed",
)
NA_LAST = synthetic_task(
    "na-last",
    eval_types=["string_match"],
    reference_answers={"exact_match": "closed", "fuzzy_match": "N/A"},
    string_note="the store is closed",
)
SYNTHETIC: list[tuple[dict[str, Any], Case]] = [
    (OR_QUERIES, Case("first-alternative", "", f"{SHOP}/a?x=1", World())),
    (OR_QUERIES, Case("second-alternative", "", f"{SHOP}/b?y=2", World())),
    (OR_QUERIES, Case("both-queries", "", f"{SHOP}/a?x=1&y=2", World())),
    (JS_NULL, Case("null", "", SHOP, World(agent=PageSpec(js={NULL_LOCATOR: None})))),
    (JS_NULL, Case("throws", "", SHOP, World())),
    *[
        (task, Case(name, answer, SHOP, World()))
        for task in (NA_FIRST, NA_LAST)
        for name, answer in [
            ("answer", "Closed"),
            ("na", "N/A"),
            ("na-because-note", "N/A because the store is closed"),
            ("other", "open"),
        ]
    ],
]


@pytest.mark.parametrize(
    ("task", "case"),
    [
        pytest.param(
            task,
            case,
            id=f"{task['task_id']}-{case.name}",
            marks=[
                pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[key])
                for key in [(task["task_id"], case.name)]
                if key in KNOWN_GAPS
            ],
        )
        for task, case in SYNTHETIC
    ],
)
async def test_constructs_beyond_the_task_file(
    task: dict[str, Any], case: Case, webarena: WebArenaHarness, task_files: TaskFiles
):
    assert await compare(webarena, task_files, task, case) == ""


def test_webarenas_task_file_is_complete():
    assert len(RAW_TASKS) == 812
    assert sorted(BY_ID) == list(range(812))


def test_every_webarena_task_loads():
    tasks = load_tasks(RAW_FILE)
    assert [task.task_id for task in tasks] == TASK_IDS


def test_placeholders_resolve_alike():
    """webserv's ``resolve`` puts the same URLs where WebArena's text replacement does."""
    for raw in RAW_TASKS:
        wa = resolve_raw(raw)
        ws = TaskConfig.model_validate(raw).resolve(BASE_URLS)
        assert ws.start_url == wa["start_url"], raw["task_id"]
        assert ws.eval.reference_url == (wa["eval"]["reference_url"] or ""), raw["task_id"]
        assert [(t.url, t.locator) for t in ws.eval.program_html] == [
            (t["url"], t["locator"]) for t in wa["eval"]["program_html"]
        ], raw["task_id"]
