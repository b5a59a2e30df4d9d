"""BrowserGym in its own virtual env under ``$WEBSERV_HOME``, wired to the system Chromium.

``browsergym-core`` pins an older Playwright than webserv's, so it cannot share webserv's
env. Its chat window launches a second browser without the executable path BrowserGym passes
through, so the env gets a private ``PLAYWRIGHT_BROWSERS_PATH`` in which the path that
Playwright version expects is a link to ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from webserv.paths import home

BROWSERGYM = "browsergym-core==0.14.3"
CHROMIUM = "/usr/bin/chromium"


def venv_dir() -> Path:
    return home() / "browsergym-venv"


def python() -> Path:
    return venv_dir() / "bin" / "python"


def ensure() -> dict[str, str]:
    """Create the env if needed; return the environment variables a worker needs."""
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir())], check=True)
    installed = subprocess.run(
        [str(python()), "-c", "import browsergym.core"], capture_output=True
    ).returncode
    if installed != 0:
        done = subprocess.run(
            [str(python()), "-m", "pip", "install", "--quiet", BROWSERGYM],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"installing {BROWSERGYM} failed:\n{done.stderr[-2000:]}")
    browsers = venv_dir() / "ms-playwright"
    revision = _chromium_revision()
    link = browsers / f"chromium-{revision}" / "chrome-linux" / "chrome"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(CHROMIUM)
    return {**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(browsers)}


def _chromium_revision() -> str:
    code = (
        "import json, pathlib, playwright;"
        "p = pathlib.Path(playwright.__file__).parent / 'driver/package/browsers.json';"
        "print(json.dumps(json.loads(p.read_text())['browsers']))"
    )
    listing = subprocess.run(
        [str(python()), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return next(b["revision"] for b in json.loads(listing) if b["name"] == "chromium")
