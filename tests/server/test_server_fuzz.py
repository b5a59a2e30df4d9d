"""Property-based fuzzing of every endpoint against the server's own OpenAPI spec, and of the
action text on a live env: whatever arrives, no 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import server_fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.browser

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Examples per endpoint: enough to reach every error path, few enough for a fast suite.
EXAMPLES = 15


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, shop_golden: Path) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-server")
    options = ("--token", TOKEN, "--max-envs", "2", "--env-ttl", "60")
    proc = server_fixtures.server_process(home, shop_golden, *options).start()
    try:
        yield proc.url
    finally:
        proc.stop()


def test_no_endpoint_answers_500(fuzz_server: str):
    schema = schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzz_server, headers=AUTH)
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/json")
                assert set(response.json()) >= {"error", "message"}

        call()


ACTIONS = st.one_of(
    st.text(max_size=200),
    st.sampled_from(['click("1")', 'type("2", "x", submit=True)', 'goto("http://10.0.0.1/")']),
    st.builds(
        lambda name, arg: f"{name}({arg!r})",
        st.sampled_from(
            ["click", "type", "select", "hover", "press", "scroll", "goto", "new_tab", "switch_tab"]
        ),
        st.text(max_size=40) | st.integers(),
    ),
    st.dictionaries(st.sampled_from(["name", "type", "arguments", "x"]), st.text(max_size=20)),
)


def test_any_action_on_a_live_env_is_answered_without_500(fuzz_server: str):
    with httpx.Client(base_url=fuzz_server, headers=AUTH, timeout=120) as api:
        env_id = api.post("/v1/envs", json={"task": 1, "options": {"max_steps": 1000}})
        assert env_id.status_code in (201, 429), env_id.text
        if env_id.status_code == 429:  # the endpoint fuzzing filled the server: free it
            for env in api.get("/v1/pool").json()["envs"]:
                api.delete(f"/v1/envs/{env['env_id']}")
            env_id = api.post("/v1/envs", json={"task": 1, "options": {"max_steps": 1000}})
        env = env_id.json()["env_id"]

        @given(action=ACTIONS)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def step(action: object) -> None:
            response = api.post(f"/v1/envs/{env}/step", json={"action": action})
            assert response.status_code in (200, 400, 409, 413), response.text
            if response.status_code == 409:  # stop() ended the episode
                assert api.post(f"/v1/envs/{env}/reset", json={"task": 1}).status_code == 200

        step()
        api.delete(f"/v1/envs/{env}")
