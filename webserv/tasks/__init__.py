"""WebArena-format task configs, evaluators and suites."""
