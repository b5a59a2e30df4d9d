"""Task suites: a directory of WebArena-format task JSON plus a manifest.

``suite.json`` says which site and which golden data (seed, scale) the answers were computed
from; ``tasks.json`` holds the tasks. The built-in suites live in ``webserv/tasks/suites/``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from webserv.tasks.config import TaskConfig, load_tasks

SUITES_DIR = Path(__file__).parent / "suites"


class SuiteManifest(BaseModel):
    """What the answers of a suite depend on."""

    name: str
    description: str = ""
    site: str = Field(description="The pool site the tasks run on.")
    seed: int = Field(description="Seed of the golden data the answers come from.")
    scale: float = Field(description="Scale of that golden data.")


class Suite(BaseModel):
    manifest: SuiteManifest
    tasks: list[TaskConfig]

    def task(self, task_id: int | str) -> TaskConfig:
        for task in self.tasks:
            if str(task.task_id) == str(task_id):
                return task
        raise KeyError(f"suite {self.manifest.name} has no task {task_id!r}")


def suite_dir(name: str) -> Path:
    path = SUITES_DIR / name
    if not (path / "suite.json").is_file():
        known = sorted(p.name for p in SUITES_DIR.iterdir() if (p / "suite.json").is_file())
        raise KeyError(f"unknown suite {name!r}; known suites: {', '.join(known)}")
    return path


def load_suite(name_or_path: str | Path) -> Suite:
    """A built-in suite by name, or a suite directory by path."""
    path = Path(name_or_path)
    if not (path / "suite.json").is_file():
        path = suite_dir(str(name_or_path))
    manifest = SuiteManifest.model_validate_json((path / "suite.json").read_text())
    return Suite(manifest=manifest, tasks=load_tasks(path / "tasks.json"))
