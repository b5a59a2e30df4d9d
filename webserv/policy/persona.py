"""Shopper personas, in the spirit of Customer-R1/OPeRA: who shops, how, and for what.

A persona is prompt text for a model policy (:meth:`Persona.describe`) and the knobs of the
scripted shopper (what it searches for, its budget, how many products it compares, how
likely it is to buy). The built-in ones cover the shop's departments; a JSON file holding a
list of persona objects can replace them. A persona may also be free text alone
(``profile``): a recorded shopper's survey answers (OPeRA), or a persona a model rewrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter

SortChoice = Literal["Featured", "Price: low to high", "Price: high to low", "Top rated", "Newest"]


class Persona(BaseModel):
    """A shopper: demographics, personality, shopping preferences, and what they look for."""

    name: str
    age: int | None = Field(None, ge=0)
    occupation: str = ""
    location: str = ""
    personality: str = Field("", description="Free text, e.g. Big Five or MBTI summary.")
    shopping_style: str = Field("", description="How they shop, in their own words.")
    profile: str = Field(
        "",
        description="Who they are in free text, shown in full (a survey's answers, a persona "
        "a model rewrote).",
    )
    searches: list[str] = Field(
        default_factory=list,
        description="Things they type into a search box (none: the words of the task).",
    )
    budget: float | None = Field(None, gt=0, description="Most they pay for one item ($).")
    min_rating: int | None = Field(None, ge=1, le=4, description="Stars they filter down to.")
    sort: SortChoice | None = Field(None, description="How they like results sorted.")
    compare: int = Field(2, ge=1, le=5, description="Products they look at before choosing.")
    buy_probability: float = Field(0.5, ge=0, le=1, description="Chance they check out.")

    def describe(self) -> str:
        """The persona as a paragraph for a prompt (written in the second person)."""
        lines = []
        facts = [str(fact) for fact in (self.age, self.occupation) if fact not in (None, "")]
        if self.location:
            facts.append(f"living in {self.location}")
        if facts or not self.profile:
            lines.append(", ".join([f"You are {self.name}", *facts]) + ".")
        if self.profile:
            lines.append(self.profile)
        if self.personality:
            lines.append(f"Personality: {self.personality}")
        if self.shopping_style:
            lines.append(f"Shopping style: {self.shopping_style}")
        prefs = []
        if self.budget is not None:
            prefs.append(f"you rarely spend more than ${self.budget:.0f} on one item")
        if self.min_rating is not None:
            prefs.append(f"you skip products rated below {self.min_rating} stars")
        if self.sort is not None:
            prefs.append(f'you like results sorted by "{self.sort}"')
        if prefs:
            lines.append("Preferences: " + "; ".join(prefs) + ".")
        if self.searches:
            lines.append("Lately you have been looking for: " + ", ".join(self.searches) + ".")
        return "\n".join(lines)


BUILTIN: list[Persona] = [
    Persona(
        name="Maya Chen",
        age=29,
        occupation="an ICU nurse",
        location="Portland, OR",
        personality="conscientious, practical, low on patience after long shifts",
        shopping_style="Compares prices, filters by budget, buys quickly once something fits.",
        searches=["running shoes", "shoes", "water bottle", "tea"],
        budget=90,
        sort="Price: low to high",
        compare=2,
        buy_probability=0.6,
    ),
    Persona(
        name="Daniel Okafor",
        age=44,
        occupation="a software engineer",
        location="Austin, TX",
        personality="analytical, curious, reads every review before deciding",
        shopping_style="Looks only at well-rated products, compares several, often leaves.",
        searches=["headphones", "camera", "webcam", "smart"],
        min_rating=4,
        sort="Top rated",
        compare=3,
        buy_probability=0.3,
    ),
    Persona(
        name="Priya Raman",
        age=36,
        occupation="a primary-school teacher",
        location="Columbus, OH",
        personality="warm, organised, plans meals for the week",
        shopping_style="Knows what she wants, searches for it directly, checks the price.",
        searches=["olive oil", "coffee", "knife", "saucepan"],
        budget=60,
        compare=1,
        buy_probability=0.7,
    ),
    Persona(
        name="Tom Becker",
        age=63,
        occupation="a retired carpenter",
        location="Boise, ID",
        personality="easy-going, sceptical of fashion, loves the outdoors",
        shopping_style="Browses, compares a couple of options, buys only when it is a bargain.",
        searches=["sleeping bag", "trekking poles", "helmet", "jacket"],
        budget=120,
        sort="Price: low to high",
        compare=2,
        buy_probability=0.4,
    ),
]


def builtin(name: str) -> Persona:
    """A built-in persona by (first) name, case-insensitive."""
    for persona in BUILTIN:
        if name.lower() in (persona.name.lower(), persona.name.split()[0].lower()):
            return persona
    known = ", ".join(p.name.split()[0].lower() for p in BUILTIN)
    raise KeyError(f"no built-in persona {name!r}; known: {known}")


def load_personas(path: Path) -> list[Persona]:
    """Personas from a JSON file holding a list of persona objects (or one object)."""
    data = json.loads(path.read_text())
    items = data if isinstance(data, list) else [data]
    return TypeAdapter(list[Persona]).validate_python(items)


def survey_persona(user_id: str, survey: str) -> Persona:
    """A recorded shopper as a persona: their survey answers, as the prompt shows them."""
    return Persona(name=user_id, profile="In a survey about your shopping you said:\n" + survey)
