"""Helpers for the browser tests."""

from __future__ import annotations

import re

from webserv.browser.observation import Observation


def element_id(obs: Observation, role: str, name: str) -> str:
    """The id the observation shows for the element with this role and accessible name."""
    # At the start of a line (after heading marks), or in a table cell.
    pattern = rf'(?:^(?:#+ )?|\| )\[([\d.]+)\] {role} "{re.escape(name)}"'
    match = re.search(pattern, obs.text, re.M)
    assert match, f'no {role} "{name}" in:\n{obs.text}'
    return match.group(1)
