"""``webserv demo``: the README's main job.

Runs the shop task suite in parallel with the reference policy and prints its report;
then a short rollout of the scripted, persona-driven shopper (two envs, two episodes, written
as JSONL with screenshots under ``$WEBSERV_HOME/rollouts/demo``); then seeds the full shop's
golden data once, starts a pool with one warm instance on a copy-on-write clone, leases it,
checks its pages over HTTP and prints its URL and accounts.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import typer

from webserv.options import SnapshotDriver


def demo(
    serve: bool = typer.Option(
        sys.stdout.isatty(), help="Keep the instance up until Ctrl-C (default when interactive)."
    ),
    snapshot_driver: SnapshotDriver = None,
    parallel: int = typer.Option(4, "--parallel", min=1, max=32, help="Suite episodes at once."),
    report: Path = typer.Option(
        Path("demo-report.json"), "--report", help="Where the suite's JSON report goes."
    ),
    rollout_out: Path | None = typer.Option(
        None,
        "--rollout-out",
        help="Run directory the rollout is added to (default: a fresh one under WEBSERV_HOME).",
    ),
) -> None:
    """Run the shop suite, then a short shopper rollout, then launch an instance and print it."""
    from webserv.tasks.cli import PolicyKind
    from webserv.tasks.cli import run as run_suite

    run_suite(
        suite="shop",
        policy=PolicyKind.reference,
        parallel=parallel,
        max_steps=20,
        site=[],
        site_url=None,
        task=[],
        out=report,
        junit=None,
        as_json=False,
        judge_endpoint=None,
        judge_model="",
        judge_key="",
    )
    _rollout(rollout_out)
    asyncio.run(_demo(serve, snapshot_driver))


def _rollout(out: Path | None) -> None:
    """Two scripted shoppers with their personas, two episodes, recorded as a rollout."""
    import shutil

    from webserv.paths import home
    from webserv.rollout.cli import fleet_for, run_with_progress, select_tasks
    from webserv.rollout.runner import RolloutConfig
    from webserv.tasks.suite import load_suite

    if out is None:
        out = home() / "rollouts" / "demo"
        shutil.rmtree(out, ignore_errors=True)  # the demo's own directory holds its last run only
    suite = load_suite("shop")
    config = RolloutConfig(policy="scripted", envs=2, episodes=2, max_steps=15, out=out)
    # The shopper browses the storefront: the tasks on WebArena's "shopping" site name.
    tasks = select_tasks(suite, task_sites=["shopping"])
    run_with_progress(config, fleet_for(config, suite), tasks)


async def _demo(serve: bool, snapshot: str | None) -> None:
    import httpx
    from rich.console import Console
    from rich.table import Table

    from webserv.pool.backends.process import ProcessBackend
    from webserv.pool.golden import ensure_golden
    from webserv.pool.manager import PoolManager, PoolSite
    from webserv.pool.snapshot import SnapshotStore
    from webserv.sites import registry
    from webserv.sites.shop.accounts import ACCOUNTS

    console = Console(width=None if sys.stdout.isatty() else 120)
    shop = registry.get("shop")
    store = SnapshotStore(driver=snapshot)
    started = time.perf_counter()
    with console.status("seeding the shop's golden data (once)"):
        golden = await asyncio.to_thread(ensure_golden, store, shop)
    console.print(
        f"golden [bold]{golden}[/] ({store.driver.name} snapshots at {store.root}) "
        f"ready in {time.perf_counter() - started:.1f} s"
    )
    backend = ProcessBackend(owner="demo", preload={"shop": list(shop.preload)})
    pool = PoolManager(backend, store, [PoolSite(shop.spec, golden, standby=1)], owner="demo")
    try:
        async with pool:
            launch = time.perf_counter()
            with console.status("launching one instance on a fresh clone"):
                await pool.wait_standby()
            standby_s = time.perf_counter() - launch
            handover = time.perf_counter()
            lease = await pool.acquire("shop")
            handover_ms = (time.perf_counter() - handover) * 1000
            console.print(
                f"instance up in {standby_s:.2f} s, handed over in {handover_ms:.1f} ms: "
                f"[bold green]{lease.url}[/]"
            )
            checks = Table("page", "status", "ms", title="pages")
            async with httpx.AsyncClient(base_url=lease.url, timeout=30) as client:
                for path in ("/", "/search?q=shirt", "/account/login", "/admin/login", "/cart"):
                    t0 = time.perf_counter()
                    response = await client.get(path)
                    checks.add_row(
                        path, str(response.status_code), f"{(time.perf_counter() - t0) * 1000:.0f}"
                    )
                    if response.status_code >= 400:
                        raise RuntimeError(f"{lease.url}{path} answered {response.status_code}")
            console.print(checks)
            accounts = Table("role", "login", "password", "sign-in page", title="accounts")
            for account in ACCOUNTS:
                accounts.add_row(
                    account.role, account.login, account.password, lease.url + account.login_path
                )
            console.print(accounts)
            if serve:
                console.print("serving until Ctrl-C")
                await asyncio.Event().wait()
            await pool.release(lease.id)
    finally:
        await backend.close()
