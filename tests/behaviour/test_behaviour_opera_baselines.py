"""The baselines on OPeRA pages, on the committed fixture ``data/opera``.

``data/opera`` is OPeRA's published schema written by ``data/make_opera_fixture.py``: four
shoppers, ten sessions on Amazon-like pages whose controls carry semantic ids in ``name=``.
It is imported as a user would, then replayed to the random and scripted shoppers, which must
act on those named elements (clicks and typing that name a semantic id of the page), and to
the vlm policy against the chat-completions stand-in of ``chat_server.py``. No browser.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from chat_server import chat_server
from PIL import Image
from typer.testing import CliRunner

from webserv.behaviour.metrics import CLICK_TYPES, click_type_of
from webserv.behaviour.opera import import_dataset
from webserv.behaviour.replay import (
    EvalConfig,
    EvalSummary,
    evaluate,
    load_steps,
    recorded_observation,
    recorded_turn,
    sessions,
)
from webserv.browser.actions import parse
from webserv.cli import app
from webserv.policy.base import opera_form
from webserv.policy.opera_page import read_page
from webserv.policy.persona import Persona, builtin
from webserv.policy.scripted import ScriptedShopper
from webserv.rollout.records import StepRecord

DATA = Path(__file__).parents[1] / "data"
FIXTURE = DATA / "opera"
SCRIPT = DATA / "make_opera_fixture.py"
SEARCH_BOX = "nav_bar.search_input"
#: The recorded click on the search box, as the import writes it.
SEARCH_CLICK = {"type": "click", "name": SEARCH_BOX, "click_type": "search"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture imported (both splits): its ``steps.jsonl``."""
    out = tmp_path_factory.mktemp("opera") / "run"
    import_dataset(FIXTURE, out)
    return out / "steps.jsonl"


def predictions(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def steps_by_key(steps_file: Path) -> dict[tuple[str, int], StepRecord]:
    return {(s.session_id, s.step): s for s in load_steps(steps_file)}


def test_the_fixture_imports_whole_and_targets_what_its_pages_show(imported: Path):
    summary = json.loads((imported.parent / "import_summary.json").read_text())
    assert (summary["sessions"], summary["users"], summary["users_without_survey"]) == (10, 4, 0)
    assert summary["skipped"] == {} and summary["action_count_mismatch"] == 0
    assert set(summary["click_types"]) == set(CLICK_TYPES)  # all 13
    assert summary["screenshots"] >= 5 and summary["screenshots_missing"] == 0
    assert summary["rationales"] > 10 and summary["steps_by_action_type"]["input"] >= 5
    assert sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file()) < 300_000

    outcomes = []
    for rows in sessions(load_steps(imported)).values():
        assert 4 <= len(rows) <= 12
        for step in rows:
            assert step.action is not None
            if step.action["type"] == "terminate":
                continue
            page = read_page(step.observation_text)
            assert page is not None and step.action["name"] in {e.name for e in page.elements}
            if step.action["type"] == "click":  # a click type follows from the semantic id
                assert click_type_of(step.action["name"]) == step.action["click_type"]
        last = rows[-1].action or {}
        outcomes.append(last.get("click_type", last["type"]))
    assert sorted(outcomes) == ["purchase"] * 4 + ["terminate"] * 6


def table_contents(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """A parquet file's schema and rows, a screenshot as its pixels (not its PNG encoding)."""
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        image = row.get("image")
        if isinstance(image, dict) and image.get("bytes"):
            with Image.open(io.BytesIO(image["bytes"])) as decoded:
                image["bytes"] = (decoded.size, decoded.convert("RGB").tobytes())
    return str(pq.read_schema(path)), rows


def test_the_committed_fixture_is_what_the_script_writes(tmp_path: Path):
    out = tmp_path / "opera"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    committed = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*.parquet"))
    assert committed == sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    for name in committed:
        assert table_contents(FIXTURE / name) == table_contents(out / name), (
            f"{name} differs: run tests/data/make_opera_fixture.py to write the fixture again"
        )


async def replay(steps_file: Path, out: Path, policy: str) -> EvalSummary:
    return await evaluate(EvalConfig(steps=steps_file, out=out, policy=policy))


@pytest.mark.parametrize(
    ("policy", "least"),
    [
        ("random", {"click", "type_and_submit", "terminate"}),
        # the scripted shopper types only what it has in mind (test_scripted_types_...)
        ("scripted", {"click", "terminate"}),
    ],
)
async def test_baselines_click_and_type_on_the_named_elements(
    imported: Path, tmp_path: Path, policy: str, least: set[str]
):
    summary = await replay(imported, tmp_path, policy)
    assert summary.scored == summary.steps and summary.metrics.unusable == 0
    recorded = steps_by_key(imported)
    kinds = set()
    for prediction in predictions(tmp_path):
        action = prediction["predicted"]
        kinds.add(action["type"])
        # the env's grammar carries the semantic id there and back
        assert opera_form(parse(prediction["env_action"])) == action
        if action["type"] == "terminate":
            continue
        page = read_page(recorded[prediction["session_id"], prediction["step"]].observation_text)
        assert page is not None
        named = {e.name: e for e in page.elements}
        assert action["name"] in named
        if action["type"] == "type_and_submit":  # text goes into text fields only
            assert named[action["name"]].typeable
    assert least <= kinds <= {"click", "type_and_submit", "terminate"}
    assert summary.metrics.type_macro_f1 > 0.3


async def test_scripted_searches_opens_results_and_buys_like_a_shopper(
    imported: Path, tmp_path: Path
):
    scripted = await replay(imported, tmp_path / "scripted", "scripted")
    random = await replay(imported, tmp_path / "random", "random")
    lines = predictions(tmp_path / "scripted")
    # clicking the search box on the first page is what the shoppers did
    clicks = [p for p in lines if p["gold"] == SEARCH_CLICK]
    assert len(clicks) == 8 and all(p["exact"] for p in clicks)
    opened = [p for p in lines if p["gold"].get("click_type") == "product_link"]
    assert sum(p["exact"] for p in opened) >= 3  # the shopper opened the first result
    assert all(p["rationale"] for p in lines)

    metrics = scripted.metrics
    assert metrics.exact_accuracy > random.metrics.exact_accuracy
    assert metrics.per_class["click"].exact >= 12 and metrics.per_class["terminate"].exact >= 1
    assert metrics.click_type and random.metrics.click_type
    assert metrics.click_type.weighted_f1 > random.metrics.click_type.weighted_f1
    outcome = scripted.report.session_outcome["last_step"]
    assert outcome is not None and outcome.predicted_purchases >= 1


async def scripted_search(
    imported: Path, persona: Persona, goal: str
) -> list[dict[str, Any] | None]:
    """The scripted shopper's actions on the first two steps of the running-shoes session,
    where the shopper clicked the search box and typed into it."""
    rows = next(iter(sessions(load_steps(imported)).values()))
    shopper = ScriptedShopper(persona)
    actions = []
    for i, step in enumerate(rows[:2]):
        observation = recorded_observation(step, None, imported.parent, screenshot=False)
        history = [recorded_turn(s) for s in rows[:i]]
        decision = await shopper.act({**observation, "goal": goal}, history)
        actions.append(decision.opera_action)
    return actions


async def test_scripted_types_the_intent_or_a_search_of_its_persona(imported: Path):
    maya = builtin("maya")
    clicked, typed = await scripted_search(imported, maya, "")
    assert clicked == {"type": "click", "name": SEARCH_BOX}
    assert typed is not None and typed["type"] == "type_and_submit"
    assert typed["name"] == SEARCH_BOX and typed["text"] in maya.searches
    _, typed = await scripted_search(imported, maya, "womens running shoes")
    assert typed == {"type": "type_and_submit", "name": SEARCH_BOX, "text": "womens running shoes"}
    # a recorded shopper's survey has no searches: with no intent either, nothing to type
    survey = maya.model_copy(update={"searches": []})
    assert (await scripted_search(imported, survey, ""))[1] == {"type": "terminate"}


def click_the_search_box(body: dict[str, Any]) -> str:
    return json.dumps(
        {
            "rationale": "I start by searching.",
            "action": {"type": "click", "name": SEARCH_BOX},
        }
    )


def test_vlm_eval_on_the_imported_fixture(imported: Path, tmp_path: Path):
    """The vlm policy through the CLI; the model is the chat-completions stand-in, because no
    model can be loaded here: the prompts, parsing, replay and metrics are the real ones."""
    out = tmp_path / "eval"
    with chat_server(click_the_search_box) as chat:
        result = CliRunner().invoke(
            app,
            ["behaviour", "eval", str(imported), "--policy", "vlm", "--endpoint", chat.base_url,
             "--model", "stand-in", "--out", str(out)],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(chat.requests) == 63  # every recorded step
    texts = [m["content"] for b in chat.requests for m in b["messages"]]
    assert any(isinstance(t, str) and f'name="{SEARCH_BOX}"' in t for t in texts)
    assert any(
        isinstance(t, list) and any(part.get("type") == "image_url" for part in t) for t in texts
    )  # the fixture's screenshots are shown

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["sessions"], summary["steps"], summary["scored"]) == (10, 63, 63)
    assert summary["format_ok_rate"] == 1.0 and summary["reward"]["total"] > 0
    metrics, report = summary["metrics"], summary["report"]
    assert metrics["exact"] == 8  # the eight recorded clicks on the search box
    assert set(metrics["per_class"]) == {"click", "type_and_submit", "terminate"}
    assert metrics["click_type"]["n"] == 48 and metrics["type_macro_f1"] > 0
    blocks = set(report) - {"calibration"}  # no stated probabilities: no calibration
    assert all(report[block] is not None for block in blocks)
    assert all(report["session_outcome"][rule] is not None for rule in ("last_step", "any_step"))
    assert len(report["per_user"]) == 4 and len(report["per_session"]) == 10
    assert report["metrics"] == metrics and report["distribution"]["population"]


def test_an_opera_page_is_told_from_webserv_text_and_read_by_semantic_id():
    assert read_page('[10] combobox "Search" collapsed\n[11] button "Search"') is None
    assert read_page("") is None and read_page("<p>a page without named controls</p>") is None
    page = read_page(
        '<html><head><meta name="viewport" content="width=device-width"/></head><body>'
        '<form name="site-search"><input name="nav_bar.search_input" placeholder="Search"/>'
        '<input type="submit" name="nav_bar.search_button" value="Go"/></form>'
        '<input type="checkbox" name="refinements.brand.brooks"/>'
        '<a name="search_results.ghost_15.product_image"><img alt="Ghost 15"/></a>'
        '<a name="search_results.ghost_15.product_title"> Ghost  15 </a>'
        '<textarea name="reviews.write_a_review.body"></textarea></body></html>'
    )
    assert page is not None
    assert [(e.name, e.label) for e in page.typeable()] == [
        ("nav_bar.search_input", "Search"), ("reviews.write_a_review.body", "")
    ]  # fmt: skip
    assert [e.name for e in page.clickable()] == [
        "nav_bar.search_button",
        "refinements.brand.brooks",
        "search_results.ghost_15.product_image",
        "search_results.ghost_15.product_title",
    ]
    assert page.search_box() == page.typeable()[0]
    assert [(e.label, e.item) for e in page.product_links()] == [
        ("Ghost 15", "search_results.ghost_15")
    ]
    named = {e.name: e for e in page.elements}
    assert named["search_results.ghost_15.product_image"].label == "Ghost 15"  # its image's alt
    assert named["nav_bar.search_button"].label == "Go"
    assert page.find("brooks", "refinements") == named["refinements.brand.brooks"]
    assert page.find("brooks", "nav_bar") is None
