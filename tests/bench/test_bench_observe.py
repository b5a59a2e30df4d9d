"""``webserv bench observe``: the fact checker on written observation texts (each fact kind,
found and not, tables by header index, escaped pipes), the corpus files, and one run of the
benchmark on the python-doc corpus (no docker)."""

from __future__ import annotations

import json

import pytest

from benchmarks.observe import CORPUS_DIR, SITES, load_corpus
from benchmarks.observe_facts import element_id, elements, found, ids, plain, split_cells, tables

PAGE = """\
[1] navigation "Main menu" collapsed (42 links)
# Posts
## [2] link "Add New"
[3] searchbox "Search Posts:"
[4] combobox "Filter by category" value="All Categories" options=[All Categories | Arts]
[5] checkbox "Anyone can register"
[6] checkbox "Hide my email address" checked
[7] button "Update" disabled
[8] textbox "Subject *"
[9] radio "\uf109 Standard" checked
Status:
Published
Priority: Normal
900 items
The list of sys.argv[0] is empty
table "Posts list" (3 rows)
| [11] link "Title" | Author | Tags \\| labels | Date |
| [12] link "A morning" | [13] link "Keiko" | [14] link "autumn", [15] link "x" | 2024/06/26 |
| [16] link "The bridge" | Zoe Dunne | a \\| b |  |
| [17] link "The bridge, again" | Morgan Reyes | tide | 2024/06/24 |
"""


def test_controls_by_role_name_value_and_flags():
    assert found({"control": "searchbox", "name": "Search Posts:"}, PAGE)
    assert found({"control": "textbox", "name": "Search Posts:"}, PAGE)  # one text field
    assert not found({"control": "button", "name": "Search Posts:"}, PAGE)
    combo = {"control": "combobox", "name": "Filter by category", "value": "All Categories"}
    assert found(combo, PAGE)
    assert not found({**combo, "value": "Arts"}, PAGE)
    assert found({"control": "checkbox", "name": "Anyone can register", "checked": False}, PAGE)
    assert not found({"control": "checkbox", "name": "Anyone can register", "checked": True}, PAGE)
    assert found({"control": "checkbox", "name": "Hide my email address", "checked": True}, PAGE)
    assert found({"control": "button", "name": "Update", "disabled": True}, PAGE)
    assert not found({"control": "link", "name": "Main"}, PAGE)  # names match whole
    # A required-field star, a trailing colon and icon-font glyphs are not part of a name.
    assert found({"control": "textbox", "name": "Subject"}, PAGE)
    assert found({"control": "radio", "name": "Standard", "checked": True}, PAGE)
    assert found({"control": "link", "name": "Add New"}, PAGE)  # inside a heading


def test_label_value_on_the_line_or_the_next():
    assert found({"label": "Priority:", "value": "Normal"}, PAGE)
    assert found({"label": "Status:", "value": "Published"}, PAGE)
    assert not found({"label": "Status:", "value": "Normal"}, PAGE)
    assert not found({"label": "Normal", "value": "Priority"}, PAGE)  # value before label


def test_text_anywhere_names_included():
    assert found({"text": "900 items"}, PAGE)
    assert found({"text": "Posts list"}, PAGE)  # a caption, unquoted
    assert found({"text": "A morning"}, PAGE)  # an element's name
    assert not found({"text": "901 items"}, PAGE)


def test_cells_by_row_and_header_index():
    cell = {"cell": "Keiko", "row": "A morning", "column": "Author"}
    assert found(cell, PAGE)
    assert not found({**cell, "column": "Date"}, PAGE)
    assert not found({**cell, "row": "The bridge"}, PAGE)
    assert found({"cell": "autumn", "row": "A morning", "column": "Tags"}, PAGE)
    assert found({"cell": "2024/06/26", "row": "A morning", "column": "Date"}, PAGE)
    # An element in a header cell is read by its name; an exact cell wins over a longer one.
    assert found({"cell": "Zoe Dunne", "row": "The bridge", "column": "Title"}, PAGE) is False
    assert found({"cell": "The bridge", "row": "Zoe Dunne", "column": "Title"}, PAGE)
    assert found({"cell": "tide", "row": "The bridge, again", "column": "Tags"}, PAGE)
    assert not found({"cell": "tide", "row": "The bridge", "column": "Tags"}, PAGE)
    assert not found({"cell": "Keiko", "row": "A morning", "column": "Nope"}, PAGE)


def test_escaped_pipes_stay_in_their_cell():
    assert split_cells("| a | b \\| c |  |") == ["a", "b | c", ""]
    [table] = tables(PAGE)
    assert len(table.header) == 4 and plain(table.header[2]) == "Tags | labels"
    assert all(len(row) == 4 for row in table.rows)
    # "Tags | labels" is one column: the escaped pipe did not shift the ones after it.
    assert found({"cell": "a | b", "row": "The bridge", "column": "Tags | labels"}, PAGE)
    assert found({"cell": "2024/06/24", "row": "Morgan Reyes", "column": "Date"}, PAGE)


def test_elements_ids_and_lookup():
    assert [e.id for e in elements(PAGE.splitlines()[-3])] == ["12", "13", "14", "15"]
    assert "0" not in set(ids(PAGE))  # sys.argv[0] is text, not an element
    assert element_id(PAGE, "combobox", "Filter by category") == "4"
    assert element_id(PAGE, "textbox", "Subject *") == "8"
    assert element_id(PAGE, "button", "Nope") is None
    quoted = '[20] link "He said \\"hi\\" | bye" value="x"'
    [element] = elements(quoted)
    assert element.name == 'He said "hi" | bye' and element.value == "x"


def test_the_corpus_files_hold_well_formed_pages():
    for site in SITES:
        pages = load_corpus(site)
        assert pages, site
        for page in pages:
            assert page.path.startswith("/") and 8 <= len(page.facts) <= 25, page.path
            for fact in page.facts:
                assert sum(k in fact for k in ("control", "label", "cell", "text")) == 1, fact
            for action in page.actions:
                assert action.do in {"click", "type", "select"}, action
    raw = json.loads((CORPUS_DIR / "redmine.json").read_text())
    assert {p.get("role") for p in raw} == {"admin"}


@pytest.mark.browser
@pytest.mark.slow
def test_benchmark_runs_on_the_python_docs():
    from benchmarks.observe import run
    from benchmarks.observe_sites import doc_root

    if doc_root("python-doc") is None:
        pytest.skip("python3-doc is not installed (scripts/setup.sh installs it)")
    report = run(["python-doc"], browsergym=False)
    recall = report.row("webserv", "field_recall")
    assert recall.n == len(load_corpus("python-doc"))
    assert 0 <= recall.extra["recall_pct"] <= 100
    assert report.row("webserv@python-doc", "obs_tokens").p50 > 0
    assert report.row("raw-html", "obs_tokens").p50 > report.row("webserv", "obs_tokens").p50
    looks = report.row("webserv", "changed_after_settle")
    assert looks.extra["steps"] >= recall.n  # the load of every page, then its actions
    assert isinstance(report.row("webserv", "stale_id_steps").p50, float)
    pages = [row for row in report.rows if row.variant.startswith("page python-doc/")]
    assert len(pages) == recall.n and all("missed" in row.extra for row in pages)
