"""The action grammar: parsing, argument checks, prompt text and tool schema (no browser)."""

import pytest

from webserv.browser.actions import ACTIONS, Action, ActionError, parse, prompt, tool_schema


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('click("12")', Action("click", {"id": "12"})),
        ("click(12)", Action("click", {"id": "12"})),
        ("click(7.3)", Action("click", {"id": "7.3"})),
        ('type("5", "usb")', Action("type", {"id": "5", "text": "usb", "submit": False})),
        ('type("5", "x", submit=True)', Action("type", {"id": "5", "text": "x", "submit": True})),
        ('select("4", "Price")', Action("select", {"id": "4", "option": "Price"})),
        ('scroll("down")', Action("scroll", {"direction": "down"})),
        ("back()", Action("back", {})),
        ("switch_tab(1)", Action("switch_tab", {"i": 1})),
        ("stop()", Action("stop", {"answer": ""})),
        ('```\nstop("$3")\n```', Action("stop", {"answer": "$3"})),
    ],
)
def test_parses_call_text(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "click", "name": "3"}, Action("click", {"id": "3"})),
        (
            {"type": "type_and_submit", "name": "3", "text": "lamp"},
            Action("type", {"id": "3", "text": "lamp", "submit": True}),
        ),
        ({"type": "terminate"}, Action("stop", {"answer": ""})),
        ('{"type": "click", "name": 9}', Action("click", {"id": "9"})),
        (
            {"name": "select", "arguments": '{"id": "1", "option": "a"}'},
            Action("select", {"id": "1", "option": "a"}),
        ),
    ],
)
def test_parses_opera_and_tool_call_json(action, expected):
    assert parse(action) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("click(", "cannot parse action"),
        ("click()", "missing a required argument: 'id'"),
        ('click("1", "2")', "too many positional arguments"),
        ('fly("1")', "unknown action 'fly'"),
        ("click(x)", "must be literals"),
        ("__import__('os').system('true')", "one function call"),
        ('scroll("sideways")', 'direction must be one of "up", "down"'),
        ('type("1", "a", submit=1)', "submit must be True or False"),
        ('switch_tab("a")', "i must be an integer"),
        ("click(None)", "id must be a string"),
        ("", "empty action"),
        ('{"type": "fly"}', "unknown JSON action type"),
        ("{not json", "invalid JSON action"),
        ("x = 1", "cannot parse action"),
    ],
)
def test_bad_actions_say_what_is_wrong(text, message):
    with pytest.raises(ActionError) as info:
        parse(text)
    assert message in str(info.value)


def test_round_trips_through_text():
    for text in ['click("12")', 'type("5", "a b", submit=True)', "switch_tab(2)", "back()"]:
        assert str(parse(text)) == text
        assert parse(str(parse(text))) == parse(text)


def test_prompt_and_schema_come_from_the_action_functions():
    text = prompt()
    schema = tool_schema()
    assert [tool["function"]["name"] for tool in schema] == list(ACTIONS)
    assert "type(id: str, text: str, submit: bool = False)" in text
    assert 'scroll(direction: "up"|"down"|"left"|"right")' in text
    typing = next(t["function"] for t in schema if t["function"]["name"] == "type")
    assert typing["parameters"]["required"] == ["id", "text"]
    assert typing["parameters"]["properties"]["submit"]["type"] == "boolean"
    scroll = next(t["function"] for t in schema if t["function"]["name"] == "scroll")
    direction = scroll["parameters"]["properties"]["direction"]
    assert direction["enum"] == ["up", "down", "left", "right"]
    assert all(tool["function"]["description"] for tool in schema)
