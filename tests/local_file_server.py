"""A file server on 127.0.0.1 for the fetch tests: HTTP Range, dropped connections, and JSON
answers standing in for the Hugging Face tree API (with page links)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the Hub, for files not in LFS) gives a file's content."""
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class FileServer:
    """Files by URL path; records every request as (path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.json: dict[str, tuple[object, str]] = {}  # path -> (body, Link header)
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before dropping the connection (once)
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                path = self.path
                if path in server.json:
                    body, link = server.json[path]
                    payload = json.dumps(body).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if link:
                        self.send_header("Link", link)
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and not server.ignore_range:
                    start = int(range_header.split("=")[1].rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_after.pop(path, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def data_requests(self) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if not r[0].startswith("/api/")]

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_hub_dataset(self, repo: str, files: dict[str, bytes]) -> None:
        """Serve ``files`` as the root of a Hugging Face dataset repository: WAVs as LFS files
        (listed with their SHA-256), everything else as plain git files (listed with their blob id)."""
        entries = []
        for name, data in files.items():
            self.files[f"/datasets/{repo}/resolve/main/{name}"] = data
            entry = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
            if name.endswith(".wav"):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
            entries.append(entry)
        self.json[f"/api/datasets/{repo}/tree/main"] = (entries, "")
