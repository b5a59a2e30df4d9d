"""The shop suite: its shape, answers reproduced from the golden data, bindings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest

from webserv.browser.actions import parse
from webserv.env.config import RuntimeConfig
from webserv.env.runtime import EnvRuntime, UnservedSite, task_site_map
from webserv.env.session import base_urls, role_for_url
from webserv.pool.backends.base import Instance
from webserv.pool.manager import Lease
from webserv.sites.plugin import Site
from webserv.sites.registry import get as get_site
from webserv.sites.shop.tasks import generate
from webserv.sites.spec import SiteAlias, SiteSpec
from webserv.tasks.config import load_tasks
from webserv.tasks.suite import load_suite

WEBARENA_TASKS = Path(__file__).parents[1] / "data" / "webarena_shopping_admin_tasks.json"


def test_suite_has_enough_tasks_spread_over_templates_and_evaluators():
    suite = load_suite("shop")
    assert len(suite.tasks) >= 60
    templates = Counter(task.intent_template_id for task in suite.tasks)
    assert len(templates) >= 12 and max(templates.values()) <= 6
    kinds = Counter(kind for task in suite.tasks for kind in task.eval.eval_types)
    assert kinds["string_match"] >= 20 and kinds["program_html"] >= 20
    assert len({str(task.task_id) for task in suite.tasks}) == len(suite.tasks)
    for task in suite.tasks:
        assert task.reference_solution, task.task_id
        for action in task.reference_solution:
            parse(action)  # every step is in the action grammar


def test_tasks_json_is_what_the_generator_makes_from_the_golden_data(shop_golden: Path):
    params = generate.golden_params()
    made = generate.generate(shop_golden, params["seed"], params["scale"])
    committed = json.loads((generate.HERE / "tasks.json").read_text())
    assert made == committed, "tasks.json is stale: run python -m webserv.sites.shop.tasks.generate"


def test_generator_refuses_other_golden_data(shop_golden: Path):
    with pytest.raises(ValueError, match="seed 7"):
        generate.generate(shop_golden, 7, generate.golden_params()["scale"])


def _leases(**urls: str) -> dict[str, Lease]:
    """Leases on instances at the given URLs, by site."""
    return {
        site: Lease(
            f"l-{site}", Instance(site, site, "process", 1, Path("/"), "", url=url), 0.0, 1.0
        )
        for site, url in urls.items()
    }


def test_webarena_task_resolves_to_the_shop():
    task = load_tasks(WEBARENA_TASKS)[0]
    runtime = EnvRuntime(RuntimeConfig())
    assert runtime.sites_of(task.sites) == ["shop"]
    resolved = task.resolve(base_urls(runtime.task_sites, _leases(shop="http://127.0.0.1:20001")))
    assert resolved.start_urls == ["http://127.0.0.1:20001/admin"]
    with pytest.raises(UnservedSite, match="no served site answers 'gitlab'"):
        runtime.sites_of(["gitlab"])


def test_a_site_answers_for_its_own_name_before_an_alias():
    mapping = task_site_map([get_site("shop"), get_site("shopping")])
    assert mapping["shopping"][0] == "shopping"  # WebArena's image answers for itself
    assert mapping["shopping_admin"][0] == "shop"  # the shop's alias still serves the rest


def test_two_aliases_of_one_name_are_refused():
    class OtherShop(Site):
        spec = SiteSpec(name="other", version="1")
        aliases: ClassVar = {"shopping": SiteAlias()}

    with pytest.raises(ValueError, match="both serve 'shopping'"):
        task_site_map([get_site("shop"), OtherShop()])


def test_role_for_url_prefers_the_longest_base():
    root = "http://127.0.0.1:20001"
    sites = EnvRuntime(RuntimeConfig()).task_sites
    leases = _leases(shop=root)
    assert role_for_url(f"{root}/admin/orders/3", sites, leases) == ("shop", "admin")
    assert role_for_url(f"{root}/admin", sites, leases) == ("shop", "admin")
    assert role_for_url(f"{root}/administrator", sites, leases) == ("shop", "customer")
    assert role_for_url(f"{root}/cart", sites, leases) == ("shop", "customer")
    assert role_for_url("http://127.0.0.1:9/cart", sites, leases) is None
