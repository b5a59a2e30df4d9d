"""The shop suite: its shape, answers reproduced from the golden data, policies, bindings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import env_fixtures
import pytest

from webserv.browser.actions import parse
from webserv.env.bindings import base_urls, pool_site_of, role_for_url
from webserv.tasks.config import load_tasks
from webserv.tasks.policies import RandomPolicy, ReferencePolicy, find_element
from webserv.tasks.suite import load_suite
from webserv.tasks.suites.shop import generate

suite_golden = env_fixtures.suite_golden
WEBARENA_TASKS = Path(__file__).parent / "data" / "webarena_shopping_admin_tasks.json"


def test_suite_has_enough_tasks_spread_over_templates_and_evaluators():
    suite = load_suite("shop")
    assert len(suite.tasks) >= 60
    templates = Counter(task.intent_template_id for task in suite.tasks)
    assert len(templates) >= 12 and max(templates.values()) <= 6
    kinds = Counter(kind for task in suite.tasks for kind in task.eval.eval_types)
    assert kinds["string_match"] >= 20 and kinds["program_html"] >= 20
    assert len({str(task.task_id) for task in suite.tasks}) == len(suite.tasks)
    for task in suite.tasks:
        assert task.reference_solution, task.task_id
        for action in task.reference_solution:
            parse(action)  # every step is in the action grammar


def test_tasks_json_is_what_the_generator_makes_from_the_golden_data(suite_golden: Path):
    suite = load_suite("shop")
    made = generate.generate(suite_golden, suite.manifest)
    committed = json.loads((generate.HERE / "tasks.json").read_text())
    assert made == committed, (
        "tasks.json is stale: run python -m webserv.tasks.suites.shop.generate"
    )


def test_generator_refuses_other_golden_data(suite_golden: Path):
    manifest = load_suite("shop").manifest.model_copy(update={"seed": 7})
    with pytest.raises(ValueError, match="seed 7"):
        generate.generate(suite_golden, manifest)


OBSERVATION = """# Order #000000005
[15] combobox "Status" value="Complete (no change)" options=[Complete (no change) | Refunded]
[16] textbox "Comment"
## [17] button "Submit"
[18] button "Submit order"
"""


def test_reference_policy_resolves_element_names_to_ids():
    task = (
        load_suite("shop")
        .tasks[0]
        .model_copy(
            update={
                "reference_solution": [
                    "select('combobox \"Status\"', 'Refunded')",
                    "type('textbox \"Comment\"', 'ok')",
                    "click('button \"Submit order\"')",
                    "click('button \"Submit\"')",
                    'click("3")',
                ]
            }
        )
    )
    policy = ReferencePolicy(task)
    obs = {"text": OBSERVATION}
    assert [policy.act(obs) for _ in range(6)] == [
        'select("15", "Refunded")',
        'type("16", "ok")',
        'click("18")',
        'click("17")',
        'click("3")',
        "stop()",
    ]


def test_reference_policy_scrolls_for_a_name_out_of_view_then_gives_up():
    task = (
        load_suite("shop")
        .tasks[0]
        .model_copy(update={"reference_solution": ["click('button \"Save\"')"]})
    )
    policy = ReferencePolicy(task)
    more = {"text": '[1] link "Home"\n(viewport shows 0-40% of the page; scroll for more)'}
    actions = [policy.act(more) for _ in range(7)]
    assert actions[:6] == ['scroll("down")'] * 6
    assert actions[6] == "click('button \"Save\"')"  # sent as is: the env reports the error
    assert find_element('[3] button "Save" disabled', 'button "Save"') == "3"
    assert find_element('[3] button "Saved"', 'button "Save"') is None


def test_random_policy_is_reproducible_and_acts_on_visible_ids():
    obs = {"text": OBSERVATION}
    policy_a, policy_b = RandomPolicy(5), RandomPolicy(5)
    run_a = [policy_a.act(obs) for _ in range(30)]
    assert run_a == [policy_b.act(obs) for _ in range(30)]
    assert run_a != [RandomPolicy(6).act(obs) for _ in range(30)]
    for action in run_a:
        parsed = parse(action)
        if "id" in parsed.args:
            assert parsed.args["id"] in {"15", "16", "17", "18"}


def test_webarena_task_binds_to_the_shop():
    task = load_tasks(WEBARENA_TASKS)[0]
    assert pool_site_of(task.sites) == "shop"
    resolved = task.resolve(base_urls("http://127.0.0.1:20001"))
    assert resolved.start_urls == ["http://127.0.0.1:20001/admin"]
    with pytest.raises(KeyError, match="no site serves"):
        pool_site_of(["gitlab"])


def test_role_for_url_prefers_the_longest_base():
    root = "http://127.0.0.1:20001"
    assert role_for_url(f"{root}/admin/orders/3", root) == "admin"
    assert role_for_url(f"{root}/admin", root) == "admin"
    assert role_for_url(f"{root}/administrator", root) == "customer"
    assert role_for_url(f"{root}/cart", root) == "customer"
    assert role_for_url("http://127.0.0.1:9/cart", root) is None
