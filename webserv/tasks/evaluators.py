"""WebArena's evaluators, with WebArena's exact semantics: ``string_match``, ``url_match``
and ``program_html``.

A task's score is the product of its evaluators' scores, as in WebArena. Each rule follows
WebArena's evaluation harness (``evaluation_harness/evaluators.py``) construct by construct,
and ``tests/tasks/test_tasks_parity.py`` runs WebArena's own code beside this module over every task
of WebArena's task file:

- answers are normalised by :func:`clean_answer` (trim, one pair of quotes, lower case),
  once by the string evaluator and again by each comparison;
- ``must_include`` is a substring test, except for a one-character reference in a
  one-element list, which must be a whole token (NLTK's ``word_tokenize``);
- ``fuzzy_match`` asks a judge per reference; ``"N/A"`` passes an exact "N/A" answer, else
  the judge decides whether the answer gives the task's ``string_note`` as the reason (and
  that verdict replaces the score so far);
- ``url_match`` ("GOLD in PRED"): the reference's host and path are a substring of the
  predicted URL's (trailing slashes trimmed, scheme ignored); every reference query key
  must have one of its values in the prediction; `` |OR| `` separates references;
- ``program_html`` reads each target on its URL (``last``: the agent's page as it is; a
  ``func:`` URL: a site helper's result): an empty locator reads the page's HTML, a JS
  locator runs the target's ``prep_actions`` then reads ``str()`` of the value ("" when it
  fails), a ``func:`` locator calls a site helper; HTML entities are unescaped; then
  ``exact_match`` or each ``must_include`` entry (its `` |OR| `` alternatives, substring).

Judged constructs (``fuzzy_match``) need a judge (an LLM in WebArena;
:mod:`webserv.tasks.judge`); without one, or when it gives no verdict, the task is reported
as not evaluable (score ``None``), never guessed.
"""

from __future__ import annotations

import ast
import html
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

from webserv.tasks.config import ALTERNATIVE_SEPARATOR, HtmlTarget, ReferenceAnswers, TaskConfig
from webserv.tasks.tokenize import word_tokenize

#: The only ``url_note`` WebArena defines.
GOLD_IN_PRED = "GOLD in PRED"


class JudgeError(RuntimeError):
    """The judge gave no usable verdict (unreachable endpoint, unexpected reply)."""


class Judge(Protocol):
    """Grades free-text answers as WebArena's LLM judges do.

    Raises :class:`JudgeError` when it cannot decide; the check is then not evaluable.
    """

    async def same_meaning(self, intent: str, answer: str, reference: str) -> bool:
        """``fuzzy_match``: does ``answer`` mean the same as ``reference``?"""
        ...

    async def same_reason(self, intent: str, answer: str, reason: str) -> bool:
        """``fuzzy_match: "N/A"``: does ``answer`` say the task cannot be done for ``reason``?"""
        ...


class ReaderPage(Protocol):
    """A page ``program_html`` reads: the agent's, or one opened on a target URL."""

    @property
    def url(self) -> str: ...

    async def content(self) -> str:
        """The page's HTML."""
        ...

    async def evaluate(self, expression: str) -> Any:
        """Run a JS expression (``() => ...``) in the page; raise if it throws."""
        ...


class PageReader(Protocol):
    """Gives ``program_html`` its pages, so the agent's tabs are never navigated."""

    async def open(self, url: str | None) -> ReaderPage:
        """A page on ``url``, settled; ``None``: the agent's current page, as it is."""
        ...

    async def done(self, page: ReaderPage) -> None:
        """Release a page :meth:`open` gave (the agent's page stays open)."""
        ...


#: A site's ``func:`` helper: literal arguments in, a string (or an awaitable of one) out.
Helper = Callable[..., Any]


class NotEvaluable(ValueError):
    """The task cannot be scored as written (an unknown construct, a missing helper)."""


@dataclass
class EvalResult:
    """The outcome of one evaluator or of all of them combined."""

    score: float | None  # None: not evaluable (a judged check without a judge)
    checks: list[str] = field(default_factory=list)

    @property
    def evaluable(self) -> bool:
        return self.score is not None


@dataclass
class EpisodeOutcome:
    """What the evaluators look at: the agent's answer and the URL it ended on."""

    answer: str | None
    last_url: str


def clean_answer(answer: str) -> str:
    """WebArena's normalisation: trim, drop one pair of surrounding quotes, lower-case."""
    answer = answer.strip()
    if answer.startswith("'") and answer.endswith("'"):
        answer = answer[1:-1]
    elif answer.startswith('"') and answer.endswith('"'):
        answer = answer[1:-1]
    return answer.lower()


def exact_match(reference: str, prediction: str) -> bool:
    return clean_answer(prediction) == clean_answer(reference)


def must_include(reference: str, prediction: str, tokenize: bool = False) -> bool:
    """``reference`` (cleaned) within ``prediction`` (cleaned); with ``tokenize``, a
    one-character reference must be a whole token ("1" is not in "10 orders")."""
    ref, pred = clean_answer(reference), clean_answer(prediction)
    if tokenize and len(ref) == 1 and len(word_tokenize(ref)) == 1:
        return ref in word_tokenize(pred)
    return ref in pred


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


class _Score:
    """A running product of checks that turns ``None`` (not evaluable) for good."""

    def __init__(self) -> None:
        self.value: float | None = 1.0
        self.checks: list[str] = []

    def times(self, ok: bool | None, check: str) -> None:
        self.checks.append(check)
        if ok is None or self.value is None:
            self.value = None
        else:
            self.value *= float(ok)

    def result(self) -> EvalResult:
        return EvalResult(score=self.value, checks=self.checks)


async def _judged(verdict: Awaitable[bool], label: str, score: _Score) -> bool | None:
    """The judge's verdict, or None (noted in the checks) when it gives none."""
    try:
        ok = bool(await verdict)
    except JudgeError as err:
        score.checks.append(f"{label}: not evaluable ({err})")
        return None
    return ok


async def match_contents(
    prediction: str,
    reference: ReferenceAnswers,
    *,
    intent: str = "",
    string_note: str = "",
    judge: Judge | None = None,
) -> EvalResult:
    """WebArena's ``string_match``: every approach of ``reference``, in the task's order."""
    pred = clean_answer(prediction)
    score = _Score()
    for approach in reference.approaches():
        value = getattr(reference, approach)
        if approach == "exact_match":
            ok = exact_match(value, pred)
            score.times(ok, f"exact_match {value!r}: {_mark(ok)}")
        elif approach == "must_include":
            for ref in value:
                ok = must_include(ref, pred, tokenize=len(value) == 1)
                score.times(ok, f"must_include {ref!r}: {_mark(ok)}")
        elif approach == "must_exclude":  # webserv's own: none of these may appear
            for ref in value:
                ok = not must_include(ref, pred)
                score.times(ok, f"must_exclude {ref!r}: {_mark(ok)}")
        elif approach == "fuzzy_match" and value == "N/A":
            ok = exact_match("N/A", pred)
            score.times(ok, f"fuzzy_match 'N/A' (exact): {_mark(ok)}")
            if score.value != 1.0:
                # WebArena replaces the score so far with the judge's verdict on the reason.
                if judge is None:
                    score.checks.append("fuzzy_match 'N/A': not evaluable (no judge configured)")
                    score.value = None
                else:
                    verdict = await _judged(
                        judge.same_reason(intent, pred, string_note), "ua_match", score
                    )
                    score.checks.append(f"ua_match {string_note!r}: {_mark(bool(verdict))}")
                    score.value = None if verdict is None else float(verdict)
        elif approach == "fuzzy_match":
            for ref in value:
                if judge is None:
                    score.times(None, f"fuzzy_match {ref!r}: not evaluable (no judge configured)")
                    continue
                verdict = await _judged(judge.same_meaning(intent, pred, ref), "fuzzy_match", score)
                score.times(verdict, f"fuzzy_match {ref!r}: {_mark(bool(verdict))}")
    return score.result()


def _clean_url(url: str) -> str:
    return str(url).rstrip("/")


def _base_and_query(url: str) -> tuple[str, dict[str, list[str]]]:
    parsed = urlparse(url)
    return parsed.netloc + parsed.path, parse_qs(parsed.query)


def url_matches(predicted: str, reference: str, url_note: str = GOLD_IN_PRED) -> bool:
    """WebArena's ``url_match`` of ``predicted`` against ``reference`` (``|OR|`` allowed)."""
    if url_note != GOLD_IN_PRED:
        raise NotEvaluable(f"unknown url_note {url_note!r}")
    refs = [_clean_url(url) for url in reference.split(ALTERNATIVE_SEPARATOR)]
    pred_base, pred_query = _base_and_query(_clean_url(predicted))
    ref_queries: dict[str, set[str]] = defaultdict(set)
    base_ok = False
    for ref in refs:
        ref_base, ref_query = _base_and_query(ref)
        base_ok = base_ok or ref_base in pred_base
        for key, values in ref_query.items():
            ref_queries[key].update(values)
    query_ok = all(
        any(value in pred_query.get(key, []) for value in values)
        for key, values in ref_queries.items()
    )
    return base_ok and query_ok


def evaluate_url(outcome: EpisodeOutcome, reference_url: str, url_note: str) -> EvalResult:
    ok = url_matches(outcome.last_url, reference_url, url_note)
    return EvalResult(score=float(ok), checks=[f"url_match {reference_url!r}: {_mark(ok)}"])


async def call_helper(
    expression: str, helpers: Mapping[str, Helper], page: ReaderPage | None = None
) -> str:
    """Evaluate a WebArena ``func:NAME(ARGS)`` expression with a site's helper.

    The arguments are Python literals, read with ``ast`` (never executed); ``__page__``
    stands for the page being read. (``__last_url__`` was replaced by the caller, as WebArena
    does, before the expression is read.) A helper may be async; its result is a string."""
    source = expression.split("func:", 1)[1].strip()
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError as err:
        raise NotEvaluable(f"unreadable func: expression {expression!r}") from err
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
        raise NotEvaluable(f"func: expression {expression!r} is not a call of a named helper")
    name = call.func.id
    if name not in helpers:
        raise NotEvaluable(f"no served site provides the func: helper {name}")
    args: list[Any] = []
    for arg in call.args:
        if isinstance(arg, ast.Name) and arg.id == "__page__" and page is not None:
            args.append(page)
        elif isinstance(arg, ast.Name):
            raise NotEvaluable(f"func: helper {name} takes {arg.id}, which webserv does not pass")
        else:
            args.append(ast.literal_eval(arg))
    result = helpers[name](*args)
    if inspect.isawaitable(result):
        result = await result
    return "" if result is None else str(result)


async def _select(target: HtmlTarget, page: ReaderPage, helpers: Mapping[str, Helper]) -> str:
    """What WebArena reads of a target's page, before entities are unescaped."""
    locator = target.locator
    if not locator.strip():
        return await page.content()
    if locator.startswith(("document.", "[...document.")):
        try:
            for action in target.prep_actions:
                await page.evaluate(f"() => {action}")
        except Exception:  # WebArena ignores a preparation that fails, and the rest after it
            pass
        try:
            # str() of the value as Python sees it: a JS null reads "None", true "True".
            return str(await page.evaluate(f"() => {locator}")) or ""
        except Exception:  # the element is missing: the page reads as empty
            return ""
    if locator.startswith("func:"):
        return await _helper_value(locator, helpers, "locator", page)
    raise NotEvaluable(f"unknown locator {locator!r}")


def _match_target(target: HtmlTarget, selected: str, score: _Score, where: str) -> None:
    contents = target.required_contents
    if contents.exact_match is not None:
        ok = exact_match(contents.exact_match, selected)
        score.times(ok, f"program_html {where}: exact_match {contents.exact_match!r}: {_mark(ok)}")
    elif contents.must_include is not None:
        for content in contents.must_include:
            ok = any(must_include(alt, selected) for alt in content.split(ALTERNATIVE_SEPARATOR))
            score.times(ok, f"program_html {where}: must_include {content!r}: {_mark(ok)}")
    else:
        raise NotEvaluable(f"program_html {where}: no exact_match or must_include to check")


async def _evaluate_html(
    task: TaskConfig,
    outcome: EpisodeOutcome,
    reader: PageReader,
    helpers: Mapping[str, Helper],
) -> EvalResult:
    score = _Score()
    for target in task.eval.program_html:
        url = target.url
        where = f"{url} {target.locator!r}"
        if url.startswith("func"):
            expression = url.replace("__last_url__", outcome.last_url)
            url = await _helper_value(expression, helpers, "URL")
        page = await reader.open(None if url == "last" else url)
        try:
            selected = await _select(target, page, helpers)
        finally:
            await reader.done(page)
        _match_target(target, html.unescape(selected), score, where)
    return score.result()


async def _helper_value(
    expression: str, helpers: Mapping[str, Helper], role: str, page: ReaderPage | None = None
) -> str:
    """A ``func:`` expression's value; a failing helper says whether it was a URL or a
    locator, and which expression."""
    try:
        return await call_helper(expression, helpers, page)
    except NotEvaluable:
        raise
    except Exception as err:
        raise NotEvaluable(f"func: {role} {expression!r} failed: {err}") from err


async def evaluate(
    task: TaskConfig,
    outcome: EpisodeOutcome,
    *,
    reader: PageReader | None = None,
    judge: Judge | None = None,
    helpers: Mapping[str, Helper] | None = None,
) -> EvalResult:
    """Run every evaluator the (resolved) task asks for, in its order; the score is their
    product. A construct that cannot be scored raises :class:`NotEvaluable`."""
    parts: list[EvalResult] = []
    spec = task.eval
    for eval_type in spec.eval_types:
        if eval_type == "string_match":
            if spec.reference_answers is None:
                raise NotEvaluable(f"task {task.task_id}: string_match without reference_answers")
            if outcome.answer is None:
                parts.append(EvalResult(score=0.0, checks=["string_match: no answer given"]))
            else:
                parts.append(
                    await match_contents(
                        outcome.answer,
                        spec.reference_answers,
                        intent=task.intent,
                        string_note=spec.string_note,
                        judge=judge,
                    )
                )
        elif eval_type == "url_match":
            parts.append(evaluate_url(outcome, spec.reference_url, spec.url_note))
        elif eval_type == "verified":
            raise NotEvaluable(
                "a WebArena-Verified task is scored on its episode's network trace "
                "(webserv.tasks.verified), not by WebArena's evaluators"
            )
        elif eval_type == "program_html":
            if reader is None:
                raise NotEvaluable(f"task {task.task_id}: program_html needs a page reader")
            parts.append(await _evaluate_html(task, outcome, reader, helpers or {}))
    return combine(parts)


def combine(parts: Sequence[EvalResult]) -> EvalResult:
    """Product of scores; not evaluable if any part is not."""
    checks = [check for part in parts for check in part.checks]
    if any(part.score is None for part in parts):
        return EvalResult(score=None, checks=checks)
    score = 1.0
    for part in parts:
        score *= part.score or 0.0
    return EvalResult(score=score, checks=checks)
