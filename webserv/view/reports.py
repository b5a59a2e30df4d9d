"""The viewer's pages of behaviour evaluations (metric tables, the distribution plot, each
session's predicted and recorded actions) and of suite reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webserv.behaviour.metrics import BehaviourReport
from webserv.behaviour.replay import Prediction
from webserv.view.library import EvalIndex, EvalStep, Library, RunIndex, SuiteIndex
from webserv.view.render import Renderer
from webserv.view.rows import EpisodeQuery, select
from webserv.view.sources import NotFound
from webserv.view.steps import StepView, action_label, step_view

AnyIndex = TypeVar("AnyIndex", RunIndex, EvalIndex, SuiteIndex)
#: Marks of a prediction in the step list: exact, not exact, not scored.
_VERDICTS = {True: "✓", False: "✗", None: "·"}

Table = tuple[str, list[str], list[list[str]]]


def report_tables(report: BehaviourReport) -> list[Table]:
    """The tables of a behaviour report that ``webserv behaviour`` prints from rows of cells
    (its rows, so both say the same): shares and distances of the predicted and real
    distributions, and the metrics per user."""
    from webserv.behaviour import cli

    population = report.distribution.population
    tables: list[Table] = [
        (
            "behaviour, real vs predicted (population)",
            ["share of", "real %", "predicted %"],
            cli.share_rows(population),
        ),
        (
            "how far apart (JS base 2 and TV, both in [0, 1])",
            ["distribution", "JS divergence", "total variation", "real", "predicted"],
            cli.divergence_rows(population),
        ),
    ]
    if report.per_user:
        rows = cli.group_rows(report.per_user, sessions=True)
        tables.append(("per user", ["user", "sessions", *cli.GROUP_COLUMNS], rows))
    return tables


@dataclass(frozen=True)
class EvalStepView:
    """One replayed step: the prediction, in a line, and the recorded step when readable
    (with the predicted element marked beside the recorded one)."""

    prediction: Prediction
    predicted: str
    recorded_label: str
    recorded: StepView | None


def eval_step_view(library: Library, recorded_file: Path | None, step: EvalStep) -> EvalStepView:
    prediction = step.prediction
    named = (prediction.predicted or {}).get("name")
    recorded = None
    if step.recorded is not None and recorded_file is not None:
        predicted_id = str(named) if named is not None else None
        recorded = step_view(step.recorded, recorded_file.parent, library, predicted_id)
    if prediction.gold is not None:
        recorded_label = action_label(prediction.gold)
    else:
        recorded_label = f"{recorded.action if recorded else 'an action'} (not scored)"
    predicted = action_label(prediction.predicted, prediction.env_action)
    return EvalStepView(prediction, predicted, recorded_label, recorded)


def report_routes(library: Library, renderer: Renderer) -> APIRouter:
    """The routes of evaluations and suite reports."""
    router = APIRouter()
    render = renderer.render

    @router.get("/eval")
    def evaluation(request: Request, source: str) -> Response:
        index = _of(library, source, EvalIndex)
        summary = index.summary()
        return render(
            request,
            "eval.html",
            source=index.source,
            summary=summary,
            tables=report_tables(summary.report),
            sessions=index.sessions(),
            plot=library.image_path(index.source.path, "distributions.png"),
            recorded=index.recorded_file(),
            problems=index.problems,
        )

    @router.get("/eval/session")
    def eval_session(request: Request, source: str, session: str) -> Response:
        index = _of(library, source, EvalIndex)
        recorded = index.recorded_file()
        steps = [eval_step_view(library, recorded, step) for step in index.session(session)]
        return render(
            request,
            "eval_session.html",
            source=index.source,
            session=session,
            steps=steps,
            labels=[f"{_VERDICTS[s.prediction.exact]} {s.predicted}" for s in steps],
            flagged={i for i, s in enumerate(steps) if s.prediction.exact is False},
        )

    @router.get("/suite")
    def suite(request: Request, source: str) -> Response:
        index = _of(library, source, SuiteIndex)
        query = EpisodeQuery(source=source, per_page=500)
        return render(
            request,
            "suite.html",
            source=index.source,
            report=index.report(),
            page=select(index.rows(), query),
            query=query,
        )

    return router


def _of(library: Library, source: str, kind: type[AnyIndex]) -> AnyIndex:
    index = library.index(source)
    if not isinstance(index, kind):
        raise NotFound(f"source {source} is not a {kind.__name__}")
    return index
