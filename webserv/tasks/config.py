"""WebArena's task JSON, loaded unchanged, with placeholders resolved against live instances.

A WebArena config names its sites (``shopping``, ``shopping_admin``, ``gitlab``, ...), puts
placeholders such as ``__SHOPPING__`` in ``start_url`` and in evaluator URLs, and separates
several start tabs with `` |AND| ``. :meth:`TaskConfig.resolve` swaps the placeholders for the
base URLs of the instances an episode leased.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EvalType = Literal["string_match", "url_match", "program_html"]

#: WebArena's placeholder for each site name.
PLACEHOLDERS: dict[str, str] = {
    "shopping": "__SHOPPING__",
    "shopping_admin": "__SHOPPING_ADMIN__",
    "gitlab": "__GITLAB__",
    "reddit": "__REDDIT__",
    "wikipedia": "__WIKIPEDIA__",
    "map": "__MAP__",
    "homepage": "__HOMEPAGE__",
}
TAB_SEPARATOR = " |AND| "
ALTERNATIVE_SEPARATOR = " |OR| "


class ReferenceAnswers(BaseModel):
    """``exact_match`` is one string; ``must_include`` / ``fuzzy_match`` are lists."""

    model_config = ConfigDict(extra="allow")

    exact_match: str | None = None
    must_include: list[str] | None = None
    must_exclude: list[str] | None = None
    fuzzy_match: list[str] | str | None = None

    @field_validator("exact_match", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # WebArena has numeric exact answers (e.g. 2); the agent's answer is text.
        return None if value is None else str(value)


class HtmlTarget(BaseModel):
    """One ``program_html`` check: open ``url``, read ``locator``, compare to the contents."""

    model_config = ConfigDict(extra="allow")

    url: str
    locator: str = ""
    required_contents: ReferenceAnswers


class EvalSpec(BaseModel):
    """A task's ``eval`` block: which evaluators run and against what."""

    model_config = ConfigDict(extra="allow")

    eval_types: list[EvalType]
    reference_answers: ReferenceAnswers | None = None
    reference_url: str = ""
    url_note: str = "GOLD in PRED"
    program_html: list[HtmlTarget] = Field(default_factory=list)
    string_note: str = ""
    reference_answer_raw_annotation: str | None = None


class TaskConfig(BaseModel):
    """A task in WebArena's format; unknown fields are kept, so configs round-trip."""

    model_config = ConfigDict(extra="allow")

    task_id: int | str
    sites: list[str]
    start_url: str
    intent: str
    require_login: bool = False
    storage_state: str | None = None
    geolocation: Any = None
    intent_template: str = ""
    instantiation_dict: dict[str, Any] = Field(default_factory=dict)
    intent_template_id: int | str | None = None
    require_reset: bool = False
    eval: EvalSpec
    #: webserv extension: a solution in the action grammar, used by the reference policy.
    reference_solution: list[str] | None = None

    def resolve(self, base_urls: Mapping[str, str]) -> TaskConfig:
        """A copy with every placeholder replaced by the leased instance's base URL.

        ``base_urls`` maps site names (``shopping``) to URLs (``http://127.0.0.1:4100``).
        A placeholder of a site the task uses but ``base_urls`` lacks is an error.
        """
        missing = [site for site in self.sites if site not in base_urls]
        if missing:
            raise KeyError(f"task {self.task_id} needs sites {missing} but got {sorted(base_urls)}")
        text = self.model_dump_json()
        for site, url in base_urls.items():
            placeholder = PLACEHOLDERS.get(site, f"__{site.upper()}__")
            text = text.replace(placeholder, url.rstrip("/"))
        return TaskConfig.model_validate_json(text)

    @property
    def start_urls(self) -> list[str]:
        """One URL per start tab."""
        return [url.strip() for url in self.start_url.split(TAB_SEPARATOR.strip()) if url.strip()]


def load_tasks(path: Path) -> list[TaskConfig]:
    """Load a file holding one task object or a list of them, or a directory of such files."""
    if path.is_dir():
        return [task for file in sorted(path.glob("*.json")) for task in load_tasks(file)]
    data = json.loads(path.read_text())
    items = data if isinstance(data, list) else [data]
    return [TaskConfig.model_validate(item) for item in items]
