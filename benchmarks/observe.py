"""``webserv bench observe``: observation quality on pages this project did not write.

The corpus (``benchmarks/observe_corpus/<site>.json``) is pages of real apps, WordPress and
Redmine on the docker backend, and of the HTML documentation Debian ships
(``python3-doc``), each with facts written once by hand from the page as a person sees it
in a 1280x720 viewport (see :mod:`benchmarks.observe_facts`) and a few actions that change
the page without changing the site's data. For every page, in one run:

* size: tokens (one tokenizer) of webserv's ``text`` at the default session config, of the
  page's raw HTML, and of BrowserGym's AXTree of the same URL, logged in with the same
  cookies, flattened as AgentLab's GenericAgent does;
* field recall: the share of the page's facts an agent can read from webserv's text;
* settle errors: after the load and after every action, the settled observation is compared
  with a capture of the same page ``SECOND_LOOK_S`` later (changed: the page was not done),
  and the element ids of the settled observation are looked up in the page again (stale:
  the page replaced the elements an agent would act on).

Reported per site and overall, with the missed facts of every page.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import browsergym_venv
from benchmarks.observe_facts import describe, element_id, found, ids, kind
from benchmarks.observe_sites import APP_SITES, DOC_SITES, Target, targets
from benchmarks.report import Report
from webserv.browser.observation import Observation
from webserv.browser.session import BrowserPool, BrowserSession, SessionConfig
from webserv.browser.tokens import TOKENIZER, count_tokens

CORPUS_DIR = Path(__file__).resolve().parent / "observe_corpus"
SITES = (*APP_SITES, *DOC_SITES)
#: How long after a settled observation the page is looked at again.
SECOND_LOOK_S = 3.0
#: What the report holds the results to: recall, and AXTree tokens over webserv's.
RECALL_TARGET = 0.98
TOKEN_RATIO_TARGET = 4.0

_WSID = re.compile(r' data-wsid="[^"]*"')
_STALE_SCRIPT = 'ids => ids.filter(id => !document.querySelector(`[data-wsid="${id}"]`))'


@dataclass(frozen=True)
class Action:
    """One step of a page's actions, on the element of ``role`` named ``name``."""

    do: str
    role: str
    name: str
    text: str = ""
    submit: bool = False

    def webserv(self, element: str) -> str:
        if self.do == "click":
            return f"click({json.dumps(element)})"
        if self.do == "select":
            return f"select({json.dumps(element)}, {json.dumps(self.text)})"
        if self.do == "type":
            submit = ", submit=True" if self.submit else ""
            return f"type({json.dumps(element)}, {json.dumps(self.text)}{submit})"
        raise ValueError(f"unknown action {self.do!r}")

    def __str__(self) -> str:
        text = f" {self.text!r}" if self.text else ""
        return f'{self.do} {self.role} "{self.name}"{text}' + (" + Enter" if self.submit else "")


@dataclass(frozen=True)
class Page:
    """One corpus page: where it is, who looks at it, what is on it, what to do on it."""

    site: str
    path: str
    role: str | None
    facts: list[dict[str, Any]]
    actions: list[Action]


def load_corpus(site: str, directory: Path = CORPUS_DIR) -> list[Page]:
    """The pages of ``site``'s corpus file."""
    pages = json.loads((directory / f"{site}.json").read_text())
    return [
        Page(
            site=site,
            path=p["path"],
            role=p.get("role"),
            facts=p["facts"],
            actions=[Action(**a) for a in p.get("actions", [])],
        )
        for p in pages
    ]


# ---- measuring one page ------------------------------------------------------------------


@dataclass
class Look:
    """A settled observation compared with the page ``SECOND_LOOK_S`` later."""

    step: str
    changed: bool
    stale_ids: int
    unchecked_ids: int
    settled: bool
    error: str = ""


@dataclass
class PageResult:
    site: str
    path: str
    url: str
    facts: int
    found: int
    missed: list[str]
    missed_kinds: dict[str, int]
    tokens: int
    html_tokens: int
    axtree_tokens: int | None = None
    axtree_error: str = ""
    truncated: bool = False
    looks: list[Look] = field(default_factory=list)
    action_errors: list[str] = field(default_factory=list)
    #: The browser's cookies once the page was open (BrowserGym opens it with them).
    cookies: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def recall(self) -> float:
        return self.found / self.facts if self.facts else 1.0


async def second_look(session: BrowserSession, obs: Observation, step: str) -> tuple[Look, str]:
    """Wait, find which of ``obs``'s element ids the page lost, capture the page again
    unsettled; return the comparison and the later text (the page as it is now)."""
    await asyncio.sleep(SECOND_LOOK_S)  # the wait being measured: was the page done?
    shown = sorted(set(ids(obs.text)))
    top = [i for i in shown if "." not in i]  # ids inside iframes are not looked up
    try:
        stale = await session.page.evaluate(_STALE_SCRIPT, top)
    except Exception as err:  # the page navigated away meanwhile: every id is gone
        stale, error = top, f"{type(err).__name__}: {err}"
    else:
        error = ""
    later = await session.observe(settle=False)
    look = Look(
        step=step,
        changed=later.text != obs.text,
        stale_ids=len(stale),
        unchecked_ids=len(shown) - len(top),
        settled=bool(getattr(obs, "settled", True)),
        error=error or obs.last_action_error,
    )
    return look, later.text


async def measure_page(browsers: BrowserPool, target: Target, page: Page) -> PageResult:
    """Open ``page`` in a fresh context, score its observation, run its actions."""
    session = await target.session(browsers, page.role)
    try:
        obs = await session.start(target.base + page.path)
        html = _WSID.sub("", await session.raw_html())
        missed = [f for f in page.facts if not found(f, obs.text)]
        kinds: dict[str, int] = {}
        for fact in missed:
            kinds[kind(fact)] = kinds.get(kind(fact), 0) + 1
        result = PageResult(
            site=page.site,
            path=page.path,
            url=obs.url,
            facts=len(page.facts),
            found=len(page.facts) - len(missed),
            missed=[describe(f) for f in missed],
            missed_kinds=kinds,
            tokens=count_tokens(obs.text),
            html_tokens=count_tokens(html),
            truncated=bool(getattr(obs, "truncated", False)),
        )
        result.cookies = [dict(c) for c in await session.page.context.cookies()]
        look, now = await second_look(session, obs, "load")
        result.looks.append(look)
        for action in page.actions:
            element = element_id(now, action.role, action.name)
            if element is None:
                result.action_errors.append(f"{action}: no such element in the observation")
                continue
            obs = await session.step(action.webserv(element))
            if obs.last_action_error:
                result.action_errors.append(f"{action}: {obs.last_action_error}")
            look, now = await second_look(session, obs, str(action))
            result.looks.append(look)
        return result
    finally:
        await session.close()


# ---- BrowserGym's AXTree of the same page --------------------------------------------------


def axtree(gym: Any, url: str, cookies: list[dict[str, Any]]) -> tuple[int | None, str]:
    """Tokens of BrowserGym's flattened AXTree of ``url`` opened with ``cookies``."""
    reply = gym.call(op="reset", url=url, cookies=cookies)
    if reply["ms"] is None:
        return None, str(reply["error"]).splitlines()[0][:200]
    return count_tokens(reply["axtree"]), ""


async def measure(corpus: dict[str, list[Page]], gym: Any | None) -> list[PageResult]:
    """Every page of every site in ``corpus``; BrowserGym too when ``gym`` is given."""
    results = []
    async with targets(list(corpus)) as (browsers, reached):
        for site, pages in corpus.items():
            for page in pages:
                result = await measure_page(browsers, reached[site], page)
                if gym is not None:
                    url = reached[site].base + page.path
                    tokens, error = await asyncio.to_thread(axtree, gym, url, result.cookies)
                    result.axtree_tokens, result.axtree_error = tokens, error
                results.append(result)
    return results


# ---- the report --------------------------------------------------------------------------


def _summarise(report: Report, label: str, results: list[PageResult], baseline: bool) -> None:
    """The rows of one site (``label``: its name) or of all (``label``: "")."""
    at = f"@{label}" if label else ""
    facts = sum(r.facts for r in results)
    hits = sum(r.found for r in results)
    report.add(
        f"webserv{at}",
        "field_recall",
        [100 * r.recall for r in results],
        pages=len(results),
        facts=facts,
        found=hits,
        recall_pct=round(100 * hits / facts, 2) if facts else None,
    )
    report.add(f"webserv{at}", "obs_tokens", [r.tokens for r in results])
    report.add(f"raw-html{at}", "obs_tokens", [r.html_tokens for r in results])
    report.compare("obs_tokens", f"webserv{at}", f"raw-html{at}")
    gym = [r.axtree_tokens for r in results if r.axtree_tokens is not None]
    if baseline and gym:
        report.add(f"browsergym-axtree{at}", "obs_tokens", gym, failed=len(results) - len(gym))
        report.compare("obs_tokens", f"webserv{at}", f"browsergym-axtree{at}")
    looks = [look for r in results for look in r.looks]
    changed = [float(look.changed) for look in looks]
    stale = [float(look.stale_ids > 0) for look in looks]
    report.add(f"webserv{at}", "changed_after_settle", changed, steps=len(looks))
    report.add(
        f"webserv{at}",
        "stale_id_steps",
        stale,
        steps=len(looks),
        stale_ids=sum(look.stale_ids for look in looks),
        iframe_ids_unchecked=sum(look.unchecked_ids for look in looks),
    )


def _page_row(report: Report, r: PageResult) -> None:
    report.add(
        f"page {r.site}{r.path}",
        "field_recall",
        [100 * r.recall],
        facts=r.facts,
        found=r.found,
        missed=r.missed,
        obs_tokens=r.tokens,
        html_tokens=r.html_tokens,
        axtree_tokens=r.axtree_tokens,
        axtree_error=r.axtree_error,
        truncated=r.truncated,
        changed_after_settle=[look.step for look in r.looks if look.changed],
        stale_ids={look.step: look.stale_ids for look in r.looks if look.stale_ids},
        unsettled=[look.step for look in r.looks if not look.settled],
        action_errors=r.action_errors,
    )


def build_report(results: list[PageResult], params: dict[str, Any], baseline: bool) -> Report:
    report = Report(benchmark="observe", params=params)
    sites = list(dict.fromkeys(r.site for r in results))
    for site in sites:
        _summarise(report, site, [r for r in results if r.site == site], baseline)
    _summarise(report, "", results, baseline)
    for r in results:
        _page_row(report, r)
    overall = report.row("webserv", "field_recall").extra
    looks = [look for r in results for look in r.looks]
    changed = sum(look.changed for look in looks)
    stale = sum(look.stale_ids > 0 for look in looks)
    report.notes.append(
        f"field recall {overall['recall_pct']}% ({overall['found']}/{overall['facts']} facts on "
        f"{len(results)} pages; target >= {100 * RECALL_TARGET:g}%)"
    )
    if baseline and any(r.axtree_tokens is not None for r in results):
        ours = statistics.median(r.tokens for r in results)
        theirs = statistics.median(r.axtree_tokens for r in results if r.axtree_tokens)
        report.notes.append(
            f"median observation {ours:g} tokens vs BrowserGym AXTree {theirs:g}: "
            f"{theirs / ours:.2f}x smaller (target >= {TOKEN_RATIO_TARGET:g}x)"
        )
    report.notes.append(
        f"settle: {changed}/{len(looks)} settled observations changed {SECOND_LOOK_S:g} s later "
        f"(target 0); {stale}/{len(looks)} had element ids the page no longer holds"
    )
    kinds: dict[str, int] = {}
    for r in results:
        for k, n in r.missed_kinds.items():
            kinds[k] = kinds.get(k, 0) + n
    if kinds:
        report.notes.append("missed by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
    for r in results:
        if r.missed:
            report.notes.append(f"missed on {r.site}{r.path}: " + "; ".join(r.missed))
        for error in r.action_errors:
            report.notes.append(f"action error on {r.site}{r.path}: {error}")
        if r.axtree_error:
            report.notes.append(f"BrowserGym failed on {r.site}{r.path}: {r.axtree_error}")
    return report


def run(sites: list[str] | None = None, browsergym: bool = True) -> Report:
    """Run the benchmark over the corpora of ``sites`` (default: all) and return its report."""
    chosen = list(dict.fromkeys(sites or SITES))
    unknown = [s for s in chosen if s not in SITES]
    if unknown:
        raise ValueError(f"no corpus for {unknown}; corpora: {', '.join(SITES)}")
    corpus = {site: load_corpus(site) for site in chosen}
    load_before = os.getloadavg()[0]
    gym = None
    if browsergym:
        from benchmarks.step import BrowserGymLoop

        gym = BrowserGymLoop()
    try:
        results = asyncio.run(measure(corpus, gym))
    finally:
        if gym is not None:
            gym.close()
    defaults = SessionConfig()
    params = {
        "sites": chosen,
        "pages": sum(len(p) for p in corpus.values()),
        "facts": sum(len(page.facts) for pages in corpus.values() for page in pages),
        "tokenizer": TOKENIZER,
        "token_budget": defaults.token_budget,
        "viewport": f"{defaults.viewport_width}x{defaults.viewport_height}",
        "second_look_s": SECOND_LOOK_S,
        "browsergym": browsergym_venv.BROWSERGYM if browsergym else None,
        "browsergym_axtree_flags": "AgentLab GenericAgent: visible tags, no coords",
        "load_avg_1m_start": round(load_before, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    return build_report(results, params, browsergym)
