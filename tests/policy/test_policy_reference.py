"""The reference policy replays a task's solution, resolving element names against the page."""

from __future__ import annotations

from webserv.policy.reference import ReferencePolicy, find_element
from webserv.tasks.config import EvalSpec, TaskConfig

OBSERVATION = """# Order #000000005
[15] combobox "Status" value="Complete (no change)" options=[Complete (no change) | Refunded]
[16] textbox "Comment"
## [17] button "Submit"
[18] button "Submit order"
"""


def task_solved_by(*actions: str) -> TaskConfig:
    return TaskConfig(
        task_id=1,
        sites=["shopping_admin"],
        start_url="__SHOPPING_ADMIN__/sales/order/view/5",
        intent="Refund order 5",
        eval=EvalSpec(eval_types=["program_html"]),
        reference_solution=list(actions),
    )


async def test_reference_policy_resolves_element_names_to_ids():
    policy = ReferencePolicy(
        task_solved_by(
            "select('combobox \"Status\"', 'Refunded')",
            "type('textbox \"Comment\"', 'ok')",
            "click('button \"Submit order\"')",
            "click('button \"Submit\"')",
            'click("3")',
        )
    )
    obs = {"text": OBSERVATION}
    decisions = [await policy.act(obs, []) for _ in range(6)]
    assert [d.action for d in decisions] == [
        'select("15", "Refunded")',
        'type("16", "ok")',
        'click("18")',
        'click("17")',
        'click("3")',
        "stop()",
    ]
    assert all(d.format_ok and not d.format_error for d in decisions)
    assert decisions[2].opera_action == {"type": "click", "name": "18"}


async def test_reference_policy_scrolls_for_a_name_out_of_view_then_gives_up():
    policy = ReferencePolicy(task_solved_by("click('button \"Save\"')"))
    more = {"text": '[1] link "Home"\n(viewport shows 0-40% of the page; scroll for more)'}
    actions = [(await policy.act(more, [])).action for _ in range(7)]
    assert actions[:6] == ['scroll("down")'] * 6
    assert actions[6] == 'click("button \\"Save\\"")'  # sent as is: the env reports the error
    assert find_element('[3] button "Save" disabled', 'button "Save"') == "3"
    assert find_element('[3] button "Saved"', 'button "Save"') is None


async def test_reference_step_that_is_no_action_is_passed_on_as_written():
    policy = ReferencePolicy(task_solved_by("not an action(", 'click("3")'))
    broken = await policy.act({"text": OBSERVATION}, [])
    assert broken.action is None and broken.raw_output == "not an action("
    assert broken.format_error and not broken.format_ok
    assert (await policy.act({"text": OBSERVATION}, [])).action == 'click("3")'


async def test_reference_policy_unfolds_a_folded_navigation_to_find_a_name():
    policy = ReferencePolicy(task_solved_by("click('link \"Categories\"')"))
    folded = {"text": '# Posts\n[9] navigation "Main menu" collapsed (52 links): Posts; Media'}
    assert (await policy.act(folded, [])).action == 'click("9")'
    unfolded = {"text": '[9] navigation "Main menu" expanded\n[31] link "Categories"'}
    assert (await policy.act(unfolded, [])).action == 'click("31")'
    # A table cell's element is found too.
    assert find_element('| [4] link "Hello" | 3 |', 'link "Hello"') == "4"
