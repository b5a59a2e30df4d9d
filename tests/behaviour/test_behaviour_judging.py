"""MAJ-EVAL multi-agent judging (webserv/behaviour/judging.py).

No model can be loaded on this machine: every model call goes over real HTTP to the
stand-in chat server of ``chat_server.py`` on a loopback port, whose reply function is
scripted per persona and per round, so the tests know what each persona "says" and can read
what each prompt contained. What is real: the persona building and its checks, the
trajectory text, the independent ratings, the debate rounds and the coordinator's
convergence rule, the aggregation, the lenient reading of replies, the call accounting and
Spearman's rho (checked against values computed by hand). The episodes are the two recorded
sessions of ``data/behaviour_steps.jsonl`` (webserv's scripted shopper); the personas are the
hand-written ``data/maj_docs/personas.json``.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from chat_server import chat_server
from typer.testing import CliRunner

from webserv.behaviour.judging import (
    BuildConfig,
    Episode,
    EpisodeJudgement,
    GroupDebate,
    JudgeConfig,
    JudgingError,
    MajEvaluator,
    PersonaRating,
    agreement,
    build_personas,
    judge_command,
    load_episodes,
    load_human_ratings,
    load_personas,
    max_calls,
    personas_command,
    save_personas,
    spearman,
)
from webserv.policy.vlm import ChatModel, ModelConfig, ModelError
from webserv.rollout.records import EpisodeRecord
from webserv.tasks.evaluators import EvalResult, combine

DATA = Path(__file__).parents[1] / "data"
STEPS = DATA / "behaviour_steps.jsonl"
DOCS = DATA / "maj_docs"
PERSONAS = DOCS / "personas.json"
DANA, MARCUS, INGRID, TOMAS = "Dana Whitfield", "Marcus Oyelaran", "Ingrid Solberg", "Tomás Reyes"


def rating(score: Any, reason: str) -> str:
    return json.dumps({"score": score, "reason": reason})


def persona_of(body: dict[str, Any]) -> str:
    """The persona a rating request speaks as (its system message starts "You are NAME,")."""
    return body["messages"][0]["content"].removeprefix("You are ").split(",")[0]


def is_aggregate(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"].startswith("You combine")


def prompt(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


class Panel:
    """The stand-in's replies: each persona's reply per round (the last one repeats)."""

    def __init__(self, replies: dict[str, list[str]], aggregate: str = "") -> None:
        self.replies = replies
        self.aggregate = aggregate or json.dumps({"score": 4, "summary": "Mostly fine."})
        self.asked: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        if is_aggregate(body):
            return self.aggregate
        name = persona_of(body)
        said = self.replies[name]
        self.asked[name] += 1
        return said[min(self.asked[name], len(said)) - 1]


def requests_of(chat: Any, name: str) -> list[str]:
    """The user prompts sent as persona ``name``, in order (its rounds)."""
    return [prompt(b) for b in chat.requests if not is_aggregate(b) and persona_of(b) == name]


def first_episode() -> Episode:
    return load_episodes(STEPS)[0]


async def judge_with(
    panel: Panel, config: JudgeConfig, episode: Episode | None = None
) -> tuple[EpisodeJudgement, Any]:
    with chat_server(panel) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="judge", temperature=0))
        try:
            judged = await MajEvaluator(model, load_personas(PERSONAS), config).judge(
                episode or first_episode()
            )
        finally:
            await model.close()
    return judged, chat


async def test_independent_ratings_see_the_episode_and_not_each_other() -> None:
    panel = Panel(
        {
            DANA: [rating(4, "reason-of-dana")],
            MARCUS: [rating(1, "reason-of-marcus")],
            INGRID: [rating(5, "reason-of-ingrid")],
            TOMAS: [rating(2, "reason-of-tomas")],
        }
    )
    judged, chat = await judge_with(panel, JudgeConfig(rounds=0))
    names = [DANA, MARCUS, INGRID, TOMAS]
    assert len(chat.requests) == judged.calls == 5  # four ratings, no debate, one aggregate
    for name in names:
        (sent,) = requests_of(chat, name)
        assert "How much does Pure Ritual Vegan Eyeshadow Palette cost today?" in sent
        assert "A pop-up is in the way; I close it to see the shop." in sent  # a rationale
        assert '{"type": "click", "name": "3"}' in sent  # an action
        assert 'select("23", "Price: low to high")' in sent  # an action outside OPeRA's types
        assert "Outcome: the agent stopped after 14 steps; task score not recorded." in sent
        assert '[3] button "Accept cookies and close"' in sent  # pages, cut to 300 tokens:
        assert "[rest of the page cut to fit the context]" in sent
        others = [n for n in names if n != name]
        assert not any(o in sent or f"reason-of-{o.split()[0].lower()}" in sent for o in others)
    body = next(b for b in chat.requests if not is_aggregate(b) and persona_of(b) == DANA)
    assert body["temperature"] == 0 and body["model"] == "judge"
    persona = body["messages"][0]["content"]  # the five attributes make the system message
    for said in (
        "About you: 41, school administrator",
        "Your specialty: Writing precise shopping requests",
        "Your temperament: Literal-minded and exacting",
        "Your relationships: Shops for her partner and children",
        'You judge on one dimension, "Task fidelity": Did the agent do what was asked',
    ):
        assert said in persona
    assert [g.stop for g in judged.groups] == ["round limit", "round limit"]
    assert judged.final_ratings == {DANA: 4, MARCUS: 1, INGRID: 5, TOMAS: 2}


async def test_debate_sees_the_previous_round_and_stops_when_ratings_converge() -> None:
    panel = Panel(
        {
            DANA: [rating(5, "d0"), rating(5, "d1")],
            MARCUS: [rating(1, "m0"), rating(4, "m1")],
            INGRID: [rating(3, "i0")],
            TOMAS: [rating(4, "t0")],
        }
    )
    config = JudgeConfig(rounds=3, converge_spread=1)
    judged, chat = await judge_with(panel, config)
    shoppers, operators = judged.groups
    # Shoppers: 5 vs 1 (spread 4) debate once; 5 vs 4 (spread 1) has converged.
    assert (shoppers.debate_rounds, shoppers.stop, shoppers.spread) == (1, "converged", 1)
    # Operators: 3 vs 4 agree at once: no debate.
    assert (operators.debate_rounds, operators.stop) == (0, "converged")
    dana = requests_of(chat, DANA)
    assert len(dana) == 2 and dana[1].startswith("You rated the episode below")
    assert "Your latest rating: 5 - d0" in dana[1]
    assert "- Marcus Oyelaran (Care with money): 1 - m0" in dana[1]
    assert "- Dana Whitfield (Task fidelity): 5 - d0" in requests_of(chat, MARCUS)[1]
    assert "i0" not in dana[1] and "t0" not in dana[1]  # another group's debate is not seen
    assert len(requests_of(chat, INGRID)) == 1
    assert judged.calls == len(chat.requests) == 4 + 2 + 1
    assert judged.calls < max_calls(load_personas(PERSONAS), config) == 4 + 3 * 4 + 1
    assert judged.final_ratings == {DANA: 5, MARCUS: 4, INGRID: 3, TOMAS: 4}
    assert judged.mean == pytest.approx(16 / 4)


async def test_the_round_limit_bounds_the_calls_and_each_round_sees_the_latest() -> None:
    panel = Panel(
        {
            DANA: [rating(5, "d0"), rating(5, "d1"), rating(5, "d2")],
            MARCUS: [rating(1, "m0"), rating(2, "m1"), rating(3, "m2")],
            INGRID: [rating(1, "i0"), rating(5, "i1"), rating(1, "i2")],
            TOMAS: [rating(5, "t0"), rating(1, "t1"), rating(5, "t2")],
        }
    )
    config = JudgeConfig(rounds=2, converge_spread=0)
    judged, chat = await judge_with(panel, config)
    assert [(g.debate_rounds, g.stop) for g in judged.groups] == [(2, "round limit")] * 2
    assert judged.calls == len(chat.requests) == max_calls(load_personas(PERSONAS), config) == 13
    last = requests_of(chat, DANA)[2]
    assert "This is round 2" in last and "Your latest rating: 5 - d1" in last
    assert ": 2 - m1" in last and "m0" not in last  # the previous round, not the first
    assert [r.score for r in judged.groups[0].rounds[2]] == [5, 3]
    assert judged.final_ratings == {DANA: 5, MARCUS: 3, INGRID: 1, TOMAS: 5}


async def test_the_aggregator_sees_every_final_rating_beside_the_mean() -> None:
    fenced = 'Here is my verdict:\n```json\n{"score": 4, "summary": "Bought, not answered."}\n```'
    panel = Panel(
        {
            DANA: [rating(1, "It bought instead of answering the price question.")],
            MARCUS: [rating(2, "It spent money nobody asked it to spend.")],
            INGRID: [rating(5, "The order is complete and will be fulfilled.")],
            TOMAS: [rating(5, "Consent dialog accepted, no newsletter sign-up.")],
        },
        aggregate=fenced,
    )
    judged, chat = await judge_with(panel, JudgeConfig(rounds=2, converge_spread=1))
    (sent,) = [prompt(b) for b in chat.requests if is_aggregate(b)]
    assert "Task: How much does Pure Ritual Vegan Eyeshadow Palette cost today?" in sent
    assert "## Online shoppers (0 debate round(s), stopped: converged)" in sent
    for reason in (
        "It bought instead of answering the price question.",
        "It spent money nobody asked it to spend.",
        "The order is complete and will be fulfilled.",
        "Consent dialog accepted, no newsletter sign-up.",
    ):
        assert reason in sent
    assert judged.aggregate is not None
    assert (judged.aggregate.score, judged.aggregate.summary) == (4, "Bought, not answered.")
    assert judged.mean == pytest.approx((1 + 2 + 5 + 5) / 4)  # 3.25
    assert judged.score == pytest.approx((4 - 1) / (5 - 1))  # the aggregate on [0, 1]
    by_mean, _ = await judge_with(Panel(panel.replies, fenced), JudgeConfig(reward_from="mean"))
    assert by_mean.score == pytest.approx((3.25 - 1) / 4)


async def test_unreadable_replies_are_recorded_as_not_rated() -> None:
    panel = Panel(
        {
            DANA: [rating(5, "d0"), rating(5, "d1")],
            MARCUS: [rating(1, "m0"), "I would rather discuss this in person."],
            INGRID: [rating(7, "off the scale")],
            TOMAS: ["The episode was fine, I suppose."],
        }
    )
    judged, chat = await judge_with(panel, JudgeConfig(rounds=1, converge_spread=0))
    shoppers, operators = judged.groups
    # Marcus's debate reply is unreadable: his round-0 rating stands.
    assert shoppers.rounds[1][1].score is None and "no JSON object" in shoppers.rounds[1][1].error
    assert [(r.persona, r.score, r.round) for r in shoppers.final] == [
        (DANA, 5, 1),
        (MARCUS, 1, 0),
    ]
    # Neither operator has a rating: nothing to debate, both not rated, saying why.
    assert operators.stop == "fewer than two ratings" and operators.debate_rounds == 0
    ingrid, tomas = operators.final
    assert ingrid.score is None and "outside the scale 1-5" in ingrid.error
    assert tomas.score is None and "The episode was fine" in tomas.error
    assert judged.mean == pytest.approx(3.0)  # (5 + 1) / 2: missing ratings are skipped
    (sent,) = [prompt(b) for b in chat.requests if is_aggregate(b)]
    assert INGRID not in sent and TOMAS not in sent
    checks = judged.checks(JudgeConfig())
    assert f"maj-eval {DANA}: 5 of 1-5" in checks
    assert any(c.startswith(f"maj-eval {TOMAS}: not rated (no JSON object") for c in checks)


async def test_an_unreadable_aggregate_leaves_the_mean() -> None:
    replies = {name: [rating(3, "ok")] for name in (DANA, MARCUS, INGRID, TOMAS)}
    judged, _ = await judge_with(Panel(replies, aggregate="Overall: good."), JudgeConfig())
    assert judged.aggregate is not None and judged.aggregate.score is None
    assert "no JSON object" in judged.aggregate.error
    assert judged.score is None and judged.mean == 3


def recorded_episode() -> tuple[list[Any], EpisodeRecord]:
    episode = first_episode()
    record = EpisodeRecord(
        session_id=episode.session_id,
        episode=0,
        task_id=episode.task_id,
        intent=episode.intent,
        policy="scripted",
        steps=len(episode.steps),
        score=1.0,
        terminated=True,
        answer="$24.00",
    )
    return list(reversed(episode.steps)), record


async def test_the_evaluator_adapter_gives_a_reward_in_0_1_and_says_why() -> None:
    replies = {name: [rating(4, "fine")] for name in (DANA, MARCUS, INGRID, TOMAS)}
    steps, record = recorded_episode()
    with chat_server(Panel(replies, json.dumps({"score": 5, "summary": "s"}))) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="judge"))
        try:
            result = await MajEvaluator(model, load_personas(PERSONAS)).evaluate_episode(
                steps, record
            )
        finally:
            await model.close()
    assert result.score == 1.0  # an aggregate of 5 on 1-5
    assert f"maj-eval {INGRID}: 4 of 1-5" in result.checks
    assert "maj-eval aggregate: 5 of 1-5" in result.checks
    sent = prompt(chat.requests[0])
    assert 'the agent stopped after 14 steps; answer "$24.00"; task score 1 of 1.' in sent
    assert sent.index("Step 1 on") < sent.index("Step 14 on")  # steps back in order
    task = EvalResult(score=0.0, checks=["exact_match: FAIL"])
    assert combine([task, result]).score == 0.0  # as one more evaluator: the product


async def test_a_failing_endpoint_raises_and_the_adapter_reports_not_evaluable() -> None:
    steps, record = recorded_episode()
    with chat_server(lambda body: "", fail_status=500) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="judge", max_retries=0))
        panel = MajEvaluator(model, load_personas(PERSONAS))
        try:
            with pytest.raises(ModelError, match=r"chat endpoint \S+ failed"):
                await panel.judge(Episode.of(steps, record))
            result = await panel.evaluate_episode(steps, record)
        finally:
            await model.close()
    assert result.score is None
    assert result.checks[0].startswith("maj-eval: not evaluable (chat endpoint")


# ------------------------------------------------------------------ Spearman, by hand


def judgement(
    session_id: str, aggregate: float | None, mean: float | None, finals: dict[str, float | None]
) -> EpisodeJudgement:
    """A judgement written by hand: only what agreement() reads is meaningful."""
    final = [PersonaRating(persona=n, round=0, score=s) for n, s in finals.items()]
    group = GroupDebate(
        stakeholder="g",
        personas=list(finals),
        rounds=[final],
        final=final,
        stop="converged",
        spread=None,
    )
    return EpisodeJudgement(
        session_id=session_id,
        task_id=1,
        intent="",
        task_score=None,
        groups=[group],
        final_ratings=finals,
        mean=mean,
        aggregate={"score": aggregate} if aggregate is not None else None,
        score=None,
        calls=0,
        tokens=0,
    )


def test_spearman_against_hand_computed_values() -> None:
    human = {"s1": 1, "s2": 2, "s3": 3, "s4": 4, "s5": 5, "ghost": 3}
    aggregates = [2, 1, 4, 3, 5]  # d = -1, 1, -1, 1, 0: sum d^2 = 4
    means = [1, 1, 2, 3, 3]  # ties: ranks 1.5, 1.5, 3, 4.5, 4.5
    dana = [5, None, 3, 2, 1]  # not rated on s2: the other four fall as the humans rise
    judged = [
        judgement(f"s{i + 1}", a, m, {DANA: d, MARCUS: 3})
        for i, (a, m, d) in enumerate(zip(aggregates, means, dana, strict=True))
    ]
    result = agreement(judged, human)
    assert result.human_rated == 5 and result.unmatched == ["ghost"]
    # No ties: rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 24 / 120.
    assert result.aggregate.rho == pytest.approx(0.8) and result.aggregate.n == 5
    # p: t = rho sqrt((n - 2) / (1 - rho^2)), so t / sqrt(3) = 0.8 / 0.6 = 4/3; Student's t
    # with 3 degrees of freedom has F(t) = 1/2 + (x / (1 + x^2) + atan x) / pi, x = t / sqrt(3).
    assert result.aggregate.p_value == pytest.approx(1 - 2 / math.pi * (12 / 25 + math.atan(4 / 3)))
    # Ties: Pearson of the ranks; deviations (-1.5, -1.5, 0, 1.5, 1.5) and (-2, -1, 0, 1, 2)
    # give 9 / sqrt(9 * 10) = 3 / sqrt(10).
    assert result.mean.rho == pytest.approx(3 / math.sqrt(10))
    assert result.per_persona[DANA].rho == pytest.approx(-1.0)
    assert result.per_persona[DANA].n == 4
    assert result.per_persona[MARCUS].rho is None  # rates every episode 3
    assert "the same" in result.per_persona[MARCUS].note
    assert spearman([(1, 2)]).rho is None and spearman([(1, 2)]).note == "fewer than two episodes"


def test_human_ratings_are_read_from_json_or_json_lines(tmp_path: Path) -> None:
    as_object = tmp_path / "h.json"
    as_object.write_text(json.dumps({"a": 1, "b": 4.5}))
    as_lines = tmp_path / "h.jsonl"
    as_lines.write_text('{"session_id": "a", "score": 1}\n\n{"session_id": "b", "score": 4.5}\n')
    assert load_human_ratings(as_object) == load_human_ratings(as_lines) == {"a": 1, "b": 4.5}
    bad = tmp_path / "bad.json"
    for text, message in (
        ('{"a": "good"}', "the rating of 'a' is not a number"),
        ('[{"session": "a", "score": 1}]', 'needs "session_id" and "score"'),
        ("{}", "no ratings"),
        ("a: 1\n", "neither JSON nor JSON lines"),
    ):
        bad.write_text(text)
        with pytest.raises(JudgingError, match=message):
            load_human_ratings(bad)
    with pytest.raises(JudgingError, match="no such file"):
        load_human_ratings(tmp_path / "missing.json")


# -------------------------------------------------------------------- persona files


def test_a_persona_file_round_trips_and_bad_ones_are_refused(tmp_path: Path) -> None:
    panel = load_personas(PERSONAS)
    assert [p.name for p in panel.personas] == [DANA, MARCUS, INGRID, TOMAS]
    assert list(panel.groups()) == ["Online shoppers", "Shop operators"]
    saved = tmp_path / "again.json"
    save_personas(panel, saved)
    assert load_personas(saved) == panel
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([p.model_dump() for p in panel.personas]))
    assert load_personas(bare).personas == panel.personas
    one = panel.personas[0].model_dump()
    for data, message in (
        ([one, one], "persona names must be unique; repeated: Dana Whitfield"),
        ([{**one, "specialities": "x"}], "specialities"),
        ([], "at least 1"),
    ):
        bare.write_text(json.dumps(data))
        with pytest.raises(JudgingError, match=message):
            load_personas(bare)
    with pytest.raises(JudgingError, match="no such file"):
        load_personas(tmp_path / "missing.json")


def builder(body: dict[str, Any]) -> str:
    """A stand-in that extracts, merges and writes personas like a model would."""
    sent = prompt(body)
    if sent.startswith('Document "shopper_interviews.md"'):
        dims = [{"name": n, "description": f"{n} matters."} for n in ("Fit", "Money", "Reasons")]
        return json.dumps({"stakeholders": [{"name": "Shoppers", "dimensions": dims}]})
    if sent.startswith('Document "store_operations.md"'):
        staff = {"name": "Shop staff", "dimensions": [{"name": "Orders", "description": "d"}]}
        return json.dumps({"stakeholders": [staff, {"name": "Investors", "dimensions": []}]})
    if sent.startswith("Stakeholders extracted from 2 documents"):
        found = json.loads(sent.split("as JSON:\n", 1)[1].split("\n\nMerge", 1)[0])
        return "Merged:\n" + json.dumps(found)
    dimension = sent.split('one dimension,\n"', 1)[1].split('"', 1)[0]
    name = "Sam Lee" if dimension in ("Fit", "Orders") else f"{dimension} Person"
    return json.dumps({"name": name, "demographics": "40", "specialty": f"{dimension} expert"})


async def test_personas_are_built_from_documents_and_saved(tmp_path: Path) -> None:
    docs = [DOCS / "shopper_interviews.md", DOCS / "store_operations.md"]
    with chat_server(builder) as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="builder"))
        try:
            panel = await build_personas(model, docs, BuildConfig(max_dimensions=2))
        finally:
            await model.close()
    # Two extractions, one merge, then one persona per kept dimension (2 + 1).
    assert panel.calls == len(chat.requests) == 2 + 1 + 3
    sent = [prompt(b) for b in chat.requests]
    assert any("a seventy-dollar pan is a failure" in s for s in sent)  # document text sent
    assert any("Abandoned checkouts" in s for s in sent)
    assert [s.name for s in panel.stakeholders] == ["Shoppers", "Shop staff"]  # no dimension
    assert [(p.name, p.stakeholder, p.dimension) for p in panel.personas] == [
        ("Sam Lee", "Shoppers", "Fit"),
        ("Money Person", "Shoppers", "Money"),
        ("Sam Lee (2)", "Shop staff", "Orders"),  # the model reused a name
    ]
    assert panel.personas[0].specialty == "Fit expert"
    assert panel.personas[0].dimension_description == "Fit matters."
    assert panel.built_with == "builder"
    save_personas(panel, tmp_path / "p.json")
    assert load_personas(tmp_path / "p.json") == panel


async def test_an_unreadable_extraction_is_a_clear_error() -> None:
    with chat_server(lambda body: "Stakeholders: shoppers and staff.") as chat:
        model = ChatModel(ModelConfig(endpoint=chat.base_url, model="m"))
        try:
            with pytest.raises(JudgingError, match='building personas: no JSON object with "st'):
                await build_personas(model, [DOCS / "shopper_interviews.md"])
        finally:
            await model.close()


# ---------------------------------------------------------------------------- commands


def app() -> typer.Typer:
    """The two commands as `webserv behaviour` will register them."""
    cli = typer.Typer()
    cli.command("judge")(judge_command)
    cli.command("personas")(personas_command)
    return cli


def run_dir(tmp_path: Path) -> tuple[Path, list[str]]:
    """A run directory: the recorded steps and an episodes.jsonl written for them."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(STEPS, run / "steps.jsonl")
    records = []
    for episode in load_episodes(STEPS):
        records.append(
            EpisodeRecord(
                session_id=episode.session_id,
                episode=len(records),
                task_id=episode.task_id,
                intent=episode.intent,
                policy="scripted",
                steps=len(episode.steps),
                score=0.0,
                terminated=True,
            ).model_dump_json()
        )
    (run / "episodes.jsonl").write_text("\n".join(records) + "\n")
    return run, [json.loads(r)["session_id"] for r in records]


def by_session(body: dict[str, Any]) -> str:
    """Rates the session asked about a necklace 4 and the other one 2, whoever asks."""
    score = 4 if "Stride Co. Gold-Plated Pendant Necklace" in prompt(body) else 2
    if is_aggregate(body):
        return json.dumps({"score": score, "summary": f"summary {score}"})
    return rating(score, f"reason {score}")


def test_judge_command_end_to_end(tmp_path: Path) -> None:
    run, (helmet, saucepan) = run_dir(tmp_path)
    human = tmp_path / "human.json"
    human.write_text(json.dumps({helmet: 1, saucepan: 5}))  # the panel: 2 and 4
    out = tmp_path / "report.json"
    with chat_server(by_session) as chat:
        args = ["judge", str(run), "--personas", str(PERSONAS), "--endpoint", chat.base_url]
        args += ["--model", "m", "--human", str(human), "--out", str(out), "--rounds", "1"]
        result = CliRunner().invoke(app(), [*args, "--json"])
        assert result.exit_code == 0, result.output
        table = CliRunner().invoke(app(), args)
    assert table.exit_code == 0, table.output
    report = json.loads(result.output)
    assert report == json.loads(out.read_text())
    assert [e["session_id"] for e in report["episodes"]] == [helmet, saucepan]
    assert [e["mean"] for e in report["episodes"]] == [2, 4]
    assert [e["task_score"] for e in report["episodes"]] == [0, 0]
    assert report["calls"] == 2 * (4 + 1)  # everyone agrees: no debate
    assert report["max_calls_per_episode"] == 4 + 1 * 4 + 1
    rho = {"rho": pytest.approx(1.0), "p_value": None, "n": 2, "note": ""}  # no p for n = 2
    assert report["agreement"]["aggregate"] == rho
    assert len(chat.requests) == 2 * report["calls"]
    flat = " ".join(table.output.split())
    assert "Spearman's rho with human ratings (2 episodes)" in flat
    assert "2 episodes judged by 4 personas in 2 groups: 10 model calls (at most 9" in flat


def test_judge_command_builds_personas_from_documents_and_saves_them(tmp_path: Path) -> None:
    run, _ = run_dir(tmp_path)
    saved = tmp_path / "built.json"

    def reply(body: dict[str, Any]) -> str:
        building = ("Document", "Stakeholders extracted", "Create one evaluator persona")
        return builder(body) if prompt(body).startswith(building) else by_session(body)

    with chat_server(reply) as chat:
        args = ["judge", str(run), "--docs", str(DOCS / "shopper_interviews.md")]
        args += ["--docs", str(DOCS / "store_operations.md"), "--endpoint", chat.base_url]
        args += ["--model", "m", "--save-personas", str(saved), "--sessions", "1", "--json"]
        result = CliRunner().invoke(app(), args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    built = load_personas(saved)
    assert report["personas"] == json.loads(built.model_dump_json())
    assert len(built.personas) == 4 and len(report["episodes"]) == 1
    assert len(chat.requests) == built.calls + report["calls"]


def test_personas_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "personas.json"
    with chat_server(builder) as chat:
        args = ["personas", "--docs", str(DOCS / "shopper_interviews.md"), "--out", str(out)]
        result = CliRunner().invoke(app(), [*args, "--endpoint", chat.base_url, "--model", "m"])
    assert result.exit_code == 0, result.output
    assert [p.dimension for p in load_personas(out).personas] == ["Fit", "Money", "Reasons"]
    assert "4 model calls; saved to" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["RUN", "--endpoint", "URL", "--model", "m"], "give either --docs"),
        (["RUN", "--personas", "P", "--docs", "D", "--endpoint", "URL", "--model", "m"], "either"),
        (["RUN", "--personas", "P"], "the panel needs --endpoint and --model"),
        (["nowhere", "--personas", "P", "--endpoint", "URL", "--model", "m"], "no such run"),
        (
            ["RUN", "--personas", "P", "--endpoint", "URL", "--model", "m", "--human", "H"],
            "none of its sessions is among the episodes judged",
        ),
        (
            ["RUN", "--personas", "P", "--endpoint", "URL", "--model", "m", "--scale-min", "5"],
            "maximum must be above its minimum",
        ),
        (["RUN", "--docs", "nodoc.md", "--endpoint", "URL", "--model", "m"], "no such document"),
    ],
)
def test_judge_command_refuses_bad_input_before_any_call(
    tmp_path: Path, args: Sequence[str], message: str
) -> None:
    run, _ = run_dir(tmp_path)
    human = tmp_path / "human.json"
    human.write_text(json.dumps({"another-session": 3}))
    names = {"RUN": str(run), "P": str(PERSONAS), "H": str(human), "D": str(DOCS / "x.md")}
    with chat_server(by_session) as chat:
        names["URL"] = chat.base_url
        result = CliRunner().invoke(app(), ["judge", *[names.get(a, a) for a in args]])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
    assert chat.requests == []


def test_judge_command_reports_a_failing_endpoint(tmp_path: Path) -> None:
    run, _ = run_dir(tmp_path)
    with chat_server(by_session, fail_status=503) as chat:
        args = ["judge", str(run), "--personas", str(PERSONAS), "--endpoint", chat.base_url]
        result = CliRunner().invoke(app(), [*args, "--model", "m"])
    assert result.exit_code == 2
    assert "error: chat endpoint" in result.output and "Traceback" not in result.output


def test_a_rollout_judges_each_episode_as_it_ends(tmp_path: Path) -> None:
    """``webserv rollout --judge-personas``: the panel (the stand-in, rating the necklace
    session 4 of 5 and the other 2) scores each replayed episode into its record."""
    from webserv.cli import app as webserv

    out = tmp_path / "run"
    args = ["rollout", "--replay", str(STEPS), "--policy", "scripted", "--episodes", "2"]
    args += ["--out", str(out), "--judge-personas", str(PERSONAS), "--judge-rounds", "1"]
    with chat_server(by_session) as chat:
        result = CliRunner().invoke(webserv, [*args, "--judge-endpoint", chat.base_url,
                                              "--judge-model", "stand-in"])  # fmt: skip
    assert result.exit_code == 0, result.output
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    scores = {e["intent"].split("does ")[1][:9]: e["judge_score"] for e in episodes}
    assert scores == {"Stride Co": 0.75, "Pure Ritu": 0.25}  # (4 - 1) / 4 and (2 - 1) / 4
    assert all(e["judge_checks"] for e in episodes)
    assert "judged 0.500 on average" in result.output
    missing = CliRunner().invoke(webserv, args)
    assert missing.exit_code == 2 and "--judge-personas needs an endpoint" in missing.output
