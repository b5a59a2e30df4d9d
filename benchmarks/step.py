"""``webserv bench step``: step latency and observation size on the shop, side by side.

One run walks the same scenario of shop pages and actions with each of:

* ``webserv``: :meth:`BrowserSession.step` (act, settle, capture, render);
* ``webserv-full-window``: the same, always waiting the full quiet window (no shortcut for
  pages the browser reports idle);
* ``fixed-2s``: the same action, then a fixed 2 s sleep before the capture (what WebArena
  does after every action);
* ``browsergym``: BrowserGym's own ``env.step`` loop (0.5 s sleep, DOMContentLoaded waits,
  AXTree, DOM snapshot and screenshot), in its own virtual env and process.

Observation size is counted with one tokenizer (cl100k_base) over the same pages: webserv's
``text``, the raw HTML of the page, and BrowserGym's AXTree flattened with AgentLab's
GenericAgent flags. Two checks of what a settled observation is worth: untimed passes capture
the page again 2 s after every settled step and count the observations that differ (the page
was not done), and a pass on a shop whose ``/api/`` answers only after ``--latency-ms`` checks
that the observation contains what a slow fetch loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from benchmarks import browsergym_venv
from benchmarks.report import Report
from webserv.browser.session import SessionConfig
from webserv.browser.tokens import TOKENIZER, count_tokens
from webserv.pool.backends.base import free_port
from webserv.sites.shop.accounts import CUSTOMER

#: The shop's data at this scale (its recipe's seed): small, so seeding it takes seconds.
SCALE = 0.02
FIXED_SLEEP_S = 2.0
#: How long after a settled observation the page is captured again to see if it was done.
SECOND_LOOK_S = 2.0


@dataclass(frozen=True)
class Step:
    """One scenario step: open a path, or act on the element a CSS selector finds."""

    kind: Literal["goto", "click", "type", "select"]
    target: str
    text: str = ""
    submit: bool = False

    def webserv(self, element_id: str | None) -> str:
        if self.kind == "goto":
            return f"goto({json.dumps(self.target)})"
        if self.kind == "click":
            return f'click("{element_id}")'
        if self.kind == "select":
            return f'select("{element_id}", {json.dumps(self.text)})'
        return f'type("{element_id}", {json.dumps(self.text)}, submit={self.submit})'

    def browsergym(self, base: str) -> str:
        if self.kind == "goto":
            return f"goto({json.dumps(base + self.target)})"
        if self.kind == "click":
            return "click('{bid}')"
        if self.kind == "select":
            return "select_option('{bid}', " + json.dumps(self.text) + ")"
        fill = "fill('{bid}', " + json.dumps(self.text) + ")"
        return fill + ("\npress('{bid}', 'Enter')" if self.submit else "")


def scenario(db: Path) -> list[Step]:
    """The walk through the shop: 25 steps over home, the consent dialog, search suggestions,
    search, products (lazy reviews, add to cart, a link to a new tab), listings (sort select,
    pagination), cart, help, login and account pages."""
    with sqlite3.connect(db) as conn:
        department = conn.execute(
            "SELECT slug FROM categories WHERE parent_id IS NULL ORDER BY position, id LIMIT 1"
        ).fetchone()[0]
        term = (
            conn.execute("SELECT name FROM products WHERE status = 'enabled' ORDER BY id LIMIT 1")
            .fetchone()[0]
            .split()[0]
        )
    card = ".card-name a"
    return [
        Step("goto", "/"),
        Step("click", "#consent-dismiss"),
        Step("type", "#search", term[:3]),
        Step("type", "#search", term, submit=True),
        Step("click", card),
        Step("click", REVIEWS_LINK),
        Step("click", "#add-to-cart-button"),
        Step("click", ".brand-line a"),
        Step("goto", f"/category/{department}"),
        Step("select", "#sort", "Price: low to high"),
        Step("click", card),
        Step("goto", "/search?q=e"),
        Step("click", "a[rel=next]"),
        Step("click", "button.add-to-cart"),
        Step("goto", "/cart"),
        Step("goto", "/help/shipping-returns"),
        Step("goto", "/account/login"),
        Step("type", "#email", CUSTOMER.login),
        Step("type", "#password", CUSTOMER.password, submit=True),
        Step("goto", "/account/orders"),
        Step("goto", "/"),
        Step("click", ".menu-item > a"),
        Step("click", card),
        Step("goto", "/cart"),
        Step("goto", "/account"),
    ]


#: The link on a product page that scrolls to its reviews (which then load lazily).
REVIEWS_LINK = 'a[href="#reviews"], a[href="#review-form"]'


# ---- the shop ----------------------------------------------------------------------------


@contextlib.contextmanager
def shop(golden: Path, latency_ms: int = 0) -> Iterator[str]:
    """A shop process over a fresh copy of ``golden``; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="bench-step-") as tmp:
        data = Path(shutil.copytree(golden, Path(tmp) / "data"))
        port = free_port()
        command = [sys.executable, "-m", "webserv.sites.shop", "--data-dir", str(data)]
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--latency-ms", str(latency_ms)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the shop exited with {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{base}/healthz").status_code < 400:
                    return
            time.sleep(0.05)  # polling a port that is not open yet
    raise TimeoutError(f"{base} not healthy after {timeout_s} s")


# ---- the three loops ---------------------------------------------------------------------


@dataclass
class Sample:
    """What one step of one variant measured."""

    ms: float
    tokens: int = 0
    html_tokens: int = 0
    action_ms: float = 0
    settle_ms: float = 0
    capture_ms: float = 0
    render_ms: float = 0
    error: str = ""
    text: str = ""
    #: Whether the page looked different a while after the observation (None: not checked).
    changed_after: bool | None = None


async def run_webserv(
    base: str,
    steps: list[Step],
    fixed_sleep_s: float | None,
    config: SessionConfig | None = None,
    second_look_s: float | None = None,
) -> list[Sample]:
    """Walk the scenario with webserv; with ``fixed_sleep_s`` sleep instead of settling.

    ``second_look_s``: after each timed step, wait that long and capture the page again
    without settling; a different text means the step was observed before the page was done.
    """
    from webserv.browser.session import BrowserPool

    samples: list[Sample] = []
    async with BrowserPool() as pool:
        session = await pool.new_session(
            allowed_hosts=[base.removeprefix("http://")], config=config
        )
        await session.start(base + "/")
        for step in steps:
            element_id = None
            if step.kind != "goto":
                element_id = await _element_id(session.page, step.target)
            action = step.webserv(element_id)
            started = time.perf_counter()
            if fixed_sleep_s is None:
                obs = await session.step(action)
            else:
                _, error = await session.act(action)
                await asyncio.sleep(fixed_sleep_s)  # the baseline being measured
                obs = await session.observe(settle=False, last_action_error=error)
            ms = (time.perf_counter() - started) * 1000
            phases = session.timings
            changed_after = None
            if second_look_s is not None:
                await asyncio.sleep(second_look_s)  # untimed: lets a slow page finish
                later = await session.observe(settle=False)
                changed_after = later.text != obs.text
            html = await session.raw_html()
            samples.append(
                Sample(
                    ms=ms,
                    tokens=obs.token_count,
                    html_tokens=count_tokens(html),
                    action_ms=phases.action_ms,
                    settle_ms=phases.settle_ms,
                    capture_ms=phases.capture_ms,
                    render_ms=phases.render_ms,
                    error=obs.last_action_error,
                    text=obs.text,
                    changed_after=changed_after,
                )
            )
        await session.close()
    return samples


async def _element_id(page: Page, selector: str) -> str:
    """The webserv id of the first element matching ``selector``, or "0" (no such element)."""
    try:
        found = await page.locator(selector).first.get_attribute("data-wsid", timeout=5_000)
    except PlaywrightError:
        found = None
    return found or "0"


class BrowserGymLoop:
    """BrowserGym's env in a worker process of its own virtual env."""

    def __init__(self) -> None:
        env = browsergym_venv.ensure()
        worker = Path(__file__).with_name("browsergym_worker.py")
        self.proc = subprocess.Popen(
            [str(browsergym_venv.python()), str(worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def call(self, **request: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the BrowserGym worker exited")
        return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, RuntimeError):
            self.call(op="close")
        self.proc.wait(timeout=30)

    def run(self, base: str, steps: list[Step]) -> list[Sample]:
        reply = self.call(op="reset", url=base + "/")
        if reply["ms"] is None:
            raise RuntimeError(f"BrowserGym reset failed: {reply['error']}")
        samples = []
        for step in steps:
            request = {"op": "step", "action": step.browsergym(base)}
            if step.kind != "goto":
                request["selector"] = step.target
            reply = self.call(**request)
            samples.append(
                Sample(
                    ms=reply["ms"] if reply["ms"] is not None else float("nan"),
                    tokens=count_tokens(reply["axtree"]),
                    error=reply["error"],
                    text=reply["axtree"],
                )
            )
        return samples


# ---- completeness under a slow API -------------------------------------------------------


def reviewed_products(db: Path, count: int) -> list[tuple[int, str]]:
    """(product id, title of its newest approved review) for products that have reviews."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            """SELECT r.product_id, r.title FROM reviews r
               WHERE r.status = 'approved' AND r.id = (
                 SELECT id FROM reviews WHERE product_id = r.product_id AND status = 'approved'
                 ORDER BY created_at DESC, id DESC LIMIT 1)
               ORDER BY r.product_id LIMIT ?""",
            (count,),
        ).fetchall()
    return [(int(pid), str(title)) for pid, title in rows]


def slow_scenario(products: list[tuple[int, str]]) -> list[Step]:
    """For each product: open it, then follow the link to its lazily loaded reviews."""
    steps = [Step("goto", "/"), Step("click", "#consent-dismiss")]
    for pid, _ in products:
        steps += [Step("goto", f"/products/{pid}"), Step("click", REVIEWS_LINK)]
    return steps


def complete(samples: list[Sample], products: list[tuple[int, str]]) -> int:
    """How many review-link observations contain the review their slow fetch loads."""
    after_click = samples[3::2]
    return sum(title in s.text for s, (_, title) in zip(after_click, products, strict=True))


# ---- the benchmark -----------------------------------------------------------------------


def _add(report: Report, variant: str, metric: str, values: list[float], **extra: object) -> None:
    report.add(variant, metric, [v for v in values if v == v], **extra)  # v != v drops NaN


def run(latency_ms: int = 2_500, slow_pages: int = 5) -> Report:
    """Run the whole benchmark and return its report."""
    from webserv.pool.golden import seeded_source
    from webserv.sites import registry

    defaults = SessionConfig()
    load_before = os.getloadavg()[0]
    site = registry.get("shop")
    golden_params = site.golden_params({"scale": SCALE})
    golden = seeded_source(site, golden_params)
    db = golden / "shop.db"
    steps = scenario(db)
    products = reviewed_products(db, slow_pages)
    slow_steps = slow_scenario(products)

    # The same settle with the shortcut for pages the browser reports idle turned off.
    full_window = defaults.model_copy(update={"idle_quiet_ms": defaults.quiet_ms})
    with shop(golden) as base:
        ours = asyncio.run(run_webserv(base, steps, None))
        ours_full = asyncio.run(run_webserv(base, steps, None, full_window))
        fixed = asyncio.run(run_webserv(base, steps, FIXED_SLEEP_S))
        # Untimed passes: was each settled observation still what the page showed later?
        looks = {
            "webserv": asyncio.run(run_webserv(base, steps, None, second_look_s=SECOND_LOOK_S)),
            "webserv-full-window": asyncio.run(
                run_webserv(base, steps, None, full_window, SECOND_LOOK_S)
            ),
        }
        gym = BrowserGymLoop()
        try:
            theirs = gym.run(base, steps)
        finally:
            gym.close()
    with shop(golden, latency_ms=latency_ms) as slow_base:
        slow_ours = asyncio.run(run_webserv(slow_base, slow_steps, None))
        slow_fixed = asyncio.run(run_webserv(slow_base, slow_steps, FIXED_SLEEP_S))
        gym = BrowserGymLoop()
        try:
            slow_theirs = gym.run(slow_base, slow_steps)
        finally:
            gym.close()

    report = Report(
        benchmark="step",
        params={
            "steps": len(steps),
            "shop_seed": golden_params["seed"],
            "shop_scale": golden_params["scale"],
            "fixed_sleep_s": FIXED_SLEEP_S,
            "browsergym": browsergym_venv.BROWSERGYM,
            "browsergym_axtree_flags": "AgentLab GenericAgent: visible tags, no coords",
            "tokenizer": TOKENIZER,
            "quiet_ms": defaults.quiet_ms,
            "idle_quiet_ms": defaults.idle_quiet_ms,
            "second_look_s": SECOND_LOOK_S,
            "settle_timeout_ms": defaults.settle_timeout_ms,
            "token_budget": defaults.token_budget,
            "slow_api_latency_ms": latency_ms,
            "slow_pages": len(products),
            "load_avg_1m_start": round(load_before, 2),
            "load_avg_1m_end": round(os.getloadavg()[0], 2),
        },
    )
    timed = (
        ("webserv", ours),
        ("webserv-full-window", ours_full),
        ("fixed-2s", fixed),
        ("browsergym", theirs),
    )
    for variant, samples in timed:
        errors = sum(bool(s.error) for s in samples)
        _add(report, variant, "step_ms", [s.ms for s in samples], errors=errors)
    for variant, samples in looks.items():
        changed = [float(bool(s.changed_after)) for s in samples]
        _add(report, variant, "changed_after_settle", changed, steps=len(changed))
        report.notes.append(
            f"{variant}: {int(sum(changed))}/{len(changed)} settled observations differed from "
            f"a capture of the same page {SECOND_LOOK_S:g} s later"
        )
    # Where a webserv step's time goes: the action, the settle wait, the DOM capture (in the
    # page, and its transfer), rendering the text.
    for phase in ("action_ms", "settle_ms", "capture_ms", "render_ms"):
        _add(report, "webserv", phase, [getattr(s, phase) for s in ours])
    _add(report, "webserv", "obs_tokens", [s.tokens for s in ours])
    _add(report, "raw-html", "obs_tokens", [s.html_tokens for s in ours])
    _add(report, "browsergym-axtree", "obs_tokens", [s.tokens for s in theirs])
    slow = (
        (f"webserv@api+{latency_ms}ms", slow_ours),
        (f"fixed-2s@api+{latency_ms}ms", slow_fixed),
        (f"browsergym@api+{latency_ms}ms", slow_theirs),
    )
    for variant, samples in slow:
        found = complete(samples, products)
        reviews = samples[3::2]
        _add(report, variant, "step_ms", [s.ms for s in reviews], complete=found, of=len(products))
        report.notes.append(
            f"{variant}: {found}/{len(products)} observations after following a product's "
            "reviews link show its newest review, which the page fetches from the slowed /api/"
        )
    report.compare("step_ms", "webserv", "webserv-full-window")
    report.compare("step_ms", "webserv", "fixed-2s")
    report.compare("step_ms", "webserv", "browsergym")
    report.compare("obs_tokens", "webserv", "raw-html")
    report.compare("obs_tokens", "webserv", "browsergym-axtree")
    for variant, samples in (("webserv", ours), ("browsergym", theirs)):
        failures = sorted({s.error.splitlines()[0][:160] for s in samples if s.error})
        if failures:
            report.notes.append(f"{variant} step errors: " + " | ".join(failures))
    truncated = sum("omitted; scroll" in s.text for s in ours)
    report.notes.append(
        f"webserv observations cut to the token budget: {truncated}/{len(ours)}; "
        f"step errors: webserv {sum(bool(s.error) for s in ours)}, "
        f"browsergym {sum(bool(s.error) for s in theirs)}"
    )
    return report
