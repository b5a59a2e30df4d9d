"""Writing task suites: one WebArena-format task from its parts, for the generators of the
sites' suites (``python -m webserv.sites.<site>.tasks.generate``)."""

from __future__ import annotations

from typing import Any

Task = dict[str, Any]


def task(
    *,
    site: str,
    start_url: str,
    intent_template: str,
    values: dict[str, Any],
    evaluation: dict[str, Any],
    solution: list[str],
) -> Task:
    """One task in WebArena's format (``task_id`` and template id are set by the caller)."""
    intent = intent_template
    for key, value in values.items():
        intent = intent.replace("{{" + key + "}}", str(value))
    evaluation = {
        "eval_types": [],
        "reference_answers": None,
        "reference_url": "",
        "program_html": [],
        "string_note": "",
        **evaluation,
    }
    return {
        "sites": [site],
        "require_login": True,
        "storage_state": f"./.auth/{site}_state.json",
        "start_url": start_url,
        "geolocation": None,
        "intent_template": intent_template,
        "instantiation_dict": values,
        "intent": intent,
        "require_reset": False,
        "eval": evaluation,
        "reference_solution": solution,
    }
