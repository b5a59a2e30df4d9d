"""The PNG of predicted vs real distributions: drawn from a report, and by ``score`` / ``eval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from webserv.behaviour.metrics import StepOutcome, behaviour_report
from webserv.behaviour.plot import panels, plot_distributions
from webserv.behaviour.rewards import GoldAction, OperaAction
from webserv.cli import app

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"


def outcome(session: str, step: int, gold: GoldAction, predicted: OperaAction | None):
    return StepOutcome(session_id=session, step=step, gold=gold, predicted=predicted)


def click(name: str) -> OperaAction:
    return OperaAction(type="click", name=name)


def gold_click(name: str) -> GoldAction:
    return GoldAction(type="click", name=name)


SEARCH = "nav_bar.search_input"
TEA = "search_results.green_tea.product_name"
BUY = "buybox.purchase_form.add_to_cart"

# Clicks named by semantic id, so click types and purchases are known: every panel is drawn.
SESSIONS = [
    outcome(
        "s1",
        0,
        GoldAction(type="type_and_submit", name=SEARCH, text="tea"),
        OperaAction(type="type_and_submit", name=SEARCH, text="tea"),
    ),
    outcome("s1", 1, gold_click(TEA), click("refinements.brand.acme")),
    outcome("s1", 2, gold_click(BUY), OperaAction(type="terminate")),
    outcome("s2", 0, gold_click("nav_bar.homepage"), click("nav_bar.homepage")),
    outcome("s2", 1, gold_click("reviews"), None),
    outcome("s2", 2, GoldAction(type="terminate"), click("buybox.purchase_form.buy_now")),
]


def test_a_report_plots_every_panel_with_its_divergences(tmp_path: Path):
    report = behaviour_report(SESSIONS)
    population = report.distribution.population
    drawn = panels(population)
    assert [p.title.split(" (")[0] for p in drawn] == [
        "action types per step",
        "click types per click",
        "session length in steps",
        "sessions with a purchase",
    ]
    actions = drawn[0]
    assert actions.labels == ["click", "type_and_submit", "terminate", "none"]
    assert actions.js == population.action_types.js_divergence
    assert actions.tv == population.action_types.total_variation
    assert actions.real == pytest.approx(
        [4 / 6, 1 / 6, 1 / 6, 0.0]
    )  # shares, in the action types' order
    assert drawn[3].real == [0.5, 0.5]  # s1 ends in a purchase, s2 does not

    path = plot_distributions(report, tmp_path / "sub" / "distributions.png")
    assert path == tmp_path / "sub" / "distributions.png"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1280, 840)  # two rows of two panels
        assert "Software" not in image.info
    again = plot_distributions(report, tmp_path / "again.png")
    assert again.read_bytes() == path.read_bytes()  # no timestamp, no version


def test_what_cannot_be_known_is_not_drawn(tmp_path: Path):
    # element numbers say nothing of the click type: no click types, no purchase rate
    steps = [
        outcome("s1", 0, gold_click("12"), click("12")),
        outcome("s1", 1, GoldAction(type="terminate"), click("3")),
    ]
    report = behaviour_report(steps)
    titles = [p.title for p in panels(report.distribution.population)]
    assert len(titles) == 2 and titles[1].startswith("session length")
    with Image.open(plot_distributions(report, tmp_path / "d.png")) as image:
        assert image.size == (1280, 420)


def first_session(tmp_path: Path) -> tuple[Path, Path]:
    """The first recorded session as gold, and its own recorded actions as predictions."""
    rows = [json.loads(x) for x in STEPS.read_text().splitlines()]
    session = [r for r in rows if r["session_id"] == rows[0]["session_id"]]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in session))
    predictions = [
        {"session_id": r["session_id"], "step": r["step"], "predicted": r["action"]}
        for r in session
        if r["action"] is not None
    ]
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps(p) + "\n" for p in predictions))
    return pred, gold


def test_score_plots_only_when_asked(tmp_path: Path):
    pred, gold = first_session(tmp_path)
    plot = tmp_path / "score.png"
    result = CliRunner().invoke(
        app, ["behaviour", "score", str(pred), str(gold), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert f"distributions plotted to {plot}" in result.output
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] == 1280

    as_json = tmp_path / "json.png"
    result = CliRunner().invoke(
        app, ["behaviour", "score", str(pred), str(gold), "--json", "--plot", str(as_json)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["paired"] > 0  # the output stays JSON
    assert as_json.read_bytes() == plot.read_bytes()

    result = CliRunner().invoke(app, ["behaviour", "score", str(pred), str(gold)])
    assert result.exit_code == 0 and "plotted" not in result.output

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = CliRunner().invoke(
        app, ["behaviour", "score", str(pred), str(gold), "--plot", str(blocked / "x.png")]
    )
    assert result.exit_code == 2 and "cannot write the plot" in result.output


def test_eval_writes_distributions_png_into_its_out_dir(tmp_path: Path):
    out = tmp_path / "eval"
    args = ["behaviour", "eval", str(STEPS), "--policy", "random", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = out / "distributions.png"
    assert f"distributions plotted to {written}" in result.output
    with Image.open(written) as image:
        assert image.format == "PNG" and image.size == (1280, 420)

    elsewhere = tmp_path / "random.png"
    result = CliRunner().invoke(app, [*args, "--json", "--plot", str(elsewhere)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scored"] == 20
    assert elsewhere.read_bytes() == written.read_bytes()  # same seed, same picture
