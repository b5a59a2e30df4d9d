"""The viewer's pages of episodes: the sources, the episode table, an episode's timeline,
episodes side by side, a step's whole record, the images they show.

Every endpoint is a plain function: FastAPI runs them in its thread pool, so reading a
large file never holds up the server's event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from webserv.behaviour.replay import EvalSummary
from webserv.env.runner import SuiteReport
from webserv.rollout.runner import RunSummary
from webserv.view.library import EvalIndex, Library, RunIndex, SuiteIndex, Unreadable
from webserv.view.render import Renderer
from webserv.view.rows import EpisodeQuery, EpisodeRow, select
from webserv.view.sources import IMAGE_TYPES, NotFound, Source
from webserv.view.steps import StepView, step_view

#: Episodes side by side at most.
MAX_COMPARED = 4
#: Rows of the table on the overview page; suggestions to compare an episode with.
OVERVIEW_ROWS = 20
MAX_RELATED = 30


@dataclass(frozen=True)
class SourceOverview:
    """One source on the overview page."""

    source: Source
    episodes: int = 0
    runs: tuple[RunSummary, ...] = ()
    evaluation: EvalSummary | None = None
    report: SuiteReport | None = None
    problem: str = ""


def overview(library: Library) -> list[SourceOverview]:
    found = []
    for source in library.sources():
        index = library.index(source.id)
        try:
            if isinstance(index, RunIndex):
                entry = SourceOverview(source, len(index.rows()), tuple(index.runs()))
            elif isinstance(index, EvalIndex):
                entry = SourceOverview(source, evaluation=index.summary())
            else:
                entry = SourceOverview(source, len(index.rows()), report=index.report())
        except Unreadable as err:
            entry = SourceOverview(source, problem=str(err))
        found.append(entry)
    return found


def related(rows: list[EpisodeRow], row: EpisodeRow) -> list[EpisodeRow]:
    """Episodes to compare ``row`` with: its group's members, then the other episodes of its
    task (other policies, other runs), then the others of its run directory."""
    others = [
        r
        for r in rows
        if r.kind == "rollout"
        and r.key != row.key
        and (r.task == row.task or r.source == row.source)
    ]
    others.sort(
        key=lambda r: (
            not (row.group and r.group == row.group),
            r.task != row.task,
            r.policy,
            r.id,
        )
    )
    return others[:MAX_RELATED]


@dataclass(frozen=True)
class Track:
    """One episode of a timeline: its row, where it comes from, its steps."""

    row: EpisodeRow
    source: Source
    steps: list[StepView]

    @property
    def flagged(self) -> set[int]:
        """Positions of the steps that went wrong (an action or a format error)."""
        return {
            position
            for position, view in enumerate(self.steps)
            if view.record.action_error or view.record.format_error
        }


def _episode_of(library: Library, key: str) -> tuple[EpisodeRow, RunIndex]:
    row, index = library.row(key)
    if not isinstance(index, RunIndex):
        raise NotFound(f"{key}: a suite report keeps no steps to show")
    return row, index


def track(library: Library, key: str) -> Track:
    row, index = _episode_of(library, key)
    steps = [step_view(s, index.source.path, library) for s in index.steps(row.id)]
    return Track(row, index.source, steps)


def episode_routes(library: Library, renderer: Renderer) -> APIRouter:
    """The routes of the runs' episodes, and of the files they show."""
    router = APIRouter()
    render = renderer.render

    @router.get("/")
    def index(request: Request) -> Response:
        rows, problems = library.rows()
        first = select(rows, EpisodeQuery(per_page=OVERVIEW_ROWS))
        return render(
            request,
            "index.html",
            sources=overview(library),
            page=first,
            query=EpisodeQuery(),
            problems=problems,
        )

    @router.get("/episodes")
    def episodes(request: Request, query: Annotated[EpisodeQuery, Query()]) -> Response:
        started = time.perf_counter()
        rows, problems = library.rows()
        page = select(rows, query)
        return render(
            request,
            "episodes.html",
            page=page,
            query=query,
            sources=library.sources(),
            problems=problems,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    @router.get("/episode")
    def episode(request: Request, key: str) -> Response:
        row, index = library.row(key)
        if isinstance(index, SuiteIndex):
            result = index.result(row.id)
            return render(request, "task.html", row=row, result=result, source=index.source)
        rows, _ = library.rows()
        shown = track(library, key)
        return render(request, "episode.html", track=shown, related=related(rows, row))

    @router.get("/compare")
    def compare(request: Request, e: Annotated[list[str], Query()]) -> Response:
        keys = list(dict.fromkeys(e))
        if not 2 <= len(keys) <= MAX_COMPARED:
            raise NotFound(f"pick 2 to {MAX_COMPARED} episodes to compare (got {len(keys)})")
        tracks = [track(library, key) for key in keys]
        length = max(len(t.steps) for t in tracks)
        return render(request, "compare.html", tracks=tracks, length=length)

    _record_routes(router, library)
    return router


def _record_routes(router: APIRouter, library: Library) -> None:
    """The files and records an episode's page loads as it is viewed: screenshots, and a
    step as recorded."""

    @router.get("/file/{path:path}")
    def image(path: str) -> FileResponse:
        found = library.image(path)
        return FileResponse(found, media_type=IMAGE_TYPES[found.suffix.lower()])

    @router.get("/api/step")
    def step_record(key: str, step: int) -> Response:
        """One step record as recorded (the prompt, the raw reply: what the page leaves out)."""
        row, index = _episode_of(library, key)
        for record in index.steps(row.id):
            if record.step == step:
                return Response(record.model_dump_json(indent=2), media_type="application/json")
        raise NotFound(f"episode {key} has no step {step}")
