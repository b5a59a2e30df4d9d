"""Helpers for the browser tests."""

from __future__ import annotations

import re

from webserv.browser.observation import Observation


def element_id(obs: Observation, role: str, name: str) -> str:
    """The id the observation shows for the element with this role and accessible name."""
    match = re.search(rf'^(?:#+ )?\[([\d.]+)\] {role} "{re.escape(name)}"', obs.text, re.M)
    assert match, f'no {role} "{name}" in:\n{obs.text}'
    return match.group(1)
