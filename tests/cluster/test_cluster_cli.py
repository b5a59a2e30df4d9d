"""``webserv cluster``: bad options and a missing cluster are one line and exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from webserv.cli import app

runner = CliRunner()


def test_up_without_redis_says_what_to_set():
    result = runner.invoke(app, ["cluster", "up"])
    assert result.exit_code == 2
    assert "leases and ownership in Redis" in result.output and "--redis" in result.output


def test_a_router_off_loopback_needs_a_token():
    result = runner.invoke(app, ["cluster", "up", "--host", "0.0.0.0", "--redis", "redis://x:1"])
    assert result.exit_code == 2 and "set a token" in result.output


@pytest.mark.parametrize("command", ["status", "down"])
def test_no_cluster_to_join_is_said_at_once(command: str, monkeypatch: pytest.MonkeyPatch):
    # A port nothing listens on: Ray itself would wait minutes on it.
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    result = runner.invoke(app, ["cluster", command])
    assert result.exit_code == 2
    assert "no Ray cluster to join" in result.output and "--local-nodes" in result.output
