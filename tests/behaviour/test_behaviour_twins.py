"""Digital-twin comparison (``webserv/behaviour/twins.py``, Rufus digital twins 2509.21501).

Every number asserted here was worked out by hand from the inputs next to it (the working is
in the comments); the runs are small JSONL files written by the tests, and
``data/behaviour_steps.jsonl`` (a real scripted rollout: session ``...0000`` buys product 19,
``...0001`` product 38). No model is involved.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from webserv.behaviour.twins import (
    CiMethod,
    CompareConfig,
    PairBy,
    Trace,
    TwinsError,
    compare_command,
    compare_runs,
    compare_sequences,
    edit_distance,
    entropy_difference,
    episode_order,
    jaccard,
    lcs_length,
    mean_estimate,
    pair_traces,
    shannon_entropy,
)

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"
SHOP = "http://127.0.0.1:9000"
#: A webserv product page: element 26 adds the product to the cart, 22 opens its reviews.
PRODUCT_PAGE = '[22] link "4 reviews"\n[26] button "Add to Cart"\n[27] button "Add to Wish List"'


def record(session: str, n: int, kind: str, url: str = f"{SHOP}/", **fields: Any) -> dict:
    """A step record of ``session``: an action of type ``kind`` on the page ``url``."""
    name, text = fields.pop("name", None), fields.pop("text", None)
    action = None
    if kind in ("click", "type_and_submit", "terminate"):
        action = (
            {"type": kind} | ({"name": name} if name else {}) | ({"text": text} if text else {})
        )
    env_action = {
        "click": f'click("{name}")',
        "type_and_submit": f'type("{name}", "{text}", submit=True)',
        "terminate": "stop()",
        "scroll": 'scroll("down")',
        "back": "back()",
    }[kind]
    return {
        "session_id": session,
        "episode": 0,
        "step": n,
        "action_id": f"{session}-{n}",
        "timestamp": "2026-01-01T00:00:00Z",
        "task_id": fields.pop("task_id", 1),
        "intent": "buy something",
        "persona": fields.pop("persona", None),
        "url": url,
        "title": "",
        "observation_text": fields.pop("page", ""),
        "obs_tokens": 1,
        "model_output": "",
        "rationale": "",
        "action": action,
        "action_type": kind,
        "semantic_id": name,
        "env_action": env_action,
        "format_ok": True,
        "timings": {"policy_ms": 1.0},
        **fields,
    }


def write_run(path: Path, records: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def config(**settings: Any) -> CompareConfig:
    return CompareConfig(resamples=2000, **settings)


# ---- the measures on hand-made sequences -------------------------------------------------


def test_edit_distance_and_lcs_by_hand():
    # kitten -> sitting: substitute k/s, e/i, insert g.
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0
    # The textbook pair: BCBA (or BDAB) is a longest common subsequence.
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert lcs_length("abc", "") == 0
    person = ["click", "type_and_submit", "click", "click", "terminate"]
    twin = ["click", "click", "scroll", "terminate"]
    # Delete type_and_submit, substitute the third click by scroll: 2 edits. Common: click,
    # click, terminate (3). The longer has 5 steps.
    compared = compare_sequences(person, twin)
    assert (compared.edit_distance, compared.lcs) == (2, 3)
    assert compared.edit_distance_normalised == pytest.approx(2 / 5)
    assert compared.lcs_normalised == pytest.approx(3 / 5)


def test_jaccard_and_entropy_by_hand():
    assert jaccard({"1", "2", "3"}, {"2", "3", "4"}) == pytest.approx(2 / 4)
    assert jaccard({"1"}, set()) == 0.0
    assert jaccard(set(), set()) is None  # undefined: no product on either side
    # p = (1/2, 1/4, 1/4): 1/2 * 1 + 2 * 1/4 * 2 = 1.5 bits.
    assert shannon_entropy(["x", "x", "y", "z"]) == pytest.approx(1.5)
    assert shannon_entropy(["a", "b", "c", "d"]) == pytest.approx(2.0)
    assert shannon_entropy(["a"] * 5) == 0.0


def test_entropy_difference_is_paired():
    # A always chooses x (0 bits), B four different products (2 bits): B - A = 2.
    difference = entropy_difference(["x"] * 4, ["w", "x", "y", "z"], config())
    assert difference.value == pytest.approx(2.0) and difference.n == 4
    assert difference.method is CiMethod.bootstrap
    assert 0 < difference.low <= difference.high <= 2.0  # resampled: at most 2 bits
    # The same labels on both sides: every resample of pairs differs by exactly 0.
    same = entropy_difference(["a", "b", "b", "c"], ["a", "b", "b", "c"], config())
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)


# ---- intervals -----------------------------------------------------------------------------


def test_t_interval_by_hand():
    # 1..5: mean 3, sd sqrt(2.5), se sqrt(2.5 / 5) = 0.70711; t(0.975, 4) = 2.77645:
    # half width 1.96324.
    estimate = mean_estimate([1, 2, 3, 4, 5], config(ci=CiMethod.t))
    assert estimate.value == 3 and estimate.method is CiMethod.t
    assert estimate.low == pytest.approx(3 - 1.96324, abs=1e-4)
    assert estimate.high == pytest.approx(3 + 1.96324, abs=1e-4)


def test_bootstrap_interval_where_it_is_known():
    assert mean_estimate([0.4] * 7, config()).model_dump() == {
        "n": 7,
        "value": pytest.approx(0.4),
        "low": pytest.approx(0.4),
        "high": pytest.approx(0.4),
        "method": CiMethod.bootstrap,
    }
    # 500 ones in 1000: the mean's sampling sd is sqrt(0.25 / 1000) = 0.0158, so the 95%
    # interval is 0.5 +- 1.96 * 0.0158 = 0.469 .. 0.531 (the bootstrap within Monte Carlo error).
    coin = [1.0, 0.0] * 500
    estimate = mean_estimate(coin, config())
    assert estimate.low == pytest.approx(0.469, abs=0.005)
    assert estimate.high == pytest.approx(0.531, abs=0.005)
    assert mean_estimate(coin, config()) == estimate  # a fixed seed: the same interval
    single = mean_estimate([2.0], config())
    assert (single.value, single.low, single.high) == (2.0, None, None)
    assert mean_estimate([], config()).value is None


# ---- pairing -----------------------------------------------------------------------------


def trace(session: str, task: str, persona: str | None = None, episode: int = 0) -> Trace:
    return Trace(session, task, persona, episode, [], 0, [], "url")


def test_pairing_by_task_pairs_in_order_and_counts_the_rest():
    a = [trace("a1", "t1"), trace("a2", "t1"), trace("a3", "t1"), trace("a4", "t2")]
    b = [trace("b1", "t1"), trace("b2", "t3"), trace("b3", "t1")]
    pairing = pair_traces(a, b, PairBy.task)
    assert [(k, x.session_id, y.session_id) for k, x, y in pairing.pairs] == [
        ("t1", "a1", "b1"),
        ("t1", "a2", "b3"),
    ]
    assert [t.session_id for t in pairing.unpaired_a] == ["a3", "a4"]
    assert [t.session_id for t in pairing.unpaired_b] == ["b2"]


def test_pairing_by_persona_task_session_and_order():
    a = [trace("a1", "t1", "Tom"), trace("a2", "t1", "Priya")]
    b = [trace("b1", "t1", "Priya"), trace("b2", "t1", "Tom")]
    by_persona = pair_traces(a, b, PairBy.persona_task).pairs
    assert [(x.session_id, y.session_id) for _, x, y in by_persona] == [("a1", "b2"), ("a2", "b1")]
    by_order = pair_traces(a, b, PairBy.order).pairs
    assert [(x.session_id, y.session_id) for _, x, y in by_order] == [("a1", "b1"), ("a2", "b2")]
    # A replay rollout's task is the recorded session it replays; equal session ids pair too.
    recorded = [trace("s1", "opera"), trace("s2", "opera"), trace("same", "x")]
    replayed = [trace("run-0001", "s2"), trace("run-0000", "s1"), trace("same", "y")]
    by_session = pair_traces(recorded, replayed, PairBy.session)
    assert [(k, y.session_id) for k, _, y in by_session.pairs] == [
        ("s1", "run-0000"),
        ("s2", "run-0001"),
        ("same", "same"),
    ]


def test_runs_in_episode_order_not_in_the_order_steps_finished():
    # Concurrent episodes write interleaved: run aa's episode 1 finished a step first.
    traces = [
        trace("aa-0001", "t", episode=1),
        trace("aa-0000", "t", episode=0),
        trace("bb-0000", "t", episode=0),
        trace("opera_x", "t", episode=5),  # not <run>-<episode>: one run of its own
        trace("opera_y", "t", episode=2),
    ]
    ordered = [t.session_id for t in episode_order(traces)]
    assert ordered == ["aa-0000", "aa-0001", "bb-0000", "opera_y", "opera_x"]


# ---- traces from records -----------------------------------------------------------------


def shopper(session: str, **common: Any) -> list[dict]:
    """Search, open product 7, add it to the cart, look at product 9, stop; then two steps a
    replay recorded after the stop."""
    return [
        record(session, 0, "type_and_submit", name="10", text="helmet", **common),
        record(session, 1, "click", f"{SHOP}/search?q=helmet", name="31", **common),
        record(session, 2, "click", f"{SHOP}/products/7", name="26", page=PRODUCT_PAGE, **common),
        record(session, 3, "back", f"{SHOP}/products/7", **common),
        record(session, 4, "click", f"{SHOP}/search?q=helmet", name="32", **common),
        record(session, 5, "terminate", f"{SHOP}/products/9", **common),
        record(session, 6, "click", f"{SHOP}/cart", name="21", **common),
        record(session, 7, "scroll", f"{SHOP}/checkout", **common),
    ]


def browser(session: str, **common: Any) -> list[dict]:
    """Search, read product 9's reviews, scroll, open product 5, stop: nothing bought."""
    return [
        record(session, 0, "type_and_submit", name="10", text="helmet", **common),
        record(session, 1, "click", f"{SHOP}/products/9", name="22", page=PRODUCT_PAGE, **common),
        record(session, 2, "scroll", f"{SHOP}/products/9", **common),
        record(session, 3, "click", f"{SHOP}/products/5", name="27", page=PRODUCT_PAGE, **common),
        record(session, 4, "terminate", f"{SHOP}/products/5", **common),
    ]


def test_one_pair_by_hand(tmp_path: Path):
    a = write_run(tmp_path / "a", shopper("p-0"))
    b = write_run(tmp_path / "b", browser("t-0"))
    result = compare_runs(a, b, config(targets=True))
    assert result.a.steps_after_terminate == 2 and result.b.steps_after_terminate == 0
    (pair,) = result.pairs
    # A: type, click, click, back, click, terminate (6 steps; the 2 after the stop dropped).
    # B: type, click, scroll, click, terminate (5).
    assert (pair.a.length, pair.b.length, pair.length_difference) == (6, 5, -1)
    assert pair.a.action_types == {"back": 1, "click": 3, "terminate": 1, "type_and_submit": 1}
    # Delete one click, substitute back -> scroll: 2 edits; common: type, click, click,
    # terminate (4); the longer has 6.
    assert pair.action_sequence.edit_distance == 2 and pair.action_sequence.lcs == 4
    assert pair.action_sequence.edit_distance_normalised == pytest.approx(2 / 6)
    # JS by hand, base 2. P = (back 1, click 3, term 1, type 1) / 6,
    # Q = (click 2, scroll 1, term 1, type 1) / 5; M = (P + Q) / 2.
    p = {"back": 1 / 6, "click": 3 / 6, "terminate": 1 / 6, "type_and_submit": 1 / 6}
    q = {"click": 2 / 5, "scroll": 1 / 5, "terminate": 1 / 5, "type_and_submit": 1 / 5}
    m = {k: (p.get(k, 0) + q.get(k, 0)) / 2 for k in p.keys() | q.keys()}

    def kl(x: dict[str, float]) -> float:
        return sum(v * math.log2(v / m[k]) for k, v in x.items())

    assert pair.action_type_jsd == pytest.approx((kl(p) + kl(q)) / 2)
    # Product pages by URL: A saw 7 and 9 (9 at the stop), B saw 9 and 5: 1 shared of 3.
    assert pair.a.products_viewed == ["7", "9"] and pair.b.products_viewed == ["9", "5"]
    assert pair.products_jaccard == pytest.approx(1 / 3)
    # A added 7 to the cart ("Add to Cart" on /products/7); B bought nothing, last saw 5.
    assert pair.a.choice.model_dump() == {"kind": "purchase", "products": ["7"]}
    assert pair.b.choice.model_dump() == {"kind": "viewed", "products": ["5"]}
    assert not pair.same_choice and not pair.same_outcome
    # Targets: the element's role and label where the page lists it, else its id, else ''.
    # Only (type_and_submit, "10") and (terminate, "") are shared, in order: LCS 2 of 6.
    assert pair.target_sequence is not None and pair.target_sequence.lcs == 2
    assert result.choices.entropy_a == 0.0 and result.choices.difference.value == 0.0


def test_products_field_wins_over_urls(tmp_path: Path):
    # OPeRA's products column (a JSON text) on the product page and the cart's checkout.
    shoes = json.dumps([{"asin": "B0SHOE", "title": "Running shoe"}])
    cart = json.dumps([{"asin": "B0SHOE"}, {"asin": "B0SOCK", "title": "Socks"}])
    amazon = "https://www.amazon.com"
    rows = [
        record("o", 0, "click", f"{amazon}/dp/B0SHOE0000", name="reviews", products=shoes),
        record("o", 1, "click", f"{amazon}/gp/cart/view.html", name="check_out", products=cart),
    ]
    by_url = [
        record("u", 0, "click", f"{amazon}/dp/B0SHOE0000", name="buybox.purchase_form.buy_now")
    ]
    result = compare_runs(
        write_run(tmp_path / "o", rows), write_run(tmp_path / "u", by_url), config()
    )
    assert result.a.products_from == {"products": 1} and result.b.products_from == {"url": 1}
    (pair,) = result.pairs
    assert pair.a.products_viewed == ["B0SHOE", "B0SOCK"]
    # The checkout is OPeRA's purchase click type (check_out): the cart's two products.
    assert pair.a.choice.model_dump() == {"kind": "purchase", "products": ["B0SHOE", "B0SOCK"]}
    # The buy_now click on the /dp/ page: the ASIN from the URL.
    assert pair.b.choice.model_dump() == {"kind": "purchase", "products": ["B0SHOE0000"]}
    assert pair.products_jaccard == 0.0  # "B0SHOE" is not the 10-character ASIN


def test_recorded_fixture_against_itself():
    result = compare_runs(STEPS, STEPS, config())
    assert [p.key for p in result.pairs] == ["48", "49"]
    choices = [(p.a.choice.kind, p.a.choice.products) for p in result.pairs]
    assert choices == [("purchase", ["19"]), ("purchase", ["38"])]
    assert all(
        p.action_sequence.edit_distance == 0 and p.action_type_jsd == 0 for p in result.pairs
    )
    aggregate = result.aggregate
    assert aggregate.length_a.value == (14 + 10) / 2 and aggregate.same_choice.value == 1.0
    assert aggregate.lcs_normalised.value == 1.0 and aggregate.products_jaccard.value == 1.0
    # Two different products on each side: 1 bit each, no difference.
    assert result.choices.entropy_a == pytest.approx(1.0) == result.choices.entropy_b
    assert result.action_types.js_divergence == 0.0


# ---- feedback ----------------------------------------------------------------------------


def test_feedback_numeric_and_categorical_by_hand(tmp_path: Path):
    a = write_run(tmp_path / "a", shopper("p-0") + shopper("p-1", task_id=2))
    b = write_run(tmp_path / "b", browser("t-0") + browser("t-1", task_id=2))
    person = {
        "p-0": {"satisfied": 4, "buy again": "yes"},
        "p-1": {"satisfied": 3, "buy again": "no"},
    }
    twin = {
        "t-0": {"satisfied": 5, "buy again": " Yes"},
        "t-1": {"satisfied": 1, "buy again": "yes", "extra": 2},
        "t-9": {"satisfied": 2},
    }
    files = tmp_path / "fa.json", tmp_path / "fb.json"
    files[0].write_text(json.dumps(person))
    files[1].write_text(json.dumps(twin))
    feedback = compare_runs(a, b, config(ci=CiMethod.t), files).feedback
    assert feedback is not None and feedback.pairs_with_feedback == 2
    assert feedback.unknown_b == ["t-9"] and feedback.unknown_a == []
    satisfied, again = feedback.questions
    # B - A: 5 - 4 = +1, 1 - 3 = -2: mean -0.5, mean |d| 1.5. Agreement: yes/Yes, no/yes: 1/2.
    assert satisfied.kind == "numeric" and satisfied.pairs == 2
    assert satisfied.mean_difference.value == pytest.approx(-0.5)
    assert satisfied.mean_absolute_difference.value == pytest.approx(1.5)
    # t interval of (1, -2): sd 2.1213, se 1.5, t(0.975, 1) = 12.7062.
    assert satisfied.mean_difference.high == pytest.approx(-0.5 + 12.7062 * 1.5, abs=1e-3)
    assert again.kind == "categorical" and again.agreement.value == pytest.approx(0.5)
    assert again.mean_difference is None
    args = [str(a), str(b), "--feedback-a", str(files[0]), "--feedback-b", str(files[1])]
    table = CliRunner().invoke(cli(), args)
    assert table.exit_code == 0, table.output
    assert "post-task feedback (2 pairs" in table.output and "buy again" in table.output
    assert "1 ids of B's feedback name no trace of B" in table.output


# ---- the command -------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(compare_command)
    return app


def test_command_prints_tables_and_json(tmp_path: Path):
    a = write_run(tmp_path / "a", shopper("p-0"))
    b = write_run(tmp_path / "b", browser("t-0"))
    table = CliRunner().invoke(cli(), [str(a), str(b), "--targets"])
    assert table.exit_code == 0, table.output
    assert "pairs by task" in table.output and "Jaccard of products viewed" in table.output
    data = json.loads(CliRunner().invoke(cli(), [str(a), str(b / "steps.jsonl"), "--json"]).stdout)
    assert data["pairs"][0]["products_jaccard"] == pytest.approx(1 / 3)
    assert data["config"]["pair_by"] == "task" and data["aggregate"]["lcs"]["n"] == 1


def test_command_exits_2_on_bad_input(tmp_path: Path):
    good = write_run(tmp_path / "good", shopper("p-0"))
    other_task = write_run(tmp_path / "other", browser("t-0", task_id=99))
    malformed = tmp_path / "bad.jsonl"
    malformed.write_text('{"session_id": "x"}\n')
    bad_json = tmp_path / "feedback.json"
    bad_json.write_text('{"p-0": {"q": [1, 2]}}')
    cases = {
        "no such file": [str(tmp_path / "missing"), str(good)],
        "no steps.jsonl": [str(tmp_path), str(good)],
        "not a step record": [str(malformed), str(good)],
        "no trace of": [str(good), str(other_task)],
        "go together": [str(good), str(good), "--feedback-a", str(bad_json)],
        "an answer is a number": [
            str(good),
            str(good),
            *("--feedback-a", str(bad_json), "--feedback-b", str(bad_json)),
        ],
        "has no group": [str(good), str(good), "--product-url", "/products/"],
    }
    for message, args in cases.items():
        result = CliRunner().invoke(cli(), args)
        assert result.exit_code == 2, (message, result.output)
        assert "error: " in result.output and message in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_products_field_that_is_not_a_list_is_an_error(tmp_path: Path):
    rows = [record("o", 0, "terminate", products='{"asin": "B0"}')]
    with pytest.raises(TwinsError, match="products must be a list"):
        compare_runs(write_run(tmp_path / "o", rows), write_run(tmp_path / "p", rows), config())
