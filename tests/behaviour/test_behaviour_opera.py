"""``webserv behaviour import-opera``: OPeRA's parquet tables as step records.

The fixture is written here with pyarrow in OPeRA's published schema (``opera_fixture``: every
column of the Hub's ``filtered_*`` and ``full_*`` configs, the image table as the Hub's Image
struct), in each of the layouts the importer reads: two users, three filtered sessions with
clicks of several click types, inputs, terminations, a rationale and one PNG screenshot, and
two full sessions with scrolls, navigations and tab activations. No browser, no network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from opera_fixture import FILTERED_ACTION, FULL_ACTION, IMAGE, SESSION, USER, Tables, write_copy
from PIL import Image
from typer.testing import CliRunner

from webserv.behaviour.opera import OperaError, import_dataset, import_opera, persona_text
from webserv.behaviour.replay import EvalConfig, evaluate, gold_action, load_steps, score, sessions
from webserv.behaviour.rewards import GoldAction
from webserv.browser.tokens import count_tokens

ANN = "11111111-aaaa-4bbb-8ccc-000000000001"
BEN = "22222222-aaaa-4bbb-8ccc-000000000002"
S1 = f"{ANN}_2025-04-01T10:00:00.000Z_2025-04-01T10:05:00.000Z"
S2 = f"{ANN}_2025-04-02T09:00:00.000Z_2025-04-02T09:02:00.000Z"
S3 = f"{BEN}_2025-04-03T20:00:00.000Z_2025-04-03T20:10:00.000Z"
SURVEY = {
    "demographics": {"age": "25-34", "occupation": "nurse"},
    "shopping_preferences": {"price_sensitivity": 4, "brands": ["Nike", "Adidas"]},
    "big_five": [{"trait": "openness", "score": 3.8}],
    "notes": "",
}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def page(title: str) -> str:
    return f'<html><body><h1>{title}</h1><input name="nav_bar.search_input"/></body></html>'


def action(session: str, n: int, when: str, kind: str, **fields: Any) -> dict[str, Any]:
    row = {"session_id": session, "action_id": f"{session[:4]}-a{n}", "action_type": kind}
    row |= {"timestamp": when, "url": "https://www.amazon.com/", "simplified_html": page(f"p{n}")}
    return row | fields


def filtered_actions() -> dict[str, list[dict[str, Any]]]:
    """Train rows out of time order (a3 before a2); a4 and a5 share a timestamp."""
    s1 = [
        action(S1, 1, "2025-04-01T10:00:01.000Z", "click", click_type="search",
               semantic_id="nav_bar.search_input", image="000001.png",
               rationale="I want new running shoes."),
        action(S1, 3, "2025-04-01T10:00:09.250Z", "click", click_type="product_link",
               semantic_id="search_results.nike_pegasus.product_title"),
        action(S1, 2, "2025-04-01T10:00:05.5Z", "input", semantic_id="nav_bar.search_input",
               input_text="running shoes"),
        action(S1, 4, "2025-04-01T10:00:20.000Z", "click", click_type="purchase",
               semantic_id="buy_box.add_to_cart"),
        action(S1, 5, "2025-04-01T10:00:20.000Z", "click", click_type="quantity",
               semantic_id="cart.quantity.increase"),
        action(S1, 9, "2025-04-01T10:00:30.000Z", "click", click_type="other"),
        action(S1, 6, "2025-04-01T10:01:00.000Z", "terminate", simplified_html=None),
    ]  # fmt: skip
    s3 = [
        action(S3, 1, "2025-04-03T20:00:01.000Z", "input", semantic_id="nav_bar.search_input",
               input_text="  desk lamp "),
        action(S3, 2, "2025-04-03T20:01:00.000Z", "click", click_type="review",
               semantic_id="reviews.see_all"),
        action(S3, 3, "2025-04-03T20:02:00.000Z", "terminate"),
    ]  # fmt: skip
    s2 = [
        action(S2, 1, "2025-04-02T09:00:10.000Z", "click", click_type="nav_bar",
               semantic_id="nav_bar.cart", image="000777.jpg"),
        action(S2, 2, "2025-04-02T09:01:00.000Z", "terminate"),
    ]  # fmt: skip
    return {"train": s1 + s3, "test": s2}


def session_row(session_id: str, user_id: str, action_count: int) -> dict[str, Any]:
    return {"session_id": session_id, "user_id": user_id, "action_count": action_count}


def filtered_tables() -> Tables:
    """Rows of each table and split, with the table's columns."""
    users = [
        {"user_id": ANN, "survey": json.dumps(SURVEY)},
        {"user_id": BEN, "survey": ""},
    ]
    images = [
        {"image_name": "000001.png", "image": {"bytes": png(), "path": "000001.png"}},
        {"image_name": "999999.png", "image": {"bytes": png(), "path": None}},
    ]
    return {
        "action": {split: (FILTERED_ACTION, rows) for split, rows in filtered_actions().items()},
        "session": {
            "train": (
                SESSION,
                [session_row(S1, ANN, 7), session_row(S3, BEN, 4)],
            ),
            "test": (SESSION, [session_row(S2, ANN, 2)]),
        },
        "user": {"train": (USER, users), "test": (USER, users[:1])},
        "image": {"train": (IMAGE, images)},
    }


def full_tables() -> Tables:
    f1, f2 = f"{ANN}_f1", f"{BEN}_f2"

    def scroll(y: str) -> str:
        return json.dumps({"scroll_current_top": "0", "scroll_distance_x": "0",
                           "scroll_distance_y": y})  # fmt: skip

    train = [
        action(f1, 1, "2025-05-01T08:00:00Z", "click", click_type="search",
               semantic_id="nav_bar.search_input", image="000002.png"),
        action(f1, 2, "2025-05-01T08:00:01Z", "input", semantic_id="nav_bar.search_input",
               input_text="tent"),
        action(f1, 3, "2025-05-01T08:00:03Z", "scroll", scroll_detail=scroll("640")),
        action(f1, 4, "2025-05-01T08:00:04Z", "scroll", scroll_detail=scroll("-320.5")),
        action(f1, 5, "2025-05-01T08:00:05Z", "navigation", navigation_type="new page"),
        action(f1, 6, "2025-05-01T08:00:06Z", "navigation", navigation_type="back"),
        action(f1, 7, "2025-05-01T08:00:07Z", "tab_activate"),
        action(f1, 8, "2025-05-01T08:00:08Z", "navigation", navigation_type="reload",
               url="https://www.amazon.com/s?k=tent"),
    ]  # fmt: skip
    test = [
        action(f2, 1, "2025-05-02T08:00:00Z", "click", click_type="filter",
               semantic_id="refinements.4_stars"),
        action(f2, 2, "2025-05-02T08:00:01Z", "scroll", scroll_detail=scroll("0")),
    ]  # fmt: skip
    return {
        "action": {"train": (FULL_ACTION, train), "test": (FULL_ACTION, test)},
        "session": {
            "train": (SESSION, [session_row(f1, ANN, 8)]),
            "test": (SESSION, [session_row(f2, BEN, 2)]),
        },
        "user": {"train": (USER, [{"user_id": ANN, "survey": "Likes camping."}])},
    }


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("layout", ["hub", "config", "flat"])
def test_filtered_sessions_become_ordered_step_records(tmp_path: Path, layout: str):
    root = write_copy(tmp_path / "opera", filtered_tables(), "filtered", layout)
    out = tmp_path / "runs" / "opera"
    summary = import_dataset(root, out, "filtered", "all")

    assert (summary.sessions, summary.users, summary.steps, summary.scored_steps) == (3, 2, 11, 11)
    assert summary.steps_by_action_type == {"click": 6, "input": 2, "terminate": 3}
    assert summary.click_types == {
        "search": 1, "product_link": 1, "purchase": 1, "quantity": 1, "review": 1, "nav_bar": 1
    }  # fmt: skip
    assert summary.skipped == {"click without semantic_id": 1} and summary.skipped_rows == 1
    assert (summary.rationales, summary.screenshots, summary.screenshots_missing) == (1, 1, 1)
    assert summary.users_without_survey == 1 and summary.action_count_mismatch == 1
    assert len(summary.tables["action"]) == 2 and len(summary.tables["image"]) == 1
    assert json.loads((out / "import_summary.json").read_text()) == summary.model_dump()
    assert sorted(p.name for p in out.iterdir()) == [
        "episodes.jsonl", "import_summary.json", "personas.json", "screenshots", "steps.jsonl"
    ]  # fmt: skip
    assert not [p for p in out.parent.iterdir() if p != out]  # the staging dir is gone

    steps = lines(out / "steps.jsonl")
    by_session = {sid: [s for s in steps if s["session_id"] == sid] for sid in (S1, S3, S2)}
    assert [s["session_id"] for s in steps] == [S1] * 6 + [S3] * 3 + [S2] * 2
    first = by_session[S1]
    assert [s["step"] for s in first] == list(range(6))
    assert [s["action_id"] for s in first] == [f"{S1[:4]}-a{n}" for n in (1, 2, 3, 4, 5, 6)]
    assert {s["episode"] for s in first} == {0} and by_session[S2][0]["episode"] == 2
    assert first[0]["action"] == {
        "type": "click", "name": "nav_bar.search_input", "click_type": "search"
    }  # fmt: skip
    assert first[0]["env_action"] == 'click("nav_bar.search_input")'
    assert first[0]["rationale"] == "I want new running shoes."
    assert json.loads(first[0]["model_output"]) == {
        "rationale": "I want new running shoes.", "action": first[0]["action"]
    }  # fmt: skip
    assert first[1]["action"] == {
        "type": "type_and_submit", "name": "nav_bar.search_input", "text": "running shoes"
    }  # fmt: skip
    assert (first[1]["action_type"], first[1]["semantic_id"], first[1]["input_text"]) == (
        "type_and_submit", "nav_bar.search_input", "running shoes"
    )  # fmt: skip
    assert first[1]["env_action"] == 'type("nav_bar.search_input", "running shoes", submit=True)'
    assert first[-1]["action"] == {"type": "terminate"} and first[-1]["terminated"]
    assert first[-1]["env_action"] == "stop()" and first[-1]["observation_text"] == ""
    assert not any(s["terminated"] for s in first[:-1])
    for step in steps:
        assert step["persona"] in (ANN, BEN) and step["task_id"].startswith("opera-filtered-")
        assert step["obs_tokens"] == count_tokens(step["observation_text"])
        assert step["timestamp"] and step["url"] == "https://www.amazon.com/"
    assert first[2]["observation_text"] == page("p3") and first[2]["obs_tokens"] > 10
    assert by_session[S2][0]["task_id"] == "opera-filtered-test"

    assert first[0]["image"] == f"screenshots/{S1}/000.png"
    assert (out / first[0]["image"]).read_bytes() == png()
    assert by_session[S2][0]["image"] is None  # 000777.jpg is not in the image table
    personas = json.loads((out / "personas.json").read_text())
    assert list(personas) == [ANN] and personas[ANN] == persona_text(json.dumps(SURVEY))
    episodes = lines(out / "episodes.jsonl")
    assert [(e["session_id"], e["steps"], e["terminated"]) for e in episodes] == [
        (S1, 6, True), (S3, 3, True), (S2, 2, True)
    ]  # fmt: skip
    assert {e["policy"] for e in episodes} == {"human"}


async def test_imported_steps_are_what_eval_and_score_read(tmp_path: Path):
    root = write_copy(tmp_path / "opera", filtered_tables(), "filtered")
    import_dataset(root, tmp_path / "run", "filtered", "all")
    steps_file = tmp_path / "run" / "steps.jsonl"
    steps = load_steps(steps_file)
    grouped = sessions(steps)
    assert list(grouped) == [S1, S3, S2]
    golds = [gold_action(s) for s in grouped[S1]]
    assert golds[0] == GoldAction(type="click", name="nav_bar.search_input", click_type="search")
    assert golds[1] == GoldAction(
        type="type_and_submit", name="nav_bar.search_input", text="running shoes"
    )
    assert golds[3] == GoldAction(type="click", name="buy_box.add_to_cart", click_type="purchase")
    assert golds[5] == GoldAction(type="terminate")
    assert gold_action(grouped[S3][0]).text == "desk lamp"  # OPeRA compares trimmed text

    same = score(steps_file, steps_file)
    assert same.paired == 11 and same.metrics.exact_accuracy == 1.0
    summary = await evaluate(EvalConfig(steps=steps_file, out=tmp_path / "eval", policy="random"))
    assert (summary.sessions, summary.steps, summary.scored) == (3, 11, 11)


def test_one_split_and_users_from_every_user_table(tmp_path: Path):
    root = write_copy(tmp_path / "opera", filtered_tables(), "filtered", "hub")
    summary = import_dataset(root, tmp_path / "run", "filtered", "test")
    assert (summary.sessions, summary.steps, summary.users, summary.users_without_survey) == (
        1, 2, 1, 0
    )  # fmt: skip
    assert summary.tables["action"] == ["OPeRA_filtered/action/test-00000-of-00001.parquet"]
    assert len(summary.tables["user"]) == 2  # train and test share users
    assert (summary.screenshots, summary.screenshots_missing) == (0, 1)
    assert [s["session_id"] for s in lines(tmp_path / "run" / "steps.jsonl")] == [S2, S2]


def test_full_variant_keeps_what_the_grammar_says_and_counts_the_rest(tmp_path: Path):
    root = write_copy(tmp_path / "opera", full_tables(), "full", "hub")
    summary = import_dataset(root, tmp_path / "run", "full", "all")
    assert summary.steps_by_action_type == {"click": 2, "input": 1, "scroll": 2, "navigation": 2}
    assert summary.skipped == {
        "navigation 'new page'": 1,
        "tab_activate": 1,
        "scroll without a distance in scroll_detail": 1,
    }
    assert (summary.steps, summary.scored_steps, summary.users_without_survey) == (7, 3, 1)
    assert (summary.screenshots, summary.screenshots_missing, summary.tables["image"]) == (0, 0, [])
    steps = load_steps(tmp_path / "run" / "steps.jsonl")
    f1 = [s for s in steps if s.session_id == f"{ANN}_f1"]
    assert [(s.action_type, s.env_action) for s in f1[2:]] == [
        ("scroll", 'scroll("down")'),
        ("scroll", 'scroll("up")'),
        ("back", "back()"),
        ("goto", 'goto("https://www.amazon.com/s?k=tent")'),
    ]
    assert all(s.action is None and gold_action(s) is None for s in f1[2:])
    assert json.loads(f1[2].model_output) == {"rationale": "", "action": 'scroll("down")'}
    assert all(s.image is None for s in steps) and not f1[-1].terminated
    assert json.loads((tmp_path / "run" / "personas.json").read_text()) == {
        ANN: "Likes camping."
    }  # fmt: skip


def test_a_missing_column_is_named_and_nothing_is_written(tmp_path: Path):
    tables = filtered_tables()
    columns, rows = tables["action"]["test"]
    tables["action"]["test"] = ([c for c in columns if c != "semantic_id"], rows)
    root = write_copy(tmp_path / "opera", tables, "filtered")
    runs = tmp_path / "runs"
    with pytest.raises(OperaError) as err:
        import_dataset(root, runs / "opera", "filtered", "all")
    message = str(err.value)
    assert "filtered_action/test-00000-of-00001.parquet" in message and "'semantic_id'" in message
    assert list(runs.iterdir()) == []
    # the train split alone is whole
    assert import_dataset(root, runs / "opera", "filtered", "train").sessions == 2


def test_missing_tables_unreadable_files_and_a_used_out_dir(tmp_path: Path):
    root = write_copy(tmp_path / "opera", filtered_tables(), "filtered")
    with pytest.raises(OperaError, match="no full_action table for split train"):
        import_dataset(root, tmp_path / "a", "full", "all")
    with pytest.raises(OperaError, match="no such directory"):
        import_dataset(tmp_path / "nowhere", tmp_path / "b")
    (root / "filtered_session" / "test-00000-of-00001.parquet").write_text("not parquet")
    with pytest.raises(OperaError, match=r"test-00000-of-00001\.parquet: not a readable parquet"):
        import_dataset(root, tmp_path / "c", "filtered", "test")
    used = tmp_path / "used"
    used.mkdir()
    (used / "steps.jsonl").write_text("")
    with pytest.raises(OperaError, match="not an empty directory"):
        import_dataset(root, used, "filtered", "train")
    assert [p.name for p in used.iterdir()] == ["steps.jsonl"]
    assert not list(tmp_path.glob(".*-import-*"))


def test_command_prints_the_summary_and_exits_2_on_bad_input(tmp_path: Path):
    app = typer.Typer()
    app.command()(import_opera)
    root = write_copy(tmp_path / "opera", filtered_tables(), "filtered", "flat")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [str(root), "--out", str(out), "--split", "train"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sessions"] == 2 and (out / "steps.jsonl").is_file()
    again = CliRunner().invoke(app, [str(root), "--out", str(out)])
    assert again.exit_code == 2 and "not an empty directory" in again.output


def test_persona_text_renders_the_survey_for_a_prompt():
    assert persona_text(json.dumps(SURVEY)) == "\n".join(
        [
            "demographics:",
            "  age: 25-34",
            "  occupation: nurse",
            "shopping_preferences:",
            "  price_sensitivity: 4",
            "  brands: Nike, Adidas",
            "big_five:",
            "  -",
            "    trait: openness",
            "    score: 3.8",
        ]
    )
    assert persona_text("A keen cook.") == "A keen cook."
    assert persona_text("  ") is None and persona_text(None) is None and persona_text("{}") is None
