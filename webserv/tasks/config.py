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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

EvalType = Literal["string_match", "url_match", "program_html", "verified"]

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


APPROACHES = ("exact_match", "must_include", "must_exclude", "fuzzy_match")


class ReferenceAnswers(BaseModel):
    """``exact_match`` is one string; ``must_include`` a list (WebArena-Lite also writes a
    single string); ``fuzzy_match`` a list or ``"N/A"``. ``must_exclude`` is webserv's own."""

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

    @field_validator("must_include", "must_exclude", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    # The task's own key order: WebArena scores the approaches in it, and a
    # ``fuzzy_match: "N/A"`` verdict replaces the score of those before it.
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> ReferenceAnswers:
        answers = handler(data)
        if isinstance(data, dict):
            answers._order = [key for key in data if key in APPROACHES]
        return answers

    @model_serializer(mode="wrap")
    def _in_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        first = {key: data[key] for key in self._order if key in data}
        return {**first, **{key: value for key, value in data.items() if key not in first}}

    def approaches(self) -> list[str]:
        """The approaches given, in the task's key order."""
        order = [*self._order, *(name for name in APPROACHES if name not in self._order)]
        return [name for name in order if getattr(self, name) is not None]


class HtmlTarget(BaseModel):
    """One ``program_html`` check: open ``url``, read ``locator``, compare to the contents."""

    model_config = ConfigDict(extra="allow")

    url: str
    locator: str = ""
    required_contents: ReferenceAnswers
    prep_actions: list[str] = Field(
        default_factory=list, description="JS run on the page before a JS locator is read."
    )


class EvalSpec(BaseModel):
    """A task's ``eval`` block: which evaluators run and against what."""

    model_config = ConfigDict(extra="allow")

    eval_types: list[EvalType]
    reference_answers: ReferenceAnswers | None = None
    reference_url: str = ""

    @field_validator("reference_url", mode="before")
    @classmethod
    def _no_url(cls, value: Any) -> Any:
        # A few WebArena tasks write null where the others write "".
        return "" if value is None else value

    url_note: str = "GOLD in PRED"
    program_html: list[HtmlTarget] = Field(default_factory=list)
    string_note: str = ""
    reference_answer_raw_annotation: str | None = None
    verified: list[dict[str, Any]] = Field(
        default_factory=list,
        description="WebArena-Verified's evaluator configs (eval_types ['verified']).",
    )


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


class InvalidTask(BaseModel):
    """A task of a file that does not validate: which one, which field, why."""

    task_id: int | str | None
    field: str
    message: str

    def __str__(self) -> str:
        return f"task {self.task_id}: {self.field}: {self.message}"


class TaskFile(BaseModel):
    """What a task file held: the tasks that load, and those that do not."""

    tasks: list[TaskConfig]
    invalid: list[InvalidTask] = Field(default_factory=list)


def from_verified(item: dict[str, Any]) -> dict[str, Any]:
    """A WebArena-Verified task in WebArena's shape: its start URLs as tabs, its evaluator
    list kept whole under ``eval.verified`` (scored by WebArena-Verified's own rules)."""
    rest = {k: v for k, v in item.items() if k not in ("start_urls", "eval")}
    return {
        **rest,
        "start_url": TAB_SEPARATOR.join(item.get("start_urls") or []),
        "require_login": True,  # Verified dropped the flag; every WebArena task logs in
        "eval": {"eval_types": ["verified"], "verified": item.get("eval") or []},
    }


def _task_items(path: Path) -> list[Any]:
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def parse_tasks(items: list[Any]) -> TaskFile:
    """Validate each task on its own: WebArena's, WebArena-Lite's (``old_task_id`` kept) and
    WebArena-Verified's formats; an invalid one is reported with its id and field."""
    tasks, invalid = [], []
    for index, item in enumerate(items):
        task_id = item.get("task_id", f"#{index}") if isinstance(item, dict) else f"#{index}"
        if isinstance(item, dict) and isinstance(item.get("eval"), list):
            item = from_verified(item)
        try:
            tasks.append(TaskConfig.model_validate(item))
        except ValidationError as err:
            for problem in err.errors():
                where = ".".join(str(part) for part in problem["loc"]) or "task"
                invalid.append(InvalidTask(task_id=task_id, field=where, message=problem["msg"]))
    return TaskFile(tasks=tasks, invalid=invalid)


def load_task_file(path: Path) -> TaskFile:
    """A file holding one task object or a list of them, or a directory of such files."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    return parse_tasks([item for file in files for item in _task_items(file)])


def load_tasks(path: Path) -> list[TaskConfig]:
    """The tasks of a file or directory; raise if any of them is invalid."""
    loaded = load_task_file(path)
    if loaded.invalid:
        shown = "; ".join(str(problem) for problem in loaded.invalid[:5])
        more = len(loaded.invalid) - 5
        raise ValueError(f"{path}: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    return loaded.tasks
