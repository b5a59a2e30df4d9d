"""WebArena's evaluators: ``string_match``, ``url_match`` and ``program_html``.

A task's score is the product of its evaluators' scores, as in WebArena. ``fuzzy_match``
needs a judge (an LLM in WebArena; :mod:`webserv.tasks.judge` asks any OpenAI-compatible
endpoint); without one, or when it gives no verdict, the task is reported as not evaluable
(score ``None``), never guessed. ``program_html`` reads the final state through a
:class:`PageReader` that opens its own page, so the agent's page is never touched.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from webserv.tasks.config import ALTERNATIVE_SEPARATOR, ReferenceAnswers, TaskConfig


class JudgeError(RuntimeError):
    """The judge gave no usable verdict (unreachable endpoint, unexpected reply)."""


class Judge(Protocol):
    """Decides whether an answer means the same as the reference (WebArena's fuzzy_match).

    Raises :class:`JudgeError` when it cannot decide; the check is then not evaluable.
    """

    async def same_meaning(self, intent: str, answer: str, reference: str) -> bool: ...


class PageReader(Protocol):
    """Reads the final site state on a page of its own."""

    async def read(self, url: str, locator: str) -> str:
        """Open ``url`` and return the text the ``locator`` selects ("" = the whole page)."""
        ...


#: A site's ``func:`` helper: literal arguments in, a string (or an awaitable of one) out.
Helper = Callable[..., Any]


@dataclass
class EvalResult:
    """The outcome of one evaluator or of all of them combined."""

    score: float | None  # None: not evaluable (fuzzy_match without a judge)
    checks: list[str] = field(default_factory=list)

    @property
    def evaluable(self) -> bool:
        return self.score is not None


@dataclass
class EpisodeOutcome:
    """What the evaluators look at: the agent's answer and the URL it ended on."""

    answer: str | None
    last_url: str


def clean(text: str) -> str:
    """Lower-case, trim, drop surrounding quotes (WebArena's answer normalisation)."""
    text = text.strip().lower()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


def _includes(prediction: str, reference: str) -> bool:
    ref = clean(reference)
    if len(ref) == 1:  # "1" must not match "10": compare whole words
        return ref in re.findall(r"\w+|[^\w\s]", prediction)
    return ref in prediction


def _alternatives(reference: str) -> list[str]:
    return [alt for alt in reference.split(ALTERNATIVE_SEPARATOR.strip()) if alt.strip()]


async def match_contents(
    prediction: str,
    reference: ReferenceAnswers,
    *,
    intent: str = "",
    judge: Judge | None = None,
) -> EvalResult:
    """Score ``prediction`` against every kind of reference given; each must hold."""
    pred = clean(prediction)
    checks: list[str] = []
    score: float | None = 1.0
    if reference.exact_match is not None:
        ok = pred == clean(reference.exact_match)
        checks.append(f"exact_match {reference.exact_match!r}: {'ok' if ok else 'FAIL'}")
        score = score * ok if score is not None else None
    for ref in reference.must_include or []:
        ok = any(_includes(pred, alt) for alt in _alternatives(ref))
        checks.append(f"must_include {ref!r}: {'ok' if ok else 'FAIL'}")
        score = score * ok if score is not None else None
    for ref in reference.must_exclude or []:
        ok = not _includes(pred, ref)
        checks.append(f"must_exclude {ref!r}: {'ok' if ok else 'FAIL'}")
        score = score * ok if score is not None else None
    if reference.fuzzy_match:
        refs = reference.fuzzy_match
        refs = [refs] if isinstance(refs, str) else refs
        if judge is None:
            checks.append("fuzzy_match: not evaluable (no judge configured)")
            score = None
        else:
            for ref in refs:
                try:
                    ok = await judge.same_meaning(intent, prediction, ref)
                except JudgeError as err:
                    checks.append(f"fuzzy_match {ref!r}: not evaluable ({err})")
                    score = None
                    continue
                checks.append(f"fuzzy_match {ref!r}: {'ok' if ok else 'FAIL'}")
                score = score * ok if score is not None else None
    return EvalResult(score=None if score is None else float(score), checks=checks)


def _normalise_path(path: str) -> str:
    return unquote(path).rstrip("/") or "/"


def url_matches(predicted: str, reference: str) -> bool:
    """WebArena's "GOLD in PRED": same host, the predicted path at or under the reference path
    (on a segment boundary, so ``/a`` does not match ``/xa``), every reference query parameter
    present with the same values."""
    pred, ref = urlsplit(predicted), urlsplit(reference)
    if ref.netloc and pred.netloc.lower() != ref.netloc.lower():
        return False
    pred_path, ref_path = _normalise_path(pred.path), _normalise_path(ref.path)
    if not (ref_path == "/" or pred_path == ref_path or pred_path.startswith(ref_path + "/")):
        return False
    pred_query, ref_query = parse_qs(pred.query), parse_qs(ref.query)
    return all(set(values) <= set(pred_query.get(key, [])) for key, values in ref_query.items())


def evaluate_url(outcome: EpisodeOutcome, reference_url: str) -> EvalResult:
    alternatives = [alt.strip() for alt in _alternatives(reference_url)]
    ok = any(url_matches(outcome.last_url, alt) for alt in alternatives)
    return EvalResult(
        score=float(ok), checks=[f"url_match {reference_url!r}: {'ok' if ok else 'FAIL'}"]
    )


async def evaluate(
    task: TaskConfig,
    outcome: EpisodeOutcome,
    *,
    reader: PageReader | None = None,
    judge: Judge | None = None,
    helpers: Mapping[str, Helper] | None = None,
) -> EvalResult:
    """Run every evaluator the (resolved) task asks for; the score is their product.

    ``helpers`` are the ``func:`` functions the task's sites provide (see
    :func:`call_helper`)."""
    parts: list[EvalResult] = []
    spec = task.eval
    for eval_type in spec.eval_types:
        if eval_type == "string_match":
            if spec.reference_answers is None:
                raise ValueError(f"task {task.task_id}: string_match without reference_answers")
            if outcome.answer is None:
                parts.append(EvalResult(score=0.0, checks=["string_match: no answer given"]))
            else:
                parts.append(
                    await match_contents(
                        outcome.answer, spec.reference_answers, intent=task.intent, judge=judge
                    )
                )
        elif eval_type == "url_match":
            parts.append(evaluate_url(outcome, spec.reference_url))
        elif eval_type == "program_html":
            if reader is None:
                raise ValueError(f"task {task.task_id}: program_html needs a page reader")
            parts.append(await _evaluate_html(task, outcome, reader, judge, helpers or {}))
    return combine(parts)


async def call_helper(expression: str, helpers: Mapping[str, Helper], last_url: str) -> str:
    """Evaluate a WebArena ``func:NAME(ARGS)`` expression with a site's helper.

    ``ARGS`` are Python literals, read with ``ast`` (never executed); the name
    ``__last_url__`` stands for the URL the episode ended on. The helper (sync or async)
    returns a string: a URL where the expression is a ``url``, the content to check where it
    is a ``locator``. A helper no site provides, or a page argument (``__page__``), makes the
    task not evaluable."""
    try:
        call = ast.parse(expression.removeprefix("func:").strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"unreadable func: expression {expression!r}") from err
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
        raise ValueError(f"func: expression {expression!r} is not a call of a named helper")
    name = call.func.id
    if name not in helpers:
        raise ValueError(f"no served site provides the func: helper {name}")
    args: list[Any] = []
    for arg in call.args:
        if isinstance(arg, ast.Name) and arg.id == "__last_url__":
            args.append(last_url)
        elif isinstance(arg, ast.Name):
            raise ValueError(f"func: helper {name} takes {arg.id}, which webserv does not pass")
        else:
            args.append(ast.literal_eval(arg))
    result = helpers[name](*args)
    if inspect.isawaitable(result):
        result = await result
    return "" if result is None else str(result)


async def _evaluate_html(
    task: TaskConfig,
    outcome: EpisodeOutcome,
    reader: PageReader,
    judge: Judge | None,
    helpers: Mapping[str, Helper],
) -> EvalResult:
    parts = []
    for target in task.eval.program_html:
        url = outcome.last_url if target.url == "last" else target.url
        if url.startswith("func:"):
            url = await call_helper(url, helpers, outcome.last_url)
        if target.locator.startswith("func:"):
            content = await call_helper(target.locator, helpers, outcome.last_url)
        else:
            content = await reader.read(url, target.locator)
        result = await match_contents(
            content, target.required_contents, intent=task.intent, judge=judge
        )
        result.checks = [f"program_html {url} {target.locator!r}: {c}" for c in result.checks]
        parts.append(result)
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
