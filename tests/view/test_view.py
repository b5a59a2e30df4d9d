"""The trajectory viewer and the live dashboard, without a browser: finding records,
reading them as they grow, the episode table, marking the acted-on element, the latency
windows, the pages over HTTP, path traversal, the token, and 10,000 episodes listed.

The records are made from ``tests/data/behaviour_steps.jsonl`` (two recorded sessions of
the scripted shopper, 14 and 10 steps) replayed by the rollout runner: the scripted policy
(which reproduces every recorded action, so both episodes score 1) and the random one (which
reproduces none), each step with a small PNG as its screenshot.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from webserv.behaviour.plot import plot_distributions
from webserv.behaviour.replay import EvalConfig, evaluate, load_steps
from webserv.behaviour.replay_env import ReplayFleet, ReplaySource
from webserv.env.config import RuntimeConfig
from webserv.env.runner import Latency, SuiteReport, TaskResult
from webserv.rollout.records import EpisodeRecord, StepRecord
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.server.app import create_app
from webserv.server.config import ReplayConfig, ServerConfig
from webserv.server.metrics import Metrics, Recent, latency_window
from webserv.view import library
from webserv.view.app import create_view_app
from webserv.view.auth import session_value
from webserv.view.highlight import element_span, element_text, segments
from webserv.view.library import Library
from webserv.view.lines import ModelLines
from webserv.view.rows import EpisodeQuery, EpisodeRow, rollout_row, select
from webserv.view.sources import OutsideRoot, discover, inside

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"
FIRST, SECOND = "7a18ea50-0000", "7a18ea50-0001"  # 14 and 10 recorded steps
TOKEN = "s3cret-token"


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 54), (shade, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def recording_with_screenshots(out: Path) -> Path:
    """The fixture's steps in ``out``, each with a small PNG of its own (it has none)."""
    out.mkdir(parents=True)
    (out / "screenshots").mkdir()
    lines = []
    for step in load_steps(STEPS):
        name = f"screenshots/{step.session_id}-{step.step:03d}.png"
        (out / name).write_bytes(png(10 * step.step))
        lines.append(step.model_copy(update={"image": name}).model_dump_json())
    (out / "steps.jsonl").write_text("\n".join(lines) + "\n")
    return out / "steps.jsonl"


async def replayed(recording: Path, out: Path, policy: str, group_size: int = 1) -> None:
    """A rollout of ``policy`` over the recorded sessions, with their screenshots."""
    source = ReplaySource(recording)
    config = RolloutConfig(
        policy=policy,
        envs=2,
        episodes=2,
        group_size=group_size,
        max_steps=50,
        out=out,
        personas=None,
    )
    await run_rollouts(
        config, ReplayFleet(source, max_steps=50, screenshot=True), source.suite.tasks
    )


def suite_report() -> SuiteReport:
    """A hand-made report: task 1 passed, task 2 failed with an action error."""
    results = [
        TaskResult(
            task_id=1,
            sites=["shopping"],
            intent="Find the price",
            score=1.0,
            success=True,
            steps=3,
            step_ms=[10.0, 20.0, 30.0],
            reset_ms=40.0,
        ),
        TaskResult(
            task_id=2,
            sites=["shopping_admin"],
            intent="Cancel order 7",
            score=0.0,
            success=False,
            steps=2,
            action_errors=["step 1: element 9 is not there"],
            checks=["url_match: FAIL"],
        ),
    ]
    latency = {"step_ms": Latency(p50=20.0, p95=30.0, n=3)}
    return SuiteReport(
        suite="shop",
        policy="reference",
        parallel=1,
        max_steps=20,
        tasks=2,
        successes=1,
        not_evaluable=0,
        success_rate=0.5,
        wall_s=1.0,
        latency=latency,
        results=results,
    )


@pytest.fixture(scope="module")
async def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory as a person keeps one: two policies and a GRPO group replayed, an
    evaluation inside a run (with its plot), a suite report, and a recording elsewhere."""
    root = tmp_path_factory.mktemp("view") / "records"
    recording = recording_with_screenshots(root.parent / "recording")
    await replayed(recording, root / "runs" / "scripted", "scripted")
    await replayed(recording, root / "runs" / "random", "random")
    await replayed(recording, root / "runs" / "grpo", "random", group_size=2)
    summary = await evaluate(
        EvalConfig(
            steps=root / "runs" / "scripted" / "steps.jsonl",
            out=root / "runs" / "scripted" / "eval-random",
            policy="random",
        )
    )
    plot_distributions(
        summary.report, root / "runs" / "scripted" / "eval-random" / "distributions.png"
    )
    (root / "suite-reference.json").write_text(suite_report().model_dump_json(indent=2))
    return root


@pytest.fixture(scope="module")
def viewer(records: Path) -> Iterator[TestClient]:
    with TestClient(create_view_app(records)) as client:
        yield client


def key_of(library: Library, run: str, episode: int) -> str:
    """The key of episode number ``episode`` of the run in ``runs/<run>``."""
    source = next(s.id for s in library.sources() if s.rel == f"runs/{run}")
    rows, _ = library.rows()
    return next(r.key for r in rows if r.source == source and r.episode == episode)


# -- marking the acted-on element -----------------------------------------------------------

WEBSERV_TEXT = (
    '# Results\n[12] link "Next page"\n| [20] button "A" | [21] button "B" |\n[2] textbox "Q"'
)
OPERA_TEXT = (
    '<header><a name="nav.cart">0 Cart</a><input name="nav.search" type="text"/>'
    '<img name="logo" alt="x"/></header><div name="big">one &amp; two</div>'
)


def test_element_spans_in_webserv_text_and_in_opera_html():
    # webserv's text: the element's line; a row of a table holds two elements on one line.
    assert element_span(WEBSERV_TEXT, "12") == (10, 31)
    assert WEBSERV_TEXT[10:31] == '[12] link "Next page"'
    assert element_span(WEBSERV_TEXT, "20") == element_span(WEBSERV_TEXT, "21") == (32, 69)
    assert element_span(WEBSERV_TEXT, "2") == (70, 85)  # not the "[20]" nor the "[12]" line
    assert element_span(WEBSERV_TEXT, "1") is None
    # OPeRA's HTML: the tag with its content; a void or self-closed tag alone.
    start = OPERA_TEXT.index("<a ")
    assert element_span(OPERA_TEXT, "nav.cart") == (start, OPERA_TEXT.index("</a>") + 4)
    search = OPERA_TEXT.index('<input name="nav.search"')
    assert element_span(OPERA_TEXT, "nav.search") == (search, OPERA_TEXT.index("/>", search) + 2)
    assert element_text(OPERA_TEXT, "nav.cart") == "0 Cart"
    assert element_text(OPERA_TEXT, "big") == "one & two"  # entities read
    assert element_text(OPERA_TEXT, "nav.search") == '<input name="nav.search" type="text"/>'
    assert element_text(OPERA_TEXT, "nav") is None  # a prefix is not a name
    assert element_text(WEBSERV_TEXT, None) is None


def test_segments_mark_the_acted_and_the_predicted_element():
    pieces = segments(WEBSERV_TEXT, {"acted": "12", "predicted": "2"})
    assert "".join(p.text for p in pieces) == WEBSERV_TEXT
    marked = [(p.text, p.marks) for p in pieces if p.marks]
    assert marked == [('[12] link "Next page"', ("acted",)), ('[2] textbox "Q"', ("predicted",))]
    both = segments(WEBSERV_TEXT, {"acted": "12", "predicted": "12"})
    assert [p.marks for p in both if p.marks] == [("acted", "predicted")]
    assert segments("plain", {"acted": None}) == [segments("plain", {})[0]]


# -- latency windows --------------------------------------------------------------------


def test_latency_window_buckets_and_percentiles_by_hand():
    recent: Recent[float] = Recent()
    for at, seconds in [(99.0, 5.0), (100.0, 0.010), (101.0, 0.030), (115.0, 0.020), (150.0, 1.0)]:
        recent.add(seconds, at=at)
    window = latency_window(recent, span_s=60, bucket_s=20, now=160.0)
    # The window is [100, 160]: the 5 s at 99 is out. All four: 10, 20, 30, 1000 ms;
    # p50 between the 2nd and 3rd (25), p95 at rank 2.85: 30 + 0.85 * 970 = 854.5.
    assert (window.n, window.p50_ms, window.p95_ms) == (4, 25.0, 854.5)
    first, middle, last = window.buckets
    assert (first.start_s, first.n, first.p50_ms, first.max_ms) == (60, 3, 20.0, 30.0)
    assert first.p95_ms == 29.0  # rank 1.9 of 10, 20, 30: 20 + 0.9 * 10
    assert (middle.start_s, middle.n, middle.p50_ms) == (40, 0, None)
    assert (last.start_s, last.n, last.p50_ms) == (20, 1, 1000.0)


def test_metrics_keep_recent_steps_and_errors():
    metrics = Metrics()
    metrics.step_seconds.observe(0.2)
    metrics.count_error("not_found")
    metrics.count_error("not_found")
    assert [value for _, value in metrics.recent_steps.since(0)] == [0.2]
    assert metrics.error_totals() == {"not_found": 2}
    assert b"webserv_step_seconds_count 1.0" in metrics.render(0, [])


# -- reading records as they grow -------------------------------------------------------


def episode_line(session: str, steps: int = 1, score: float | None = 1.0) -> str:
    record = EpisodeRecord(
        session_id=session, episode=0, task_id=1, intent="x", policy="p", steps=steps, score=score
    )
    return record.model_dump_json() + "\n"


def test_lines_are_read_once_then_only_what_was_appended(tmp_path: Path):
    path = tmp_path / "episodes.jsonl"
    path.write_text(episode_line("a") + "not json\n")
    lines = ModelLines(path, EpisodeRecord)
    lines.refresh()
    assert [r.session_id for r in lines.records] == ["a"]
    assert lines.problems[0].startswith("episodes.jsonl:2: ")
    version = lines.version
    with path.open("a") as file:
        file.write(episode_line("b")[:-20])  # a line still being written
    lines.refresh()
    assert [r.session_id for r in lines.records] == ["a"] and lines.version == version
    with path.open("a") as file:
        file.write(episode_line("b")[-20:] + episode_line("c"))
    lines.refresh()
    assert [r.session_id for r in lines.records] == ["a", "b", "c"]
    path.write_text(episode_line("z"))  # rewritten, shorter: read again from the start
    lines.refresh()
    assert [r.session_id for r in lines.records] == ["z"] and lines.problems == []
    path.write_text(episode_line("y") + episode_line("x"))  # rewritten, longer
    lines.refresh()
    assert [r.session_id for r in lines.records] == ["y", "x"]


def test_a_run_without_episodes_jsonl_is_made_up_from_its_steps(tmp_path: Path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "steps.jsonl").write_text(STEPS.read_text())
    rows, problems = Library(tmp_path).rows()
    assert problems == []
    by_id = {row.id: row for row in rows}
    assert set(by_id) == {FIRST, SECOND}
    assert (by_id[FIRST].steps, by_id[SECOND].steps) == (14, 10)
    assert by_id[FIRST].persona == "Tom Becker" and by_id[FIRST].outcome == "unscored"
    recorded = [s for s in load_steps(STEPS) if s.session_id == FIRST]
    assert by_id[FIRST].reward == pytest.approx(sum(s.reward for s in recorded))


# -- the episode table ------------------------------------------------------------------


def row(id: str, **fields) -> EpisodeRow:
    values = dict(
        source="s",
        kind="rollout",
        id=id,
        run="r",
        group="",
        episode=0,
        task="1",
        intent="",
        site="",
        persona="",
        policy="p",
        steps=1,
        reward=0.0,
        score=1.0,
        errors=0,
        error="",
        wall_ms=None,
    )
    return EpisodeRow(**{**values, **fields})


def test_table_filters_sorts_and_pages():
    rows = [
        row("a", steps=3, reward=2.0, score=1.0, task="10"),
        row("b", steps=5, reward=1.0, score=0.0, task="9", errors=2),
        row("c", steps=1, reward=3.0, score=None, task="9", intent="Buy a LAMP"),
        row("d", steps=4, reward=0.5, score=None, error="TimeoutError: ..."),
    ]
    assert [r.outcome for r in rows] == ["success", "failure", "unscored", "error"]
    failures = select(rows, EpisodeQuery(outcome="failure"))
    assert [r.id for r in failures.rows] == ["b", "d"]  # failed or ended with an error
    assert [r.id for r in select(rows, EpisodeQuery(errors="yes")).rows] == ["b", "d"]
    assert [r.id for r in select(rows, EpisodeQuery(q="lamp")).rows] == ["c"]
    ranged = select(rows, EpisodeQuery(min_steps=3, max_steps=4))
    assert [r.id for r in ranged.rows] == ["a", "d"]
    by_reward = select(rows, EpisodeQuery(sort="reward", desc=True))
    assert [r.id for r in by_reward.rows] == ["c", "a", "b", "d"]
    by_score = select(rows, EpisodeQuery(sort="score", desc=True))  # unscored last
    assert [r.id for r in by_score.rows] == ["a", "b", "c", "d"]
    by_task = select(rows, EpisodeQuery(sort="task"))  # numbers as numbers: 9 before 10
    assert [r.task for r in by_task.rows] == ["1", "9", "9", "10"]
    page = select(rows, EpisodeQuery(per_page=3, page=2))
    assert (page.total, page.pages, page.page, [r.id for r in page.rows]) == (4, 2, 2, ["d"])
    assert select(rows, EpisodeQuery(per_page=3, page=9)).page == 2  # past the end: the last
    assert EpisodeQuery.model_validate({"min_steps": ""}).min_steps is None  # an empty field
    assert EpisodeQuery(sort="reward").params(desc=True, page=1) == {"sort": "reward", "desc": 1}


def test_a_row_keeps_the_judges_score_and_the_safety_flags():
    record = EpisodeRecord(
        session_id="0123abcd-0007",
        episode=7,
        task_id=3,
        intent="x",
        policy="vlm",
        score=1.0,
        judge_score=0.75,
        flags={"privacy": 2, "harm": 1},
        stopped_by_screen=True,
    )
    shown = rollout_row("src", record)
    assert (shown.run, shown.judge_score, shown.flags) == ("0123abcd", 0.75, 3)
    assert shown.outcome == "error" and shown.error == "stopped by the safety screen"


def test_ten_thousand_episodes_are_indexed_once_then_listed_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run = tmp_path / "big"
    run.mkdir()
    with (run / "episodes.jsonl").open("w") as file:
        for i in range(10_000):
            record = EpisodeRecord(
                session_id=f"0123abcd-{i:04d}",
                episode=i,
                task_id=i % 69,
                intent=f"task {i % 69}",
                persona=["Maya Chen", "Tom Becker"][i % 2],
                policy="vlm",
                steps=i % 20,
                reward=(i % 7) / 7,
                score=float(i % 3 == 0),
                action_errors=int(i % 5 == 0),
            )
            file.write(record.model_dump_json() + "\n")
    made = []  # every table row made from a record
    monkeypatch.setattr(library, "rollout_row", lambda *args: made.append(1) or rollout_row(*args))
    # The first listing reads the file and makes the rows; filters, sorts and pages after it
    # work on those rows, until the file changes.
    with TestClient(create_view_app(tmp_path)) as client:
        for url, rows_made in (
            ("/ui/episodes", 10_000),
            ("/ui/episodes", 10_000),
            ("/ui/episodes?outcome=failure&sort=reward&desc=1&page=40", 10_000),
            ("/ui/episodes?persona=Tom+Becker&errors=yes&min_steps=5&sort=steps", 10_000),
        ):
            assert client.get(url).status_code == 200
            assert len(made) == rows_made, url
        with (run / "episodes.jsonl").open("a") as file:
            file.write(
                record.model_copy(
                    update={"episode": 10_000, "session_id": "0123abcd-10000"}
                ).model_dump_json()
                + "\n"
            )
        assert '<strong id="total">10001</strong>' in client.get("/ui/episodes").text
        assert len(made) > 10_000  # the changed file was read again
        # 6,666 failures (score 0 unless i % 3 == 0; the added one is a success), 100 a page.
        failures = client.get("/ui/episodes?outcome=failure&page=40").text
        assert '<strong id="total">6666</strong>' in failures
        assert failures.count('name="e"') == 100


# -- what is found, and what is served --------------------------------------------------


def test_discovery_finds_runs_evaluations_and_reports(records: Path, tmp_path: Path):
    found = {(s.kind, s.rel) for s in discover(records)}
    assert found == {
        ("run", "runs/scripted"),
        ("run", "runs/random"),
        ("run", "runs/grpo"),
        ("eval", "runs/scripted/eval-random"),
        ("suite", "suite-reference.json"),
    }
    linked = tmp_path / "root"
    linked.mkdir()
    (linked / "elsewhere").symlink_to(records / "runs", target_is_directory=True)
    assert discover(linked) == []  # a link to a directory is not followed


def test_inside_refuses_what_is_outside_the_root(records: Path, tmp_path: Path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(1))
    (records / "leak.png").symlink_to(secret)
    try:
        for path in ("../secret.png", str(secret), "leak.png", "runs/../../secret.png", "nope"):
            with pytest.raises(OutsideRoot):
                inside(records, Path(path))
        assert inside(records, Path("runs/../suite-reference.json")).name == "suite-reference.json"
    finally:
        (records / "leak.png").unlink()


def test_files_are_served_from_inside_the_root_only(
    viewer: TestClient, records: Path, tmp_path: Path
):
    shots = sorted((records / "runs" / "scripted" / "screenshots").rglob("*.png"))
    relative = shots[0].relative_to(records).as_posix()
    served = viewer.get(f"/ui/file/{relative}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == shots[0].read_bytes()
    outside = tmp_path / "outside.png"
    outside.write_bytes(png(2))
    (records / "out.png").symlink_to(outside)
    try:
        refused = [
            "/ui/file/%2e%2e/outside.png",
            "/ui/file/..%2f..%2fetc%2fpasswd",
            "/ui/file/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/ui/file/runs/%2e%2e/%2e%2e/%2e%2e/outside.png",
            f"/ui/file/{outside}",
            "/ui/file//etc/passwd",
            "/ui/file/out.png",  # a link inside the root to a file outside it
            "/ui/file/runs/scripted/steps.jsonl",  # inside, but not an image
            "/ui/file/suite-reference.json",
        ]
        for url in refused:
            response = viewer.get(url)
            assert response.status_code == 404, url
            assert b"PNG" not in response.content and b"root:" not in response.content
    finally:
        (records / "out.png").unlink()


# -- the pages --------------------------------------------------------------------------


def test_pages_show_runs_episodes_steps_and_comparisons(viewer: TestClient, records: Path):
    library = Library(records)
    index = viewer.get("/ui/")
    assert index.status_code == 200
    assert "runs/scripted" in index.text and "suite-reference.json" in index.text
    assert index.headers["content-security-policy"].startswith("default-src 'self'")
    failures = viewer.get("/ui/episodes", params={"outcome": "failure", "policy": "random"})
    assert '<strong id="total">4</strong>' in failures.text  # random: two runs of two
    key = key_of(library, "scripted", 0)
    page = viewer.get("/ui/episode", params={"key": key}).text
    assert page.count('class="step"') == 14  # the first recorded session
    first = load_steps(STEPS)[0]
    assert f'<mark class="acted">[{first.semantic_id}] ' in page  # its line in the text
    assert page.count("<img data-src=") == 14 and "no click point recorded" in page
    other = key_of(library, "random", 0)
    compare = viewer.get("/ui/compare", params=[("e", key), ("e", other)])
    assert compare.status_code == 200 and compare.text.count("data-track") == 2
    record = viewer.get("/ui/api/step", params={"key": key, "step": 3}).json()
    assert StepRecord.model_validate(record).step == 3
    assert viewer.get("/ui/compare", params={"e": key}).status_code == 404  # one is no pair


def test_groups_are_offered_for_comparison(viewer: TestClient, records: Path):
    rows, _ = Library(records).rows()
    group = [r for r in rows if r.group]
    assert len(group) == 2 and len({r.group for r in group}) == 1
    page = viewer.get("/ui/episode", params={"key": group[0].key}).text
    assert f'value="{group[1].key}">' in page and "same group" in page


def test_evaluation_pages_show_metrics_plot_and_both_actions(viewer: TestClient, records: Path):
    source = next(s for s in discover(records) if s.kind == "eval")
    page = viewer.get("/ui/eval", params={"source": source.id}).text
    assert "next-action prediction" in page and "distributions.png" in page
    assert "how far apart" in page and "per recorded action type" in page
    predictions = [json.loads(line) for line in (source.path / "predictions.jsonl").open()]
    session = predictions[0]["session_id"]
    steps = viewer.get("/ui/eval/session", params={"source": source.id, "session": session})
    assert steps.status_code == 200
    scored = [p for p in predictions if p["session_id"] == session]
    assert steps.text.count('class="step"') == len(scored)
    assert steps.text.count("no screenshot recorded") == 0  # the recorded steps are readable
    plot = viewer.get(f"/ui/file/{source.rel}/distributions.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def test_suite_report_pages(viewer: TestClient, records: Path):
    source = next(s for s in discover(records) if s.kind == "suite")
    page = viewer.get("/ui/suite", params={"source": source.id}).text
    assert "Cancel order 7" in page and "shopping_admin" in page
    task = viewer.get("/ui/episode", params={"key": f"{source.id}:2"}).text
    assert "element 9 is not there" in task and "url_match: FAIL" in task
    failed = viewer.get("/ui/episodes", params={"source": source.id, "outcome": "failure"})
    assert '<strong id="total">1</strong>' in failed.text


def test_unknown_things_and_bad_parameters_are_pages(viewer: TestClient):
    missing = viewer.get("/ui/episode", params={"key": "nope:nope"})
    assert missing.status_code == 404 and "no source" in missing.text
    bad = viewer.get("/ui/episodes", params={"per_page": 100_000})
    assert bad.status_code == 400 and "per_page" in bad.text


def test_a_run_that_grows_is_shown_as_it_grows(tmp_path: Path):
    run = tmp_path / "live"
    run.mkdir()
    (run / "episodes.jsonl").write_text(episode_line("0123abcd-0000"))
    with TestClient(create_view_app(tmp_path)) as client:
        assert '<strong id="total">1</strong>' in client.get("/ui/episodes").text
        with (run / "episodes.jsonl").open("a") as file:
            file.write(episode_line("0123abcd-0001", score=0.0))
        page = client.get("/ui/episodes").text
        assert '<strong id="total">2</strong>' in page and "0123abcd-0001" in page


# -- the token --------------------------------------------------------------------------


def test_the_viewer_behind_a_token(records: Path):
    with TestClient(create_view_app(records, TOKEN), follow_redirects=False) as client:
        page = client.get("/ui/episodes?outcome=failure")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2Fepisodes%3Foutcome%3Dfailure"
        assert client.get("/ui/api/step?key=x&step=0").status_code == 401  # a script: 401
        assert client.get("/ui/static/view.css").status_code == 200  # the login page's style
        assert client.get("/ui/login").status_code == 200
        wrong = client.post("/ui/login", data={"token": "guess", "next": "/ui/"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        login = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/episodes"})
        assert login.status_code == 303 and login.headers["location"] == "/ui/episodes"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
        assert TOKEN not in cookie and session_value(TOKEN.encode()) in cookie
        assert client.get("/ui/episodes").status_code == 200  # the cookie is kept
        client.post("/ui/logout")
        assert client.get("/ui/episodes").status_code == 303
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/ui/episodes", headers=bearer).status_code == 200
        away = client.post("/ui/login", data={"token": TOKEN, "next": "https://evil.example/"})
        assert away.headers["location"] == "/ui/"  # never sent to another site


def replay_server(token: str | None = None, view_dir: Path | None = None) -> TestClient:
    """An in-process server of recorded sessions only: no pool, no browser."""
    config = ServerConfig(
        token=token,
        replay=[ReplayConfig(steps=STEPS)],
        runtime=RuntimeConfig(sites=[]),
        server_id="viewtest",
        view_dir=view_dir,
    )
    return TestClient(create_app(config), follow_redirects=False)


def test_dashboard_counts_what_the_server_does():
    with replay_server() as server:
        before = server.get("/ui/api/dashboard").json()
        assert before["envs_open"] == 0 and before["steps_total"] == 0
        assert before["pool_sites"] == [] and before["sites"] == ["replay"]
        created = server.post("/v1/envs", json={"site": "replay", "task": FIRST}).json()
        first = load_steps(STEPS)[0]
        server.post(f"/v1/envs/{created['env_id']}/step", json={"action": first.model_output})
        server.get("/v1/envs/unknown")
        during = server.get("/ui/api/dashboard").json()
        assert (during["envs_open"], during["steps_total"], during["resets_total"]) == (1, 1, 1)
        assert during["step_latency"]["n"] == 1 and during["reset_latency"]["n"] == 1
        assert during["errors_total"] == {"not_found": 1} == during["errors_recent"]
        (env,) = during["envs"]
        assert env["env_id"] == created["env_id"] and env["site"] == "replay"
        assert env["steps"] == 1 and env["task_id"] == FIRST and env["age_s"] >= 0
        server.delete(f"/v1/envs/{created['env_id']}")
        assert server.get("/ui/api/dashboard").json()["envs"] == []
        assert server.get("/ui/").headers["location"] == "/ui/dashboard"  # no directory: no viewer
        assert "/ui" not in json.dumps(server.get("/openapi.json").json()["paths"])


def test_server_ui_needs_the_token_and_its_cookie_opens_ui_only(records: Path):
    with replay_server(TOKEN, view_dir=records) as server:
        assert server.get("/ui/dashboard").status_code == 303
        assert server.get("/ui/api/dashboard").status_code == 401
        assert server.get("/ui/episodes").status_code == 303
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert server.get("/ui/api/dashboard", headers=bearer).status_code == 200
        login = server.post("/ui/login", data={"token": TOKEN, "next": "/ui/dashboard"})
        assert login.status_code == 303
        assert server.get("/ui/api/dashboard").status_code == 200
        assert server.get("/ui/episodes").status_code == 200  # the viewer of --view
        assert server.get("/v1/pool").status_code == 401  # the cookie is not the API's token
        assert server.get("/metrics").status_code == 401
        assert server.get("/healthz").status_code == 200


def test_view_command_refuses_bad_directories_and_open_addresses(tmp_path: Path):
    import typer

    from webserv.view.cli import view

    app = typer.Typer()
    app.command()(view)
    runner = CliRunner()
    missing = runner.invoke(app, [str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a directory" in missing.output
    exposed = runner.invoke(app, [str(tmp_path), "--host", "0.0.0.0"], env={"WEBSERV_TOKEN": None})
    assert exposed.exit_code == 2 and "set a token" in exposed.output
