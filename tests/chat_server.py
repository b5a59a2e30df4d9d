"""A small OpenAI-compatible chat-completions server on a loopback port, for tests.

No model can be loaded on the test machine, so tests that exercise the OpenAI-compatible
path talk to this stand-in over real HTTP: it records every request and answers with what
the test's ``reply`` function returns for it (status 200), or fails with ``fail_status``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from webserv.pool.backends.base import free_port

Reply = Callable[[dict[str, Any]], str]


class ChatServer:
    """The running stand-in: its base URL (ending in /v1) and the requests it received."""

    def __init__(self, reply: Reply, fail_status: int | None = None) -> None:
        self.reply = reply
        self.fail_status = fail_status
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.fail_status is not None:
                return JSONResponse({"error": {"message": "stand-in failure"}}, self.fail_status)
            content = self.reply(body)
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
                }
            )

        return app


@contextmanager
def chat_server(reply: Reply, fail_status: int | None = None) -> Iterator[ChatServer]:
    """Serve a :class:`ChatServer` on a free 127.0.0.1 port for the duration of the block."""
    chat = ChatServer(reply, fail_status)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(chat.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("chat stand-in did not start")
        time.sleep(0.01)  # uvicorn sets `started` from its own thread
    chat.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield chat
    finally:
        server.should_exit = True
        thread.join(timeout=10)
