"""WebArena's own task file: every task loads, and ``webserv suite run`` runs it against an
existing deployment through the url backend (a local stand-in, see ``webarena_standin``),
with WebArena's login flow per site, and reports per site and template, the not-evaluable
tasks with their reasons, as JSON and JUnit XML. The file comes from the ``libwebarena``
package (a development dependency that ships WebArena's harness and tasks)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import pytest
from webarena_standin import webarena_standin

from webserv.env.config import RuntimeConfig, SiteConfig
from webserv.env.runtime import EnvRuntime
from webserv.env.session import EnvSession
from webserv.tasks.config import load_task_file, parse_tasks
from webserv.tasks.suite import load_suite

TEST_RAW = Path(str(resources.files("webarena") / "test.raw.json"))


def test_every_task_of_webarenas_file_loads():
    loaded = load_task_file(TEST_RAW)
    assert len(loaded.tasks) == 812 and loaded.invalid == []
    assert sum(t.eval.reference_url == "" for t in loaded.tasks) >= 7  # null reads as ""
    suite = load_suite(TEST_RAW)
    assert suite.manifest.name == "test.raw" and suite.manifest.sites == []


def test_an_invalid_task_is_named_and_the_others_load():
    items = json.loads(TEST_RAW.read_text())[:3]
    del items[1]["intent"]
    items[2]["eval"]["eval_types"] = ["telepathy"]
    loaded = parse_tasks(items)
    assert [t.task_id for t in loaded.tasks] == [items[0]["task_id"]]
    problems = {(p.task_id, p.field) for p in loaded.invalid}
    assert (items[1]["task_id"], "intent") in problems
    assert (items[2]["task_id"], "eval.eval_types.0") in problems


@pytest.mark.browser
def test_suite_run_against_a_deployment_reports_per_site(tmp_path: Path):
    tasks = json.loads(TEST_RAW.read_text())
    # Two tasks per site name, and one on a site this run does not serve.
    chosen: dict[str, list[dict]] = {}
    for task in tasks:
        key = "+".join(task["sites"])
        wanted = 1 if key == "map" else 2
        if (
            key in ("shopping", "shopping_admin", "gitlab", "map")
            and len(chosen.get(key, [])) < wanted
        ):
            chosen.setdefault(key, []).append(task)
    subset = tmp_path / "subset.json"
    subset.write_text(json.dumps([t for group in chosen.values() for t in group]))
    with webarena_standin(["shopping", "shopping_admin", "gitlab"]) as urls:
        mapping = ",".join(f"{site}={url}" for site, url in urls.items())
        run = subprocess.run(
            [sys.executable, "-m", "webserv.cli", "suite", "run", str(subset),
             "--site-url", mapping, "--policy", "random", "--max-steps", "1", "--parallel", "2",
             "--out", str(tmp_path / "report.json"), "--junit", str(tmp_path / "junit.xml")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "per site:" in run.stdout and "per template:" in run.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rules"] == "webarena" and report["tasks"] == 7
    assert set(report["by_site"]) == {"shopping", "shopping_admin", "gitlab", "map"}
    # The map task is not served: reported, with the reason, not scored.
    assert report["by_site"]["map"]["not_evaluable"] == 1
    assert "not evaluable: task" in run.stdout and "'map'" in run.stdout
    served = [r for r in report["results"] if r["sites"] != ["map"]]
    assert all(not r["error"] for r in served), [r["error"] for r in served]  # logged in, ran
    junit = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert {s.get("name") for s in junit} == {f"subset.{site}" for site in report["by_site"]}
    assert sum(int(s.get("tests")) for s in junit) == 7


VERIFIED = Path(str(resources.files("webarena_verified") / "assets/dataset/webarena-verified.json"))


def test_webarena_verified_and_lite_formats_load():
    verified = load_task_file(VERIFIED)
    assert len(verified.tasks) == 812 and verified.invalid == []
    todos = next(t for t in verified.tasks if t.task_id == 44)
    assert todos.eval.eval_types == ["verified"] and todos.start_urls == ["__GITLAB__"]
    # WebArena-Lite writes must_include as a bare string once, and reference_url as null.
    lite = parse_tasks(
        [
            {
                **json.loads(TEST_RAW.read_text())[0],
                "old_task_id": 7,
                "eval": {
                    "eval_types": ["string_match"],
                    "reference_answers": {"must_include": "yjlou"},
                    "reference_url": None,
                    "program_html": [],
                },
            }
        ]
    )
    assert lite.invalid == [] and lite.tasks[0].eval.reference_answers.must_include == ["yjlou"]


@pytest.mark.browser
async def test_a_verified_task_is_scored_by_verified_rules_on_the_network_trace():
    """WebArena-Verified checks the last navigation in the episode's HAR and the agent's
    structured answer (its own package scores them)."""
    task = next(t for t in load_task_file(VERIFIED).tasks if t.task_id == 44)  # "Open my todos"
    done = '{"task_type": "NAVIGATE", "status": "SUCCESS", "retrieved_data": null}'
    with webarena_standin(["gitlab"]) as urls:
        config = RuntimeConfig(sites=[SiteConfig(name="gitlab", backend="url", url=urls["gitlab"])])
        async with EnvRuntime(config) as runtime:
            env = EnvSession(runtime, max_steps=4)
            try:
                scores = []
                for page in ("/dashboard/todos", "/dashboard/issues"):
                    await env.reset(task)
                    await env.step(f'goto("{urls["gitlab"]}{page}")')
                    result = await env.step(f"stop({json.dumps(done)})")
                    checks = result.info["evaluation"]["checks"]
                    assert checks[0] == "rules webarena-verified", checks
                    scores.append(result.reward)
                assert scores == [1.0, 0.0]
            finally:
                await env.close()
