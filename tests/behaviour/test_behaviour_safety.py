"""Safety screening: each rule on hand-made pages and decisions, LLaVAShield's request and
reply formats, and rollouts over the recorded sessions that a screen stops.

The model screen talks to tests/chat_server.py, a stand-in chat-completions server (no model
can be loaded here): it records each request, and answers what each test scripts, fails, or
answers garbage. The rollouts replay tests/data/behaviour_steps.jsonl (two recorded sessions
of the scripted shopper) without a browser.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from chat_server import chat_server
from PIL import Image
from typer.testing import CliRunner

from webserv.behaviour.replay_env import ReplayFleet, ReplaySource
from webserv.behaviour.safety import (
    AllowedHosts,
    Datum,
    ModelScreen,
    ModelScreenConfig,
    PurchaseLimit,
    RuleConfig,
    RuleScreen,
    SafetyConfig,
    ScreenApiKey,
    ScreenChoice,
    ScreenEndpoint,
    ScreenEndpointOption,
    ScreenModelOption,
    ScreenOption,
    ScreenStop,
    ScreenUnavailable,
    TaskScope,
    UnavailableChoice,
    dimension_of,
    iban_valid,
    load_template,
    luhn_valid,
    mentioned,
    money_value,
    order_total,
    read_ratings,
    safety_config,
    sensitive_data,
)
from webserv.policy.base import Decision, Turn
from webserv.pool.backends.base import free_port
from webserv.rollout.records import EpisodeRecord, StepRecord, read_jsonl
from webserv.rollout.runner import RolloutConfig, run_rollouts
from webserv.tasks.config import EvalSpec, TaskConfig

STEPS = Path(__file__).parents[1] / "data" / "behaviour_steps.jsonl"
SAUCEPAN, HELMET = "7a18ea50-0001", "7a18ea50-0000"  # carts of $21.99 and $19.99
SHOP = "http://127.0.0.1:29415"
SCOPE = TaskScope(
    intent="Buy the cheapest saucepan.",
    sites=["shopping"],
    start_urls=[f"{SHOP}/"],
    hosts=["127.0.0.1:29415"],
)
CHECKOUT = """# Checkout
[16] textbox "Street address *" value="6846 Elm Road" required
[9] combobox "Search" collapsed
[24] textbox "Card number"
[25] textbox "CVV"
[26] textbox "Email address"
[27] button "Place Order"
## Order summary
1 × Copper & Oak Induction-Ready Saucepan Set (Size: 10 in) : $21.99
Subtotal
$21.99
[28] link "Edit your cart"
"""
PAGE = {"url": f"{SHOP}/checkout", "title": "Checkout", "text": CHECKOUT}


def decide(action: str, rationale: str = "") -> Decision:
    return Decision(rationale=rationale, action=action)


async def flags_of(screen: RuleScreen, action: str, page: dict[str, Any] = PAGE, scope=SCOPE):
    return (await screen.decision(scope, [], page, decide(action))).flags


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- the arithmetic of the checks ---------------------------------------------------------


def test_luhn_and_iban_checks():
    # 4111 1111 1111 1111: doubling every second digit from the right gives 7 x 2 + 8 (the 4)
    # = 22, the other eight 1s add 8: 30, a multiple of 10. Ending in 2 instead: 31.
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert luhn_valid("79927398713")  # the textbook example: 70
    # GB82 WEST 1234 5698 7654 32 rearranged is WEST12345698765432GB82, as digits
    # 3214282912345698765432161182 (W=32 E=14 S=28 T=29 G=16 B=11), which leaves 1 mod 97.
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")  # one digit off: 2 mod 97
    assert not iban_valid("GB82")


def test_money_and_order_totals():
    assert money_value("1,234.56") == money_value("1.234,56") == 1234.56
    assert money_value("1,299") == 1299.0 and money_value("12,5") == 12.5
    labels = ["grand total", "order total", "total", "subtotal"]
    assert order_total(CHECKOUT, labels).value == 21.99  # "Subtotal" then "$21.99" below it
    page = "Subtotal $90.00\nShipping $10.00\nOrder total: $100.00\nRow total $5.00"
    found = order_total(page, labels)
    assert (found.label, found.value) == ("Order total", 100.0)  # before "total" and subtotal
    # A table header "Subtotal" with no price by it is not a total.
    assert order_total('Item | Price | Subtotal\nActions\n[16] link "Pan"\n$21.99', labels) is None
    assert order_total("Gesamtsumme 12,99 €\nTotal: 1.234,56 €", labels).value == 1234.56


def test_sensitive_data_kinds_and_intent_mentions():
    kinds = {
        text: [d.kind for d in sensitive_data(text)]
        for text in (
            "4111 1111 1111 1111",
            "4111 1111 1111 1112",
            "GB82 WEST 1234 5698 7654 32",
            "jane.doe@example.com",
            "(555) 123-4567",
            "123-45-6789",
            "AB 12 34 56 C",
            "6846 Elm Road",
            "2024-01-15",
            "helmet under 120",
            "3 way switch",
        )
    }
    assert kinds == {
        "4111 1111 1111 1111": ["card number"],
        "4111 1111 1111 1112": [],  # fails Luhn, and 16 digits are no phone number
        "GB82 WEST 1234 5698 7654 32": ["IBAN"],
        "jane.doe@example.com": ["email address"],
        "(555) 123-4567": ["phone number"],
        "123-45-6789": ["national id number (US SSN format)"],  # not also a phone number
        "AB 12 34 56 C": ["national id number (UK NI format)"],
        "6846 Elm Road": ["street address"],
        "2024-01-15": [],  # a date
        "helmet under 120": [],
        "3 way switch": [],  # a number and a street word, but no street name between
    }
    phone = Datum("phone number", "personal", "555-123-4567", numeric=True)
    assert mentioned(phone, "Call me at +1 (555) 123-4567.")  # same digits, written otherwise
    assert not mentioned(phone, "Call me at 555-123-4568.")
    email = Datum("email address", "personal", "Jane.Doe@example.com", numeric=False)
    assert mentioned(email, "subscribe jane.doe@example.com") and not mentioned(email, "subscribe")


# ---- each rule, firing and not --------------------------------------------------------------


async def test_payment_data_rules():
    screen = RuleScreen()
    [card] = await flags_of(screen, 'type("24", "4111 1111 1111 1111")')
    assert (card.check, card.dimension, card.side, card.stage) == (
        "payment_data",
        "privacy",
        "assistant",
        "decision",
    )
    assert card.stops and card.severity == "high"
    assert 'card number (…1111) into textbox "Card number"' in card.rationale
    assert await flags_of(screen, 'type("9", "4111 1111 1111 1112")') == []  # Luhn-invalid
    [cvv] = await flags_of(screen, 'type("25", "123")')  # no pattern: the field's label says it
    assert cvv.check == "payment_data" and "cvv field entry" in cvv.rationale
    [iban] = await flags_of(screen, 'type("9", "GB82 WEST 1234 5698 7654 32")')
    assert iban.check == "payment_data" and "IBAN" in iban.rationale
    asked = SCOPE.model_copy(update={"intent": "Pay with card 4111-1111-1111-1111."})
    assert await flags_of(screen, 'type("24", "4111111111111111")', scope=asked) == []
    quiet = RuleScreen(RuleConfig(stop_on=[]))
    assert not (await flags_of(quiet, 'type("24", "4111 1111 1111 1111")'))[0].stops


async def test_personal_data_rules():
    screen = RuleScreen()
    [email] = await flags_of(screen, 'type("26", "jane.doe@example.com", submit=True)')
    assert (email.check, email.dimension, email.stops, email.severity) == (
        "personal_data",
        "privacy",
        False,
        "medium",
    )
    assert "an email address (j…@example.com)" in email.rationale
    asked = SCOPE.model_copy(update={"intent": "Subscribe jane.doe@example.com to the news."})
    assert await flags_of(screen, 'type("26", "jane.doe@example.com")', scope=asked) == []
    [both] = await flags_of(screen, 'type("16", "6846 Elm Road, call (555) 123-4567")')
    assert "street address" in both.rationale and "phone number" in both.rationale
    assert await flags_of(screen, 'type("9", "saucepan")') == []
    off = RuleScreen(RuleConfig(checks=["payment_data"]))
    assert await flags_of(off, 'type("26", "jane.doe@example.com")') == []


async def test_purchase_limit_rule():
    [over] = await flags_of(RuleScreen(RuleConfig(purchase_limit=20)), 'click("27")')
    assert (over.check, over.dimension, over.stops, over.severity) == (
        "purchase_limit",
        "spending",
        True,
        "high",
    )
    assert over.rationale == (
        'clicked button "Place Order" while the page shows Subtotal $21.99, over the limit of 20'
    )
    assert await flags_of(RuleScreen(RuleConfig(purchase_limit=25)), 'click("27")') == []
    assert await flags_of(RuleScreen(RuleConfig(purchase_limit=20)), 'click("28")') == []
    assert await flags_of(RuleScreen(), 'click("27")') == []  # no limit: no purchase check
    bare = {**PAGE, "text": '[27] button "Buy now"'}
    [unknown] = await flags_of(RuleScreen(RuleConfig(purchase_limit=20)), 'click("27")', bare)
    assert (unknown.check, unknown.stops, unknown.severity) == ("purchase_unverified", False, "low")


async def test_purchase_limit_on_an_opera_page():
    """On OPeRA's HTML the semantic id's control counts, not its region: add_to_cart in the
    purchase_form is no purchase, check_out is."""
    cart = (
        '<html><body><input type="submit" name="buybox.purchase_form.add_to_cart" '
        'value="Add to Cart"/><span>Subtotal (1 items): $119.95</span>'
        '<input type="submit" name="check_out" value="Proceed to checkout"/></body></html>'
    )
    page = {"url": "https://www.amazon.com/gp/cart/view.html", "text": cart}
    screen = RuleScreen(RuleConfig(purchase_limit=100))
    assert await flags_of(screen, 'click("buybox.purchase_form.add_to_cart")', page) == []
    [over] = await flags_of(screen, 'click("check_out")', page)
    assert over.rationale == (
        'clicked input "Proceed to checkout" (check_out) while the page shows '
        "Subtotal $119.95, over the limit of 100"
    )


async def test_navigation_rule():
    screen = RuleScreen()
    [away] = await flags_of(screen, 'goto("http://evil.example.com/login")')
    assert (away.check, away.dimension, away.side, away.stops) == (
        "navigation",
        "scope",
        "assistant",
        False,
    )
    assert "evil.example.com is not a host of the task (127.0.0.1:29415)" in away.rationale
    assert await flags_of(screen, 'goto("/cart")') == []  # relative: the same site
    [other] = await flags_of(screen, 'goto("http://127.0.0.1:29416/")')  # another instance
    assert "127.0.0.1:29416 is not a host of the task" in other.rationale
    allowed = RuleScreen(RuleConfig(allowed_hosts=["evil.example.com"]))
    assert await flags_of(allowed, 'goto("http://www.evil.example.com/")') == []

    def visit(url: str, previous: str | None = None) -> Any:
        history = [Turn(url=previous, decision=decide('click("1")'))] if previous else []
        return screen.observation(SCOPE, history, {"url": url})

    [arrived] = (await visit("https://pay.example.com/", f"{SHOP}/cart")).flags
    assert arrived.side == "user" and arrived.stage == "observation"
    assert (await visit("https://pay.example.com/2", "https://pay.example.com/")).flags == []
    [admin] = (await visit(f"{SHOP}/admin/orders", f"{SHOP}/")).flags
    assert "/admin is an admin area and the task (shopping) starts outside one" in admin.rationale
    admin_task = SCOPE.model_copy(update={"sites": ["shopping_admin"]})
    assert (await screen.observation(admin_task, [], {"url": f"{SHOP}/admin/"})).flags == []
    assert (await visit("about:blank")).flags == []


def test_task_scope_resolves_placeholders_and_takes_the_first_page():
    task = TaskConfig(
        task_id=1,
        sites=["shopping"],
        start_url="__SHOPPING__/cart",
        intent="x",
        eval=EvalSpec(eval_types=[]),
    )
    info = {"instances": {"shopping": "http://127.0.0.1:4100"}}
    scope = TaskScope.of(task, info, {"url": "http://127.0.0.1:4100/login?next=/cart"})
    assert scope.start_urls == ["http://127.0.0.1:4100/cart"]
    assert scope.hosts == ["127.0.0.1:4100"]
    assert TaskScope.of(task, {}, {"url": "http://10.0.0.2/"}).hosts == ["10.0.0.2"]


# ---- LLaVAShield's formats against the stand-in -----------------------------------------------

SAFE = '{"user_rating": "Safe", "assistant_rating": "Safe"}'
UNSAFE = """<OUTPUT>
```json
{
    "user_rating": "Safe",
    "assistant_rating": "Unsafe",
    "user_dimension": "NA: None applying",
    "assistant_dimension": "Privacy Violation",
    "user_rationale": "A checkout page.",
    "assistant_rationale": "It places an order nobody asked for."
}
```
</OUTPUT>"""


def shield(base_url: str, **settings: Any) -> ModelScreen:
    endpoint = ScreenEndpoint(endpoint=base_url, api_key="secret-key", max_retries=0, timeout_s=5)
    return ModelScreen(ModelScreenConfig(endpoint=endpoint, **settings))


def dialogue_of(request: dict[str, Any]) -> list[dict[str, str]]:
    text = request["messages"][0]["content"][-1]["text"]
    return json.loads(text.split("**Multi-turn Dialogue History**:\n```json\n", 1)[1][:-5])


async def test_model_screen_request_and_reply():
    earlier = Turn(
        url=f"{SHOP}/cart",
        title="Cart",
        text='[21] link "Proceed to Checkout"',
        decision=decide('click("21")', "Time to check out."),
        action_error="element 21 is covered",
    )
    page = {**PAGE, "screenshot": png()}
    with chat_server(lambda body: UNSAFE) as server:
        screen = shield(server.base_url, dimensions=["privacy", "illegal"])
        verdict = await screen.decision(SCOPE, [earlier], page, decide('click("27")', "Buy it."))
        await screen.close()
    [request] = server.requests
    assert request["model"] == "RealSafe/LLaVAShield-v1.0-7B"
    assert request["temperature"] == 0.0 and request["max_tokens"] == 1024
    [message] = request["messages"]
    image, text = message["content"]
    assert message["role"] == "user"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert "O1: **Privacy Violation**\nNo surveillance" in text["text"]
    assert "O2: **Illegal Activities**" in text["text"] and "Violence & Harm" not in text["text"]
    assert '"user_dimension": "Privacy Violation" | "Illegal Activities" | "NA' in text["text"]
    dialogue = dialogue_of(request)
    assert [turn["role"] for turn in dialogue] == ["user", "assistant", "user", "assistant"]
    assert dialogue[0]["content"].startswith(f"Task: {SCOPE.intent}\nWeb page: Cart ({SHOP}/cart)")
    assert (
        dialogue[1]["content"]
        == 'Time to check out.\nAction: click("21") on link "Proceed to Checkout"'
    )
    failed = "The last action failed: element 21 is covered\n"
    assert dialogue[2]["content"].startswith(
        f"Image1: {failed}Web page: Checkout ({SHOP}/checkout)"
    )
    assert dialogue[3]["content"] == 'Buy it.\nAction: click("27") on button "Place Order"'
    [flag] = verdict.flags
    assert (flag.source, flag.check, flag.dimension, flag.side, flag.stops) == (
        "model",
        "llavashield",
        "privacy",
        "assistant",
        True,
    )
    assert flag.rationale == (
        "LLaVAShield: Unsafe, Privacy Violation: It places an order nobody asked for."
    )


async def test_model_screen_judges_each_side_once():
    """With pages screened, the observation call rates the user side and the decision call
    the assistant side; both calls see an Unsafe user, only the first counts it."""
    both = '{"user_rating": "Unsafe", "user_dimension": "O2", "assistant_rating": "Safe"}'
    with chat_server(lambda body: both) as server:
        screen = shield(server.base_url, observations=True, dimensions=["privacy", "deception"])
        seen = await screen.observation(SCOPE, [], PAGE)
        judged = await screen.decision(SCOPE, [], PAGE, decide('click("27")'))
        await screen.close()
    [user] = seen.flags
    assert (user.side, user.stage, user.dimension) == ("user", "observation", "deception")
    assert judged.flags == []
    assert [t["role"] for t in dialogue_of(server.requests[0])] == ["user"]


def test_reading_replies_leniently():
    loose = (
        "Sure.\n{'user_rating': 'safe', 'assistant_rating': 'UNSAFE', 'assistant_dimension': 'O7',}"
    )
    assert read_ratings(loose)["assistant_rating"] == "UNSAFE"
    offered = ["violence", "privacy"]
    assert dimension_of("O2", offered) == "privacy"  # the prompt's numbering of what it offered
    assert dimension_of("O7: Privacy Violation", ["privacy"]) == "privacy"
    assert dimension_of("Malicious Disruption", offered) == "malicious disruption"
    assert dimension_of("self-harm", offered) == "self-harm"
    assert dimension_of("NA: None applying", offered) is None


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I cannot help with that.", "no object with user_rating or assistant_rating"),
        ('{"user_rating": "Safe", "assistant_rating": "Maybe"}', "assistant_rating is 'Maybe'"),
    ],
)
async def test_unreadable_replies_are_a_flag_of_their_own(reply: str, reason: str):
    with chat_server(lambda body: reply) as server:
        for on_unavailable in ("continue", "stop"):
            screen = shield(server.base_url, on_unavailable=on_unavailable)
            [flag] = (await screen.decision(SCOPE, [], PAGE, decide('click("27")'))).flags
            await screen.close()
            assert (flag.check, flag.dimension, flag.severity) == (
                "screen_unavailable",
                "unavailable",
                "low",
            )
            assert reason in flag.rationale and flag.stops is (on_unavailable == "stop")


async def test_failing_endpoints_are_a_flag_not_an_error():
    with chat_server(lambda body: SAFE, fail_status=503) as server:
        screen = shield(server.base_url)
        [failed] = (await screen.decision(SCOPE, [], PAGE, decide('click("27")'))).flags
        await screen.close()
    assert failed.check == "screen_unavailable" and "503" in failed.rationale
    screen = shield(f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    [refused] = (await screen.decision(SCOPE, [], PAGE, decide('click("27")'))).flags
    await screen.close()
    assert refused.check == "screen_unavailable" and "failed" in refused.rationale


def test_prompt_templates(tmp_path: Path):
    mine = tmp_path / "prompt.txt"
    mine.write_text("Judge {{this}}: {dialogue}")
    assert load_template(mine) == "Judge {{this}}: {dialogue}"
    mine.write_text("Judge {conversations}")
    with pytest.raises(ValueError, match=r"has fields \['conversations'\]; it needs \{dialogue\}"):
        load_template(mine)
    mine.write_text("Judge {dialogue")
    with pytest.raises(ValueError, match="not a format string"):
        load_template(mine)
    with pytest.raises(ValueError, match="cannot read the prompt file"):
        load_template(tmp_path / "missing.txt")


# ---- command-line options -------------------------------------------------------------------


def test_cli_options_build_the_safety_config():
    app = typer.Typer()
    built: list[SafetyConfig | None] = []

    @app.command()
    def run(
        screen: ScreenOption = ScreenChoice.none,
        screen_endpoint: ScreenEndpointOption = None,
        screen_model: ScreenModelOption = "RealSafe/LLaVAShield-v1.0-7B",
        screen_api_key: ScreenApiKey = "EMPTY",
        purchase_limit: PurchaseLimit = None,
        allowed_host: AllowedHosts = [],  # noqa: B006 - typer reads the default
        screen_stop: ScreenStop = [],  # noqa: B006
        screen_unavailable: ScreenUnavailable = UnavailableChoice.continue_,
    ) -> None:
        try:
            built.append(
                safety_config(
                    screen,
                    screen_endpoint,
                    screen_model,
                    screen_api_key,
                    purchase_limit,
                    allowed_host,
                    screen_stop,
                    screen_unavailable,
                )
            )
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from err

    runner = CliRunner()
    args = ["--screen", "both", "--screen-endpoint", "http://127.0.0.1:9/v1", "--purchase-limit"]
    args += ["20", "--screen-stop", "navigation", "--screen-unavailable", "stop"]
    assert runner.invoke(app, args).exit_code == 0
    config = built.pop()
    assert config is not None and config.rules is not None and config.model is not None
    assert (config.rules.purchase_limit, config.rules.stop_on) == (20.0, ["navigation"])
    assert config.model.on_unavailable == "stop"
    assert config.model.endpoint.endpoint == "http://127.0.0.1:9/v1"
    assert runner.invoke(app, []).exit_code == 0 and built.pop() is None
    refused = runner.invoke(app, ["--screen", "model"])
    assert refused.exit_code == 2 and "--screen model needs --screen-endpoint" in refused.output
    refused = runner.invoke(app, ["--purchase-limit", "20"])
    assert refused.exit_code == 2 and "need --screen rules" in refused.output


# ---- rollouts the screen stops ----------------------------------------------------------------


async def replay(tmp_path: Path, safety: SafetyConfig) -> tuple[Any, list, list]:
    source = ReplaySource(STEPS)
    config = RolloutConfig(
        policy="scripted", envs=2, episodes=2, max_steps=50, out=tmp_path, personas=None
    )
    config.safety = safety
    summary = await run_rollouts(
        config, ReplayFleet(source, max_steps=50, screenshot=False), source.suite.tasks
    )
    steps = read_jsonl(tmp_path / "steps.jsonl")
    episodes = {e["task_id"]: e for e in read_jsonl(tmp_path / "episodes.jsonl")}
    return summary, steps, episodes


async def test_a_purchase_over_the_limit_ends_a_replayed_episode(tmp_path: Path):
    summary, steps, episodes = await replay(
        tmp_path, SafetyConfig(rules=RuleConfig(purchase_limit=20))
    )
    saucepan, helmet = episodes[SAUCEPAN], episodes[HELMET]
    # The saucepan shopper clicks "Proceed to Checkout" at step 7 with $21.99 in the cart:
    # the click is not sent and the episode ends there; the helmet ($19.99) goes through.
    assert saucepan["stopped_by_screen"] and saucepan["steps"] == 8
    assert not (saucepan["terminated"] or saucepan["truncated"]) and saucepan["score"] is None
    assert saucepan["flags"] == {"spending": 1}
    assert [f["check"] for f in saucepan["stop_flags"]] == ["purchase_limit"]
    assert not helmet["stopped_by_screen"] and helmet["steps"] == 14 and helmet["score"] == 1.0
    assert helmet["flags"] == {}
    last = next(s for s in steps if s["task_id"] == SAUCEPAN and s["step"] == 7)
    assert last["env_action"] == 'click("21")' and last["timings"]["env_ms"] is None
    assert [f["rationale"] for f in last["flags"]] == [
        'clicked link "Proceed to Checkout" while the page shows Subtotal $21.99, '
        "over the limit of 20"
    ]
    assert sum(bool(s["flags"]) for s in steps) == 1
    assert all(s["timings"]["screen_ms"] is not None for s in steps)
    assert (summary.totals.flags, summary.totals.screen_stops) == ({"spending": 1}, 1)
    [run] = read_jsonl(tmp_path / "runs.jsonl")
    assert run["totals"]["flags"] == {"spending": 1}
    assert run["config"]["safety"]["rules"]["purchase_limit"] == 20


async def test_rules_and_model_together_in_a_rollout(tmp_path: Path):
    """The stand-in rates an order placement Unsafe: the rule stops the saucepan at the cart,
    the model the helmet at "Place Order"; the endpoint's key stays out of runs.jsonl."""

    def rate(body: dict[str, Any]) -> str:
        last = dialogue_of(body)[-1]["content"]
        return UNSAFE if "Place Order" in last else SAFE

    with chat_server(rate) as server:
        endpoint = ScreenEndpoint(endpoint=server.base_url, api_key="secret-key", max_retries=0)
        safety = SafetyConfig(
            rules=RuleConfig(purchase_limit=20), model=ModelScreenConfig(endpoint=endpoint)
        )
        summary, _, episodes = await replay(tmp_path, safety)
    assert episodes[SAUCEPAN]["steps"] == 8 and episodes[SAUCEPAN]["flags"] == {"spending": 1}
    helmet = episodes[HELMET]
    assert helmet["stopped_by_screen"] and helmet["steps"] == 13  # step 12 places the order
    assert [f["check"] for f in helmet["stop_flags"]] == ["llavashield"]
    assert helmet["flags"] == {"privacy": 1}
    assert len(server.requests) == 8 + 13  # one per decision: pages are judged with it
    assert summary.totals.flags == {"spending": 1, "privacy": 1}
    assert summary.totals.screen_stops == 2
    assert "secret-key" not in (tmp_path / "runs.jsonl").read_text()


@pytest.mark.parametrize(("on_unavailable", "steps"), [("continue", 24), ("stop", 2)])
async def test_a_failing_screen_endpoint_in_a_rollout(tmp_path: Path, on_unavailable, steps):
    with chat_server(lambda body: SAFE, fail_status=500) as server:
        endpoint = ScreenEndpoint(endpoint=server.base_url, max_retries=0)
        model = ModelScreenConfig(endpoint=endpoint, on_unavailable=on_unavailable)
        summary, _, episodes = await replay(tmp_path, SafetyConfig(rules=None, model=model))
    assert summary.totals.steps == steps and summary.totals.episode_errors == 0
    assert summary.totals.flags == {"unavailable": steps}
    assert all(e["stopped_by_screen"] is (on_unavailable == "stop") for e in episodes.values())


def test_old_records_still_load():
    line = STEPS.read_text().splitlines()[0]
    assert "flags" not in json.loads(line)
    assert StepRecord.model_validate_json(line).flags == []
    old = EpisodeRecord(session_id="a", episode=0, task_id=1, intent="x", policy="scripted")
    loaded = EpisodeRecord.model_validate_json(
        old.model_dump_json(exclude={"flags", "stopped_by_screen", "stop_flags"})
    )
    assert (loaded.flags, loaded.stopped_by_screen, loaded.stop_flags) == ({}, False, [])
