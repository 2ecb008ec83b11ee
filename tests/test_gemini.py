"""label_google_gen_ai_cloud.py: the real google-genai SDK against a loopback fake Gemini server."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from conftest import partial_lines
from fake_gemini_server import FakeGemini, default_reply
from google.genai import errors as genai_errors

from auditoryhum.errors import UserError
from auditoryhum.gemini import GeminiStopped, call_with_retries, classify_failure, resolve_api_key
from auditoryhum.retry import RetryPolicy
from auditoryhum.prompting import PROMPT_TEXT, clean_response
from auditoryhum.scripts.label_google_gen_ai_cloud import main

FAKE_KEY = "AIzaFAKE-key-0123456789abcdef"
MODEL = "gemini-2.5-flash"
NOTE = "Mostly birds near a road."


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    # A proxy configured on the machine must not take the loopback traffic.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def annotations(tmp_path, wav_dir):
    path = tmp_path / "notes.csv"
    path.write_text(f"\n{NOTE}\n")  # a note for the 2nd file (b.wav), none for the others
    return path


def run(server, wav_dir, out, *extra) -> int:
    return main([
        f"--filedir={wav_dir}/*.wav", f"--genai_id={MODEL}", f"--text_label_csv={out}",
        f"--base_url={server.base_url}", "--retry_base_seconds=0.001", "--retry_max_seconds=0.004", *extra,
    ])


def expected_lines(wav_dir, notes=("", NOTE, "", "")) -> list[str]:
    files = sorted(wav_dir.glob("*.wav"))
    prompts = [f"{PROMPT_TEXT} {note}" if note else PROMPT_TEXT for note in notes]
    return [clean_response(default_reply(path.read_bytes(), prompt)) for path, prompt in zip(files, prompts)]


def lines_of(path) -> list[str]:
    return path.read_text().splitlines()


def test_labels_every_file_with_the_spec_request_and_deletes_the_uploads(server, wav_dir, annotations, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out, f"--annotations={annotations}") == 0

    assert lines_of(out) == expected_lines(wav_dir)
    assert lines_of(out)[1].endswith("background hum hinted scene")  # the note reached the prompt
    assert all(line == line.lower() and "." not in line and "'" not in line for line in lines_of(out))
    generates = server.of_route("generate")
    assert len(generates) == 4 and all(MODEL in request.path for request in generates)
    parts = [request.json()["contents"][0]["parts"] for request in generates]
    # the published order: the prompt text, then the uploaded audio
    assert [[next(iter(part)) for part in request_parts] for request_parts in parts] == [["text", "fileData"]] * 4
    prompts = [request_parts[0]["text"] for request_parts in parts]
    assert prompts == [PROMPT_TEXT, f"{PROMPT_TEXT} {NOTE}", PROMPT_TEXT, PROMPT_TEXT]
    for request in generates:
        assert request.json()["generationConfig"] == {"temperature": 0, "topP": 1, "maxOutputTokens": 1024, "seed": 100}
        assert request.headers["x-goog-api-key"] == FAKE_KEY
    uploads = [request.json()["file"]["display_name"] for request in server.of_route("upload_start")]
    assert uploads == ["a.wav", "b.wav", "c.wav", "d.wav"]
    assert server.deleted == ["files/f1", "files/f2", "files/f3", "files/f4"] and not server.uploaded
    assert "Labelled 4 files" in capsys.readouterr().out


def test_concurrent_requests_give_the_same_rows(server, wav_dir, annotations, tmp_path):
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out, f"--annotations={annotations}", "--batch_size=3") == 0
    assert lines_of(out) == expected_lines(wav_dir)
    assert len(server.deleted) == 4 and not server.uploaded


def test_429_and_503_are_retried(server, wav_dir, tmp_path, caplog):
    server.fail_next("generate", 429, 503, after=1)
    server.fail_next("upload_start", 503)
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out) == 0

    assert lines_of(out) == expected_lines(wav_dir, notes=[""] * 4)
    assert server.count("generate") == 4 + 2 and server.count("upload_start") == 4 + 1
    retries = [record.getMessage() for record in caplog.records if "retry" in record.getMessage()]
    assert len(retries) == 3
    assert "HTTP 429 RESOURCE_EXHAUSTED" in retries[1] and "b.wav" in retries[1]
    assert "HTTP 503 UNAVAILABLE" in retries[2]


def test_400_stops_at_once_keeping_finished_rows_then_resume_completes(server, wav_dir, tmp_path, capsys):
    server.fail_next("generate", 400, after=1)
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out) == 2

    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and "HTTP 400" in error and MODEL in error and "b.wav" in error
    assert "not retried" in error and "--resume" in error
    assert server.count("generate") == 2  # one answered, one refused; no retry
    assert server.deleted == ["files/f1", "files/f2"]  # the failed file's upload is gone too
    assert not out.exists()
    assert partial_lines(out) == expected_lines(wav_dir, notes=[""] * 4)[:1]

    assert run(server, wav_dir, out, "--resume") == 0
    assert lines_of(out) == expected_lines(wav_dir, notes=[""] * 4)
    assert server.count("upload_start") == 2 + 3  # resume starts at the 2nd file


def test_server_dying_mid_run_stops_cleanly_and_resume_is_byte_identical(wav_dir, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    with FakeGemini() as dying:
        dying.die_after("delete", 2)
        assert run(dying, wav_dir, out, "--max_retries=2") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "c.wav" in error and "failed 3 times" in error and "Error" in error
    assert "2 finished files kept in" in error and "--resume" in error
    assert len(partial_lines(out)) == 2 and not out.exists()

    with FakeGemini() as restarted:
        assert run(restarted, wav_dir, out, "--resume") == 0
        assert restarted.count("generate") == 2
    uninterrupted = tmp_path / "uninterrupted.csv"
    with FakeGemini() as fresh:
        assert run(fresh, wav_dir, uninterrupted) == 0
    assert out.read_bytes() == uninterrupted.read_bytes()


def test_a_failed_delete_is_only_a_warning(server, wav_dir, tmp_path, caplog):
    server.fail_next("delete", 500)
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out, "--max_retries=0") == 0
    assert lines_of(out) == expected_lines(wav_dir, notes=[""] * 4)
    assert any("could not delete the upload of" in record.getMessage() for record in caplog.records)
    assert server.count("delete") == 4 and len(server.deleted) == 3


def test_an_empty_answer_leaves_a_blank_row_and_is_reported(wav_dir, tmp_path, capsys, caplog):
    out = tmp_path / "labels.csv"
    with FakeGemini(reply=lambda audio, prompt: "") as silent:
        assert run(silent, wav_dir, out) == 0
    assert out.read_text() == "\n" * 4
    assert "4 empty model responses" in capsys.readouterr().out
    assert sum("no text in the answer" in record.getMessage() for record in caplog.records) == 4


def test_missing_key_is_one_line_naming_the_variables(server, wav_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GEMINI_API_KEY")
    assert run(server, wav_dir, tmp_path / "labels.csv") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "GEMINI_API_KEY" in err and "GOOGLE_API_KEY" in err
    assert server.requests == []


def test_the_key_never_appears_in_output_logs_or_files(server, wav_dir, tmp_path, monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("GEMINI_API_KEY")
    # A proxy that echoes the key back in its error, after a retried 429.
    server.fail_next("generate", 429, (400, f"API key not valid: {FAKE_KEY}"), after=2)
    out = tmp_path / "labels.csv"
    assert run(server, wav_dir, out, f"--api_key={FAKE_KEY}") == 2

    captured = capfd.readouterr()
    assert "API key not valid: [API key]" in captured.err
    assert server.of_route("generate")[0].headers["x-goog-api-key"] == FAKE_KEY  # it was used
    written = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")
                     if path.is_file() and path.relative_to(tmp_path).as_posix().startswith("labels.csv"))
    # the kept rows, and the manifest of the files they belong to
    assert written == ["labels.csv.partial/000000000-000000002.csv", "labels.csv.partial/manifest.json"]
    texts = [captured.out, captured.err, caplog.text] + [(tmp_path / name).read_text() for name in written]
    assert not any(FAKE_KEY in text for text in texts)


def test_key_comes_from_the_flag_then_the_environment():
    assert resolve_api_key(" flag-key ", {"GEMINI_API_KEY": "env-key"}) == "flag-key"
    assert resolve_api_key(None, {"GEMINI_API_KEY": "gemini-key"}) == "gemini-key"
    assert resolve_api_key(None, {"GOOGLE_API_KEY": "google-key", "GEMINI_API_KEY": "gemini-key"}) == "google-key"
    with pytest.raises(UserError, match="GEMINI_API_KEY"):
        resolve_api_key("", {"GEMINI_API_KEY": "  "})


def test_retry_policy_backs_off_exponentially_with_jitter_up_to_the_cap():
    waits = []
    policy = RetryPolicy(max_retries=4, base_seconds=1.0, cap_seconds=5.0, sleep=waits.append, random=lambda: 1.0)
    attempts = []

    def always_busy():
        attempts.append(1)
        raise genai_errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})

    with pytest.raises(GeminiStopped, match="failed 5 times, last with HTTP 503 UNAVAILABLE"):
        call_with_retries(policy, always_busy, "model: labelling x.wav")
    assert len(attempts) == 5 and waits == [1.0, 2.0, 4.0, 5.0]

    policy.random = lambda: 0.0  # the jitter never takes more than half the backoff away
    assert [policy.delay(retry) for retry in range(4)] == [0.5, 1.0, 2.0, 2.5]


def test_retry_policy_honours_the_servers_wait_within_the_cap():
    policy = RetryPolicy(max_retries=1, base_seconds=1.0, cap_seconds=30.0, sleep=lambda s: None, random=lambda: 0.0)
    quota = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                       "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]}}
    waits = []
    policy.sleep = waits.append
    answers = iter([genai_errors.ClientError(429, quota), "ok"])

    def quota_then_ok():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call_with_retries(policy, quota_then_ok, "x") == "ok" and waits == [12.0]
    assert policy.delay(0, wait_hint=600.0) == 30.0
    busy = genai_errors.ServerError(503, {}, response=SimpleNamespace(headers={"retry-after": "7"}))
    assert classify_failure(busy).wait_hint == 7.0


def test_retry_policy_does_not_retry_client_errors_or_swallow_bugs():
    policy = RetryPolicy(max_retries=3, sleep=lambda s: pytest.fail("must not wait"))
    calls = []

    def not_found():
        calls.append(1)
        raise genai_errors.ClientError(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no model"}})

    with pytest.raises(GeminiStopped, match=r"HTTP 404 NOT_FOUND \(no model\); not retried - check --genai_id"):
        call_with_retries(policy, not_found, "gemini-x: labelling a.wav")
    assert len(calls) == 1
    with pytest.raises(ZeroDivisionError):
        call_with_retries(policy, lambda: 1 / 0, "x")


def test_a_key_echoed_past_the_cut_leaves_no_part_of_it():
    """The server's text is scrubbed before it is cut to one line: a key that straddles the cut
    must not leave its first characters behind."""
    key = "AIza" + "k" * 35
    for padding in (150, 170, 195, 199):
        echo = genai_errors.ClientError(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                        "message": "x" * padding + f" bad key {key} here"}})
        text = classify_failure(echo, lambda t: t.replace(key, "[API key]")).text
        assert "AIza" not in text and "kkkk" not in text, padding
