"""``webserv demo`` calls the suite runner's command function directly: every parameter of it
must be given a value, or a typer default object would reach the runner."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import typer.models

from webserv import demo
from webserv.tasks import cli as tasks_cli


def test_demo_gives_the_suite_run_every_parameter(monkeypatch: pytest.MonkeyPatch):
    parameters = set(inspect.signature(tasks_cli.run).parameters)
    given: dict[str, object] = {}
    monkeypatch.setattr(tasks_cli, "run", lambda **kwargs: given.update(kwargs))
    monkeypatch.setattr(demo, "_rollout", lambda out: None)
    monkeypatch.setattr(demo, "_demo", lambda serve, driver: _nothing())
    demo.demo(
        serve=False,
        snapshot_driver=None,
        parallel=4,
        report=Path("demo-report.json"),
        rollout_out=None,
    )
    assert set(given) == parameters
    assert not [
        name for name, value in given.items() if isinstance(value, typer.models.ParameterInfo)
    ]


async def _nothing() -> None:
    return None
