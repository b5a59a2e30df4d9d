"""OPeRA pages as the baselines read them: the elements a shopper can act on, by semantic id.

An OPeRA step's page (``simplified_html``, the observation text of an imported step) is HTML
whose interactive elements carry their semantic id in a ``name`` attribute:
``<input name="nav_bar.search_input"/>``, ``<a name="search_results.<product>.product_title">``.
A semantic id names the page region, then the item, then the control, dot-separated, and an
OPeRA action names the element by it (``{"type": "click", "name": "nav_bar.cart_button"}``).
The env's grammar takes the id as the element id (``click("nav_bar.cart_button")``), and
:func:`~webserv.policy.base.opera_form` gives it back unchanged.

webserv's own pages are compact text (``[12] button "Save"``), never HTML, so
:func:`read_page` tells the two apart and the baselines keep their webserv behaviour there.
"""

from __future__ import annotations

from dataclasses import dataclass

import lxml.etree
import lxml.html

#: Input types a shopper types into; any other input (checkbox, radio, submit) is clicked.
_TEXT_INPUTS = frozenset({"", "text", "search", "email", "number", "tel", "url", "password"})
#: Elements whose ``name`` is document metadata or a form's, not a control on the page.
_NOT_CONTROLS = frozenset({"html", "head", "meta", "link", "script", "style", "title", "form"})
#: The longest label kept: a rationale quotes it, and product titles run long.
_LABEL_CHARS = 80
#: The controls that open a product from a listing (OPeRA's product_link clicks).
PRODUCT_LINK_CONTROLS = ("product_title", "product_name")


def control_of(name: str) -> str:
    """The last part of a semantic id: the control (``search_results.<product>.product_title``
    is a ``product_title``)."""
    return name.rsplit(".", 1)[-1]


def item_of(name: str) -> str:
    """A semantic id without its control (``search_results.<product>``)."""
    return name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class NamedElement:
    """An element of an OPeRA page that carries a semantic id."""

    name: str
    tag: str
    label: str
    typeable: bool

    @property
    def region(self) -> str:
        """The first part of the semantic id: where on the page it sits (``nav_bar``, ...)."""
        return self.name.split(".", 1)[0]

    @property
    def control(self) -> str:
        """The last part of the semantic id: what it does (``add_to_cart``, ``product_title``)."""
        return control_of(self.name)

    @property
    def item(self) -> str:
        """The semantic id without its control: the item it belongs to (a product's listing)."""
        return item_of(self.name)


@dataclass(frozen=True)
class OperaPage:
    """The named elements of one OPeRA page, in document order."""

    elements: tuple[NamedElement, ...]

    def clickable(self) -> list[NamedElement]:
        """Links, buttons, check boxes and every other named element but text fields."""
        return [e for e in self.elements if not e.typeable]

    def typeable(self) -> list[NamedElement]:
        """Text inputs and text areas."""
        return [e for e in self.elements if e.typeable]

    def find(self, control: str, region: str | None = None) -> NamedElement | None:
        """The first element whose semantic id ends in ``control`` (and starts with ``region``)."""
        for element in self.elements:
            if element.control == control and region in (None, element.region):
                return element
        return None

    def search_box(self) -> NamedElement | None:
        """The site's search field: the navigation bar's, else any ``search_input``."""
        boxes = [e for e in self.typeable() if e.control == "search_input"]
        return next((e for e in boxes if e.region == "nav_bar"), boxes[0] if boxes else None)

    def product_links(self) -> list[NamedElement]:
        """The search results' product titles, in the order the listing shows them."""
        return [
            e
            for e in self.elements
            if e.region == "search_results" and e.control in PRODUCT_LINK_CONTROLS
        ]


def read_page(text: str) -> OperaPage | None:
    """The page as OPeRA's simplified HTML, or None when it is not one.

    None for webserv's compact text (which never starts with a tag), for HTML lxml cannot
    read and for HTML without a named element: the baselines then act as on webserv pages.
    """
    if not text.lstrip().startswith("<"):
        return None
    try:
        root = lxml.html.fromstring(text)
    except (lxml.etree.ParserError, ValueError):
        return None
    elements = tuple(
        _element(node)
        for node in root.xpath("descendant-or-self::*[@name]")
        if node.tag not in _NOT_CONTROLS and node.get("name", "").strip()
    )
    return OperaPage(elements) if elements else None


def _element(node: lxml.html.HtmlElement) -> NamedElement:
    tag = str(node.tag).lower()
    typeable = tag == "textarea" or (
        tag == "input" and node.get("type", "").strip().lower() in _TEXT_INPUTS
    )
    return NamedElement(node.get("name").strip(), tag, _label(node), typeable)


def _label(node: lxml.html.HtmlElement) -> str:
    """What the shopper sees of the element: its text, else what stands for it."""
    text = " ".join(node.text_content().split())
    for attribute in ("aria-label", "placeholder", "alt", "title", "value"):
        if text:
            break
        text = " ".join(node.get(attribute, "").split())
    if not text:
        text = next((" ".join(img.get("alt", "").split()) for img in node.iter("img")), "")
    return text[:_LABEL_CHARS]
