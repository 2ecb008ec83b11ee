"""A loopback stand-in for the Gemini API, enough for the google-genai SDK to label audio.

It speaks the four calls the labeller makes, over real HTTP on 127.0.0.1:

* ``POST /upload/v1beta/files`` starts a resumable upload: answered with an ``x-goog-upload-url``
  header pointing at ``/upload-session/<n>``;
* ``POST /upload-session/<n>`` carries the bytes: answered with ``x-goog-upload-status: final`` and
  the file JSON (``files/<id>``, state ACTIVE);
* ``POST /v1beta/models/<model>:generateContent`` answers
  ``{"candidates": [{"content": {"parts": [{"text": ...}]}}]}``; the text is ``reply(audio, prompt)``,
  a pure function of the uploaded bytes and the prompt, so two runs give the same answers;
* ``DELETE /v1beta/files/<id>`` forgets an uploaded file.

Tests script failures per route (:meth:`FakeGemini.fail_next`), make the server die after a
number of answered requests (:meth:`FakeGemini.die_after`) and read back every request
(:attr:`FakeGemini.requests`, :attr:`FakeGemini.deleted`).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import zlib
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Callable

ROUTES = ("upload_start", "upload_chunk", "generate", "delete")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

_PHRASES = ["Traffic noise", "Car horn", "Bird song", "Dog bark", "Rain fall", "Crowd chatter", "Wind gust"]


def default_reply(audio: bytes, prompt: str) -> str:
    """A model-like answer with the punctuation, capitals and line breaks cleaning must handle;
    it differs per clip and says whether an annotation followed the standard prompt."""
    tag = zlib.crc32(audio)
    first, second = _PHRASES[tag % len(_PHRASES)], _PHRASES[(tag // 7) % len(_PHRASES)]
    hint = " Hinted scene." if not prompt.endswith("comma.") else ""
    return f"{first}, {second}.\n'Background' hum!{hint}"


@dataclass
class RecordedRequest:
    route: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class FakeGemini:
    """Start with ``with FakeGemini() as server:``; point the SDK at ``server.base_url``."""

    def __init__(self, reply: Callable[[bytes, str], str] = default_reply):
        self.reply = reply
        self.requests: list[RecordedRequest] = []
        self.deleted: list[str] = []
        self.uploaded: dict[str, bytes] = {}  # file id -> bytes, while not deleted
        self._failures: dict[str, deque] = defaultdict(deque)
        self._answered: dict[str, int] = defaultdict(int)
        self._die_after: tuple[str, int] | None = None
        self._dead = threading.Event()
        self._lock = threading.Lock()
        self._next_id = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- test controls --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, route: str, *responses: int | tuple[int, str], after: int = 0) -> None:
        """After ``after`` normal answers, the next requests on ``route`` get these error statuses,
        in order (then normal answers again). A response is a status code, or ``(status, message)``
        for the error JSON's message."""
        assert route in ROUTES, route
        self._failures[route].extend([None] * after)
        self._failures[route].extend(r if isinstance(r, tuple) else (r, _STATUS_NAMES.get(r, "ERROR")) for r in responses)

    def die_after(self, route: str, count: int) -> None:
        """Once ``count`` requests on ``route`` have been answered, stop listening and drop every
        connection still open: the process behind the API has gone away."""
        self._die_after = (route, count)

    def count(self, route: str) -> int:
        return sum(1 for request in self.requests if request.route == route)

    def of_route(self, route: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.route == route]

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "FakeGemini":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._dead.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- request handling -------------------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so a dead server refuses the next request.
            protocol_version = "HTTP/1.0"

            def do_POST(self):
                fake._handle(self)

            def do_DELETE(self):
                fake._handle(self)

            def log_message(self, *args):  # keep pytest output clean
                pass

        return Handler

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        route = _route_of(handler.command, handler.path)
        if self._dead.is_set():
            handler.close_connection = True  # hang up without an answer
            return
        with self._lock:
            self.requests.append(RecordedRequest(route, handler.command, handler.path, dict(handler.headers), body))
            failure = self._failures[route].popleft() if self._failures[route] else None
        try:
            self._answer(handler, route, body, failure)
        except Exception as err:  # a request this fake cannot read: fail loudly, never retryably
            self._send_json(handler, 400, _error_json(400, f"fake server cannot handle the request: {err!r}"))
        self._count_answer(route)

    def _answer(self, handler, route: str, body: bytes, failure: tuple[int, str] | None) -> None:
        if failure is not None:
            status, message = failure
            self._send_json(handler, status, _error_json(status, message))
        elif route == "upload_start":
            self._start_upload(handler)
        elif route == "upload_chunk":
            self._finish_upload(handler, body)
        elif route == "generate":
            self._generate(handler, json.loads(body))
        elif route == "delete":
            self._delete(handler)
        else:
            self._send_json(handler, 404, _error_json(404, f"no such route: {handler.command} {handler.path}"))

    def _start_upload(self, handler) -> None:
        with self._lock:
            self._next_id += 1
            session = self._next_id
        handler.send_response(200)
        handler.send_header("x-goog-upload-url", f"{self.base_url}/upload-session/{session}")
        handler.send_header("x-goog-upload-status", "active")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _finish_upload(self, handler, body: bytes) -> None:
        file_id = f"f{handler.path.rsplit('/', 1)[-1]}"
        with self._lock:
            self.uploaded[file_id] = body
        file_json = {
            "file": {
                "name": f"files/{file_id}",
                "uri": f"{self.base_url}/v1beta/files/{file_id}",
                "mimeType": "audio/wav",
                "sizeBytes": str(len(body)),
                "state": "ACTIVE",
            }
        }
        self._send_json(handler, 200, file_json, {"x-goog-upload-status": "final"})

    def _generate(self, handler, request: dict) -> None:
        parts = request["contents"][0]["parts"]
        # The SDK sends snake_case inside fileData; the real API accepts both spellings.
        uris = [part["fileData"].get("fileUri") or part["fileData"].get("file_uri") for part in parts if "fileData" in part]
        file_ids = [uri.rsplit("/", 1)[-1] for uri in uris]
        prompt = " ".join(part["text"] for part in parts if "text" in part)
        with self._lock:
            audio = [self.uploaded.get(file_id) for file_id in file_ids]
        if len(audio) != 1 or audio[0] is None:
            self._send_json(handler, 400, _error_json(400, f"expected one live uploaded file, got {file_ids}"))
            return
        answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": self.reply(audio[0], prompt)}]}}]}
        self._send_json(handler, 200, answer)

    def _delete(self, handler) -> None:
        file_id = handler.path.rsplit("/", 1)[-1]
        with self._lock:
            known = self.uploaded.pop(file_id, None) is not None
            if known:
                self.deleted.append(f"files/{file_id}")
        if known:
            self._send_json(handler, 200, {})
        else:
            self._send_json(handler, 404, _error_json(404, f"files/{file_id} not found"))

    def _count_answer(self, route: str) -> None:
        with self._lock:
            self._answered[route] += 1
            dying = self._die_after is not None and self._die_after == (route, self._answered[route])
        if dying:
            self._dead.set()
            # shutdown() waits for serve_forever to return, so it cannot run on a handler thread.
            threading.Thread(target=self.stop, daemon=True).start()

    @staticmethod
    def _send_json(handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


def _route_of(method: str, path: str) -> str:
    path = path.split("?", 1)[0]
    if method == "POST" and path == "/upload/v1beta/files":
        return "upload_start"
    if method == "POST" and re.fullmatch(r"/upload-session/\d+", path):
        return "upload_chunk"
    if method == "POST" and re.fullmatch(r"/v1beta/models/[^/]+:generateContent", path):
        return "generate"
    if method == "DELETE" and re.fullmatch(r"/v1beta/files/[^/]+", path):
        return "delete"
    return "unknown"


def _error_json(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}
