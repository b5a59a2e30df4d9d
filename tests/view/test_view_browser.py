"""The viewer and the dashboard in a real browser (Playwright, Chromium): open a recorded
run, filter to failures, step through an episode with the keyboard (screenshots loaded as
their steps are shown), compare two episodes, read an evaluation; sign in to a server with
its token and watch its dashboard count while a rollout runs, and see the shop pool's
instances leased and given back.

The records are those of ``test_view`` (the recorded sessions of
``tests/data/behaviour_steps.jsonl`` replayed by the scripted and the random policy).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import server_fixtures
import test_view
from playwright.async_api import Browser, Page, async_playwright, expect
from test_view import FIRST, STEPS, TOKEN, key_of

from benchmarks.serving import ServerProcess, free_port, server_process
from webserv.behaviour.replay_env import ReplaySource
from webserv.browser.chromium import pick_build
from webserv.client import RemoteWebEnv
from webserv.env.runtime import EnvRuntime
from webserv.rollout.remote import RemoteFleet
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.server.config import ServerConfig
from webserv.view.library import Library
from webserv.view.sources import discover

pytestmark = pytest.mark.browser

records = test_view.records

#: How long the page may take to show what the server now has: the dashboard reads every
#: 2 s; a loaded machine is slower.
LIVE_TIMEOUT_MS = 15_000


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Chromium as the project installs it (never a downloaded one)."""
    build = pick_build()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=build.program, args=build.launch_args()
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert errors == [], errors  # no script failed on any page


#: ``webserv view`` (webserv/cli.py mounts this function as the command).
VIEW_COMMAND = "import typer; from webserv.view.cli import view; typer.run(view)"


@pytest.fixture(scope="module")
def viewer(records: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``webserv view`` of the records, a process of its own."""
    port = free_port()
    argv = [sys.executable, "-c", VIEW_COMMAND, str(records), "--port", str(port)]
    log = tmp_path_factory.mktemp("viewer") / "view.log"
    process = ServerProcess(argv, dict(os.environ), f"http://127.0.0.1:{port}", log).start()
    try:
        yield process.url
    finally:
        process.stop()


def current(page: Page, track: int = 0):
    """The step shown in the ``track``-th episode of the page."""
    return page.locator("[data-track]").nth(track).locator("section.step.current")


async def test_filter_to_failures_and_step_through_an_episode_with_the_keyboard(
    page: Page,
    viewer: str,
):
    images: list[str] = []
    page.on(
        "request",
        lambda request: images.append(request.url) if "/ui/file/" in request.url else None,
    )
    await page.goto(f"{viewer}/ui/")
    await expect(page.get_by_role("link", name="runs/scripted", exact=True)).to_be_visible()
    await page.get_by_role("navigation").get_by_role("link", name="episodes").click()
    await page.locator("select[name=outcome]").select_option("failure")
    await page.locator("select[name=outcome]").evaluate("select => select.form.requestSubmit()")
    # The random policy's four episodes, and the suite report's failed task.
    await expect(page.locator("#total")).to_have_text("5")
    badges = await page.locator("table.episodes tbody .badge").all_inner_texts()
    assert badges == ["failure"] * 5
    await page.locator("table.episodes tbody a").first.click()
    await expect(current(page)).to_have_attribute("data-step", "0")
    await expect(page.locator("section.step:visible")).to_have_count(1)
    await expect(current(page).locator("pre.obs mark.acted")).to_be_visible()
    await expect(current(page).locator("img")).to_have_js_property("complete", True)
    assert len(images) == 1  # only the step shown asked for its screenshot
    for key, step in [("j", 1), ("ArrowRight", 2), ("k", 1), ("G", 13), ("g", 0), ("ArrowLeft", 0)]:
        await page.keyboard.press(key)
        await expect(current(page)).to_have_attribute("data-step", str(step))
    await expect(page.locator(".steplist a.current")).to_have_attribute("data-goto", "0")
    await page.locator(".steplist a[data-goto='5']").click()
    await expect(current(page)).to_have_attribute("data-step", "5")
    assert page.url.endswith("#step-5")
    shown = {int(re.search(r"/(\d+)\.png$", url).group(1)) for url in images}
    assert shown == {0, 1, 2, 5, 13}  # each step's screenshot once it was shown, no other


async def test_compare_two_episodes_side_by_side(page: Page, viewer: str, records: Path):
    library = Library(records)
    # The first recorded session (14 steps) by the scripted policy, the second (10) by the
    # random one.
    scripted, random = key_of(library, "scripted", 0), key_of(library, "random", 1)
    await page.goto(f"{viewer}/ui/episodes?sort=episode")
    for key in (scripted, random):
        await page.locator(f"input[name=e][value='{key}']").check()
    await page.get_by_role("button", name="compare the episodes ticked").click()
    await expect(page.locator("[data-track]")).to_have_count(2)
    heads = await page.locator(".track-head").all_inner_texts()
    assert sorted("scripted" in head for head in heads) == [False, True]
    longer, shorter = (0, 1) if "14 steps" in heads[0] else (1, 0)
    assert "10 steps" in heads[shorter]
    await page.keyboard.press("j")
    await expect(current(page, 0)).to_have_attribute("data-step", "1")
    await expect(current(page, 1)).to_have_attribute("data-step", "1")
    await page.keyboard.press("End")  # 14 steps against 10: the shorter one has ended
    await expect(current(page, longer)).to_have_attribute("data-step", "13")
    ended = page.locator("[data-track]").nth(shorter)
    await expect(ended.locator("[data-ended]")).to_be_visible()
    await expect(ended.locator("section.step:visible")).to_have_count(0)
    # From an episode: the other policy on the same task, offered to compare with.
    await page.goto(f"{viewer}/ui/episode?key={scripted}")
    await page.get_by_role("button", name="side by side").click()
    await expect(page.locator("[data-track]")).to_have_count(2)


async def test_an_evaluation_with_its_metrics_plot_and_actions(
    page: Page, viewer: str, records: Path
):
    source = next(s for s in discover(records) if s.kind == "eval")
    await page.goto(f"{viewer}/ui/eval?source={source.id}")
    plot = page.locator(".plot img")
    await plot.scroll_into_view_if_needed()
    await expect(plot).to_have_js_property("complete", True)
    assert await plot.evaluate("image => image.naturalWidth") > 100
    await expect(page.get_by_text("next-action prediction")).to_be_visible()
    await page.locator("table.sessions a").first.click()
    await expect(current(page).locator(".prediction")).to_contain_text("recorded")
    await page.keyboard.press("j")
    await expect(current(page)).to_have_attribute("data-step", "1")
    await expect(current(page).locator("pre.obs mark.acted")).to_be_visible()


async def test_sign_in_and_watch_the_dashboard_while_a_rollout_runs(page: Page, tmp_path: Path):
    server = server_process(
        "--replay", str(STEPS), "--token", TOKEN, log=tmp_path / "server.log"
    ).start()
    env = None
    try:
        await page.goto(f"{server.url}/ui/dashboard")
        await expect(page).to_have_url(re.compile(r"/ui/login\?next="))
        await page.get_by_label("token").fill("not-it")
        await page.get_by_role("button", name="sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("not the server's token")
        await page.get_by_label("token").fill(TOKEN)
        await page.get_by_role("button", name="sign in").click()
        await expect(page).to_have_url(f"{server.url}/ui/dashboard")
        await expect(page.locator("[data-field=envs_open]")).to_have_text(
            "0", timeout=LIVE_TIMEOUT_MS
        )
        env = RemoteWebEnv(server.url, token=TOKEN, site="replay", task=FIRST)
        env.reset()
        await expect(page.locator("[data-field=envs_open]")).to_have_text(
            "1", timeout=LIVE_TIMEOUT_MS
        )
        await expect(page.locator("[data-table=envs]")).to_contain_text(env.env_id or "?")
        source = ReplaySource(STEPS)
        fleet = RemoteFleet(server.url, site="replay", token=TOKEN, max_steps=50, screenshots={})
        rollout = RolloutConfig(
            policy="scripted", envs=2, episodes=2, max_steps=50, out=tmp_path / "run", personas=None
        )
        summary = await run_rollouts(rollout, fleet, source.suite.tasks)
        assert summary.totals.steps == 24
        await expect(page.locator("[data-field=steps_total]")).to_have_text(
            "24", timeout=LIVE_TIMEOUT_MS
        )
        await expect(page.locator("[data-field=resets_total]")).to_have_text("3")
        await expect(page.locator("[data-field=step_summary]")).to_contain_text("24 in 10 min")
        async with httpx.AsyncClient(base_url=server.url) as client:
            await client.get("/v1/pool")  # no token: refused, and counted
        await expect(page.locator("[data-table=errors]")).to_contain_text(
            "unauthorized", timeout=LIVE_TIMEOUT_MS
        )
        env.close()
        env = None
        await expect(page.locator("[data-field=envs_open]")).to_have_text(
            "0", timeout=LIVE_TIMEOUT_MS
        )
    finally:
        if env is not None:
            env.close()
        server.stop()


async def test_the_dashboard_shows_the_pool_lease_and_give_back(
    page: Page, server_runtime: EnvRuntime
):
    config = ServerConfig(server_id=server_fixtures.TEST_OWNER)
    async with server_fixtures.serving(config, server_runtime) as url:
        await page.goto(f"{url}/ui/dashboard")
        rows = page.locator("[data-table=pool_sites] tr")
        await expect(rows.first).to_contain_text("shop", timeout=LIVE_TIMEOUT_MS)
        await expect(page.locator("[data-field=warm]")).not_to_have_text(
            "0", timeout=LIVE_TIMEOUT_MS
        )
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            made = [(await client.post("/v1/envs", json={"site": "shop"})).json() for _ in range(2)]
            await expect(page.locator("[data-field=leased]")).to_have_text(
                "2", timeout=LIVE_TIMEOUT_MS
            )
            await expect(page.locator("[data-table=envs] tr")).to_have_count(2)
            instances = page.locator("[data-table=instances]")
            await expect(instances).to_contain_text("leased")
            for env in made:
                await client.delete(f"/v1/envs/{env['env_id']}")
        await expect(page.locator("[data-field=leased]")).to_have_text("0", timeout=LIVE_TIMEOUT_MS)
        await expect(page.locator("[data-field=envs_open]")).to_have_text("0")


async def test_the_acted_on_element_is_boxed_on_the_screenshot(page: Page, tmp_path: Path):
    """A step's recorded target (its box and click point, in screenshot pixels) is drawn over
    the screenshot at the scale the page shows it."""
    from PIL import Image

    from webserv.rollout.records import EpisodeRecord, StepRecord, StepTimings

    run = tmp_path / "records" / "run"
    (run / "screenshots").mkdir(parents=True)
    Image.new("RGB", (400, 200), (240, 240, 240)).save(run / "screenshots" / "0.png")
    target = {"id": "12", "box": [100, 40, 80, 20], "point": [140, 50]}
    step = StepRecord(
        session_id="s-0000", episode=0, step=0, action_id="a", timestamp="t", task_id=1,
        intent="buy", url="http://127.0.0.1/", title="t", observation_text='[12] button "Buy"',
        obs_tokens=4, image="screenshots/0.png", model_output="{}", rationale="Buy it.",
        action={"type": "click", "name": "12"}, semantic_id="12", env_action='click("12")',
        format_ok=True, timings=StepTimings(policy_ms=1.0), target=target,
    )  # fmt: skip
    episode = EpisodeRecord(session_id="s-0000", episode=0, task_id=1, intent="buy", policy="x")
    (run / "steps.jsonl").write_text(step.model_dump_json() + "\n")
    (run / "episodes.jsonl").write_text(episode.model_dump_json(exclude_none=True) + "\n")
    port = free_port()
    argv = [sys.executable, "-c", VIEW_COMMAND, str(tmp_path / "records"), "--port", str(port)]
    viewer = ServerProcess(argv, dict(os.environ), f"http://127.0.0.1:{port}", tmp_path / "log")
    viewer.start()
    try:
        await page.goto(f"{viewer.url}/ui/episodes")
        await page.locator("table.episodes tbody a").first.click()
        box = current(page).locator(".target")
        await expect(box).to_be_visible()
        await expect(box).to_have_attribute("title", "[12]")
        image = current(page).locator("img")
        scale = await image.evaluate("image => image.clientWidth / image.naturalWidth")
        placed = await box.evaluate(
            "box => [box.offsetLeft, box.offsetTop, box.offsetWidth, box.offsetHeight]"
        )
        assert placed == pytest.approx([v * scale for v in target["box"]], abs=1.5)
        click = current(page).locator(".click")
        await expect(click).to_be_visible()
        centre = await click.evaluate(
            "dot => [dot.offsetLeft + dot.offsetWidth / 2, dot.offsetTop + dot.offsetHeight / 2]"
        )
        assert centre == pytest.approx([140 * scale, 50 * scale], abs=1.5)
    finally:
        viewer.stop()
