"""Which Chromium a browser pool launches, with which flags, and how its WebRTC is confined.

Two builds of the same Chromium: Debian's ``chromium-headless-shell``, the headless browser
alone (no window system, no browser UI layer, no extensions), which is lighter per page and
faster to draw a screenshot; and the full ``chromium``, the one that can show a window. Both
take the same flags; they differ in how WebRTC is kept to the context's proxy: the shell takes
the policy as a switch, the full browser only from its preferences, which an extension sets
(:func:`webserv.browser.guard.confine_webrtc`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Literal

from webserv.browser.guard import WEBRTC_POLICY

BrowserBuild = Literal["headless-shell", "chromium"]

#: Flags every build gets: no background traffic, no GPU, nothing to update or sign in to.
COMMON_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


@dataclass(frozen=True)
class Build:
    """One Chromium build: its program, its own flags, and whether its WebRTC policy must
    be set through an extension after launch."""

    name: BrowserBuild
    program: str
    args: tuple[str, ...]
    policy_by_extension: bool

    @property
    def installed(self) -> bool:
        return shutil.which(self.program) is not None

    def launch_args(self) -> list[str]:
        return [*COMMON_ARGS, *self.args]


BUILDS: dict[BrowserBuild, Build] = {
    "headless-shell": Build(
        "headless-shell",
        # The binary itself: Debian's /usr/bin wrapper does not exec it, so killing the
        # launched process would leave the browser running.
        "/usr/lib/chromium/chromium-headless-shell",
        (f"--force-webrtc-ip-handling-policy={WEBRTC_POLICY}",),
        policy_by_extension=False,
    ),
    # The URL guard loads its WebRTC policy extension over the DevTools pipe.
    "chromium": Build(
        "chromium", "/usr/bin/chromium", ("--enable-unsafe-extension-debugging",), True
    ),
}


def pick_build(name: BrowserBuild | None = None, *, headless: bool = True) -> Build:
    """The build asked for, else the headless shell when it is installed and no window is
    wanted, else the full browser. A build asked for by name must be installed."""
    if name is not None:
        if name not in BUILDS:
            raise ValueError(f"unknown browser {name!r}; one of: {', '.join(sorted(BUILDS))}")
        build = BUILDS[name]
        if not build.installed:
            raise FileNotFoundError(
                f"browser {name!r} is not installed ({build.program}); "
                f"apt-get install {build.program.rsplit('/', 1)[-1]}"
            )
        if not headless and name == "headless-shell":
            raise ValueError("the headless shell cannot show a window; use browser='chromium'")
        return build
    shell = BUILDS["headless-shell"]
    return shell if headless and shell.installed else BUILDS["chromium"]
