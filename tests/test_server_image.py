"""What the server image is made of: webserv's run-time dependencies and its code."""

from __future__ import annotations

from webserv.pool.images.build import source_root
from webserv.server.image import server_requirements, server_sources


def test_the_image_gets_every_runtime_dependency_pinned():
    requirements = server_requirements()
    pins = dict(pin.split("==") for pin in requirements if "==" in pin)
    for name in ("fastapi", "uvicorn", "playwright", "redis", "httpx", "gymnasium", "starlette"):
        assert pins.get(name)
    assert "webserv" not in pins and "pytest" not in pins and "ruff" not in pins
    # Debian 12's Python 3.11.2 needs what the Python running the tests may not.
    assert any(r.startswith("async-timeout") for r in requirements)


def test_the_image_gets_the_code_but_no_results_or_caches():
    root = source_root()
    files = {str(p.relative_to(root)) for p in server_sources(root)}
    assert {"webserv/cli.py", "webserv/server/app.py", "benchmarks/cli.py"} <= files
    assert "webserv/tasks/suites/shop/tasks.json" in files
    assert not [f for f in files if "/results/" in f or "__pycache__" in f or f.endswith(".pyc")]
