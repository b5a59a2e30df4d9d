"""Writing OPeRA copies for tests: the published schema and the layouts the importer reads.

Each table is written with every column of the Hub's ``filtered_*`` or ``full_*`` config (a
value a row does not give is null), the image table's ``image`` as the Hub's Image struct.
``tests/behaviour/test_behaviour_opera.py`` writes small copies of its own with it, and
``tests/data/make_opera_fixture.py`` the committed fixture ``tests/data/opera``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FILTERED_ACTION = (
    "session_id action_id timestamp action_type click_type semantic_id mouse_position "
    "element_meta url window_size page_meta simplified_html rationale products input_text image"
).split()
FULL_ACTION = (
    "session_id action_id timestamp action_type navigation_type simplified_html "
    "simplified_html_new_page url window_size page_meta rationale products scroll_detail "
    "click_type semantic_id target mouse_position element_meta input_text image image_new_page"
).split()
SESSION = ["session_id", "user_id", "action_count"]
USER = ["user_id", "survey", "raw_survey", "interview_transcript", "interview_transcript_processed"]
IMAGE = ["image_name", "image"]
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

Rows = list[dict[str, Any]]
#: Rows of each table (action, session, user, image) and split, with the table's columns.
Tables = dict[str, dict[str, tuple[Sequence[str], Rows]]]


def table_path(root: Path, layout: str, variant: str, kind: str, split: str) -> Path:
    """Where each layout the importer reads (hub, config, flat) keeps one table's split."""
    config = f"{variant}_{kind}"
    if layout == "hub":
        folder = root / f"OPeRA_{variant}" / ("images" if kind == "image" else kind)
        if kind in ("action", "image"):
            return folder / f"{split}-00000-of-00001.parquet"
        return folder / split / f"{split}.parquet"
    if layout == "config":
        return root / config / f"{split}-00000-of-00001.parquet"
    return root / f"{config}_{split}.parquet"


def _column_type(kind: str, column: str) -> pa.DataType:
    if (kind, column) == ("image", "image"):
        return IMAGE_TYPE
    return pa.int64() if column == "action_count" else pa.string()


def write_copy(root: Path, tables: Tables, variant: str, layout: str = "config") -> Path:
    """Write every table with its published columns (absent values null); return ``root``."""
    for kind, splits in tables.items():
        for split, (columns, rows) in splits.items():
            arrays = {c: pa.array([r.get(c) for r in rows], _column_type(kind, c)) for c in columns}
            path = table_path(root, layout, variant, kind, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(arrays), path)
    return root
