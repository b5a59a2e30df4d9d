"""Write ``tests/data/opera``: a small OPeRA copy, in the published schema, that imports as is.

    .venv/bin/python tests/data/make_opera_fixture.py [OUT]     (OUT: tests/data/opera)

Four shoppers with survey personas and ten sessions on Amazon-like pages, in the per-config
layout ``filtered_{action,session,user,image}/{train,test}-00000-of-00001.parquet`` (seven
sessions train, three test, as OPeRA's splits share users). Each step's page is simplified
HTML whose controls carry semantic ids in ``name=`` (search box, results with filters, sort
and pages, product pages with options, reviews and the buy box, the cart side bar, the cart),
and it holds the element its action targets. The clicks cover OPeRA's 13 click types; four
sessions end in a purchase (``buy_now`` or ``check_out``, the last step, as OPeRA judges a
session's outcome), the other six in a terminate. Some steps carry the shopper's rationale,
some a screenshot (a small wireframe PNG of the page). Everything is fixed: running the
script again writes the same tables.
"""

from __future__ import annotations

import io
import json
import random
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import lxml.html
from PIL import Image, ImageDraw

# The schema and the writer are shared with tests/behaviour/test_behaviour_opera.py (tests/ is not a
# package: pytest puts it on sys.path, a script run by hand does it here).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from opera_fixture import FILTERED_ACTION, IMAGE, SESSION, USER, Tables, write_copy

OUT = Path(__file__).resolve().parent / "opera"
HOME = "https://www.amazon.com/"
#: uuid5 namespace of the action ids: the same session and step always get the same id.
ACTION_IDS = uuid.UUID("6f1d6c3e-4c1a-4f0e-9b8e-2a0d5c7e9f10")


# ---- products and pages ------------------------------------------------------------------


def slug(text: str) -> str:
    """A title as OPeRA writes it in a semantic id: lower case, words joined by ``_``, cut
    after the last whole word within 60 characters."""
    joined = "_".join(re.findall(r"[a-z0-9]+", text.lower()))
    return joined if len(joined) <= 60 else joined[:61].rsplit("_", 1)[0]


@dataclass(frozen=True)
class Product:
    """A product as the pages list and show it."""

    asin: str
    title: str
    brand: str
    price: float
    rating: float
    ratings: int
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The product's part of its controls' semantic ids (``search_results.<id>.*``)."""
        return slug(self.title)

    def row(self, quantity: int = 1, chosen: dict[str, str] | None = None) -> dict[str, Any]:
        """The product as OPeRA's ``products`` column lists it."""
        return {
            "asin": self.asin,
            "title": self.title,
            "price": f"${self.price:.2f}",
            "quantity": quantity,
            "options": chosen or {},
        }


@dataclass(frozen=True)
class Page:
    """One recorded page: its simplified HTML, URL, kind (for the screenshot) and products."""

    html: str
    url: str
    kind: str
    products: tuple[dict[str, Any], ...] = ()


def document(title: str, *parts: str) -> str:
    """A whole simplified HTML page of ``parts``."""
    body = "\n".join(parts)
    return f"<html><head><title>{escape(title)}</title></head><body>\n{body}\n</body></html>"


def nav(query: str = "", cart: int = 0, suggestions: Sequence[str] = ()) -> str:
    """Amazon's navigation bar: logo, search (with its suggestions open), account, cart."""
    listed = "".join(
        f'<li><a name="nav_bar.suggested_terms.{slug(s)}">{escape(s)}</a></li>' for s in suggestions
    )
    return (
        '<header><a name="nav_bar.homepage" href="/">Amazon</a>'
        '<a name="nav_bar.deliver_to">Deliver to your address</a>'
        '<select name="nav_bar.search_drop_down_list"><option>All</option></select>'
        f'<input name="nav_bar.search_input" type="text" placeholder="Search Amazon" '
        f'value="{escape(query)}"/>'
        '<input name="nav_bar.search_button" type="submit" value="Go"/>'
        + (f"<ul>{listed}</ul>" if listed else "")
        + '<a name="nav_bar.account_and_list_button">Hello, sign in Account &amp; Lists</a>'
        '<a name="nav_bar.order_button">Returns &amp; Orders</a>'
        f'<a name="nav_bar.cart_button">{cart} Cart</a></header>'
    )


def home(cart: int = 0, typed: str = "", suggestions: Sequence[str] = ()) -> Page:
    """The home page, with what is being typed into the search box and its suggestions."""
    main = (
        "<main><h2>Deals for you</h2>"
        '<a name="home.deals_for_you.see_all_deals">See all deals</a>'
        "<h2>Shop by category</h2>"
        '<a name="home.categories.home_and_kitchen">Home &amp; Kitchen</a>'
        '<a name="home.categories.sports_and_outdoors">Sports &amp; Outdoors</a>'
        '<a name="home.categories.electronics">Electronics</a>'
        '<a name="home.categories.grocery">Grocery &amp; Gourmet Food</a>'
        "<h2>Keep shopping for</h2>"
        '<a name="home.keep_shopping_for.see_more">See more</a></main>'
    )
    html = document("Amazon.com. Spend less. Smile more.", nav(typed, cart, suggestions), main)
    return Page(html, HOME, "home")


#: Filters by group, as (semantic id suffix, label).
Filters = dict[str, tuple[tuple[str, str], ...]]
SORTS = (
    ("featured", "Featured"),
    ("price_low_to_high", "Price: Low to High"),
    ("avg_customer_review", "Avg. Customer Review"),
)


def results(
    query: str, products: Sequence[Product], filters: Filters, page: int = 1, cart: int = 0
) -> Page:
    """A search results page: filters, sort, the listing and its pages."""
    groups = "".join(
        f"<div><span>{escape(group)}</span>"
        + "".join(
            f'<a name="refinements.{slug(group)}.{key}">{escape(label)}</a>' for key, label in items
        )
        + "</div>"
        for group, items in filters.items()
    )
    sort = "".join(
        f'<a name="refinements_toolbar.sort_by.{key}">{label}</a>' for key, label in SORTS
    )
    cards = "".join(
        f'<div><a name="search_results.{p.id}.product_image"><img alt="{escape(p.title)}"/></a>'
        f'<h2><a name="search_results.{p.id}.product_title">{escape(p.title)}</a></h2>'
        f"<span>{p.rating} out of 5 stars</span><span>{p.ratings:,}</span>"
        f"<span>${p.price:.2f}</span>"
        f'<button name="search_results.{p.id}.add_to_cart">Add to cart</button></div>'
        for p in products
    )
    pages = "".join(f'<a name="pagination.{n}">{n}</a>' for n in (1, 2, 3) if n != page)
    main = (
        f'<main><div>{16 * (page - 1) + 1}-{16 * page} of over 1,000 results for "{escape(query)}"'
        f"</div><aside>{groups}</aside><div><span>Sort by:</span>{sort}</div>{cards}"
        f'<div><a name="pagination.previous">Previous</a>{pages}'
        '<a name="pagination.next">Next</a></div></main>'
    )
    url = f"{HOME}s?k={query.replace(' ', '+')}" + (f"&page={page}" if page > 1 else "")
    html = document(f"Amazon.com : {query}", nav(query, cart), main)
    return Page(html, url, "results")


def _options(product: Product, chosen: dict[str, str]) -> str:
    """A product's option lists (size, colour), with the values chosen so far."""
    return "".join(
        f"<div><span>{kind.title()}: {escape(chosen.get(kind, ''))}</span><ul>"
        + "".join(
            f'<li name="product_options.{kind}.button_list.{slug(v)}">{escape(v)}</li>'
            for v in values
        )
        + "</ul></div>"
        for kind, values in product.options.items()
    )


def _side_bar(in_cart: Sequence[Product]) -> str:
    """The cart side bar that opens when something is added."""
    if not in_cart:
        return "<aside><span>Your Amazon Cart is empty</span></aside>"
    items = "".join(
        f'<div><a name="cart_side_bar.product_list.{p.id}.product_image">'
        f'<img alt="{escape(p.title)}"/></a><span>${p.price:.2f}</span>'
        f'<a name="cart_side_bar.product_list.{p.id}.delete">Delete</a></div>'
        for p in in_cart
    )
    total = sum(p.price for p in in_cart)
    return (
        f"<aside><span>Added to Cart</span><span>Subtotal ${total:.2f}</span>"
        '<a name="cart_side_bar.go_to_cart">Go to Cart</a>'
        f'<input type="submit" name="cart_side_bar.check_out" value="Proceed to checkout"/>'
        f"{items}</aside>"
    )


def product_page(
    product: Product,
    cart: int = 0,
    chosen: dict[str, str] | None = None,
    reviews: Sequence[str] = (),
    side_bar: Sequence[Product] | None = None,
) -> Page:
    """A product page: options, details, buy box, top reviews and, after adding, the side bar."""
    chosen = chosen or {}
    shown = "".join(f"<div><p>{escape(text)}</p></div>" for text in reviews)
    main = (
        f'<main><img alt="{escape(product.title)}"/><h1>{escape(product.title)}</h1>'
        f'<a name="product_byline.visit_the_store">Visit the {escape(product.brand)} Store</a>'
        f'<a name="reviews">{product.rating} out of 5 stars {product.ratings:,} ratings</a>'
        f"<span>${product.price:.2f}</span>{_options(product, chosen)}"
        "<div><h2>About this item</h2>"
        '<a name="product_details.about_this_item.see_more">See more product details</a></div>'
        f"<div><span>${product.price:.2f}</span><span>FREE delivery Thursday</span>"
        "<span>In Stock</span>"
        '<select name="buybox.purchase_form.quantity_selector"><option>Qty: 1</option></select>'
        '<input type="submit" name="buybox.purchase_form.add_to_cart" value="Add to Cart"/>'
        '<input type="submit" name="buybox.purchase_form.buy_now" value="Buy Now"/></div>'
        "<div><h2>Products related to this item</h2>"
        '<a name="products_related_to_this_item.next_page">Next page</a></div>'
        f"<div><h2>Customer reviews</h2>{shown}"
        '<a name="reviews.see_all">See more reviews</a></div>'
        + (_side_bar(side_bar) if side_bar is not None else "")
        + "</main>"
    )
    html = document(f"Amazon.com: {product.title}", nav("", cart), main)
    rows = (product.row(1, chosen),)
    return Page(html, f"{HOME}dp/{product.asin}", "product", rows)


def reviews_page(product: Product, reviews: Sequence[tuple[int, str]], cart: int = 0) -> Page:
    """All reviews of a product, with the star filter."""
    stars = "".join(f'<a name="reviews.star_filter.{n}_star">{n} star</a>' for n in (5, 4, 3, 2, 1))
    listed = "".join(
        f"<div><span>{n}.0 out of 5 stars</span><p>{escape(text)}</p>"
        f'<a name="reviews.review_list.review_{i}.helpful">Helpful</a></div>'
        for i, (n, text) in enumerate(reviews, 1)
    )
    main = (
        f"<main><h1>Customer reviews</h1><span>{escape(product.title)}</span>"
        f"<div>{stars}</div>"
        '<a name="reviews.sort_by.top_reviews">Top reviews</a>'
        '<a name="reviews.sort_by.most_recent">Most recent</a>'
        f'{listed}<a name="reviews.next_page">Next page</a></main>'
    )
    html = document(f"Amazon.com: Customer reviews: {product.title}", nav("", cart), main)
    return Page(html, f"{HOME}product-reviews/{product.asin}", "reviews")


def cart_page(items: Sequence[tuple[Product, int]], unchecked: Sequence[Product] = ()) -> Page:
    """The cart: a row per item with its check box, quantity buttons and delete."""
    rows = "".join(
        f'<div><input type="checkbox" name="active_item_list.{p.id}.checkbox"'
        f"{'' if p in unchecked else ' checked'}/>"
        f'<a name="active_item_list.{p.id}.product_title">{escape(p.title)}</a>'
        f"<span>${p.price:.2f}</span><span>In Stock</span>"
        f'<button name="active_item_list.{p.id}.decrease_quantity_by_one">-</button>'
        f"<span>{qty}</span>"
        f'<button name="active_item_list.{p.id}.increase_quantity_by_one">+</button>'
        f'<a name="active_item_list.{p.id}.delete">Delete</a>'
        f'<a name="active_item_list.{p.id}.save_for_later">Save for later</a></div>'
        for p, qty in items
    )
    kept = [(p, qty) for p, qty in items if p not in unchecked]
    total = sum(p.price * qty for p, qty in kept)
    count = sum(qty for _, qty in kept)
    main = (
        "<main><h1>Shopping Cart</h1>"
        f'<a name="cart_header.deselect_all_items">Deselect all items</a>{rows}'
        f"<span>Subtotal ({count} items): ${total:.2f}</span>"
        '<input type="submit" name="check_out" value="Proceed to checkout"/></main>'
    )
    html = document("Amazon.com Shopping Cart", nav("", sum(q for _, q in items)), main)
    products = tuple(p.row(qty) for p, qty in items)
    return Page(html, f"{HOME}gp/cart/view.html", "cart", products)


# ---- steps and sessions ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One recorded action on a page."""

    page: Page
    action_type: str
    semantic_id: str | None = None
    click_type: str | None = None
    input_text: str | None = None
    rationale: str | None = None
    screenshot: bool = False


def click(
    page: Page, name: str, click_type: str, why: str | None = None, shot: bool = False
) -> Step:
    """A click on the element ``name``, with the shopper's rationale and a screenshot."""
    return Step(page, "click", name, click_type, rationale=why, screenshot=shot)


def type_in(page: Page, name: str, text: str, why: str | None = None) -> Step:
    """Typing ``text`` into ``name`` and submitting it (OPeRA's ``input``)."""
    return Step(page, "input", name, input_text=text, rationale=why)


def leave(page: Page, why: str | None = None) -> Step:
    """The end of a session without a purchase (OPeRA's ``terminate``)."""
    return Step(page, "terminate", rationale=why)


@dataclass(frozen=True)
class Session:
    """One shopper's session: its split, when it started, its steps."""

    user: str
    split: str
    start: datetime
    steps: tuple[Step, ...]


# ---- the shoppers ------------------------------------------------------------------------

NURSE = "3f6c2a9e-8d41-4b7a-9c52-1e0d7a4b6f21"
ENGINEER = "a81d4e07-5b2f-4c9d-8e13-6f7a0b9c2d45"
TEACHER = "c2e95b13-7a60-4f8e-b1d4-93a5e6f70c88"
CARPENTER = "e47b0f92-1c3d-4a5e-9f68-0d2b7c4a1e39"


def survey(demographics: dict[str, str], habits: dict[str, Any], big_five: Sequence[float]) -> str:
    """A survey answer in OPeRA's shape: demographics, shopping habits, Big Five scores."""
    traits = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
    return json.dumps(
        {
            "demographics": demographics,
            "shopping_habits": habits,
            "personality": {"big_five": dict(zip(traits, big_five, strict=True))},
        }
    )


def users() -> list[dict[str, Any]]:
    """The user table's rows: survey answers and a line of the interview's summary."""

    def user(user_id: str, answers: str, about: str) -> dict[str, Any]:
        return {"user_id": user_id, "survey": answers, "interview_transcript_processed": about}

    return [
        user(NURSE, survey(
            {"age": "25-34", "gender": "Woman", "occupation": "ICU nurse",
             "education": "Bachelor's degree", "household_income": "$50,000-$74,999"},
            {"online_shopping_frequency": "Weekly", "amazon_prime": True,
             "categories": ["Clothing, Shoes & Jewelry", "Health & Household"],
             "price_sensitivity": "Compares prices, waits for deals on big items",
             "decision_factors": ["price", "reviews", "delivery speed"]},
            (3.4, 4.5, 2.9, 4.1, 2.6)),
            "Shops after night shifts, quickly; trusts brands her coworkers recommend."),
        user(ENGINEER, survey(
            {"age": "35-44", "gender": "Man", "occupation": "Software engineer",
             "education": "Master's degree", "household_income": "$150,000 or more"},
            {"online_shopping_frequency": "Several times a month", "amazon_prime": True,
             "categories": ["Electronics", "Computers"],
             "price_sensitivity": "Will pay for quality, hates overpaying for accessories",
             "decision_factors": ["reviews", "specifications", "brand"]},
            (4.2, 3.8, 2.4, 3.1, 3.0)),
            "Reads the one-star reviews first; often leaves without buying."),
        user(TEACHER, survey(
            {"age": "35-44", "gender": "Woman", "occupation": "Primary-school teacher",
             "education": "Master's degree", "household_income": "$75,000-$99,999"},
            {"online_shopping_frequency": "Weekly", "amazon_prime": True,
             "categories": ["Home & Kitchen", "Grocery & Gourmet Food"],
             "price_sensitivity": "Sticks to a weekly budget",
             "decision_factors": ["price", "ratings", "brand familiarity"]},
            (3.6, 4.7, 3.5, 4.4, 2.2)),
            "Knows what she wants, searches for it directly and buys in one go."),
        user(CARPENTER, survey(
            {"age": "55-64", "gender": "Man", "occupation": "Retired carpenter",
             "education": "High school", "household_income": "$35,000-$49,999"},
            {"online_shopping_frequency": "Monthly", "amazon_prime": False,
             "categories": ["Sports & Outdoors", "Tools & Home Improvement"],
             "price_sensitivity": "Buys only when it is a bargain",
             "decision_factors": ["price", "durability", "reviews"]},
            (3.0, 4.0, 3.2, 3.9, 2.0)),
            "Browses several pages of results and asks family before spending much."),
    ]  # fmt: skip


# ---- the sessions ------------------------------------------------------------------------

SEARCH = "nav_bar.search_input"
ADD, BUY = "buybox.purchase_form.add_to_cart", "buybox.purchase_form.buy_now"
SIZES = ("7", "7.5", "8", "8.5", "9", "9.5")
GHOST, ADRENALINE, CONTEND, REVOLUTION = (
    Product("B0BQ8KZ4TG",
            "Brooks Women's Ghost 15 Neutral Running Shoe",
            "Brooks", 119.95, 4.7, 12843, {"size": SIZES, "color": ("Black/Pink", "Grey/Blue")}),
    Product("B0BT6QJ2LN",
            "Brooks Women's Adrenaline GTS 23 Supportive Running Shoe",
            "Brooks", 139.95, 4.6, 5312, {"size": SIZES}),
    Product("B09TQH7MZK",
            "ASICS Women's Gel-Contend 8 Running Shoes",
            "ASICS", 64.95, 4.5, 9021, {"size": SIZES}),
    Product("B09G9HQ2RC",
            "Nike Women's Revolution 6 Road Running Shoes",
            "Nike", 69.97, 4.6, 15410, {"size": SIZES}),
)  # fmt: skip
SHOE_FILTERS: Filters = {
    "Brand": (("brooks", "Brooks"), ("asics", "ASICS"), ("nike", "Nike")),
    "Customer Reviews": (("4_stars_up", "4 Stars & Up"),),
}
SOCKS, LIQUID_IV, OWALA = (
    Product("B07RQX5L2S",
            "Physix Gear Compression Socks for Women & Men 20-30 mmHg",
            "Physix Gear", 17.99, 4.5, 64120),
    Product("B01IT9NLHW",
            "Liquid I.V. Hydration Multiplier Electrolyte Drink Mix, 16 Sticks",
            "Liquid I.V.", 24.99, 4.7, 182310),
    Product("B0BZYCJK89",
            "Owala FreeSip Insulated Stainless Steel Water Bottle, 24 oz",
            "Owala", 27.99, 4.8, 71255),
)  # fmt: skip
YOGA_BASIC, YOGA_GAIAM = (
    Product("B01LP0U5X0",
            "BalanceFrom GoYoga All-Purpose 1/4-Inch Extra Thick Yoga Mat",
            "BalanceFrom", 21.99, 4.6, 98311),
    Product("B01N2Y8V33",
            "Gaiam Essentials Thick Yoga Mat Fitness & Exercise Mat",
            "Gaiam", 24.98, 4.5, 52104, {"color": ("Purple", "Black", "Navy")}),
)  # fmt: skip
FITNESS_FILTERS: Filters = {"Customer Reviews": (("4_stars_up", "4 Stars & Up"),)}  # fmt: skip


def running_shoes() -> tuple[Step, ...]:
    """The nurse buys the shoes her coworkers recommend, after checking the size reviews."""
    query = "womens running shoes"
    listing = results(query, [CONTEND, REVOLUTION, GHOST, ADRENALINE], SHOE_FILTERS)
    brooks = results(query, [GHOST, ADRENALINE], SHOE_FILTERS)
    size = {"size": "8.5"}
    reviews = ["Runs true to size, I wear an 8.5 in everything.", "Like running on clouds."]
    return (
        click(home(), SEARCH, "search",
              "My running shoes are worn out from twelve-hour shifts.", shot=True),
        type_in(home(), SEARCH, query),
        click(listing, "refinements.brand.brooks", "filter",
              "Everyone on my unit swears by Brooks."),
        click(brooks, f"search_results.{GHOST.id}.product_title", "product_link"),
        click(product_page(GHOST), "product_options.size.button_list.8_5", "product_option"),
        click(product_page(GHOST, chosen=size), "reviews", "review",
              "I want to be sure they run true to size."),
        click(product_page(GHOST, chosen=size, reviews=reviews), ADD, "purchase"),
        click(product_page(GHOST, 1, size, reviews, [GHOST]), "cart_side_bar.go_to_cart",
              "cart_side_bar"),
        click(cart_page([(GHOST, 1)]), "check_out", "purchase",
              "A fair price and it arrives before my next run.", shot=True),
    )  # fmt: skip


def cart_clean_up() -> tuple[Step, ...]:
    """The nurse tidies the cart she left last week and checks out."""
    items = [(SOCKS, 1), (LIQUID_IV, 1), (OWALA, 1)]
    more = [(SOCKS, 2), (LIQUID_IV, 1), (OWALA, 1)]
    return (
        click(home(3), "nav_bar.cart_button", "nav_bar",
              "I left a few things in my cart last week.", shot=True),
        click(cart_page(items), f"active_item_list.{SOCKS.id}.increase_quantity_by_one",
              "quantity", "One pair of compression socks will not last a week of shifts."),
        click(cart_page(more), f"active_item_list.{LIQUID_IV.id}.checkbox", "cart_page_select",
              "The electrolyte mix can wait until next month."),
        click(cart_page(more, [LIQUID_IV]), f"active_item_list.{OWALA.id}.delete", "quantity",
              "I already bought a bottle at the hospital shop."),
        click(cart_page(more[:2], [LIQUID_IV]), "check_out", "purchase", shot=True),
    )  # fmt: skip


def yoga_mat() -> tuple[Step, ...]:
    """The nurse looks at one yoga mat, reads its reviews and leaves."""
    query = "yoga mat"
    return (
        type_in(home(), SEARCH, query, "I want to start doing yoga on my days off."),
        click(results(query, [YOGA_BASIC, YOGA_GAIAM], FITNESS_FILTERS),
              f"search_results.{YOGA_GAIAM.id}.product_title", "product_link",
              "I know Gaiam from the gym.", shot=True),
        click(product_page(YOGA_GAIAM), "reviews", "review"),
        leave(product_page(YOGA_GAIAM, reviews=["Smells of plastic for weeks."]),
              "Too many reviews say it smells; I would rather try one in a store."),
    )  # fmt: skip


Q20, XM5, BOSE = (
    Product("B07NM3RSRQ",
            "Soundcore by Anker Life Q20 Hybrid Active Noise Cancelling Headphones",
            "Soundcore", 49.99, 4.5, 86211),
    Product("B09XS7JWHH",
            "Sony WH-1000XM5 Wireless Noise Canceling Headphones",
            "Sony", 328.00, 4.4, 10211, {"color": ("Black", "Silver", "Midnight Blue")}),
    Product("B0CCZ26B5V",
            "Bose QuietComfort Wireless Noise Cancelling Headphones",
            "Bose", 249.00, 4.4, 3120, {"color": ("Black", "White Smoke")}),
)  # fmt: skip
TECH_FILTERS: Filters = {
    "Customer Reviews": (("4_stars_up", "4 Stars & Up"),),
    "Price": (
        ("up_to_25", "Up to $25"),
        ("25_to_50", "$25 to $50"),
        ("50_to_100", "$50 to $100"),
        ("100_and_above", "$100 & above"),
    ),
}
C920, N60 = (
    Product("B085TFF7M1",
            "Logitech C920x HD Pro Webcam, Full HD 1080p/30fps Video Calling",
            "Logitech", 59.99, 4.6, 81345),
    Product("B088TSR6YJ",
            "NexiGo N60 1080P Webcam with Microphone",
            "NexiGo", 29.99, 4.3, 41872),
)  # fmt: skip
ANKER_HUB, UGREEN_HUB = (
    Product("B087QZVQJX",
            "Anker USB C Hub, 555 USB-C Hub (8-in-1) with 100W Power Delivery",
            "Anker", 79.99, 4.5, 30566),
    Product("B0BQ2H4K5N",
            "UGREEN Revodok USB C Hub 5 in 1 with 4K HDMI",
            "UGREEN", 19.99, 4.4, 18230),
)  # fmt: skip


def headphones() -> tuple[Step, ...]:
    """The engineer narrows to well-rated headphones, reads the worst reviews and leaves."""
    query = "noise cancelling headphones"
    critical = [
        (1, "The headband cracked after three months."),
        (1, "Support would not replace the cracked hinge."),
    ]
    return (
        click(home(), SEARCH, "search", shot=True),
        type_in(home(), SEARCH, query,
                "My old headphones stopped charging and the office is loud."),
        click(results(query, [Q20, XM5, BOSE], TECH_FILTERS),
              "refinements.customer_reviews.4_stars_up", "filter"),
        click(results(query, [Q20, XM5, BOSE], TECH_FILTERS),
              f"search_results.{XM5.id}.product_title", "product_link",
              "The Sony ones are what everyone at work has."),
        click(product_page(XM5, reviews=["Best noise cancelling I have owned."]),
              "reviews.see_all", "review"),
        click(reviews_page(XM5, [(5, "Worth every cent."), (4, "Great, a bit tight.")]),
              "reviews.star_filter.1_star", "review",
              "I always read the one-star reviews first."),
        leave(reviews_page(XM5, critical),
              "Too many hinges cracking for $328; I will wait for a sale."),
    )  # fmt: skip


def webcam() -> tuple[Step, ...]:
    """The engineer picks a suggested search, adds a webcam, then thinks better of it."""
    suggestions = ["webcam 1080p with microphone", "webcam 4k", "webcam cover"]
    query = suggestions[0]
    listing = results(query, [C920, N60], TECH_FILTERS)
    added = product_page(C920, 1, side_bar=[C920])
    return (
        click(home(), SEARCH, "search"),
        type_in(home(), SEARCH, "webcam"),
        click(home(typed="webcam", suggestions=suggestions),
              f"nav_bar.suggested_terms.{slug(query)}", "suggested_term",
              "I need a microphone too, so the first suggestion fits."),
        click(listing, "refinements.price.50_to_100", "filter",
              "The cheap ones look grainy in every review photo."),
        click(results(query, [C920], TECH_FILTERS),
              f"search_results.{C920.id}.product_title", "product_link", shot=True),
        click(product_page(C920), ADD, "purchase"),
        click(added, f"cart_side_bar.product_list.{C920.id}.delete", "quantity",
              "Actually the laptop camera will do for now."),
        leave(product_page(C920, 0, side_bar=[])),
    )  # fmt: skip


def usb_hub() -> tuple[Step, ...]:
    """The engineer finds the hub he had in mind too dear and leaves."""
    query = "usb c hub"
    return (
        click(home(), SEARCH, "search", shot=True),
        type_in(home(), SEARCH, query),
        click(results(query, [ANKER_HUB, UGREEN_HUB], TECH_FILTERS),
              f"search_results.{ANKER_HUB.id}.product_title", "product_link"),
        leave(product_page(ANKER_HUB), "Eighty dollars for a dongle is too much."),
    )  # fmt: skip


FIBROX, HENCKELS, MERCER = (
    Product("B008M5U1C2",
            "Victorinox Fibrox Pro Chef's Knife",
            "Victorinox", 44.99, 4.7, 27410, {"size": ("6 inch", "8 inch", "10 inch")}),
    Product("B00004RFMT",
            "HENCKELS Classic Razor-Sharp 8-inch Chef Knife",
            "HENCKELS", 59.95, 4.7, 8021),
    Product("B000IBU2JY",
            "Mercer Culinary Millennia 8-Inch Chef's Knife",
            "Mercer", 17.99, 4.6, 19563),
)  # fmt: skip
KITCHEN_FILTERS: Filters = {
    "Brand": (("victorinox", "Victorinox"), ("henckels", "HENCKELS"), ("mercer", "Mercer")),
    "Price": (("up_to_25", "Up to $25"), ("25_to_50", "$25 to $50")),
}
LAVAZZA, COLOMBIA, PEETS = (
    Product("B000SDKDM4",
            "Lavazza Super Crema Whole Bean Coffee Blend, Medium Espresso Roast, 2.2 lb",
            "Lavazza", 21.99, 4.6, 151230),
    Product("B07N1S1M3J",
            "Amazon Fresh Colombia Whole Bean Coffee, Medium Roast, 32 Oz",
            "Amazon Fresh", 14.13, 4.5, 95012),
    Product("B00K6AHK28",
            "Peet's Coffee Major Dickason's Blend Dark Roast Whole Bean, 18 Ounce",
            "Peet's Coffee", 11.99, 4.6, 40221),
)  # fmt: skip
TRAILBUDDY, FOXELLI, CASCADE, BAFX = (
    Product("B07CJ2RZBN",
            "TrailBuddy Trekking Poles, 2-pc Pack Adjustable Hiking Poles",
            "TrailBuddy", 39.99, 4.7, 33811),
    Product("B01N1Q9J2B",
            "Foxelli Carbon Fiber Trekking Poles, Collapsible",
            "Foxelli", 64.99, 4.6, 12088),
    Product("B0765G7J9B",
            "Cascade Mountain Tech Aluminum Adjustable Trekking Poles",
            "Cascade Mountain Tech", 29.99, 4.6, 21740),
    Product("B01CZ9YMDK",
            "BAFX Products Anti-Shock Hiking Poles, Set of 2",
            "BAFX Products", 24.99, 4.4, 6502),
)  # fmt: skip
TETON, BRAZOS = (
    Product("B001DZTK9A",
            "TETON Sports Celsius 20 Degree Sleeping Bag",
            "TETON Sports", 79.99, 4.6, 9844, {"color": ("Green", "Grey", "Blue")}),
    Product("B0009PUR5E",
            "Coleman Brazos 20 Degree Cold-Weather Sleeping Bag",
            "Coleman", 44.99, 4.4, 20315),
)  # fmt: skip
OUTDOOR_FILTERS: Filters = {
    "Customer Reviews": (("4_stars_up", "4 Stars & Up"),),
    "Price": (("up_to_25", "Up to $25"), ("25_to_50", "$25 to $50"), ("50_to_100", "$50 to $100")),
}


def chef_knife() -> tuple[Step, ...]:
    """The teacher buys the knife she came for, at once."""
    query = "chef knife 8 inch"
    return (
        click(home(), SEARCH, "search", shot=True),
        type_in(home(), SEARCH, query, "My old knife will not hold an edge any more."),
        click(results(query, [FIBROX, HENCKELS, MERCER], KITCHEN_FILTERS),
              f"search_results.{FIBROX.id}.product_image", "product_link"),
        click(product_page(FIBROX), "product_options.size.button_list.8_inch",
              "product_option"),
        click(product_page(FIBROX, chosen={"size": "8 inch"}), BUY, "purchase",
              "America's Test Kitchen recommends it and it is under $50.", shot=True),
    )  # fmt: skip


def coffee() -> tuple[Step, ...]:
    """The teacher puts coffee in the cart to check out with the week's groceries later."""
    query = "whole bean coffee"
    listing = [COLOMBIA, PEETS, LAVAZZA]
    by_reviews = [LAVAZZA, COLOMBIA, PEETS]
    return (
        click(home(), SEARCH, "search"),
        type_in(home(), SEARCH, query),
        click(results(query, listing, FITNESS_FILTERS),
              "refinements_toolbar.sort_by.avg_customer_review", "filter",
              "I only buy coffee that many people like."),
        click(results(query, by_reviews, FITNESS_FILTERS),
              f"search_results.{LAVAZZA.id}.product_title", "product_link", shot=True),
        click(product_page(LAVAZZA), "product_details.about_this_item.see_more", "other"),
        click(product_page(LAVAZZA), ADD, "purchase", "Two pounds will last the month."),
        leave(product_page(LAVAZZA, 1, side_bar=[LAVAZZA]),
              "I will check out with the rest of the groceries on Sunday."),
    )  # fmt: skip


def trekking_poles() -> tuple[Step, ...]:
    """The carpenter pages through the poles, looks at one and goes to ask his son."""
    query = "trekking poles"
    return (
        click(home(), SEARCH, "search", shot=True),
        type_in(home(), SEARCH, query, "My knees want poles for the steep trails."),
        click(results(query, [TRAILBUDDY, FOXELLI], OUTDOOR_FILTERS), "pagination.2",
              "page_related", "These are more than I want to spend."),
        click(results(query, [CASCADE, BAFX], OUTDOOR_FILTERS, page=2),
              f"search_results.{CASCADE.id}.product_title", "product_link"),
        click(product_page(CASCADE), "products_related_to_this_item.next_page", "other"),
        click(product_page(CASCADE), "nav_bar.homepage", "nav_bar",
              "I will ask my son which ones he uses before I buy."),
        leave(home()),
    )  # fmt: skip


def sleeping_bag() -> tuple[Step, ...]:
    """The carpenter buys a well-rated sleeping bag in green."""
    query = "20 degree sleeping bag"
    green = {"color": "Green"}
    reviews = ["Kept me warm at 25 degrees.", "Roomy enough for a big guy."]
    return (
        click(home(), SEARCH, "search"),
        type_in(home(), SEARCH, query, "Nights at the lake get cold in October."),
        click(results(query, [BRAZOS, TETON], OUTDOOR_FILTERS),
              "refinements.customer_reviews.4_stars_up", "filter"),
        click(results(query, [TETON, BRAZOS], OUTDOOR_FILTERS),
              f"search_results.{TETON.id}.product_title", "product_link", shot=True),
        click(product_page(TETON), "product_options.color.button_list.green", "product_option"),
        click(product_page(TETON, chosen=green), "reviews", "review"),
        click(product_page(TETON, chosen=green, reviews=reviews), BUY, "purchase",
              "Good reviews and a fair price; no need to wait.", shot=True),
    )  # fmt: skip


def sessions() -> list[Session]:
    """Seven train and three test sessions; the splits share users, as OPeRA's do."""

    def at(day: int, hour: int, minute: int) -> datetime:
        return datetime(2025, 4, day, hour, minute, 7, tzinfo=UTC)

    return [
        Session(NURSE, "train", at(3, 7, 42), running_shoes()),
        Session(ENGINEER, "train", at(4, 12, 15), headphones()),
        Session(TEACHER, "train", at(6, 19, 30), chef_knife()),
        Session(CARPENTER, "train", at(8, 10, 5), trekking_poles()),
        Session(NURSE, "train", at(11, 8, 20), cart_clean_up()),
        Session(ENGINEER, "train", at(14, 21, 48), webcam()),
        Session(TEACHER, "train", at(17, 16, 2), coffee()),
        Session(CARPENTER, "test", at(22, 9, 36), sleeping_bag()),
        Session(ENGINEER, "test", at(25, 13, 11), usb_hub()),
        Session(NURSE, "test", at(28, 7, 55), yoga_mat()),
    ]


# ---- the tables --------------------------------------------------------------------------

#: Screenshot wireframes: boxes (left, top, right, bottom) and colours below the nav bar.
WIREFRAMES: dict[str, tuple[tuple[tuple[int, int, int, int], str], ...]] = {
    "home": (((4, 12, 30, 34), "#f3d9a4"), ((34, 12, 60, 34), "#cde3f5"),
             ((64, 12, 90, 34), "#d8efd3"), ((4, 38, 90, 54), "#eaeded")),
    "results": (((2, 10, 20, 56), "#eaeded"), ((24, 10, 92, 22), "#f7f7f7"),
                ((24, 25, 92, 37), "#f7f7f7"), ((24, 40, 92, 52), "#f7f7f7")),
    "product": (((4, 10, 34, 44), "#cde3f5"), ((38, 10, 66, 16), "#0f1111"),
                ((70, 10, 92, 40), "#eaeded"), ((72, 26, 90, 30), "#ffd814"),
                ((72, 33, 90, 37), "#ffa41c")),
    "cart": (((4, 10, 70, 22), "#f7f7f7"), ((4, 25, 70, 37), "#f7f7f7"),
             ((74, 10, 92, 24), "#eaeded"), ((75, 18, 91, 22), "#ffd814")),
    "reviews": (((4, 10, 30, 14), "#ffa41c"), ((4, 18, 90, 26), "#f7f7f7"),
                ((4, 30, 90, 38), "#f7f7f7"), ((4, 42, 90, 50), "#f7f7f7")),
}  # fmt: skip


def screenshot(kind: str) -> bytes:
    """A 96x60 wireframe of a page of ``kind``: enough to stand for a screenshot."""
    image = Image.new("RGB", (96, 60), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 95, 7), fill="#131921")  # the navigation bar, with its search box
    draw.rectangle((24, 2, 70, 5), fill="white")
    for box, colour in WIREFRAMES[kind]:
        draw.rectangle(box, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stamp(moment: datetime) -> str:
    """A time as OPeRA writes it: ISO 8601 with milliseconds, in UTC."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def target(page: Page, name: str) -> tuple[str, dict[str, str]]:
    """The page's title and what OPeRA's element_meta says of the element named ``name``."""
    root = lxml.html.fromstring(page.html)
    found = root.xpath("//*[@name=$name]", name=name)
    if not found:
        raise ValueError(f"{name} is not on the page of {page.url}")
    element = found[0]
    text = " ".join(element.text_content().split()) or element.get("value", "")
    return root.findtext(".//title") or "", {"tag": element.tag, "text": text, "name": name}


def action_rows(session: Session, rng: random.Random) -> list[dict[str, Any]]:
    """The session's rows of the filtered action table, in time order."""
    times = [session.start]
    for _ in session.steps:
        times.append(times[-1] + timedelta(milliseconds=rng.randint(3_000, 45_000)))
    end = times[-1] + timedelta(seconds=5)
    session_id = f"{session.user}_{stamp(session.start)}_{stamp(end)}"
    rows = []
    for n, (step, moment) in enumerate(zip(session.steps, times[1:], strict=True)):
        action_id = str(uuid.uuid5(ACTION_IDS, f"{session_id}/{n}"))
        title, meta = target(step.page, step.semantic_id) if step.semantic_id else ("", None)
        rows.append(
            {
                "session_id": session_id,
                "action_id": action_id,
                "timestamp": stamp(moment),
                "action_type": step.action_type,
                "click_type": step.click_type,
                "semantic_id": step.semantic_id,
                "mouse_position": json.dumps(
                    {"x": rng.randint(40, 1400), "y": rng.randint(20, 800)}
                )
                if meta
                else None,
                "element_meta": json.dumps(meta) if meta else None,
                "url": step.page.url,
                "window_size": json.dumps({"width": 1512, "height": 823}),
                "page_meta": json.dumps({"title": title}) if title else None,
                "simplified_html": step.page.html,
                "rationale": step.rationale,
                "products": json.dumps(list(step.page.products)) if step.page.products else None,
                "input_text": step.input_text,
                "image": f"{action_id}.png" if step.screenshot else None,
            }
        )
    return rows


def tables() -> Tables:
    """Every table of the fixture, by split."""
    actions: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    session_rows: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    images: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    for index, session in enumerate(sessions()):
        rows = action_rows(session, random.Random(index))
        actions[session.split] += rows
        session_rows[session.split].append(
            {
                "session_id": rows[0]["session_id"],
                "user_id": session.user,
                "action_count": len(rows),
            }
        )
        for step, row in zip(session.steps, rows, strict=True):
            if row["image"]:
                shot = {"bytes": screenshot(step.page.kind), "path": row["image"]}
                images[session.split].append({"image_name": row["image"], "image": shot})
    everyone = users()
    tested = {row["session_id"].split("_")[0] for row in session_rows["test"]}
    return {
        "action": {split: (FILTERED_ACTION, rows) for split, rows in actions.items()},
        "session": {split: (SESSION, rows) for split, rows in session_rows.items()},
        "user": {
            "train": (USER, everyone),
            "test": (USER, [u for u in everyone if u["user_id"] in tested]),
        },
        "image": {split: (IMAGE, rows) for split, rows in images.items()},
    }


def main(argv: Sequence[str]) -> None:
    """Write the fixture to ``argv[0]`` (default: ``tests/data/opera``)."""
    out = Path(argv[0]) if argv else OUT
    write_copy(out, tables(), "filtered", "config")
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    print(f"wrote {out} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
