"""The review screen (util_review_app.py), through the real script in a subprocess and in Chromium."""

from __future__ import annotations

import contextlib
import csv
import http.client
import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
import pytest
import soundfile as sf
from conftest import write_tone

from auditoryhum import formats
from auditoryhum.scripts import features_clap, features_clap_text, util_review_app, util_review_sheet

REPO = Path(__file__).resolve().parents[1]
SERVER_START_S = 120
TOKEN = "s3cret-token-for-tests"
#: sorted file order; rain_window's answer has no English label, so it comes first on the sheet
ANSWERS = {
    "dog_bark.wav": "dog barking, animal sounds",
    "kitchen_kettle.wav": "kettle whistling, kitchen noise",
    "park_birds.wav": "birds chirping, wind rustling",
    "rain_window.wav": "日本語",
    "street_TraficHigh.wav": "traffic noise, car horn",
}


@dataclass
class ReviewRun:
    folder: Path
    clap_model: Path
    clap_npy: Path
    labels_csv: Path
    scores_csv: Path
    sheet_text: str  # the sheet util_review_sheet.py wrote, before any review

    @property
    def filedir(self) -> str:
        return str(self.folder / "audio" / "*.wav")

    def fresh_sheet(self, folder: Path) -> Path:
        sheet = folder / "review_sheet.csv"
        sheet.write_text(self.sheet_text, encoding="utf-8")
        return sheet

    def app_command(self, sheet: Path, *extra: str) -> list[str]:
        return [sys.executable, str(REPO / "util_review_app.py"), f"--review_csv={sheet}", f"--filedir={self.filedir}",
                f"--top_label_scores_csv={self.scores_csv}", f"--text_label_csv={self.labels_csv}", "--port=0", *extra]


@pytest.fixture(scope="module")
def review_run(tmp_path_factory, tiny_checkpoint) -> ReviewRun:
    """Five clips labelled, embedded and scored by the real scripts (tiny CLAP), and the sheet."""
    folder = tmp_path_factory.mktemp("review")
    (folder / "audio").mkdir()
    for i, name in enumerate(ANSWERS):
        write_tone(folder / "audio" / name, seconds=3.0 + 0.5 * i, freq=220.0 * (i + 1), seed=i)
    labels_csv = folder / "labels.csv"
    formats.write_labels_csv(labels_csv, list(ANSWERS.values()))
    run = ReviewRun(folder, tiny_checkpoint("clap"), folder / "clap.npy", labels_csv, folder / "scores.csv", "")
    assert features_clap.main([f"--filedir={run.filedir}", f"--clap_model={run.clap_model}",
                               f"--clap_npy={run.clap_npy}", "--device=cpu"]) == 0
    assert features_clap_text.main([f"--filedir={run.filedir}", f"--clap_model={run.clap_model}",
                                    f"--clap_npy={run.clap_npy}", f"--text_label_csv={labels_csv}",
                                    f"--top_label_scores_csv={run.scores_csv}", "--device=cpu"]) == 0
    sheet = folder / "sheet.csv"
    # the sheet is written and waits for a reviewer
    assert util_review_sheet.main([f"--top_label_scores_csv={run.scores_csv}", f"--review_csv={sheet}",
                                   f"--annotations_csv={folder / 'unused.csv'}", "--fraction=0.5"]) \
        == util_review_sheet.EXIT_AWAITING_REVIEW
    run.sheet_text = sheet.read_text(encoding="utf-8")
    return run


def sheet_rows(sheet: Path) -> list[dict]:
    with open(sheet, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@contextlib.contextmanager
def running_app(command: list[str], log: Path):
    """The real script as a server on a free port; yields (process, URL) and always stops it."""
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no URL printed within {SERVER_START_S} s: {log.read_text()}")
            if line.startswith("review app: "):
                yield process, line.split(": ", 1)[1].strip()
                break
            if process.poll() is not None and lines.empty():
                pytest.fail(f"the app stopped (exit {process.returncode}): {log.read_text()}")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def wait_until(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return errors


def wait_js(page, expression: str, timeout: float = 15.0):
    """Poll a JavaScript expression until it is truthy (the page's CSP forbids Playwright's
    wait_for_function, which evaluates a string inside the page)."""
    return wait_until(lambda: page.evaluate(expression), timeout, expression)


def live_score(page) -> tuple[float, list[tuple[str, str]]]:
    """The live score shown (full precision) and the candidates listed, (label, score shown)."""
    wait_js(page, "document.getElementById('live-score').dataset.score !== undefined "
                  "&& !document.getElementById('live').classList.contains('busy')")
    score = float(page.get_attribute("#live-score", "data-score"))
    labels = page.locator("#live-candidates li span:first-child").all_inner_texts()
    return score, list(zip(labels, page.locator("#live-candidates li .score").all_inner_texts()))


# ----------------------------------------------------------------------------------------------
# the reviewer's path


def test_review_in_the_browser_saves_at_once_survives_a_kill_and_scores_live(review_run, tmp_path, chromium,
                                                                              screenshot):
    sheet = review_run.fresh_sheet(tmp_path)
    first, second = sheet_rows(sheet)[:2]
    assert first["reason"] == "no label" and second["reason"] == "lowest 50%"
    app_annotations = tmp_path / "app_annotations.csv"
    typed = "dog barking, car horn"
    command = review_run.app_command(sheet, f"--clap_model={review_run.clap_model}",
                                     f"--clap_npy={review_run.clap_npy}", "--device=cpu",
                                     f"--annotations_csv={app_annotations}")
    page = chromium.new_page(viewport={"width": 1280, "height": 820})
    errors = watch_errors(page)
    try:
        with running_app(command, tmp_path / "server.log") as (process, url):
            page.goto(url)
            wait_js(page, "document.getElementById('filename').textContent !== ''")
            assert page.inner_text("#filename") == first["filename"] == "rain_window.wav"
            assert page.inner_text("#reason") == "no label"
            assert page.inner_text("#answer") == ANSWERS["rain_window.wav"]
            assert page.inner_text("#progress-text") == "0 / 3 reviewed"
            # the audio loads and reports the clip's duration
            wait_js(page, "document.getElementById('player').readyState >= 1")
            duration = page.evaluate("document.getElementById('player').duration")
            assert duration == pytest.approx(sf.info(str(review_run.folder / "audio" / first["filename"])).duration,
                                             abs=0.01)
            # Ctrl+Space plays and pauses (autoplay off, so the key alone starts it)
            page.uncheck("#autoplay")
            page.evaluate("document.getElementById('player').pause()")
            page.keyboard.press("Control+Space")
            wait_js(page, "document.getElementById('player').currentTime > 0.05")
            page.keyboard.press("Control+Space")
            assert page.evaluate("document.getElementById('player').paused")

            page.locator("#note").press_sequentially(typed)
            score, candidates = live_score(page)
            assert [label for label, _ in candidates] == ["dog barking", "car horn"]
            assert page.inner_text("#live-score") == f"{score:.3f}"

            page.keyboard.press("Enter")  # save and next
            wait_until(lambda: sheet_rows(sheet)[0]["annotation"] == typed, what="the note on disk")
            wait_js(page, f"document.getElementById('filename').textContent === {second['filename']!r}")
            assert page.inner_text("#progress-text") == "1 / 3 reviewed"
            # a second clip with a label being typed: the picture in the README
            page.locator("#note").press_sequentially("birds chirping, wind")
            live_score(page)
            screenshot(page, "review_app")
            process.kill()  # no shutdown at all: the save is already on disk
    finally:
        page.close()
    assert errors == []
    assert [row["annotation"] for row in sheet_rows(sheet)] == [typed, "", ""]

    # the live score is what features_clap_text.py gives that line for that clip
    lines = list(ANSWERS.values())
    lines[int(first["row"]) - 1] = typed
    formats.write_labels_csv(tmp_path / "typed.csv", lines)
    assert features_clap_text.main([f"--filedir={review_run.filedir}", f"--clap_model={review_run.clap_model}",
                                    f"--clap_npy={review_run.clap_npy}", f"--text_label_csv={tmp_path / 'typed.csv'}",
                                    f"--top_label_scores_csv={tmp_path / 'typed_scores.csv'}", "--device=cpu"]) == 0
    scored = formats.read_scores_csv(tmp_path / "typed_scores.csv")[int(first["row"]) - 1]
    assert scored.label in ("dog barking", "car horn") and scored.score == pytest.approx(score, abs=1e-6)
    assert dict(candidates)[scored.label] == f"{score:.3f}"  # the best candidate is the one that counts

    # util_review_sheet.py turns the sheet into the same annotations CSV the app kept up to date
    assert util_review_sheet.main([f"--top_label_scores_csv={review_run.scores_csv}", f"--review_csv={sheet}",
                                   f"--annotations_csv={tmp_path / 'annotations.csv'}"]) == 0
    assert (tmp_path / "annotations.csv").read_bytes() == app_annotations.read_bytes()
    assert formats.read_annotations_csv(app_annotations) == ["", "", "", typed, ""]

    # reopened, it continues at the first clip not yet reviewed, with the progress
    page = chromium.new_page()
    try:
        with running_app(review_run.app_command(sheet), tmp_path / "server2.log") as (_, url):
            page.goto(url)
            wait_js(page, f"document.getElementById('filename').textContent === {second['filename']!r}")
            assert page.inner_text("#progress-text") == "1 / 3 reviewed"
            assert page.input_value("#note") == ""
            assert "live scoring is off" in page.inner_text("#live-note")
            page.keyboard.press("PageUp")
            assert page.inner_text("#filename") == first["filename"]
            assert page.input_value("#note") == typed
    finally:
        page.close()


# ----------------------------------------------------------------------------------------------
# security


def request(url: str, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
            host: str | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
    """A raw request: the path is sent exactly as given (no normalisation of ``..``)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def test_the_server_serves_only_sheet_audio_needs_its_token_limits_bodies_and_stores_labels_inert(
        review_run, tmp_path, chromium):
    sheet = review_run.fresh_sheet(tmp_path)
    on_sheet = [int(row["row"]) for row in sheet_rows(sheet)]
    off_sheet = next(row for row in range(1, 6) if row not in on_sheet)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-CONTENT")
    auth = {"X-Review-Token": TOKEN}
    json_type = {"Content-Type": "application/json"}
    with running_app(review_run.app_command(sheet, f"--token={TOKEN}"), tmp_path / "server.log") as (process, url):
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"/?token={TOKEN}")
        listening = [c.laddr for c in psutil.Process(process.pid).net_connections("inet") if c.status == "LISTEN"]
        assert [address.ip for address in listening] == ["127.0.0.1"]  # the default: loopback only

        # the token: missing or wrong is refused everywhere; header, query or the cookie it sets pass
        for path in ("/", "/review.js", "/api/state", f"/audio/{on_sheet[0]}"):
            assert request(url, path)[0] == 401
            assert request(url, path, headers={"X-Review-Token": "wrong-token-value"})[0] == 401
        assert request(url, "/api/state?token=wrong-token-value")[0] == 401
        status, _, response = request(url, f"/?token={TOKEN}")
        assert status == 200
        cookie = response.getheader("Set-Cookie")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert request(url, "/api/state", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        put = request(url, f"/api/rows/{on_sheet[0]}/annotation", "PUT", b'{"annotation": "x"}', json_type)
        assert put[0] == 401 and sheet_rows(sheet)[0]["annotation"] == ""

        # audio: only the files on the sheet, by row; nothing reaches any other path
        status, body, response = request(url, f"/audio/{on_sheet[0]}", headers=auth)
        audio_path = review_run.folder / "audio" / sheet_rows(sheet)[0]["filename"]
        assert status == 200 and body == audio_path.read_bytes()
        assert response.getheader("Content-Security-Policy").startswith("default-src 'none'")
        for path in (f"/audio/{off_sheet}", "/audio/0", "/audio/99", "/audio/-1", f"/audio/{secret_file}",
                     "/audio/../../../../etc/passwd", "/audio/..%2f..%2f..%2f..%2fetc%2fpasswd",
                     f"/audio/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..{secret_file}", "/../../../../etc/passwd",
                     "/review.js/../../../../etc/passwd", f"/static/../{secret_file.name}",
                     "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", f"/audio/{on_sheet[0]}/../../secret.txt"):
            status, body, _ = request(url, path, headers=auth)
            assert status in (400, 404), path
            assert b"root:" not in body and b"TOP-SECRET" not in body, path

        # DNS rebinding: a page on another host name cannot talk to the loopback server
        assert request(url, "/api/state", headers=auth, host="attacker.example:80")[0] == 400

        # bodies over the limit, and notes over their length, are refused and change nothing
        big = b'{"annotation": "' + b"a" * 20_000 + b'"}'
        assert request(url, f"/api/rows/{on_sheet[0]}/annotation", "PUT", big, {**auth, **json_type})[0] == 413
        long_note = b'{"annotation": "' + b"a" * 1_001 + b'"}'
        assert request(url, f"/api/rows/{on_sheet[0]}/annotation", "PUT", long_note, {**auth, **json_type})[0] == 422
        # a cross-site form cannot send JSON: a text/plain body is not taken as a note
        form = request(url, f"/api/rows/{on_sheet[0]}/annotation", "PUT", b'{"annotation": "csrf"}',
                       {**auth, "Content-Type": "text/plain"})
        assert form[0] == 422
        assert request(url, f"/api/rows/{off_sheet}/annotation", "PUT", b'{"annotation": "x"}',
                       {**auth, **json_type})[0] == 404
        assert [row["annotation"] for row in sheet_rows(sheet)] == ["", "", ""]

        # a label with markup, a comma and quotes is stored as typed and never runs
        markup = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>, "quoted", a,b'
        body = ('{"annotation": ' + json.dumps(markup) + "}").encode()
        status, answer, _ = request(url, f"/api/rows/{on_sheet[1]}/annotation", "PUT", body, {**auth, **json_type})
        assert status == 200 and json.loads(answer)["annotation"] == markup
        assert sheet_rows(sheet)[1]["annotation"] == markup

        page = chromium.new_page()
        errors = watch_errors(page)
        try:
            page.goto(url)  # the printed URL: its token becomes the cookie the page's requests carry
            wait_js(page, "document.getElementById('filename').textContent !== ''")
            page.locator("#queue li").nth(1).click()
            assert page.input_value("#note") == markup
            assert page.get_attribute("#queue li:nth-child(2)", "title") == f"your label: {markup}"
            assert page.evaluate("window.__pwned") is None
            assert page.locator("img").count() == 0 and page.locator("script").count() == 1  # review.js
            wait_js(page, "document.getElementById('player').readyState >= 1")  # audio with the cookie
        finally:
            page.close()
        assert errors == []
    assert util_review_sheet.main([f"--top_label_scores_csv={review_run.scores_csv}", f"--review_csv={sheet}",
                                   f"--annotations_csv={tmp_path / 'annotations.csv'}"]) == 0
    assert formats.read_annotations_csv(tmp_path / "annotations.csv")[on_sheet[1] - 1] == markup


def test_links_out_bad_text_and_a_lost_sheet_get_clean_answers_and_a_lagging_annotations_csv_is_repaired(
        review_run, tmp_path):
    sheet = review_run.fresh_sheet(tmp_path)
    rows = sheet_rows(sheet)
    # a copy of the audio in which the second clip on the sheet is a link to a file elsewhere
    audio = tmp_path / "audio"
    shutil.copytree(review_run.folder / "audio", audio)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    (audio / rows[1]["filename"]).unlink()
    (audio / rows[1]["filename"]).symlink_to(secret)
    # killed between a save's two writes: the sheet holds a note the annotations CSV lacks
    sheet.write_text(sheet.read_text(encoding="utf-8").replace(f"{rows[0]['reason']},,", f"{rows[0]['reason']},"
                                                                "reviewer,rain on glass", 1), encoding="utf-8")
    assert sheet_rows(sheet)[0]["annotation"] == "rain on glass"
    annotations = tmp_path / "annotations.csv"
    formats.write_labels_csv(annotations, [""] * len(ANSWERS))
    command = [arg.replace(review_run.filedir, str(audio / "*.wav")) for arg in review_run.app_command(sheet)]
    json_type = {"Content-Type": "application/json"}
    log = tmp_path / "server.log"
    with running_app(command + [f"--annotations_csv={annotations}"], log) as (process, url):
        assert formats.read_annotations_csv(annotations)[int(rows[0]["row"]) - 1] == "rain on glass"
        assert request(url, f"/audio/{rows[0]['row']}")[0] == 200
        for path in (f"/audio/{rows[1]['row']}", f"/spectrogram/{rows[1]['row']}"):
            status, body, _ = request(url, path)
            assert status == 404 and b"TOP-SECRET" not in body, path
        assert b"link out of the audio folder" in request(url, f"/audio/{rows[1]['row']}")[1]

        # text no file can hold: refused, nothing written
        for path, field in ((f"/api/rows/{rows[2]['row']}/annotation", "annotation"),
                            (f"/api/rows/{rows[2]['row']}/score", "text")):
            status, body, _ = request(url, path, "PUT" if field == "annotation" else "POST",
                                      ('{"%s": "bad \\ud800 text"}' % field).encode(), json_type)
            assert status == 400 and b"not valid (a lone surrogate)" in body, (path, body)
        assert sheet_rows(sheet)[2]["annotation"] == ""

        # the sheet broken, then deleted, under the running app
        kept = sheet.read_text(encoding="utf-8")
        sheet.write_text("row,filename\nnot a number,x.wav\n", encoding="utf-8")
        status, body, _ = request(url, "/api/state")
        assert status == 409 and body.startswith(b'{"detail":"cannot read the review sheet: '), body
        sheet.unlink()
        assert request(url, "/api/state")[0] == 409
        put = request(url, f"/api/rows/{rows[2]['row']}/annotation", "PUT", b'{"annotation": "x"}', json_type)
        assert put[0] == 409
        sheet.write_text(kept, encoding="utf-8")
        assert request(url, "/api/state")[0] == 200
    server_log = log.read_text()
    assert "Traceback" not in server_log and "rewritten from" in server_log
    assert "1 audio files on the sheet are links out of the audio folder" in server_log


def test_another_address_needs_a_token_and_bad_inputs_are_one_line(review_run, tmp_path, capsys):
    sheet = review_run.fresh_sheet(tmp_path)
    base = review_run.app_command(sheet)[2:]
    assert util_review_app.main([*base, "--host=0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "--host=0.0.0.0" in error and "--token" in error
    assert util_review_app.main([*base, "--host=0.0.0.0", "--token=short"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert util_review_app.main([*base, "--clap_npy=clap.npy"]) == 2
    assert "both --clap_model and --clap_npy" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("row,filename,label,score,reason,annotation\n1,not_this.wav,x,0.1,lowest 1%,\n")
    assert util_review_app.main([*review_run.app_command(other)[2:]]) == 2
    assert "belongs to another run" in capsys.readouterr().err
    assert util_review_app.main([*review_run.app_command(tmp_path / "missing.csv")[2:]]) == 2
    assert "review sheet not found" in capsys.readouterr().err
    wrong_npy = tmp_path / "wrong.npy"
    formats.save_npy(wrong_npy, np.zeros((4, 32)))
    assert util_review_app.main([*base, f"--clap_model={review_run.clap_model}", f"--clap_npy={wrong_npy}"]) == 2
    assert "row-count mismatch" in capsys.readouterr().err
    moved = tmp_path / "audio"
    shutil.copytree(review_run.folder / "audio", moved)
    (moved / "dog_bark.wav").rename(moved / "aaa_first.wav")
    command = [arg if not arg.startswith("--filedir=") else f"--filedir={moved}/*.wav" for arg in base]
    assert util_review_app.main(command) == 2
    assert "were the scores made from other files" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# the margin order's competing labels, and the spectrogram


def test_the_margin_sheet_shows_both_competing_labels_and_a_spectrogram_beside_the_player(review_run, tmp_path,
                                                                                          chromium, screenshot):
    from PIL import Image

    from auditoryhum.audio import load_audio
    from auditoryhum.spectrogram import HEIGHT, SAMPLING_RATE, WIDTH, power_db

    multi = tmp_path / "multi.csv"
    assert features_clap_text.main([f"--filedir={review_run.filedir}", f"--clap_model={review_run.clap_model}",
                                    f"--clap_npy={review_run.clap_npy}", f"--text_label_csv={review_run.labels_csv}",
                                    f"--top_label_scores_csv={tmp_path / 'scores.csv'}", "--multi_label",
                                    "--label_top=2", f"--multi_label_csv={multi}", "--device=cpu"]) == 0
    assert (tmp_path / "scores.csv").read_bytes() == review_run.scores_csv.read_bytes()
    sheet = tmp_path / "margin_sheet.csv"
    assert util_review_sheet.main([f"--top_label_scores_csv={review_run.scores_csv}", f"--review_csv={sheet}",
                                   f"--annotations_csv={tmp_path / 'unused.csv'}", "--fraction=0.5", "--order=margin",
                                   f"--multi_label_csv={multi}"]) == util_review_sheet.EXIT_AWAITING_REVIEW
    rows = sheet_rows(sheet)
    kept = {}
    for row in formats.read_multi_label_csv(multi):
        kept.setdefault(row.filename, []).append(row)
    first = rows[1]  # rows[0] is the clip without a label
    best, second = kept[first["filename"]]
    assert first["reason"] == f"margin {best.score - second.score:.3f} ({best.label} vs {second.label})"

    command = review_run.app_command(sheet, "--spectrogram", f"--multi_label_csv={multi}")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    errors = watch_errors(page)
    try:
        with running_app(command, tmp_path / "server.log") as (_, url):
            # the PNG: the clip's spectrogram, for rows on the sheet only
            status, png, response = request(url, f"/spectrogram/{first['row']}")
            assert status == 200 and response.getheader("Content-Type") == "image/png"
            on_sheet = {int(row["row"]) for row in rows}
            off_sheet = next(row for row in range(1, 6) if row not in on_sheet)
            assert request(url, f"/spectrogram/{off_sheet}")[0] == 404
            (tmp_path / "spectrogram.png").write_bytes(png)
            image = np.asarray(Image.open(tmp_path / "spectrogram.png").convert("L"), dtype=np.float64)
            assert image.shape == (HEIGHT, WIDTH)
            audio_path = review_run.folder / "audio" / first["filename"]
            tone = 220.0 * (list(ANSWERS).index(first["filename"]) + 1)  # write_tone's frequency of this clip
            loudest_bin = int(np.argmax(power_db(load_audio(str(audio_path), SAMPLING_RATE)).mean(axis=1)))
            assert loudest_bin * SAMPLING_RATE / 512 == pytest.approx(tone, abs=SAMPLING_RATE / 512)
            brightest_row = int(np.argmax(image.mean(axis=1)))  # frequency rises upwards, 0 to 8 kHz
            assert (HEIGHT - 0.5 - brightest_row) / HEIGHT * SAMPLING_RATE / 2 == pytest.approx(tone, abs=100)

            page.goto(url)
            wait_js(page, "document.getElementById('filename').textContent === "
                          f"{rows[0]['filename']!r}")
            assert page.locator("#competing").is_hidden()  # no label: nothing competed
            page.keyboard.press("PageDown")
            wait_js(page, f"document.getElementById('filename').textContent === {first['filename']!r}")
            assert page.inner_text("#reason") == first["reason"]
            assert page.locator("#competing .candidate > span:first-child").all_inner_texts() == [best.label,
                                                                                                  second.label]
            assert page.locator("#competing .candidate .score").all_inner_texts() == [f"{best.score:.3f}",
                                                                                      f"{second.score:.3f}"]
            wait_js(page, "document.getElementById('spectrogram').complete "
                          "&& document.getElementById('spectrogram').naturalWidth > 0")
            assert page.evaluate("document.getElementById('spectrogram').naturalWidth") == WIDTH
            # beside the player, on its width; a click seeks there
            spectro, player = page.locator("#spectrogram").bounding_box(), page.locator("#player").bounding_box()
            assert spectro["width"] == pytest.approx(player["width"], abs=2) and spectro["y"] < player["y"]
            page.uncheck("#autoplay")
            wait_js(page, "document.getElementById('player').readyState >= 1")
            page.locator("#spectrogram").click(position={"x": spectro["width"] * 0.5, "y": spectro["height"] / 2})
            duration = page.evaluate("document.getElementById('player').duration")
            wait_js(page, f"Math.abs(document.getElementById('player').currentTime - {duration / 2}) < 0.3")
            page.evaluate("document.getElementById('player').pause()")
            screenshot(page, "review_app_margin")
    finally:
        page.close()
    assert errors == []
