"""Fixtures of the task tests: WebArena's own evaluation harness, imported offline."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator

import pytest
from webarena_harness import SITE_ENV, WebArenaHarness, webarena_task_file, write_punkt_tab


@pytest.fixture(scope="session")
def webarena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebArenaHarness]:
    """WebArena's evaluation harness, imported offline and patched; undone afterwards."""
    if webarena_task_file() is None:
        pytest.skip("libwebarena is not installed (scripts/setup.sh installs it)")
    import nltk

    punkt_root = tmp_path_factory.mktemp("nltk_data")
    write_punkt_tab(punkt_root)
    modules_before = set(sys.modules)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SITE_ENV.items():
            patch.setenv(name, value)
        if importlib.util.find_spec("text_generation") is None:
            # imported by WebArena's LLM providers (a Hugging Face client), never called here
            patch.setitem(sys.modules, "text_generation", types.SimpleNamespace(Client=object))
        patch.setattr(nltk.data, "path", [str(punkt_root), *nltk.data.path])
        with warnings.catch_warnings():  # beartype 0.12's PEP 585 deprecation notices
            warnings.simplefilter("ignore")
            evaluators = importlib.import_module("webarena.evaluation_harness.evaluators")
            helper_functions = importlib.import_module(
                "webarena.evaluation_harness.helper_functions"
            )
        harness = WebArenaHarness(evaluators, helper_functions)
        for name, value in harness.patches().items():
            patch.setattr(evaluators, name, value)
        yield harness
    for name in set(sys.modules) - modules_before:
        if name == "webarena" or name.startswith("webarena."):
            del sys.modules[name]
