"""A real HTTP server on loopback that speaks the OpenAI streaming API at a controlled token rate.

It is not a model: it streams `max_tokens` chunks, one every `token_interval_s`, so the load
generator's clocks, token counts and error handling meet real sockets and real SSE framing.
`mode` makes it misbehave the ways real servers do.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["ok", "close-early", "http-500", "malformed", "zero-tokens"]


@dataclass
class ServerState:
    mode: Mode = "ok"
    token_interval_s: float = 0.002
    requests: list[dict] = field(default_factory=list)


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def _event(self, payload: dict | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {text}\n\n".encode())
            self.wfile.flush()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if state.mode == "http-500":
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": "CUDA out of memory"}')
                return
            chat = self.path.endswith("/chat/completions")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            tokens = 0 if state.mode == "zero-tokens" else int(body["max_tokens"])
            for index in range(tokens):
                if state.mode == "close-early" and index == tokens // 2:
                    return  # the connection closes with no [DONE]
                if state.mode == "malformed" and index == 3:
                    self.wfile.write(b"data: {not json\n\n")
                    self.wfile.flush()
                time.sleep(state.token_interval_s)
                choice = {"index": 0, "delta": {"content": f" t{index}"}} if chat else {"index": 0, "text": f" t{index}"}
                self._event({"choices": [choice], "usage": None})
            prompt = body["messages"][0]["content"] if chat else body["prompt"]
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": tokens}
            self._event({"choices": [], "usage": usage})
            self._event("[DONE]")

    return Handler


@contextmanager
def serving(state: ServerState) -> Iterator[str]:
    """Start the server on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
