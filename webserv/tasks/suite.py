"""Task suites: WebArena-format tasks plus a manifest of the sites and data they target.

A suite directory holds ``suite.json`` (its name, the registered sites it runs on and the
golden data parameters its answers were computed from) and ``tasks.json``. Sites provide
their suites (``Site.suites()``); a suite may also be given by path, or as a bare task file
(WebArena's own ``config_files``), which then runs on whatever sites the runtime serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from webserv.sites import registry
from webserv.tasks.config import InvalidTask, TaskConfig, load_task_file


class SuiteManifest(BaseModel):
    """What the answers of a suite depend on."""

    name: str
    description: str = ""
    sites: list[str] = Field(
        default_factory=list,
        description="Registered sites the tasks run on (default: those of `golden`).",
    )
    golden: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per site, the golden data parameters the answers were computed from.",
    )

    @model_validator(mode="after")
    def _sites_from_golden(self) -> SuiteManifest:
        if not self.sites:
            self.sites = list(self.golden)
        return self


class Suite(BaseModel):
    manifest: SuiteManifest
    tasks: list[TaskConfig]
    invalid: list[InvalidTask] = Field(
        default_factory=list, description="Tasks of the file that do not validate."
    )

    def task(self, task_id: int | str) -> TaskConfig:
        for task in self.tasks:
            if str(task.task_id) == str(task_id):
                return task
        raise KeyError(f"suite {self.manifest.name} has no task {task_id!r}")


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by name (one a registered site provides), a suite directory, or a task file
    or directory of task files."""
    path = Path(name_or_path)
    if not path.exists():
        path = registry.find_suite(str(name_or_path))
    if (path / "suite.json").is_file():
        manifest = SuiteManifest.model_validate_json((path / "suite.json").read_text())
        loaded = load_task_file(path / "tasks.json")
    else:
        manifest, loaded = SuiteManifest(name=path.stem), load_task_file(path)
    return Suite(manifest=manifest, tasks=loaded.tasks, invalid=loaded.invalid)
