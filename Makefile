# The two commands a new user needs (Debian 12, as root):
#   make demo   set up and run the main job
#   make test   set up and run the tests (ruff, mypy, pytest: every marker)
.PHONY: setup services demo test test-fast lint

setup:
	bash scripts/setup.sh

services: setup
	bash scripts/services.sh

demo: setup
	.venv/bin/webserv demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: services lint
	.venv/bin/pytest

# Everything that needs no browser, Docker, Redis or btrfs: about 1,570 tests, 2-3 minutes on
# two cores.
test-fast: setup
	.venv/bin/pytest -m "not browser and not docker and not redis and not btrfs and not slow"
