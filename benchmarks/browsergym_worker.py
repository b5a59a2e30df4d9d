"""BrowserGym's own env loop, driven line by line over stdin/stdout for ``webserv bench step``.

Runs inside BrowserGym's virtual env (it pins an older Playwright; see
:mod:`benchmarks.browsergym_venv`), in its own process, because BrowserGym uses Playwright's
sync API. It imports nothing from webserv.

Requests (one JSON object per line):
``{"op": "reset", "url": U}`` (optionally ``"cookies"``: Playwright cookie dicts added to the
context before U opens, so a logged-in page is seen logged in), ``{"op": "step", "action": A}``
where A may contain ``{bid}``
and the request then also carries ``"selector"``: the CSS selector of the element whose bid
fills it in, and ``{"op": "close"}``. Every reply is one JSON line with ``ms`` (the wall time
of ``env.reset``/``env.step``), ``url``, ``axtree`` and ``error``.
"""

import json
import os
import sys
import time


def axtree_text(obs):
    """The AXTree flattened as AgentLab's GenericAgent does (GPT-4o flags: visible tags on,
    clickable tags and coordinates off, no visibility filtering)."""
    from browsergym.utils.obs import flatten_axtree_to_str

    return flatten_axtree_to_str(
        obs["axtree_object"],
        extra_properties=obs["extra_element_properties"],
        with_visible=True,
        with_clickable=False,
        with_center_coords=False,
        with_bounding_box_coords=False,
        filter_visible_only=False,
    )


def logged_in_task():
    """BrowserGym's open-ended task, whose setup adds cookies before it opens the start URL."""
    from browsergym.core.task import OpenEndedTask

    class LoggedInTask(OpenEndedTask):
        def __init__(self, seed, start_url, goal=None, cookies=()):
            super().__init__(seed, start_url, goal)
            self.cookies = list(cookies)

        def setup(self, page):
            if self.cookies:
                page.context.add_cookies(self.cookies)
            return super().setup(page)

    return LoggedInTask


def main():
    from browsergym.core.env import BrowserEnv

    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr  # BrowserGym's own prints must not mix with the replies
    env = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "close":
            break
        try:
            if op == "reset":
                if env is not None:
                    env.close()
                env = BrowserEnv(
                    task_entrypoint=logged_in_task(),
                    task_kwargs={
                        "start_url": request["url"],
                        "goal": "benchmark",
                        "cookies": request.get("cookies", []),
                    },
                    headless=True,
                    pw_chromium_kwargs={
                        "executable_path": request.get("chromium", "/usr/bin/chromium")
                    },
                )
                started = time.perf_counter()
                obs, _ = env.reset()
            else:
                action = request["action"]
                if "selector" in request:
                    element = env.unwrapped.page.locator(request["selector"]).first
                    bid = element.get_attribute("bid", timeout=5000)
                    action = action.format(bid=bid)
                started = time.perf_counter()
                obs, _, _, _, _ = env.step(action)
            elapsed = (time.perf_counter() - started) * 1000
            reply = {
                "ms": elapsed,
                "url": obs["url"],
                "axtree": axtree_text(obs),
                "error": obs["last_action_error"],
            }
        except Exception as err:  # reported to the benchmark, which counts the step as failed
            reply = {"ms": None, "url": "", "axtree": "", "error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(reply) + "\n")
    if env is not None:
        env.close()


if __name__ == "__main__":
    main()
