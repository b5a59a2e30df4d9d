"""The scripted and random shoppers on pages as the shop renders them (compact text), no browser."""

from __future__ import annotations

import json
from collections.abc import Mapping

from webserv.browser.actions import parse
from webserv.policy.base import Turn
from webserv.policy.persona import Persona
from webserv.policy.random_shopper import RandomShopper
from webserv.policy.scripted import ScriptedShopper, elements, listing, product_page

BASE = "http://127.0.0.1:9000"
MODAL = """(a modal dialog is open; the page behind it is inert)
## Cookies and our newsletter
[1] textbox "Email address" focused
[2] button "Subscribe"
[3] button "Accept cookies and close"
"""
HEADER = """[6] link "Northgate Market home"
[7] combobox "Search" collapsed
[8] button "Search"
[9] link "Shopping cart, {n} items"
"""
RESULTS = (
    HEADER
    + """# Search results for: 'jacket'
[17] textbox "Minimum price ($)"
[18] textbox "Maximum price ($)"
[19] combobox "Minimum rating" value="Any rating" options=[Any rating | 4 stars & up | 3 stars & up]
[21] button "Apply filters"
[22] link "Clear all filters"
## Products
[23] combobox "Sort by" value="Featured" options=[Featured | Price: low to high | Top rated]
[24] button "Sort"
[25] link "Marlowe Lightweight Rain Jacket"
### [26] link "Marlowe Lightweight Rain Jacket"
Marlowe
img "Rated 4.5 out of 5"
(2 reviews)
$27.99
[27] link "Choose options"
[28] link "Summit Peak \\"Alpine\\" Shell Jacket"
### [29] link "Summit Peak \\"Alpine\\" Shell Jacket"
img "Rated 3.0 out of 5"
$1,099.00
Regular price
$1,299.00
[30] link "Choose options"
## Customer service
"""
)
PRODUCT = (
    HEADER
    + """# Marlowe Lightweight Rain Jacket
img "Rated 4.5 out of 5"
[22] link "2 reviews"
$27.99
In stock (30 available)
[23] combobox "Size" value="{size}" options=[Choose an option... | S | M | L] required
[26] textbox "Qty" value="1" required
[27] button "Add to Cart"
[28] button "Add to Wish List"
"""
)
CART = HEADER + '# Shopping Cart\n$27.99\n[21] link "Proceed to Checkout"\n'
CHECKOUT = (
    HEADER + '# Checkout\n[24] radio "Standard shipping" checked\n[27] button "Place Order"\n'
)


def obs(text: str, path: str = "/", n: int = 0) -> dict[str, object]:
    return {"url": BASE + path, "title": "t", "text": text.replace("{n}", str(n)), "goal": "g"}


SHOPPER = Persona(
    name="Test Shopper",
    age=40,
    searches=["jacket"],
    budget=100,
    sort="Price: low to high",
    compare=1,
    buy_probability=1.0,
)


async def test_reading_a_listing_and_a_product_page():
    products = listing(RESULTS.replace("{n}", "0"))
    assert [(p.name, p.price, p.rating) for p in products] == [
        ("Marlowe Lightweight Rain Jacket", 27.99, 4.5),
        ('Summit Peak "Alpine" Shell Jacket', 1099.0, 3.0),
    ]
    page = PRODUCT.replace("{size}", "S").replace("{n}", "0")
    product = product_page(page)
    assert product is not None and (product.name, product.price) == (products[0].name, 27.99)
    search = next(e for e in elements(page) if e.role == "combobox" and e.name == "Search")
    assert search.id == "7" and not search.heading


async def test_a_whole_purchase_with_rationales():
    shopper = ScriptedShopper(SHOPPER, seed=1)
    pages = [
        (obs(MODAL), 'click("3")'),
        (obs(HEADER), 'type("7", "jacket", submit=True)'),
        (obs(RESULTS, "/search?q=jacket"), 'type("18", "100", submit=True)'),
        (obs(RESULTS, "/search?q=jacket&price_max=100"), 'select("23", "Price: low to high")'),
        (obs(RESULTS, "/search?q=jacket&price_max=100"), 'click("24")'),
        (obs(RESULTS, "/search?q=jacket&sort=price_asc"), 'click("25")'),
    ]
    chosen = PRODUCT.replace("{size}", "Choose an option...")
    history: list[Turn] = []
    for observation, expected in pages:
        decision = await shopper.act(observation, history)
        assert decision.action == expected, decision
        assert decision.rationale and json.loads(decision.raw_output)["rationale"]
        history.append(Turn(text=str(observation["text"]), decision=decision))
    # one product to compare: it is the pick; a size first, then the cart
    pick_size = await shopper.act(obs(chosen, "/products/9"), history)
    assert pick_size.action is not None and pick_size.action.startswith('select("23", ')
    assert pick_size.action.split('"')[3] in {"S", "M", "L"}
    picked = PRODUCT.replace("{size}", "M")
    assert (await shopper.act(obs(picked, "/products/9"), history)).action == 'click("27")'
    added = await shopper.act(obs(picked, "/products/9", 1), history)
    assert added.action == 'click("9")'
    assert (await shopper.act(obs(CART, "/cart", 1), history)).action == 'click("21")'
    assert (await shopper.act(obs(CHECKOUT, "/checkout", 1), history)).action == 'click("27")'
    done = await shopper.act(obs(HEADER, "/checkout/success/000000061", 0), history)
    assert done.action == "stop()" and done.opera_action == {"type": "terminate"}


async def test_over_budget_it_leaves_without_buying():
    frugal = SHOPPER.model_copy(update={"budget": 10.0, "sort": None})
    shopper = ScriptedShopper(frugal, seed=0)
    for observation in (obs(HEADER), obs(RESULTS, "/search?q=jacket")):
        await shopper.act(observation, [])
    look = await shopper.act(obs(RESULTS, "/search?q=jacket&price_max=10"), [])
    assert look.action == 'click("25")'
    leave = await shopper.act(obs(PRODUCT.replace("{size}", "S"), "/products/9"), [])
    assert leave.action == "stop()" and "budget" in leave.rationale


async def test_a_shopper_who_does_not_buy_stops_after_adding():
    browser = SHOPPER.model_copy(update={"buy_probability": 0.0, "budget": None, "sort": None})
    shopper = ScriptedShopper(browser, seed=0)
    await shopper.act(obs(HEADER), [])
    await shopper.act(obs(RESULTS, "/search?q=jacket"), [])
    page = PRODUCT.replace("{size}", "S")
    assert (await shopper.act(obs(page, "/products/9"), [])).action == 'click("27")'
    after = await shopper.act(obs(page, "/products/9", 1), [])
    assert after.action == "stop()" and "think about it" in after.rationale


async def random_actions(seed: int, page: Mapping[str, object], n: int = 30) -> list[str | None]:
    shopper = RandomShopper(seed)
    return [(await shopper.act(page, [])).action for _ in range(n)]


async def test_random_shopper_speaks_the_protocol():
    shopper = RandomShopper(seed=3)
    decisions = [await shopper.act(obs(RESULTS, "/search"), []) for _ in range(30)]
    assert all(d.action and d.format_ok and not d.format_error for d in decisions)
    kinds = {d.action.split("(")[0] for d in decisions if d.action}
    assert {"click", "type"} <= kinds


async def test_random_shopper_is_reproducible_and_acts_on_visible_ids():
    page = obs(MODAL, "/")
    actions = await random_actions(5, page)
    assert actions == await random_actions(5, page)
    assert actions != await random_actions(6, page)
    for action in actions:
        assert action is not None
        parsed = parse(action)
        if "id" in parsed.args:
            assert parsed.args["id"] in {"1", "2", "3"}


async def test_a_persona_without_searches_looks_for_the_task():
    """A recorded shopper's survey persona names no searches: the task's words are searched."""
    surveyed = Persona(name="u1", profile="In a survey about your shopping you said: ...")
    task = {**obs(HEADER), "goal": "a rain jacket"}
    decision = await ScriptedShopper(surveyed, seed=0).act(task, [])
    assert decision.action == 'type("7", "a rain jacket", submit=True)'
    untasked = await ScriptedShopper(surveyed, seed=0).act({**task, "goal": ""}, [])
    assert untasked.action == "stop()"
