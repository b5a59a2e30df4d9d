"""Reading model outputs: a corpus of what models really emit, malformed and adversarial."""

from __future__ import annotations

import pytest

from webserv.policy.parse import parse_output

CLICK_12 = {"type": "click", "name": "12"}

# (output, the OPeRA action it must yield, whether it passes the Shop-R1 format check)
ACCEPTED = [
    ('{"rationale": "I want shoes.", "action": {"type": "click", "name": "12"}}', CLICK_12, True),
    (
        '```json\n{"rationale": "I want shoes.", "action": {"type": "click", "name": "12"}}\n```',
        CLICK_12,
        True,
    ),
    (
        'Sure! Here is my answer:\n{"rationale": "r", "action": {"type": "click", "name": "12"}}'
        "\nI hope this helps.",
        CLICK_12,
        True,
    ),
    ("{'rationale': 'r', 'action': {'type': 'click', 'name': '12'}}", CLICK_12, False),
    ('{"rationale": "r", "action": {"type": "click", "name": "12",},}', CLICK_12, False),
    ('{rationale: "r", action: {type: "click", name: "12"}}', CLICK_12, False),
    ('{"rationale": "r", "action": {"type": "click", "name": 12}}', CLICK_12, True),
    ('{"rationale": "r", "action": {"type": "click", "name": "[12]"}}', CLICK_12, True),
    ('{"rationale": "r", "action": {"type": "CLICK", "name": " 12 "}}', CLICK_12, True),
    ('{"Rationale": "r", "Action": {"Type": "click", "Name": "12"}}', CLICK_12, True),
    # cut off by max_tokens after the action: the closing braces are supplied
    ('{"rationale": "r", "action": {"type": "click", "name": "12"}', CLICK_12, False),
    # the action given as a JSON string
    (
        '{"rationale": "r", "action": "{\\"type\\": \\"click\\", \\"name\\": \\"12\\"}"}',
        CLICK_12,
        True,
    ),
    # a bare action: usable, but not the required format
    ('{"type": "click", "name": "12"}', CLICK_12, False),
    # reasoning models think first; a brace inside the thoughts must not confuse the reader
    (
        '<think>The page {has} a button "Add"; {"type": "terminate"} would be wrong.</think>\n'
        '{"rationale": "r", "action": {"type": "click", "name": "12"}}',
        CLICK_12,
        True,
    ),
    # the same action repeated (an echo of the answer) is not ambiguous
    (
        '{"rationale": "r", "action": {"type": "click", "name": "12"}}\nFinal: '
        '{"rationale": "r", "action": {"type": "click", "name": "12"}}',
        CLICK_12,
        False,
    ),
    (
        '{"rationale": "I search.", "action": {"type": "type_and_submit", "name": "5", '
        '"text": "usb \\"c\\" cable\\n"}}',
        {"type": "type_and_submit", "name": "5", "text": 'usb "c" cable\n'},
        True,
    ),
    (
        '{"rationale": "r", "action": {"type": "input", "name": "5", "text": 2024}}',
        {"type": "type_and_submit", "name": "5", "text": "2024"},
        True,
    ),
    (
        '{"rationale": "Not for me.", "action": {"type": "terminate"}}',
        {"type": "terminate"},
        True,
    ),
    (
        '{"rationale": "It costs $24.99.", "action": {"type": "terminate", "answer": "$24.99"}}',
        {"type": "terminate", "answer": "$24.99"},
        True,
    ),
    (
        '{"rationale": "r", "action": {"type": "click", "name": "12", "click_type": "review"}}',
        CLICK_12,
        True,
    ),
    (
        '{"rationale": "caf\\u00e9 \u2615", "action": {"type": "click", "name": "12"}}',
        CLICK_12,
        True,
    ),
    (
        '{"rationale": "r", "action": {"type": "click", "name": "12"}, "confidence": 0.9}',
        CLICK_12,
        True,
    ),
]


@pytest.mark.parametrize(("output", "action", "format_ok"), ACCEPTED)
def test_forgiving_in_form(output: str, action: dict, format_ok: bool):
    result = parse_output(output, "opera")
    assert result.error == ""
    assert result.opera_action == action
    assert result.format_ok is format_ok
    assert result.action is not None


def test_the_rationale_and_the_env_action_come_through():
    result = parse_output(
        '{"rationale": " I need a size. ", "action": {"type": "type_and_submit", '
        '"name": "7", "text": "running shoes"}}'
    )
    assert result.rationale == "I need a size."
    assert str(result.action) == 'type("7", "running shoes", submit=True)'


# (output, a phrase the error must contain)
REJECTED = [
    ("", "empty output"),
    ("   \n ", "empty output"),
    ("I would click the add to cart button.", 'no JSON object with an "action"'),
    ('{"rationale": "I like it"}', 'no JSON object with an "action"'),
    ('{"rationale": "r", "action": {"type": "scroll", "direction": "down"}}', "not one of"),
    ('{"rationale": "r", "action": {"type": "hover", "name": "3"}}', "not one of"),
    ('{"rationale": "r", "action": {"name": "3"}}', "not one of"),
    ('{"rationale": "r", "action": {"type": "click"}}', 'needs "name"'),
    ('{"rationale": "r", "action": {"type": "click", "name": ""}}', '"name" is empty'),
    ('{"rationale": "r", "action": {"type": "click", "name": "[ ]"}}', '"name" is empty'),
    ('{"rationale": "r", "action": {"type": "click", "name": true}}', "element id"),
    ('{"rationale": "r", "action": {"type": "click", "name": ["1", "2"]}}', "element id"),
    ('{"rationale": "r", "action": {"type": "click", "name": null}}', "element id"),
    ('{"rationale": "r", "action": {"type": "type_and_submit", "name": "5"}}', '"text"'),
    (
        '{"rationale": "r", "action": {"type": "type_and_submit", "name": "5", "text": " "}}',
        '"text"',
    ),
    ('{"rationale": "r", "action": {"type": "terminate", "answer": {"x": 1}}}', '"answer"'),
    ('{"rationale": "r", "action": "click(\\"12\\")"}', "must be an object"),
    ('{"rationale": "r", "action": null}', "must be an object"),
    ('{"rationale": 42, "action": {"type": "click", "name": "12"}}', '"rationale" must be text'),
    # two different actions: guessing which one was meant would change the meaning
    (
        '{"rationale": "r", "action": {"type": "click", "name": "12"}}\n'
        '{"rationale": "r", "action": {"type": "click", "name": "13"}}',
        "2 different actions",
    ),
    # cut off inside a string: the name could have been longer
    (
        '{"rationale": "r", "action": {"type": "click", "name": "1',
        'no JSON object with an "action"',
    ),
    # the template echoed back
    ('{"rationale": "...", "action": {...}}', 'no JSON object with an "action"'),
    # an injection attempt does not turn into code
    ('{"rationale": "r", "action": {"type": "__import__(\'os\')", "name": "1"}}', "not one of"),
]


@pytest.mark.parametrize(("output", "phrase"), REJECTED)
def test_strict_in_meaning(output: str, phrase: str):
    result = parse_output(output, "opera")
    assert result.action is None
    assert result.opera_action is None
    assert phrase in result.error
    assert not result.format_ok


def test_grammar_mode_reads_calls_and_checks_them():
    ok = parse_output('{"rationale": "r", "action": "select(\\"4\\", \\"Navy\\")"}', "grammar")
    assert str(ok.action) == 'select("4", "Navy")' and ok.format_ok
    # OPeRA has no select: typed into the drop-down, the option's text chooses it.
    assert ok.opera_action == {"type": "type_and_submit", "name": "4", "text": "Navy"}
    single = parse_output("{'rationale': 'r', 'action': 'click(\"12\")'}", "grammar")
    assert single.opera_action == CLICK_12 and not single.format_ok
    tool = parse_output(
        '{"rationale": "r", "action": {"name": "scroll", "arguments": {"direction": "down"}}}',
        "grammar",
    )
    assert str(tool.action) == 'scroll("down")'
    for bad, phrase in [
        ('{"rationale": "r", "action": "teleport(\\"x\\")"}', "unknown action"),
        ('{"rationale": "r", "action": "scroll(\\"sideways\\")"}', "must be one of"),
        ('{"rationale": "r", "action": "click(__import__(\\"os\\"))"}', "literals"),
        ('{"rationale": "r", "action": 12}', "must be a call"),
    ]:
        result = parse_output(bad, "grammar")
        assert result.action is None and phrase in result.error, (bad, result.error)
