"""A scripted, persona-driven shopper: the baseline a model shopper is compared with.

It reads the compact page text the way a model would (element lines ``[id] role "name"``)
and shops like its :class:`~webserv.policy.persona.Persona`: it closes the cookie dialog,
searches for one of the persona's searches, narrows the results (a price cap at the
persona's budget, a minimum rating, its preferred sort order), opens ``compare`` products
one after the other, picks the one that suits it best (cheapest within budget, or best
rated), chooses its options, adds it to the cart, buys it with probability
``buy_probability`` (cart, checkout, place order) and stops. Each step comes with a
first-person rationale, so its trajectories read like the SFT data of Shop-R1.

On an OPeRA page (simplified HTML whose elements carry semantic ids, see
:mod:`.opera_page`) it follows the same plan in OPeRA's terms, reading what has been done
from the history (in an offline replay, the recorded shopper's steps): it clicks the search
box and types the task's intent, or else one of the persona's searches; on search results it
opens the first product not yet opened; on a product page it buys it now or adds it to the
cart; with the product in the cart it checks out if it buys, and otherwise it stops. With
neither an intent nor searches (a persona made of a recorded shopper's survey) it stops where
it would type.

It is deterministic for a given persona and seed. A page it does not expect ends the
session (``stop()``) instead of wandering.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webserv.policy.base import Decision, Turn, scripted_decision
from webserv.policy.opera_page import NamedElement, OperaPage, control_of, item_of, read_page
from webserv.policy.persona import Persona

_LINE = re.compile(r'^(?:#+ )?\[(\d+(?:\.\d+)*)\] (\w+)(?: "((?:[^"\\]|\\.)*)")?(.*)$')
_PRICE = re.compile(r"^\$(\d[\d,]*\.\d\d)$")
_RATING = re.compile(r'^img "Rated (\d(?:\.\d)?) out of 5"$')
_UNCHOSEN = "Choose an option..."
MODAL = "(a modal dialog is open"
MAX_STEPS = 40
#: The controls that put a product in the cart on an OPeRA page.
_CART_CONTROLS = frozenset({"add_to_cart", "buy_now"})


@dataclass(frozen=True)
class Element:
    """One element line of a page."""

    id: str
    role: str
    name: str
    rest: str
    heading: bool


@dataclass(frozen=True)
class Product:
    """A product as a listing or its own page shows it."""

    name: str
    price: float | None
    rating: float | None


def elements(text: str) -> list[Element]:
    """The element lines of a compact page, in reading order."""
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            name = json.loads(f'"{match.group(3)}"') if match.group(3) is not None else ""
            found.append(
                Element(match.group(1), match.group(2), name, match.group(4), line.startswith("#"))
            )
    return found


def listing(text: str) -> list[Product]:
    """The products of a listing page: each heading link followed by its price and rating."""
    products: list[Product] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and line.startswith("#") and match.group(2) == "link":
            if current and current["price"] is not None:
                products.append(Product(**current))
            current = {"name": json.loads(f'"{match.group(3)}"'), "price": None, "rating": None}
            continue
        if current is None:
            continue
        price, rating = _PRICE.match(line), _RATING.match(line)
        if price and current["price"] is None:
            current["price"] = float(price.group(1).replace(",", ""))
        elif rating:
            current["rating"] = float(rating.group(1))
        elif line.startswith("#"):
            if current["price"] is not None:
                products.append(Product(**current))
            current = None
    if current and current["price"] is not None:
        products.append(Product(**current))
    return products


def product_page(text: str) -> Product | None:
    """The product a product page shows (its h1, first price and rating)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# ") and not _LINE.match(line):
            name = line[2:].strip()
            price = rating = None
            for after in lines[i + 1 : i + 12]:
                if price is None and (m := _PRICE.match(after)):
                    price = float(m.group(1).replace(",", ""))
                if rating is None and (m := _RATING.match(after)):
                    rating = float(m.group(1))
            if price is not None:
                return Product(name, price, rating)
    return None


def find(
    found: Sequence[Element], role: str | tuple[str, ...], name: str, *, prefix: bool = False
) -> Element | None:
    """The first element of ``role`` named ``name`` (or starting with it)."""
    roles = (role,) if isinstance(role, str) else role
    for element in found:
        if element.role in roles and (
            element.name.startswith(name) if prefix else element.name == name
        ):
            return element
    return None


def _value(element: Element) -> str:
    match = re.search(r'value="((?:[^"\\]|\\.)*)"', element.rest)
    return json.loads(f'"{match.group(1)}"') if match else ""


def _options(element: Element) -> list[str]:
    match = re.search(r"options=\[(.*?)(?: \| \+\d+ more)?\]", element.rest)
    return [o.strip() for o in match.group(1).split(" | ")] if match else []


@dataclass
class _State:
    queries: list[str]
    searched: str | None = None
    narrowed: set[str] = field(default_factory=set)
    seen: list[Product] = field(default_factory=list)
    chosen: Product | None = None
    added: bool = False
    buying: bool = False
    steps: int = 0


class ScriptedShopper:
    """A persona-driven shopper without a model (see the module docstring)."""

    name = "scripted"

    def __init__(self, persona: Persona, seed: int = 0) -> None:
        self.persona = persona
        self.rng = random.Random(seed)
        queries = list(persona.searches)
        self.rng.shuffle(queries)
        self.state = _State(queries=queries)
        self.buys = self.rng.random() < persona.buy_probability

    async def act(self, observation: Mapping[str, Any], history: Sequence[Turn]) -> Decision:
        started = time.perf_counter()
        self.state.steps += 1
        if self.state.steps == 1 and not self.persona.searches:
            # A persona without searches (a recorded shopper's survey) looks for the task.
            goal = str(observation.get("goal", "")).strip()
            self.state.queries = [goal] if goal else []
        text = str(observation.get("text", ""))
        page = read_page(text)
        if page is None:
            rationale, action = self._next(text, observation)
        else:
            rationale, action = self._opera_next(page, str(observation.get("goal", "")), history)
        return scripted_decision(rationale, action, started)

    # -- the script ----------------------------------------------------------------------

    def _next(self, text: str, observation: Mapping[str, Any]) -> tuple[str, str]:
        state, found = self.state, elements(text)
        url = str(observation.get("url", ""))
        if state.steps > MAX_STEPS:
            return "I have spent long enough on this site.", "stop()"
        if MODAL in text:
            button = find(found, "button", "Accept", prefix=True) or find(
                found, "button", "Close", prefix=True
            )
            if button is None:
                return "A dialog I cannot close is in the way, so I leave.", "stop()"
            return "A pop-up is in the way; I close it to see the shop.", _click(button)
        if "/checkout/success" in url:
            return "My order went through, so I am done here.", "stop()"
        if "/checkout" in url:
            return self._checkout(found)
        if "/cart" in url and state.buying:
            checkout = find(found, "link", "Proceed to Checkout")
            if checkout is None:
                return "The cart does not let me check out, so I give up.", "stop()"
            return "Everything I want is in the cart; time to check out.", _click(checkout)
        if state.added:
            return self._after_adding(found)
        if state.searched is None:
            return self._search(found)
        if "/products/" in url:
            return self._product(text, found)
        return self._results(text, found)

    def _search(self, found: Sequence[Element]) -> tuple[str, str]:
        box = find(found, ("combobox", "searchbox", "textbox"), "Search")
        if box is None or not self.state.queries:
            return "I cannot find what I am looking for here.", "stop()"
        query = self.state.queries.pop(0)
        self.state.searched = query
        self.state.narrowed.clear()
        return (
            f"I am looking for {query}, so I search for it.",
            f"type({json.dumps(box.id)}, {json.dumps(query)}, submit=True)",
        )

    def _results(self, text: str, found: Sequence[Element]) -> tuple[str, str]:
        state, persona = self.state, self.persona
        products = listing(text)
        if not products:
            clear = find(found, "link", "Clear all filters")
            if state.narrowed and clear is not None and "cleared" not in state.narrowed:
                state.narrowed.add("cleared")
                return "My filters left nothing, so I clear them.", _click(clear)
            state.searched = None
            if not state.queries:
                return "Nothing here suits me, so I leave.", "stop()"
            return self._search(found)
        narrowing = self._narrow(found)
        if narrowing is not None:
            return narrowing
        seen = {p.name for p in state.seen}
        fresh = [p for p in products if p.name not in seen]
        if state.chosen is not None:
            target = find(found, "link", state.chosen.name)
            if target is not None:
                return f"I go back to the {state.chosen.name}; it is my pick.", _click(target)
        if fresh and len(state.seen) < persona.compare:
            product = fresh[0]
            target = find(found, "link", product.name)
            if target is not None:
                return (
                    f"The {product.name} at ${product.price:.2f} looks promising; I take a look.",
                    _click(target),
                )
        return self._choose(found)

    def _narrow(self, found: Sequence[Element]) -> tuple[str, str] | None:
        """One step of filtering or sorting the results the way the persona likes."""
        state, persona = self.state, self.persona
        if persona.budget is not None and "price" not in state.narrowed:
            field_ = find(found, "textbox", "Maximum price", prefix=True)
            if field_ is not None:
                state.narrowed.add("price")
                cap = f"{persona.budget:.0f}"
                return (
                    f"I do not want to pay more than ${cap}, so I set a price limit.",
                    f"type({json.dumps(field_.id)}, {json.dumps(cap)}, submit=True)",
                )
        if persona.min_rating is not None and "rating" not in state.narrowed:
            select = find(found, "combobox", "Minimum rating")
            wanted = f"{persona.min_rating} stars & up"
            if select is not None and wanted in _options(select):
                state.narrowed.add("rating")
                if _value(select) != wanted:
                    state.narrowed.add("rating-apply")
                    return (
                        f"I only trust products rated {persona.min_rating} stars or more.",
                        f"select({json.dumps(select.id)}, {json.dumps(wanted)})",
                    )
        if "rating-apply" in state.narrowed and "rating-applied" not in state.narrowed:
            apply = find(found, "button", "Apply filters")
            state.narrowed.add("rating-applied")
            if apply is not None:
                return "Now I apply that filter.", _click(apply)
        if persona.sort is not None and "sort" not in state.narrowed:
            select = find(found, "combobox", "Sort by")
            if select is not None and persona.sort in _options(select):
                state.narrowed.add("sort")
                if _value(select) != persona.sort:
                    state.narrowed.add("sort-apply")
                    return (
                        f'I like to see results sorted by "{persona.sort}".',
                        f"select({json.dumps(select.id)}, {json.dumps(persona.sort)})",
                    )
        if "sort-apply" in state.narrowed and "sort-applied" not in state.narrowed:
            state.narrowed.add("sort-applied")
            button = find(found, "button", "Sort")
            if button is not None:
                return "I re-sort the list.", _click(button)
        return None

    def _product(self, text: str, found: Sequence[Element]) -> tuple[str, str]:
        state = self.state
        product = product_page(text)
        if product is None:
            return "This page is not what I expected, so I leave.", "stop()"
        if state.chosen is not None and product.name == state.chosen.name:
            return self._add_to_cart(product, found)
        if product.name not in {p.name for p in state.seen}:
            state.seen.append(product)
        if len(state.seen) < self.persona.compare:
            return f"I have seen the {product.name}; let me compare it with another one.", "back()"
        return self._choose(found, here=product)

    def _choose(self, found: Sequence[Element], here: Product | None = None) -> tuple[str, str]:
        """Pick the best product seen so far; go to it (or add it, when it is this page)."""
        state, persona = self.state, self.persona
        if not state.seen:
            return "None of these interest me, so I leave.", "stop()"
        budget = persona.budget
        affordable = [p for p in state.seen if budget is None or (p.price or 0) <= budget]
        if not affordable:
            cheapest = min(state.seen, key=lambda p: p.price or 0)
            return (
                f"Even the {cheapest.name} is over my ${budget:.0f} budget; I leave.",
                "stop()",
            )
        if persona.min_rating is not None or persona.sort == "Top rated":
            best = max(affordable, key=lambda p: (p.rating or 0, -(p.price or 0)))
        else:
            best = min(affordable, key=lambda p: (p.price or 0, -(p.rating or 0)))
        state.chosen = best
        if here is not None and here.name == best.name:
            return self._add_to_cart(here, found)
        if here is not None:
            return f"The {best.name} suits me better; I go back to it.", "back()"
        target = find(found, "link", best.name)
        if target is None:
            return "I lost track of the product I wanted, so I leave.", "stop()"
        return f"The {best.name} suits me best; I open it again.", _click(target)

    def _add_to_cart(self, product: Product, found: Sequence[Element]) -> tuple[str, str]:
        for element in found:
            if element.role == "combobox" and _value(element) == _UNCHOSEN:
                options = [o for o in _options(element) if o != _UNCHOSEN]
                if options:
                    option = self.rng.choice(options)
                    return (
                        f"I need to pick a {element.name.lower()}; {option} it is.",
                        f"select({json.dumps(element.id)}, {json.dumps(option)})",
                    )
        button = find(found, "button", "Add to Cart")
        if button is None:
            return f"I cannot add the {product.name} to the cart, so I leave.", "stop()"
        self.state.added = True
        return f"The {product.name} is what I want; I add it to my cart.", _click(button)

    def _after_adding(self, found: Sequence[Element]) -> tuple[str, str]:
        if find(found, "link", "Shopping cart, 0 items") is not None:
            return "It would not go into my cart; I give up.", "stop()"
        if not self.buys:
            return "It is in my cart; I will think about it and come back later.", "stop()"
        cart = find(found, "link", "Shopping cart", prefix=True)
        if cart is None:
            return "I cannot find the cart, so I stop here.", "stop()"
        self.state.buying = True
        self.state.added = False
        return "I am happy with it and want to buy it now.", _click(cart)

    def _checkout(self, found: Sequence[Element]) -> tuple[str, str]:
        button = find(found, "button", "Place Order")
        if button is None:
            return "Checkout does not work for me, so I stop.", "stop()"
        return "My address is filled in and standard shipping is fine; I place the order.", _click(
            button
        )

    # -- on OPeRA pages ------------------------------------------------------------------

    def _opera_next(self, page: OperaPage, goal: str, history: Sequence[Turn]) -> tuple[str, str]:
        """The next step on an OPeRA page; what has been done is read from ``history``."""
        done = [t.decision.opera_action for t in history if t.decision.opera_action]
        clicked = [a["name"] for a in done if a.get("type") == "click" and a.get("name")]
        carted = any(control_of(name) in _CART_CONTROLS for name in clicked)
        buy_now, add = page.find("buy_now", "buybox"), page.find("add_to_cart", "buybox")
        if not carted and (buy_now or add):
            if self.buys and buy_now is not None:
                return "This is the one I want, and I am ready to buy it now.", _name(buy_now)
            if add is not None:
                return "This looks right for me; I add it to my cart.", _name(add)
            return "I am not ready to buy it outright, so I leave.", "stop()"
        checkout = page.find("check_out")
        if checkout is not None:
            if self.buys:
                return "Everything I want is in my cart; I check out.", _name(checkout)
            return "It is in my cart; I will think about it and come back later.", "stop()"
        if carted:
            cart = page.find("go_to_cart") or page.find("cart_button", "nav_bar")
            if self.buys and cart is not None:
                return "It is in my cart; I go there to pay for it.", _name(cart)
            return "It is in my cart; I will think about it and come back later.", "stop()"
        opened = {item_of(name) for name in clicked}
        fresh = [link for link in page.product_links() if link.item not in opened]
        if fresh:
            what = fresh[0].label or "first result"
            return f"The {what} looks like what I want; I take a closer look.", _name(fresh[0])
        if not any(a.get("type") == "type_and_submit" for a in done):
            return self._opera_search(page, goal, done)
        return "Nothing here gets me closer to what I want, so I leave.", "stop()"

    def _opera_search(
        self, page: OperaPage, goal: str, done: Sequence[dict[str, Any]]
    ) -> tuple[str, str]:
        """Click the search box, then type the intent (or a search of the persona's) into it.

        The box is clicked even with nothing to type, as shoppers start there; a persona with
        no searches (a recorded shopper's survey) and no intent then leaves.
        """
        box = page.search_box()
        query = goal.strip() or next(iter(self.state.queries), "")
        if box is None:
            return "I cannot find a way to search this site, so I leave.", "stop()"
        last = done[-1] if done else {}
        if (last.get("type"), last.get("name")) != ("click", box.name):
            return "I start with the search box.", _name(box)
        if not query:
            return "I have nothing particular in mind to search for, so I leave.", "stop()"
        return (
            f"I search for {query}.",
            f"type({json.dumps(box.name)}, {json.dumps(query)}, submit=True)",
        )


def _click(element: Element) -> str:
    return f"click({json.dumps(element.id)})"


def _name(element: NamedElement) -> str:
    """A click on an OPeRA page's element, named by its semantic id."""
    return f"click({json.dumps(element.name)})"
