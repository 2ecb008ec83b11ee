"""The review screen: a small local web app over the review sheet of util_review_sheet.py.

One clip at a time - its audio, the MLLM's whole answer, the label CLAP chose with its score, why
the file is on the sheet (and, given the multi-label CSV, the runner-up label it competed with, with
its score), optionally the clip's spectrogram beside the player - and a text box for the
reviewer's label. Every save rewrites the sheet's
annotation column at once (atomically, through :func:`auditoryhum.review.save_note`), then the
annotations CSV from the sheet, so closing the browser or killing the server loses nothing: a kill
between the two writes is repaired when the app starts again. With a CLAP model and the clip's audio embedding,
what the reviewer types is scored live, exactly as features_clap_text.py would score that line
(split into candidate labels, best candidate kept).

The server is the only thing between a browser and the disk, so it is strict:

* audio, and its spectrogram (a PNG made here, cached), is addressed by the row of the scores CSV
  and served only for the rows on the sheet; the file paths come from ``--filedir`` at start-up,
  never from a request, and only a regular file inside the folders of ``--filedir`` is served
  (links resolved: a link named like a clip that points elsewhere is not followed);
* no request gets a traceback: a body with text no file can hold (a lone surrogate) is a 400, a sheet
  deleted or broken while the app runs a 409, and anything unforeseen a 500 with one line logged;
* with a token every request must carry it: the ``token`` query parameter of the printed URL (the
  answer sets it as a same-site, HTTP-only cookie that the page's own requests then carry), the
  cookie, or an ``X-Review-Token`` header; bound to a loopback address, requests must also name a loopback host (no DNS
  rebinding);
* request bodies over :data:`MAX_BODY_BYTES` are refused before the app sees them, and notes
  longer than :data:`MAX_NOTE_CHARS` are refused;
* the page is static HTML/JS that puts every label in the DOM as text (never as HTML), under a
  Content-Security-Policy that allows only the app's own scripts.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import mimetypes
import threading
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import parse_qs

import numpy as np

from . import formats, records, review
from .audio import AudioReadError
from .clap import Clap, cosine_similarities, embed_texts
from .errors import UserError, one_line
from .prompting import parse_label_line
from .spectrogram import spectrogram_png

#: Largest request body accepted (a label and some JSON around it).
MAX_BODY_BYTES = 16 * 1024
#: Longest note accepted, in characters.
MAX_NOTE_CHARS = 1000
TOKEN_HEADER = "x-review-token"
STATIC_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
                "/review.js": ("review.js", "text/javascript; charset=utf-8"),
                "/review.css": ("review.css", "text/css; charset=utf-8"),
                "/favicon.svg": ("favicon.svg", "image/svg+xml")}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; "
                                 b"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
                                 b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
LOOPBACK_NAMES = {"localhost"}

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------
# what the app serves


class LiveScorer:
    """CLAP scores of typed labels against one clip's audio embedding, as features_clap_text.py
    scores a labels-CSV line: the line's candidate labels, each embedded with the text tower."""

    def __init__(self, clap: Clap, audio_embeddings: np.ndarray):
        self.clap = clap
        self.audio_embeddings = audio_embeddings
        self._lock = threading.Lock()  # one forward pass at a time

    def has_audio(self, row: int) -> bool:
        return not np.isnan(self.audio_embeddings[row - 1]).any()

    def score(self, row: int, text: str) -> list[tuple[str, float]]:
        """``(candidate, score)`` for each candidate label of ``text``, in line order."""
        candidates = parse_label_line(text)
        if not candidates or not self.has_audio(row):
            return []
        with self._lock:
            vectors = embed_texts(self.clap, candidates, progress=False)
        scores = cosine_similarities(vectors, self.audio_embeddings[row - 1])
        return [(label, float(score)) for label, score in zip(candidates, scores)]


class Spectrograms:
    """Each clip's spectrogram PNG, made on first request and kept (a sheet holds a few hundred
    clips at most: the lowest 1 % of a dataset)."""

    def __init__(self):
        self._made: dict[str, bytes] = {}
        self._lock = threading.Lock()  # one made at a time; the server's other requests go on

    def png(self, path: str) -> bytes:
        with self._lock:
            if path not in self._made:
                self._made[path] = spectrogram_png(path)
            return self._made[path]


@dataclass
class ReviewSession:
    """Everything the app needs, loaded and checked once at start-up."""

    review_csv: Path
    rows: list[formats.ScoreRow]  # the top-label scores CSV
    audio_paths: list[str]  # row i (1-based) -> audio_paths[i - 1]
    answers: list[str]  # the MLLM's whole answer line per file
    scorer: LiveScorer | None = None
    annotations_csv: Path | None = None
    runner_ups: dict[int, formats.LabelRow] | None = None  # row -> its second label (the multi-label CSV)
    spectrograms: Spectrograms | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self.on_sheet = {entry.row for entry in self.entries()}
        # where audio may be served from: the folders the --filedir files are in, links resolved
        self.audio_folders = {Path(path).parent.resolve() for path in self.audio_paths}

    def entries(self) -> list[formats.SheetEntry]:
        return review.read_sheet(self.review_csv, self.rows)

    def state(self) -> dict:
        entries = self.entries()
        return {
            "sheet": self.review_csv.name,
            "live_scoring": self.scorer is not None,
            "reviewed": sum(bool(entry.annotation) for entry in entries),
            "spectrogram": self.spectrograms is not None,
            "entries": [self._entry_json(entry) for entry in entries],
        }

    def _entry_json(self, entry: formats.SheetEntry) -> dict:
        try:
            score = float(entry.score)
        except ValueError:
            score = math.nan
        return {
            "row": entry.row,
            "filename": entry.filename,
            "answer": self.answers[entry.row - 1],
            "label": entry.label,
            "score": None if math.isnan(score) else score,
            "reason": entry.reason,
            "annotation": entry.annotation,
            "simulated": review.is_simulated(entry),
            "live_scoring": self.scorer is not None and self.scorer.has_audio(entry.row),
            "competing": self._competing(entry, score),
        }

    def _competing(self, entry: formats.SheetEntry, score: float) -> list[dict] | None:
        """The best label and its runner-up, with their scores (None without a runner-up)."""
        second = (self.runner_ups or {}).get(entry.row)
        if second is None or not entry.label:
            return None
        return [{"label": entry.label, "score": score}, {"label": second.label, "score": second.score}]

    def save(self, row: int, note: str) -> dict:
        """Write ``note`` to the sheet, then the annotations CSV from the sheet (when one is kept);
        returns the stored note and the progress. The sheet is written first, so the annotations CSV
        is never ahead of it: a kill between the two is repaired at the next start
        (:meth:`repair_annotations`)."""
        with self._lock:
            entries = review.save_note(self.review_csv, self.rows, row, note)
            self._write_annotations(entries)
        stored = next(entry.annotation for entry in entries if entry.row == row)
        return {"row": row, "annotation": stored, "reviewed": sum(bool(entry.annotation) for entry in entries),
                "total": len(entries)}

    def _write_annotations(self, entries: list[formats.SheetEntry]) -> None:
        if self.annotations_csv is not None:
            notes = {entry.row: entry.annotation for entry in entries if entry.annotation}
            review.write_annotations(self.annotations_csv, len(self.rows), notes)

    def repair_annotations(self) -> bool:
        """Rewrite the annotations CSV where it does not hold the sheet's notes (a run killed between
        a save's two writes, or a sheet edited by hand); whether it had to."""
        if self.annotations_csv is None:
            return False
        entries = self.entries()
        notes = {entry.row: entry.annotation for entry in entries if entry.annotation}
        expected = formats.format_labels_lines(review.annotation_lines(len(self.rows), notes))
        try:
            held = self.annotations_csv.read_text(encoding="utf-8")
        except FileNotFoundError:
            held = None
        except (OSError, UnicodeDecodeError):
            held = ""
        if held == expected or (held is None and not notes):
            return False
        self._write_annotations(entries)
        return True

    def audio_path(self, row: int) -> str | None:
        return self.audio_paths[row - 1] if row in self.on_sheet else None

    def servable_audio(self, row: int) -> tuple[Path | None, str]:
        """The file to serve for ``row`` - a regular file inside the folders of ``--filedir``,
        links resolved - or None and why not."""
        path = self.audio_path(row)
        if path is None:
            return None, f"row {row} is not on the review sheet"
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(folder) for folder in self.audio_folders):
            return None, f"the audio of row {row} is a link out of the audio folder; it is not served"
        if not resolved.is_file():
            return None, f"the audio file of row {row} is gone (or not a regular file)"
        return resolved, ""


def load_session(review_csv: str, files: list[str], filedir: str, scores_csv: str, text_label_csv: str,
                 scorer: LiveScorer | None, annotations_csv: str | None, multi_label_csv: str | None = None,
                 spectrograms: bool = False) -> ReviewSession:
    """Read and cross-check the inputs: every per-file input must line up with the file list, and
    the sheet (and the multi-label CSV) with the scores CSV."""
    rows = formats.read_scores_csv(scores_csv)
    files_name = f'--filedir="{filedir}"'
    names = records.file_names(files)
    records.check_scores_files(scores_csv, rows.filenames, files_name, names)
    answers = formats.read_labels_csv(text_label_csv)
    records.check_rows_belong(text_label_csv, len(answers), files_name, names)
    if annotations_csv is not None and not Path(annotations_csv).resolve().parent.is_dir():
        raise UserError(f"--annotations_csv={annotations_csv}: output folder does not exist")
    second = None if multi_label_csv is None else \
        review.runner_ups(rows, formats.read_multi_label_csv(multi_label_csv), multi_label_csv)
    session = ReviewSession(Path(review_csv), rows, files, answers, scorer,
                            Path(annotations_csv) if annotations_csv else None, second,
                            Spectrograms() if spectrograms else None)
    if not session.on_sheet:
        raise UserError(f"{review_csv}: the review sheet lists no file")
    if session.repair_annotations():
        log.warning("%s: did not hold the review sheet's notes (a save was cut short); rewritten from %s",
                    annotations_csv, review_csv)
    refused = [path for row in sorted(session.on_sheet) for path in [session.servable_audio(row)[0]]
               if path is None and Path(session.audio_paths[row - 1]).exists()]
    if refused:
        log.warning("%d audio files on the sheet are links out of the audio folder and will not be played",
                    len(refused))
    return session


# ----------------------------------------------------------------------------------------------
# the guard in front of the app


ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class Guard:
    """ASGI middleware: loopback Host check, token check, body size limit, security headers."""

    def __init__(self, app: ASGIApp, token: str | None, loopback_only: bool, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        extra_headers = list(SECURITY_HEADERS)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + extra_headers)
            await send(message)

        refusal = self._host_refusal(headers)
        if refusal is None and self.token is not None:
            given, source = self._given_token(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                refusal = 401, "missing or wrong token (open the URL the server printed)"
            elif source == "query":
                # The page's own requests (script, audio, API) then carry it without the page's help.
                extra_headers.append((b"set-cookie", f"{self._cookie_name(scope)}={self.token}; Path=/; "
                                                     "HttpOnly; SameSite=Strict".encode("latin-1")))
        if refusal is not None:
            await _plain_response(send_with_headers, *refusal)
            return
        body, too_large = await self._read_body(receive, headers)
        if too_large:
            await _plain_response(send_with_headers, 413, f"request body over {self.max_body} bytes")
            return
        if not _holds_only_valid_text(body):
            await _plain_response(send_with_headers, 400, "the request holds text that is not valid (a lone "
                                                          "surrogate): no file could store it")
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:  # the body was read whole; after it only a disconnect can come
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        started = False

        async def send_tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, replay, send_tracked)
        except Exception as err:  # noqa: BLE001 - a request the app did not foresee: one line, never a traceback
            log.error("%s %s: %s: %s", scope.get("method"), scope.get("path"), type(err).__name__, one_line(err))
            if not started:
                await _plain_response(send_with_headers, 500, "the server could not answer this request")

    def _host_refusal(self, headers) -> tuple[int, str] | None:
        if self.loopback_only:
            host = headers.get("host", "")
            hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]
            if not is_loopback(hostname):
                return 400, "this server answers only requests for a loopback host"
        return None

    @staticmethod
    def _cookie_name(scope) -> str:
        """One cookie per port: cookies ignore ports, and two apps may run side by side."""
        port = (scope.get("server") or ("", 0))[1]
        return f"review_token_{port}"

    def _given_token(self, scope, headers) -> tuple[str | None, str]:
        if TOKEN_HEADER in headers:
            return headers[TOKEN_HEADER], "header"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], "query"
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except CookieError:
            return None, "cookie"
        morsel = cookies.get(self._cookie_name(scope))
        return (morsel.value if morsel else None), "cookie"

    async def _read_body(self, receive, headers) -> tuple[bytes, bool]:
        try:
            if int(headers.get("content-length", "0")) > self.max_body:
                return b"", True
        except ValueError:
            return b"", True
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return b"", True
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False


def _holds_only_valid_text(body: bytes) -> bool:
    """False for a JSON body with a string no UTF-8 file can hold (JSON can escape a lone
    surrogate, ``"\\ud800"``); anything else - valid or not JSON at all - is for the app to judge."""
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (ValueError, RecursionError):
        pass
    return True


async def _plain_response(send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------------------------
# the app


def create_app(session: ReviewSession, token: str | None, loopback_only: bool) -> ASGIApp:
    from fastapi import Body, FastAPI, HTTPException
    from fastapi.responses import FileResponse, Response

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    static = resources.files("auditoryhum") / "static" / "review"
    pages = {route: (static.joinpath(name).read_bytes(), media_type) for route, (name, media_type) in STATIC_FILES.items()}

    def make_static_route(route: str):
        content, media_type = pages[route]

        def serve() -> Response:
            return Response(content, media_type=media_type)

        app.get(route, include_in_schema=False)(serve)

    for route in pages:
        make_static_route(route)

    def row_on_sheet(row: int) -> int:
        if row not in session.on_sheet:
            raise HTTPException(404, f"row {row} is not on the review sheet")
        return row

    @app.get("/api/state")
    def state() -> dict:
        try:
            return session.state()
        except (UserError, OSError) as err:  # the sheet was deleted or broken while the app runs
            raise HTTPException(409, f"cannot read the review sheet: {one_line(err)}") from None

    @app.get("/audio/{row}")
    def audio(row: int) -> FileResponse:
        path, why = session.servable_audio(row)
        if path is None:
            raise HTTPException(404, why)
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    @app.get("/spectrogram/{row}")
    def spectrogram(row: int) -> Response:
        path, why = session.servable_audio(row)
        if path is None or session.spectrograms is None:
            raise HTTPException(404, f"no spectrogram of row {row} ({why or 'the app was started without --spectrogram'})")
        try:
            png = session.spectrograms.png(str(path))
        except (AudioReadError, OSError):
            raise HTTPException(404, f"cannot read the audio of row {row}") from None
        return Response(png, media_type="image/png")

    @app.put("/api/rows/{row}/annotation")
    def save(row: int, annotation: str = Body(..., embed=True, max_length=MAX_NOTE_CHARS)) -> dict:
        row_on_sheet(row)
        try:
            return session.save(row, annotation)
        except (UserError, OSError) as err:  # the sheet changed under the app into something unreadable
            raise HTTPException(409, one_line(err)) from None

    @app.post("/api/rows/{row}/score")
    def score(row: int, text: str = Body(..., embed=True, max_length=MAX_NOTE_CHARS)) -> dict:
        row_on_sheet(row)
        if session.scorer is None:
            raise HTTPException(404, "live scoring is off (start the app with --clap_model and --clap_npy)")
        scored = session.scorer.score(row, text)
        best = max(range(len(scored)), key=lambda i: scored[i][1], default=None)  # first of equals, as scoring
        return {"candidates": [{"label": label, "score": value} for label, value in scored], "best": best}

    return Guard(app, token, loopback_only)
