"""A real local HTTP server playing the external authorizer (a roaming hub, an eMSP) in tests.

It speaks actors/authorizer/contract.py and can be told to answer, hang, fail with a status
code or recover; it records every request it receives, with its arrival time, so tests
observe retries and backoff from the downstream's side.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.polling import wait_until

# A behaviour: "answer" (the tag's configured answer, Invalid if none), "hang" (never
# answer while the test runs), or an HTTP status code to fail with.
Behaviour = str | int


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    id_tag: str
    station_id: str
    authorization: str | None


class AuthorizerServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: dict[str, dict] = {}
        self.default: Behaviour = "answer"
        self._script: deque[Behaviour] = deque()
        self.received: list[Received] = []
        self.retry_after: str | None = None
        # Seconds an "answer" takes (a slow hub that does answer within the deadline).
        self.answer_delay_s = 0.0
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                behaviour = server._arrived(Received(time.monotonic(), body["id_tag"], body["station_id"],
                                                     self.headers.get("Authorization")))
                if behaviour == "hang":
                    server._release.wait(60)
                    behaviour = 503
                if behaviour == "answer":
                    if server.answer_delay_s:
                        time.sleep(server.answer_delay_s)
                    data = json.dumps(server.answers.get(body["id_tag"].upper(), {"status": "Invalid"})).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(int(behaviour))
                if server.retry_after is not None:
                    self.send_header("Retry-After", server.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/authorize"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def _arrived(self, request: Received) -> Behaviour:
        with self._lock:
            self.received.append(request)
            return self._script.popleft() if self._script else self.default

    # --- what tests tell it ----------------------------------------------------------------

    def answer(self, id_tag: str, status: str = "Accepted", **fields) -> None:
        self.answers[id_tag.upper()] = {"status": status, **fields}

    def behave(self, default: Behaviour, *first: Behaviour) -> None:
        """Answer the next requests as `first` says, then every later one as `default`."""
        with self._lock:
            self._script = deque(first)
            self.default = default
        if default != "hang" and "hang" not in first:
            self._release.set()  # let hanging requests go
            self._release = threading.Event()

    def reset(self) -> None:
        self.behave("answer")
        self.retry_after = None
        self.answer_delay_s = 0.0
        with self._lock:
            self.received.clear()

    def requests_for(self, id_tag: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.id_tag.upper() == id_tag.upper()]

    async def wait_for_requests(self, id_tag: str, count: int, timeout: float = 10) -> list[Received]:
        def seen() -> list[Received] | None:
            requests = self.requests_for(id_tag)
            return requests if len(requests) >= count else None

        return await wait_until(seen, timeout, f"{count} requests for {id_tag} at the authorizer", interval=0.02)

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
