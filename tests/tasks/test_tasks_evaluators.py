"""Task configs and evaluators; every evaluator must fail a wrong answer or state."""

from pathlib import Path

import pytest

from webserv.tasks.config import ReferenceAnswers, TaskConfig, load_tasks
from webserv.tasks.evaluators import (
    EpisodeOutcome,
    NotEvaluable,
    evaluate,
    match_contents,
    url_matches,
)

WEBARENA_TASKS = Path(__file__).parents[1] / "data" / "webarena_shopping_admin_tasks.json"


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


async def test_string_match_does_not_split_or_alternatives():
    # WebArena splits " |OR| " in program_html contents only; here it is literal text.
    ref = ReferenceAnswers(must_include=["canceled |OR| cancelled"])
    assert (await match_contents("it was cancelled", ref)).score == 0.0
    assert (await match_contents("canceled |OR| cancelled", ref)).score == 1.0


async def test_answers_lose_two_layers_of_quotes_and_substrings_count():
    # The evaluator cleans the answer, and each comparison cleans it again.
    assert (await match_contents("\"'Foo'\"", ReferenceAnswers(exact_match="foo"))).score == 1.0
    # Two references: plain substrings, so "1" is found in "10".
    two = ReferenceAnswers(must_include=["1", "orders"])
    assert (await match_contents("10 orders", two)).score == 1.0
    # One single-character reference must be a whole word_tokenize token: the text's final
    # period is split off, a period inside a (lower-cased) sentence is not.
    one = ReferenceAnswers(must_include=["5"])
    assert (await match_contents("I have 5.", one)).score == 1.0
    assert (await match_contents("there are 5. next", one)).score == 0.0


async def test_fuzzy_match_without_judge_is_not_evaluable():
    result = await match_contents("anything", ReferenceAnswers(fuzzy_match=["no airport"]))
    assert result.score is None and not result.evaluable
    assert "no judge" in result.checks[0]


class Strict:
    """A judge that compares lower-cased text (a real one is an LLM)."""

    async def same_meaning(self, intent: str, answer: str, reference: str) -> bool:
        return answer.lower() == reference.lower()

    async def same_reason(self, intent: str, answer: str, reason: str) -> bool:
        return reason.lower() in answer.lower()


async def test_fuzzy_match_uses_the_judge_and_na_asks_for_the_reason():
    assert (
        await match_contents("Paris", ReferenceAnswers(fuzzy_match=["paris"]), judge=Strict())
    ).score == 1.0
    na = ReferenceAnswers(fuzzy_match="N/A")
    assert (await match_contents("n/a", na, judge=Strict())).score == 1.0
    # Not "N/A" verbatim: the judge decides whether the reason given is the task's.
    because = "no such order"
    reasoned = await match_contents(
        "cannot: there is no such order", na, string_note=because, judge=Strict()
    )
    assert reasoned.score == 1.0 and any("ua_match" in c for c in reasoned.checks)
    assert (await match_contents("42", na, string_note=because, judge=Strict())).score == 0.0
    assert (await match_contents("42", na, string_note=because)).score is None


@pytest.mark.parametrize(
    ("predicted", "reference", "expected"),
    [
        ("http://h:1/catalog/shoes?page=2&sort=price", "http://h:1/catalog/shoes?sort=price", True),
        ("http://h:1/catalog/shoes/", "http://h:1/catalog/shoes", True),
        ("http://h:1/catalog/shoes/boots", "http://h:1/catalog/shoes", True),
        # WebArena's rule is a substring test of host and path: a longer segment matches too.
        ("http://h:1/catalog/shoesbox", "http://h:1/catalog/shoes", True),
        ("https://h:1/catalog/shoes", "http://h:1/catalog/shoes", True),  # scheme ignored
        ("http://h:1/x/catalog/shoes", "http://h:1/catalog/shoes", False),
        ("http://h:1/catalog/shoes?sort=name", "http://h:1/catalog/shoes?sort=price", False),
        ("http://h:1/a?q=1", "http://h:1/a/?q=1", False),  # only the URL's end is trimmed
        ("http://h:1/b?q=2", "http://h:1/a?q=1 |OR| http://h:1/b?q=2", True),
        ("http://h:2/catalog/shoes", "http://h:1/catalog/shoes", False),
    ],
)
def test_url_match(predicted, reference, expected):
    assert url_matches(predicted, reference) is expected


def test_an_unknown_url_note_is_not_evaluable():
    with pytest.raises(NotEvaluable, match="url_note"):
        url_matches("http://h/a", "http://h/a", "EXACT")


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


class FakePage:
    """A page with fixed HTML and fixed values per JS expression; others throw."""

    def __init__(self, url: str, html: str = "", values: dict[str, object] | None = None):
        self.url, self.html, self.values, self.ran = url, html, values or {}, []

    async def content(self) -> str:
        return self.html

    async def evaluate(self, expression: str) -> object:
        self.ran.append(expression)
        body = expression.removeprefix("() => ")
        if body not in self.values:
            raise RuntimeError("no such element")
        return self.values[body]


class FakeReader:
    def __init__(self, agent: FakePage, pages: dict[str, FakePage] | None = None):
        self.agent, self.pages, self.opened = agent, pages or {}, []

    async def open(self, url: str | None) -> FakePage:
        self.opened.append(url)
        return self.agent if url is None else self.pages[url]

    async def done(self, page: FakePage) -> None:
        pass


def html_task(*targets: dict) -> TaskConfig:
    return make_task(eval_types=["program_html"], program_html=list(targets))


async def test_program_html_reads_the_agents_page_for_last():
    locator = "document.querySelector('#status').innerText"
    task = html_task(
        {"url": "last", "locator": locator, "required_contents": {"exact_match": "Shipped"}}
    )
    outcome = EpisodeOutcome(answer=None, last_url="http://h:1/admin/orders/7")
    agent = FakePage(outcome.last_url, values={locator: "shipped"})
    reader = FakeReader(agent)
    assert (await evaluate(task, outcome, reader=reader)).score == 1.0
    assert reader.opened == [None]
    agent.values[locator] = "Pending"
    assert (await evaluate(task, outcome, reader=reader)).score == 0.0
    with pytest.raises(ValueError, match="page reader"):
        await evaluate(task, outcome)


async def test_program_html_locator_rules():
    outcome = EpisodeOutcome(answer=None, last_url="http://h:1/x")
    page = FakePage(
        "http://h:1/p",
        html="<p>Tom &amp; Jerry</p>",
        values={"document.a": None, "document.b": True, "document.prep": 1},
    )
    reader = FakeReader(FakePage(outcome.last_url), {"http://h:1/p": page})

    async def score(locator: str, contents: dict, **extra: object) -> float | None:
        target = {"url": "http://h:1/p", "locator": locator, "required_contents": contents}
        return (await evaluate(html_task({**target, **extra}), outcome, reader=reader)).score

    # An empty locator reads the HTML, entities unescaped.
    assert await score("", {"must_include": ["<p>Tom & Jerry</p>"]}) == 1.0
    assert await score("document.a", {"exact_match": "None"}) == 1.0  # JS null is "None"
    assert await score("document.b", {"exact_match": "true"}) == 1.0
    assert await score("document.missing", {"exact_match": ""}) == 1.0  # a throw reads ""
    assert await score("document.a", {"must_include": ["x |OR| non"]}) == 1.0
    await score("document.b", {"exact_match": "true"}, prep_actions=["document.prep", "bad"])
    assert page.ran[-3:] == ["() => document.prep", "() => bad", "() => document.b"]
    with pytest.raises(NotEvaluable, match="unknown locator"):
        await score("window.x", {"exact_match": "1"})


async def test_func_helpers_in_urls_and_locators():
    outcome = EpisodeOutcome(answer=None, last_url="http://h:1/f/news/7/comment-9")
    page = FakePage("http://h:1/f/news/7/", values={"document.title": "Hi"})
    reader = FakeReader(FakePage(outcome.last_url), {"http://h:1/f/news/7/": page})
    pages_seen = []

    async def role(page_arg: FakePage, account: str) -> str:
        pages_seen.append(page_arg)
        return "Developer" if account == "byteblaze" else ""

    helpers = {"post_url": lambda url: url.rsplit("/", 1)[0] + "/", "member_role": role}
    task = html_task(
        {
            "url": "func:post_url('__last_url__')",
            "locator": "document.title",
            "required_contents": {"exact_match": "hi"},
        },
        {
            "url": "func:post_url('__last_url__')",
            "locator": "func:member_role(__page__, 'byteblaze')",
            "required_contents": {"must_include": ["Developer"]},
        },
    )
    assert (await evaluate(task, outcome, reader=reader, helpers=helpers)).score == 1.0
    assert pages_seen == [page]
    with pytest.raises(NotEvaluable, match="no served site provides the func: helper post_url"):
        await evaluate(task, outcome, reader=reader, helpers={})

    def broken(url: str) -> str:
        raise ConnectionError("API down")

    with pytest.raises(NotEvaluable, match=r"func: URL .*post_url.* failed: API down"):
        await evaluate(task, outcome, reader=reader, helpers={**helpers, "post_url": broken})
