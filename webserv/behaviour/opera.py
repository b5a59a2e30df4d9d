"""Import OPeRA (Hugging Face ``NEU-HAI/OPeRA``, CC-BY-4.0) as webserv step records.

OPeRA (arXiv 2506.05606) holds real shoppers' Amazon sessions: every action with the page it
was taken on, the shopper's occasional rationale and their survey persona. Imported, a session
becomes one episode of :class:`~webserv.rollout.records.StepRecord` lines, so that
``webserv behaviour eval`` and ``score`` replay and score it like a rollout of webserv's own.
Nothing is downloaded: ``DIR`` is a local copy.

Layouts read
------------
Each table ``{variant}_{kind}`` (kind: action, session, user, image) of a split is found under
``DIR`` by the first of these patterns that matches any file (all its shards are read, in name
order)::

    OPeRA_{variant}/{action|images|session|user}/{split}-*.parquet    the Hub repo as published
    OPeRA_{variant}/{action|images|session|user}/{split}/*.parquet    (session and user tables)
    {variant}_{kind}/{split}-*.parquet                                per-config folders
    {variant}_{kind}/{split}/*.parquet                                (the Hub's parquet export)
    {variant}_{kind}/{split}.parquet
    {variant}_{kind}_{split}.parquet, {variant}_{kind}-{split}.parquet   flat files
    {variant}_{kind}_{split}-*.parquet, {variant}_{kind}-{split}-*.parquet

The action and session tables of every split imported must be there. User tables are read
from both splits whatever ``--split`` is (train and test share users; one at least must be
there), and so are image
tables (their split sizes do not follow the actions': filtered_image has 826 train and 4,066
test rows); without an image table no screenshot is written.

What becomes of each column
---------------------------
==========================  ====================================================================
OPeRA column                step record
==========================  ====================================================================
session_id                  ``session_id``; one episode per session, numbered in the order the
                            sessions first appear (train files before test files)
session.user_id             ``persona`` (the shopper's id: per-user analyses group by it)
user.survey                 ``personas.json``: user id -> the survey as indented text (a
                            step record holds a persona's name only)
action_id, url, rationale   ``action_id``, ``url``, ``rationale`` ("" when null)
timestamp                   ``timestamp`` as recorded; steps are numbered in timestamp order,
                            ties in table order
action_type, click_type,    ``action`` in OPeRA form, ``action_type``, ``semantic_id``,
semantic_id, input_text     ``input_text``, ``env_action`` (the same action in the env's grammar)
simplified_html             ``observation_text``; ``obs_tokens`` counted with cl100k_base
image (+ the image table)   ``image``: ``screenshots/<session_id>/<step>.<png|jpg|webp>``
scroll_detail (full)        the direction of ``scroll(...)``
navigation_type (full)      ``back()``, ``forward()`` or ``goto(url)`` (reload)
mouse_position,             not kept: no step record field holds them, and neither the replay
element_meta, window_size,  nor the metrics read them
page_meta, products,
target, *_new_page (full)
==========================  ====================================================================

Actions: ``click`` is ``{"type": "click", "name": semantic_id, "click_type": ...}``: the
click type rides in the action, where :class:`~webserv.behaviour.rewards.GoldAction` reads it
(Customer-R1's weights, click-type metrics) and the comparisons of type, name and text pass
over it; ``input`` is ``type_and_submit`` with ``name`` =
semantic_id and ``text`` = input_text; ``terminate`` is ``{"type": "terminate"}`` and ends
the episode (``terminated``). OPeRA sessions have no task: ``task_id`` names the variant and
split (``opera-filtered-test``) and ``intent`` is empty, so the prompt asks the policy to shop
the way it usually does.

The full variant's other actions stay in their sessions, as steps with ``action`` null (no
gold action: replayed, shown in the history, not scored, as webserv's own ``scroll`` and
``back`` steps are), when the env's grammar says what the shopper did: ``scroll`` (down or up,
from the sign of the vertical distance; left or right when the scroll was mostly
horizontal), and ``navigation`` back, forward and reload. A navigation to a new page follows
the action that opened it and is dropped, as is ``tab_activate`` (which tab is not
recorded); so is any row that cannot be a step (a click without a target, an input without
text, an unreadable timestamp). Every dropped row is counted by reason in the summary.

The run directory holds ``steps.jsonl``, ``episodes.jsonl``, ``screenshots/``,
``personas.json`` and ``import_summary.json``. It is written in full next to ``--out`` and
then renamed into place, so an error leaves nothing behind. Heavy imports (pyarrow, the
record models, the tokenizer) are made inside the functions: the CLI mounts this command,
and ``webserv --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

import typer
from pydantic import BaseModel, Field

from webserv.rollout.cli import fail

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from webserv.rollout.records import EpisodeRecord, RunWriter, StepRecord

Variant = Literal["filtered", "full"]
SplitName = Literal["train", "test"]
Selection = Literal["train", "test", "all"]
SPLITS: tuple[SplitName, ...] = ("train", "test")

#: Columns read from each table (the published schema has more; they are not needed).
ACTION_COLUMNS = (
    "session_id",
    "action_id",
    "timestamp",
    "action_type",
    "click_type",
    "semantic_id",
    "url",
    "rationale",
    "input_text",
    "image",
)
FULL_ACTION_COLUMNS = (*ACTION_COLUMNS, "navigation_type", "scroll_detail")
PAGE_COLUMN = "simplified_html"
SESSION_COLUMNS = ("session_id", "user_id", "action_count")
USER_COLUMNS = ("user_id", "survey")
IMAGE_COLUMNS = ("image_name", "image")

_HUB_FOLDERS = {"action": "action", "image": "images", "session": "session", "user": "user"}
_PATTERNS = (
    "{hub}/{split}-*.parquet",
    "{hub}/{split}/*.parquet",
    "{config}/{split}-*.parquet",
    "{config}/{split}/*.parquet",
    "{config}/{split}.parquet",
    "{config}_{split}.parquet",
    "{config}-{split}.parquet",
    "{config}_{split}-*.parquet",
    "{config}-{split}-*.parquet",
)
#: Rows of simplified HTML held at once while the pages are read (pages reach 600k chars).
_PAGE_BATCH = 64


class OperaError(ValueError):
    """A local copy cannot be read as OPeRA; the message names the file and what is wrong."""


class ImportSummary(BaseModel):
    """``import_summary.json``: what was read, what was written and what was left out."""

    source: str = Field(description="The local copy imported.")
    variant: Variant
    split: Selection
    tables: dict[str, list[str]] = Field(description="Files read per table, relative to source.")
    sessions: int
    users: int
    users_without_survey: int = Field(description="Users of imported sessions with no persona.")
    steps: int
    scored_steps: int = Field(description="Steps whose action is click, input or terminate.")
    steps_by_action_type: dict[str, int] = Field(description="By OPeRA's action_type.")
    click_types: dict[str, int]
    rationales: int = Field(description="Steps with the shopper's own rationale.")
    screenshots: int = Field(description="Screenshot files written (with an image table).")
    screenshots_missing: int = Field(
        description="Steps whose image is not in the image table, or not a PNG, JPEG or WebP."
    )
    action_count_mismatch: int = Field(
        description="Sessions whose action rows differ from the session table's action_count."
    )
    skipped_rows: int
    skipped: dict[str, int] = Field(description="Action rows left out, by reason.")


# ---- finding and opening the tables ------------------------------------------------------


def table_files(root: Path, variant: Variant, kind: str, split: SplitName) -> list[Path]:
    """The parquet shards of one table and split: the first layout that has any (see above)."""
    names = {"hub": f"OPeRA_{variant}/{_HUB_FOLDERS[kind]}", "config": f"{variant}_{kind}"}
    for pattern in _PATTERNS:
        found = sorted(p for p in root.glob(pattern.format(split=split, **names)) if p.is_file())
        if found:
            return found
    return []


@dataclass
class _Tables:
    """The files of each table to read; action files with the split they belong to."""

    action: list[tuple[SplitName, Path]]
    session: list[Path]
    user: list[Path]
    image: list[Path]


def _locate(root: Path, variant: Variant, splits: Sequence[SplitName]) -> _Tables:
    if not root.is_dir():
        raise OperaError(f"{root}: no such directory")
    tables = _Tables(action=[], session=[], user=[], image=[])
    for split in splits:
        for kind in ("action", "session"):
            found = table_files(root, variant, kind, split)
            if not found:
                raise OperaError(_not_found(root, variant, kind, split))
            if kind == "action":
                tables.action += [(split, path) for path in found]
            else:
                tables.session += found
    for split in SPLITS:
        tables.user += table_files(root, variant, "user", split)
        tables.image += table_files(root, variant, "image", split)
    if not tables.user:
        raise OperaError(_not_found(root, variant, "user", "{train,test}"))
    return tables


def _not_found(root: Path, variant: Variant, kind: str, split: str) -> str:
    names = {"hub": f"OPeRA_{variant}/{_HUB_FOLDERS[kind]}", "config": f"{variant}_{kind}"}
    looked = ", ".join(pattern.format(split=split, **names) for pattern in _PATTERNS)
    return f"{root}: no {variant}_{kind} table for split {split} (looked for {looked})"


def _open(path: Path, columns: Sequence[str], table: str) -> pq.ParquetFile:
    """A parquet file holding ``columns``; OperaError naming the file and any missing column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise OperaError(f"{path}: not a readable parquet file ({err})") from err
    names = set(parquet.schema_arrow.names)
    missing = [column for column in columns if column not in names]
    if missing:
        raise OperaError(
            f"{path}: the {table} table has no column {', '.join(map(repr, missing))} "
            f"(OPeRA's {table} table has {', '.join(columns)})"
        )
    return parquet


def _rows(
    path: Path, columns: Sequence[str], table: str, required: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The rows of ``columns``, once the file is known to hold ``required`` columns too."""
    parquet = _open(path, (*columns, *required), table)
    return parquet.read(columns=list(columns)).to_pylist()


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# ---- personas and sessions ---------------------------------------------------------------


def persona_text(survey: str | None) -> str | None:
    """A user's survey (OPeRA's JSON of demographics, shopping preferences and personality) as
    indented ``key: value`` lines for a prompt; text that is not JSON as it is; None if empty."""
    text = _text(survey)
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    return "\n".join(_survey_lines(data, 0)) or None


def _survey_lines(value: Any, depth: int) -> Iterator[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        for key, item in value.items():
            if item in (None, "", [], {}):
                continue
            if _nested(item):
                yield f"{pad}{key}:"
                yield from _survey_lines(item, depth + 1)
            else:
                yield f"{pad}{key}: {_scalars(item)}"
    elif _nested(value):
        for item in value:
            yield f"{pad}-"
            yield from _survey_lines(item, depth + 1)
    elif value not in (None, "", []):
        yield f"{pad}{_scalars(value)}"


def _nested(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(item, dict | list) for item in value)
    )


def _scalars(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value).strip()


def _read_users(paths: Sequence[Path], variant: Variant) -> dict[str, str | None]:
    """Persona text by user id; the first row of a user wins (the splits repeat users)."""
    personas: dict[str, str | None] = {}
    for path in paths:
        for row in _rows(path, USER_COLUMNS, f"{variant}_user"):
            user = _text(row["user_id"])
            if user and user not in personas:
                personas[user] = persona_text(row["survey"])
    return personas


def _read_sessions(paths: Sequence[Path], variant: Variant) -> dict[str, tuple[str, int | None]]:
    """(user id, action_count) by session id."""
    sessions: dict[str, tuple[str, int | None]] = {}
    for path in paths:
        for row in _rows(path, SESSION_COLUMNS, f"{variant}_session"):
            count = row["action_count"]
            sessions[_text(row["session_id"])] = (
                _text(row["user_id"]),
                int(count) if isinstance(count, int | float) else None,
            )
    return sessions


# ---- one action row ----------------------------------------------------------------------


@dataclass
class _Mapped:
    """An action row in webserv's terms: OPeRA form (None: not scored) and the env's grammar."""

    action: dict[str, Any] | None
    env_action: str
    action_type: str


def _map_action(row: dict[str, Any]) -> _Mapped | str:
    """What the row's action becomes, or why the row cannot be a step."""
    from webserv.browser.actions import parse

    kind = re.sub(r"[^a-z]", "", _text(row["action_type"]).lower())
    name = _text(row["semantic_id"])
    if kind == "click":
        if not name:
            return "click without semantic_id"
        action = {"type": "click", "name": name}
        if _text(row["click_type"]):
            action["click_type"] = _text(row["click_type"])
        return _Mapped(action, str(parse(action)), "click")
    if kind == "input":
        if not name:
            return "input without semantic_id"
        if not _text(row["input_text"]):
            return "input without input_text"
        action = {"type": "type_and_submit", "name": name, "text": row["input_text"]}
        return _Mapped(action, str(parse(action)), "type_and_submit")
    if kind == "terminate":
        return _Mapped({"type": "terminate"}, str(parse({"type": "terminate"})), "terminate")
    if kind == "scroll":
        direction = _scroll_direction(row.get("scroll_detail"))
        if direction is None:
            return "scroll without a distance in scroll_detail"
        return _Mapped(None, str(parse(f'scroll("{direction}")')), "scroll")
    if kind == "navigation":
        return _navigation(row)
    if kind == "tabactivate":
        return "tab_activate"
    return f"action_type {row['action_type']!r}"


def _navigation(row: dict[str, Any]) -> _Mapped | str:
    from webserv.browser.actions import parse

    how = re.sub(r"[^a-z]", "", _text(row.get("navigation_type")).lower())
    if how in ("back", "forward"):
        return _Mapped(None, str(parse(f"{how}()")), how)
    if how == "reload":
        if not _text(row["url"]):
            return "navigation 'reload' without a url"
        return _Mapped(None, str(parse({"name": "goto", "arguments": {"url": row["url"]}})), "goto")
    return f"navigation {row.get('navigation_type')!r}"


def _scroll_direction(detail: Any) -> str | None:
    """The way a scroll went, from OPeRA's scroll_detail JSON (distances as strings)."""
    try:
        data = json.loads(detail) if isinstance(detail, str) else detail
        dx = float((data or {}).get("scroll_distance_x") or 0)
        dy = float((data or {}).get("scroll_distance_y") or 0)
    except (ValueError, TypeError, AttributeError):
        return None
    if dx == dy == 0:
        return None
    if abs(dy) >= abs(dx):
        return "down" if dy > 0 else "up"
    return "right" if dx > 0 else "left"


def _instant(value: Any) -> datetime | None:
    """A timestamp (ISO 8601 text, as published, or a parquet timestamp) as an aware time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---- planning: which rows become which steps ---------------------------------------------


@dataclass
class _Entry:
    """A kept action row: its step record, still without its page."""

    when: datetime
    position: tuple[int, int]  # (action file, row in it): where its page is read from
    record: StepRecord
    opera_type: str
    click_type: str
    image_name: str


@dataclass
class _Session:
    session_id: str
    user_id: str
    action_count: int | None
    entries: list[_Entry] = field(default_factory=list)
    waiting: int = 0  # steps whose page is still to be read


@dataclass
class _Plan:
    sessions: dict[str, _Session] = field(default_factory=dict)
    pages: dict[tuple[int, int], StepRecord] = field(default_factory=dict)
    images: dict[str, list[StepRecord]] = field(default_factory=dict)
    table_rows: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def _plan(tables: _Tables, variant: Variant, sessions: dict[str, tuple[str, int | None]]) -> _Plan:
    """Read every action row but its page; keep, map and order the steps."""
    plan = _Plan()
    columns = FULL_ACTION_COLUMNS if variant == "full" else ACTION_COLUMNS
    for file, (split, path) in enumerate(tables.action):
        rows = _rows(path, columns, f"{variant}_action", required=(PAGE_COLUMN,))
        for index, row in enumerate(rows):
            plan.table_rows[_text(row["session_id"])] += 1
            entry = _entry(row, (file, index), f"opera-{variant}-{split}", sessions)
            if isinstance(entry, str):
                plan.skipped[entry] += 1
                continue
            session_id = entry.record.session_id
            if session_id not in plan.sessions:
                user, count = sessions[session_id]
                plan.sessions[session_id] = _Session(session_id, user, count)
            plan.sessions[session_id].entries.append(entry)
    for episode, session in enumerate(plan.sessions.values()):
        session.entries.sort(key=lambda e: (e.when, e.position))
        session.waiting = len(session.entries)
        for step, entry in enumerate(session.entries):
            entry.record.episode, entry.record.step = episode, step
            plan.pages[entry.position] = entry.record
            if entry.image_name:
                plan.images.setdefault(entry.image_name, []).append(entry.record)
    return plan


def _entry(
    row: dict[str, Any],
    position: tuple[int, int],
    task_id: str,
    sessions: dict[str, tuple[str, int | None]],
) -> _Entry | str:
    """The row as a step (numbered later), or why it is left out."""
    from webserv.rollout.records import StepRecord, StepTimings

    session_id = _text(row["session_id"])
    if session_id not in sessions:
        return "session not in the session table"
    when = _instant(row["timestamp"])
    if when is None:
        return "timestamp not ISO 8601"
    mapped = _map_action(row)
    if isinstance(mapped, str):
        return mapped
    rationale = _text(row["rationale"])
    shown = mapped.action if mapped.action is not None else mapped.env_action
    action = mapped.action or {}
    record = StepRecord(
        session_id=session_id,
        episode=0,
        step=0,
        action_id=_text(row["action_id"]),
        timestamp=row["timestamp"] if isinstance(row["timestamp"], str) else when.isoformat(),
        task_id=task_id,
        intent="",
        persona=sessions[session_id][0] or None,
        url=_text(row["url"]),
        title="",
        observation_text="",
        obs_tokens=0,
        model_output=json.dumps({"rationale": rationale, "action": shown}, ensure_ascii=False),
        rationale=rationale,
        action=mapped.action,
        action_type=mapped.action_type,
        semantic_id=action.get("name"),
        input_text=action.get("text"),
        env_action=mapped.env_action,
        format_ok=True,
        terminated=mapped.action_type == "terminate",
        timings=StepTimings(policy_ms=0.0),
    )
    image = _text(row["image"])
    return _Entry(
        when=when,
        position=position,
        record=record,
        opera_type=_text(row["action_type"]),
        click_type=action.get("click_type", ""),
        image_name=PurePosixPath(image).name if image else "",
    )


# ---- writing -----------------------------------------------------------------------------


def _image_bytes(cell: Any) -> bytes | None:
    """The bytes of an image cell: a Hugging Face Image struct ``{bytes, path}`` or raw bytes."""
    if isinstance(cell, dict):
        cell = cell.get("bytes")
    return cell if isinstance(cell, bytes) and cell else None


def _write_screenshots(writer: RunWriter, paths: Sequence[Path], plan: _Plan, table: str) -> int:
    """Write the screenshots the steps show; return how many files were written.

    Only row groups holding a wanted image are decoded, so importing the test split does not
    read the train images' bytes.
    """
    wanted = dict(plan.images)
    written = 0
    for path in paths:
        parquet = _open(path, IMAGE_COLUMNS, table)
        for group in range(parquet.num_row_groups):
            names = parquet.read_row_group(group, columns=["image_name"]).column(0).to_pylist()
            names = [PurePosixPath(n).name if isinstance(n, str) else "" for n in names]
            if not any(name in wanted for name in names):
                continue
            cells = parquet.read_row_group(group, columns=["image"]).column(0).to_pylist()
            for name, cell in zip(names, cells, strict=True):
                data = _image_bytes(cell)
                if name not in wanted or data is None:
                    continue
                for record in wanted.pop(name):
                    try:
                        record.image = writer.screenshot(record.session_id, record.step, data)
                    except ValueError:  # not a PNG, JPEG or WebP: counted as missing
                        break
                    written += 1
    return written


def _write_steps(writer: RunWriter, tables: _Tables, plan: _Plan, variant: Variant) -> None:
    """Read the pages and write each session's steps, in step order, once all are read.

    Pages are read a batch at a time and a session is written as soon as its last page is in,
    so memory holds the sessions still open (one, when the table keeps sessions together).
    Counting tokens is most of the work; tiktoken releases the GIL, so a batch's pages are
    counted on every core.
    """
    from webserv.browser.tokens import count_tokens

    with ThreadPoolExecutor() as pool:
        for file, (_split, path) in enumerate(tables.action):
            parquet = _open(path, (PAGE_COLUMN,), f"{variant}_action")
            index = 0
            for batch in parquet.iter_batches(batch_size=_PAGE_BATCH, columns=[PAGE_COLUMN]):
                kept = []
                for page in batch.column(0).to_pylist():
                    record = plan.pages.pop((file, index), None)
                    index += 1
                    if record is not None:
                        record.observation_text = page or ""
                        kept.append(record)
                pages = [record.observation_text for record in kept]
                for record, tokens in zip(kept, pool.map(count_tokens, pages), strict=True):
                    record.obs_tokens = tokens
                    _page_read(writer, plan.sessions[record.session_id])


def _page_read(writer: RunWriter, session: _Session) -> None:
    """One more page of ``session`` is in; write the session when it was the last."""
    session.waiting -= 1
    if session.waiting:
        return
    for entry in session.entries:
        writer.step(entry.record)
    writer.episode(_episode(session))
    for entry in session.entries:
        entry.record.observation_text = ""  # written: let the page go


def _episode(session: _Session) -> EpisodeRecord:
    from webserv.rollout.records import EpisodeRecord

    first, last = session.entries[0].record, session.entries[-1].record
    return EpisodeRecord(
        session_id=session.session_id,
        episode=first.episode,
        task_id=first.task_id,
        intent="",
        persona=session.user_id or None,
        policy="human",
        steps=len(session.entries),
        terminated=last.terminated,
    )


def _summary(
    root: Path,
    variant: Variant,
    split: Selection,
    tables: _Tables,
    plan: _Plan,
    personas: dict[str, str | None],
    screenshots: int,
) -> ImportSummary:
    entries = [e for s in plan.sessions.values() for e in s.entries]
    users = {s.user_id for s in plan.sessions.values()}
    files = {
        "action": [p for _, p in tables.action],
        "session": tables.session,
        "user": tables.user,
        "image": tables.image,
    }
    return ImportSummary(
        source=str(root),
        variant=variant,
        split=split,
        tables={k: [p.relative_to(root).as_posix() for p in v] for k, v in files.items()},
        sessions=len(plan.sessions),
        users=len(users),
        users_without_survey=sum(personas.get(u) is None for u in users),
        steps=len(entries),
        scored_steps=sum(e.record.action is not None for e in entries),
        steps_by_action_type=dict(Counter(e.opera_type for e in entries)),
        click_types=dict(Counter(e.click_type for e in entries if e.click_type)),
        rationales=sum(bool(e.record.rationale) for e in entries),
        screenshots=screenshots,
        screenshots_missing=sum(bool(e.image_name) for e in entries) - screenshots
        if tables.image
        else 0,
        action_count_mismatch=sum(
            s.action_count is not None and s.action_count != plan.table_rows[s.session_id]
            for s in plan.sessions.values()
        ),
        skipped_rows=sum(plan.skipped.values()),
        skipped=dict(plan.skipped),
    )


def _convert(root: Path, run_dir: Path, variant: Variant, split: Selection) -> ImportSummary:
    from webserv.rollout.records import RunWriter

    tables = _locate(root, variant, SPLITS if split == "all" else (split,))
    sessions = _read_sessions(tables.session, variant)
    personas = _read_users(tables.user, variant)
    plan = _plan(tables, variant, sessions)
    if not plan.sessions:
        raise OperaError(f"{root}: no {variant} action row could be imported ({plan.skipped})")
    writer = RunWriter(run_dir)
    try:
        screenshots = _write_screenshots(writer, tables.image, plan, f"{variant}_image")
        _write_steps(writer, tables, plan, variant)
    finally:
        writer.close()
    summary = _summary(root, variant, split, tables, plan, personas, screenshots)
    users = sorted({s.user_id for s in plan.sessions.values()})
    known = {user: personas[user] for user in users if personas.get(user)}
    (run_dir / "personas.json").write_text(json.dumps(known, indent=2, ensure_ascii=False) + "\n")
    (run_dir / "import_summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    return summary


def import_dataset(
    root: Path, out: Path, variant: Variant = "filtered", split: Selection = "all"
) -> ImportSummary:
    """Import a local copy of OPeRA into the run directory ``out`` (see the module docstring).

    Args:
        root: the local copy, in one of the layouts listed above.
        out: the run directory to create; it must not exist or be empty.
        variant: ``filtered`` (click, input, terminate: the benchmark's) or ``full``.
        split: ``train``, ``test`` or ``all``.

    Returns:
        The summary, also written to ``out/import_summary.json``.

    Raises:
        OperaError: a table is missing or lacks a column, or ``out`` is not empty; nothing is
            written then.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OperaError(f"{out} exists and is not an empty directory; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the run directory gets the umask's permissions, not 0700
    staging = out.parent / f".{out.name}-import-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        summary = _convert(root, staging, variant, split)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


# ---- the command -------------------------------------------------------------------------


class VariantChoice(StrEnum):
    filtered = "filtered"
    full = "full"


class SplitChoice(StrEnum):
    train = "train"
    test = "test"
    all = "all"


def import_opera(
    directory: Path = typer.Argument(
        ..., help="A local copy of NEU-HAI/OPeRA (the Hub repo, per-config folders or flat files)."
    ),
    out: Path = typer.Option(Path("runs/opera"), "--out", help="The run directory to create."),
    variant: VariantChoice = typer.Option(
        VariantChoice.filtered, help="filtered (click, input, terminate) or full."
    ),
    split: SplitChoice = typer.Option(
        SplitChoice.all, help="The split to import (OPeRA's benchmark numbers are on test)."
    ),
) -> None:
    """Import OPeRA's parquet tables as step records that behaviour eval and score read."""
    try:
        summary = import_dataset(directory, out, variant.value, split.value)
    except OperaError as err:
        raise fail(str(err)) from err
    typer.echo(summary.model_dump_json(indent=2))
