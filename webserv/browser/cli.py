"""``webserv observe URL``: one compact observation of a page."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def observe(
    url: str = typer.Argument(..., help="Page to observe."),
    screenshot: Path | None = typer.Option(None, help="Write a PNG screenshot to this file."),
    som: bool = typer.Option(False, "--som", help="Draw element ids onto the screenshot."),
    as_json: bool = typer.Option(False, "--json", help="Print the observation as JSON."),
    budget: int = typer.Option(2_000, help="Token budget of the text."),
    settle_timeout_ms: int = typer.Option(10_000, help="Hard cap on the settle wait."),
) -> None:
    """Open URL in Chromium, wait until it settles and print its compact observation."""
    import asyncio

    from webserv.browser.session import BrowserPool, SessionConfig

    config = SessionConfig(
        token_budget=budget,
        settle_timeout_ms=settle_timeout_ms,
        screenshot=screenshot is not None,
        som=som,
    )

    async def run() -> dict:
        async with BrowserPool() as pool:
            session = await pool.new_session(config=config)
            try:
                obs = await session.start(url)
            finally:
                await session.close()
        return obs.to_dict()

    obs = asyncio.run(run())
    png = obs.pop("screenshot")
    if screenshot is not None and png:
        screenshot.write_bytes(png)
    if as_json:
        typer.echo(json.dumps(obs, indent=2))
        return
    status = "settled" if obs["settled"] else "NOT settled (cap hit)"
    typer.echo(f"{obs['title']} <{obs['url']}>")
    typer.echo(
        f"{obs['token_count']} tokens, {status} in {obs['settle_ms']:.0f} ms"
        + (", truncated" if obs["truncated"] else "")
    )
    if obs["last_action_error"]:
        typer.echo(f"error: {obs['last_action_error']}")
    typer.echo("")
    typer.echo(obs["text"])
