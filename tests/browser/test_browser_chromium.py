"""Which Chromium build a pool launches."""

from __future__ import annotations

import dataclasses

import psutil
import pytest
from typer.testing import CliRunner

from webserv import ksm
from webserv.browser import chromium
from webserv.browser.chromium import BUILDS, pick_build
from webserv.browser.session import BrowserPool
from webserv.cli import app as cli


def test_headless_defaults_to_the_shell_and_a_window_to_the_full_browser():
    assert pick_build().name == "headless-shell"  # installed by scripts/setup.sh
    assert pick_build(headless=False).name == "chromium"
    assert pick_build("chromium").name == "chromium"


def test_an_unknown_build_is_named():
    with pytest.raises(ValueError, match="unknown browser 'firefox'; one of: chromium"):
        pick_build("firefox")  # type: ignore[arg-type]


def test_the_shell_is_refused_where_a_window_is_wanted():
    with pytest.raises(ValueError, match="cannot show a window"):
        pick_build("headless-shell", headless=False)


def test_a_missing_build_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    gone = dataclasses.replace(BUILDS["headless-shell"], program="/nonexistent/headless-shell")
    monkeypatch.setitem(chromium.BUILDS, "headless-shell", gone)
    assert pick_build().name == "chromium"  # the default falls back
    with pytest.raises(FileNotFoundError, match="apt-get install headless-shell"):
        pick_build("headless-shell")


def test_each_build_confines_webrtc_one_way():
    flags = {name: build.launch_args() for name, build in BUILDS.items()}
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in flags["headless-shell"]
    assert (
        BUILDS["chromium"].policy_by_extension and not BUILDS["headless-shell"].policy_by_extension
    )


def test_serve_names_a_missing_build_before_starting(monkeypatch: pytest.MonkeyPatch):
    gone = dataclasses.replace(BUILDS["chromium"], program="/nonexistent/chromium")
    monkeypatch.setitem(chromium.BUILDS, "chromium", gone)
    refused = CliRunner().invoke(cli, ["serve", "--browser", "chromium"])
    assert refused.exit_code == 2 and "apt-get install chromium" in refused.output


@pytest.mark.browser
@pytest.mark.skipif(not ksm.supported(), reason="no PR_SET_MEMORY_MERGE (Linux < 6.4)")
async def test_a_merging_pool_marks_its_browser_processes_and_not_this_one():
    def merge_any(pid: int | str) -> bool:
        with open(f"/proc/{pid}/ksm_stat") as stat:
            return "ksm_merge_any: yes" in stat.read()

    for merge in (True, False):
        async with BrowserPool(merge_memory=merge) as pool:
            context, browser = await pool.new_context()
            page = await context.new_page()
            await page.set_content("<p>hello</p>")
            children = psutil.Process().children(recursive=True)
            processes = [p for p in children if p.name().startswith("chrom")]
            assert any("--type=renderer" in " ".join(p.cmdline()) for p in processes)
            assert {merge_any(p.pid) for p in processes} == {merge}
            await context.close()
            await pool.release(browser)
        assert not merge_any("self")
