"""Task configs and evaluators; every evaluator must fail a wrong answer or state."""

from pathlib import Path

import pytest

from webserv.tasks.config import ReferenceAnswers, TaskConfig, load_tasks
from webserv.tasks.evaluators import (
    EpisodeOutcome,
    evaluate,
    match_contents,
    url_matches,
)

WEBARENA_TASKS = Path(__file__).parent / "data" / "webarena_shopping_admin_tasks.json"


def make_task(**eval_spec) -> TaskConfig:
    return TaskConfig.model_validate(
        {
            "task_id": "t",
            "sites": ["shopping"],
            "start_url": "__SHOPPING__/search?q=mug |AND| __SHOPPING__/cart",
            "intent": "find it",
            "eval": eval_spec,
        }
    )


def test_webarena_configs_load_verbatim_and_resolve():
    tasks = load_tasks(WEBARENA_TASKS)
    assert [t.task_id for t in tasks] == [0, 3]
    resolved = tasks[0].resolve({"shopping_admin": "http://127.0.0.1:4101/"})
    assert resolved.start_urls == ["http://127.0.0.1:4101"]
    assert resolved.intent_template_id == 279
    assert resolved.eval.reference_answers.exact_match == "Quest Lumaflex™ Band"


def test_resolve_multi_tab_and_missing_site():
    task = make_task(eval_types=["url_match"], reference_url="__SHOPPING__/cart")
    resolved = task.resolve({"shopping": "http://127.0.0.1:5000"})
    assert resolved.start_urls == [
        "http://127.0.0.1:5000/search?q=mug",
        "http://127.0.0.1:5000/cart",
    ]
    assert resolved.eval.reference_url == "http://127.0.0.1:5000/cart"
    with pytest.raises(KeyError, match="needs sites"):
        task.resolve({"gitlab": "http://127.0.0.1:1"})


async def test_exact_match_passes_and_fails():
    ref = ReferenceAnswers(exact_match="Quest Lumaflex™ Band")
    assert (await match_contents(' "quest lumaflex™ band" ', ref)).score == 1.0
    assert (await match_contents("Quest Lumaflex Band", ref)).score == 0.0


async def test_must_include_needs_every_item_and_whole_single_chars():
    ref = ReferenceAnswers(must_include=["Impulse Duffle", "Overnight Duffle"])
    assert (await match_contents("Impulse Duffle and Overnight Duffle", ref)).score == 1.0
    assert (await match_contents("Impulse Duffle only", ref)).score == 0.0
    one = ReferenceAnswers(must_include=["1"])
    assert (await match_contents("there is 1 order", one)).score == 1.0
    assert (await match_contents("there are 10 orders", one)).score == 0.0


async def test_must_include_alternatives():
    ref = ReferenceAnswers(must_include=["canceled |OR| cancelled"])
    assert (await match_contents("it was cancelled", ref)).score == 1.0
    assert (await match_contents("it shipped", ref)).score == 0.0


async def test_fuzzy_match_without_judge_is_not_evaluable():
    result = await match_contents("anything", ReferenceAnswers(fuzzy_match=["no airport"]))
    assert result.score is None and not result.evaluable
    assert "no judge" in result.checks[0]


async def test_fuzzy_match_uses_the_judge():
    class Strict:
        async def same_meaning(self, intent: str, answer: str, reference: str) -> bool:
            return answer.lower() == reference.lower()

    ref = ReferenceAnswers(fuzzy_match=["N/A"])
    assert (await match_contents("n/a", ref, judge=Strict())).score == 1.0
    assert (await match_contents("42", ref, judge=Strict())).score == 0.0


@pytest.mark.parametrize(
    ("predicted", "reference", "expected"),
    [
        ("http://h:1/catalog/shoes?page=2&sort=price", "http://h:1/catalog/shoes?sort=price", True),
        ("http://h:1/catalog/shoes/", "http://h:1/catalog/shoes", True),
        ("http://h:1/catalog/shoes/boots", "http://h:1/catalog/shoes", True),
        ("http://h:1/catalog/shoesbox", "http://h:1/catalog/shoes", False),
        ("http://h:1/x/catalog/shoes", "http://h:1/catalog/shoes", False),
        ("http://h:1/catalog/shoes?sort=name", "http://h:1/catalog/shoes?sort=price", False),
        ("http://h:2/catalog/shoes", "http://h:1/catalog/shoes", False),
    ],
)
def test_url_match(predicted, reference, expected):
    assert url_matches(predicted, reference) is expected


async def test_evaluate_combines_string_and_url():
    task = make_task(
        eval_types=["string_match", "url_match"],
        reference_answers={"must_include": ["42"]},
        reference_url="__SHOPPING__/orders |OR| __SHOPPING__/account/orders",
    ).resolve({"shopping": "http://h:1"})
    good = EpisodeOutcome(answer="42 orders", last_url="http://h:1/account/orders")
    assert (await evaluate(task, good)).score == 1.0
    wrong_url = EpisodeOutcome(answer="42 orders", last_url="http://h:1/cart")
    assert (await evaluate(task, wrong_url)).score == 0.0
    no_answer = EpisodeOutcome(answer=None, last_url="http://h:1/orders")
    assert (await evaluate(task, no_answer)).score == 0.0


async def test_program_html_reads_through_its_own_reader():
    class Reader:
        def __init__(self, pages: dict[str, str]):
            self.pages, self.calls = pages, []

        async def read(self, url: str, locator: str) -> str:
            self.calls.append((url, locator))
            return self.pages[url]

    task = make_task(
        eval_types=["program_html"],
        program_html=[
            {
                "url": "last",
                "locator": "document.querySelector('#status').innerText",
                "required_contents": {"exact_match": "Shipped"},
            }
        ],
    )
    outcome = EpisodeOutcome(answer=None, last_url="http://h:1/admin/orders/7")
    assert (await evaluate(task, outcome, reader=Reader({outcome.last_url: "shipped"}))).score == 1
    reader = Reader({outcome.last_url: "Pending"})
    assert (await evaluate(task, outcome, reader=reader)).score == 0
    assert reader.calls == [(outcome.last_url, "document.querySelector('#status').innerText")]
    with pytest.raises(ValueError, match="page reader"):
        await evaluate(task, outcome)
