"""The shared labelling loop through the Qwen2-Audio adapter, on a tiny random-weight checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditoryhum.mllm_qwen2_audio import Qwen2AudioLabeller
from auditoryhum.prompting import PROMPT_TEXT, SYSTEM_TEXT_DEFAULT
from auditoryhum.runtime import resolve_runtime
from auditoryhum.scripts.label_qwen2a import main
from conftest import partial_lines, write_tone

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tiny_checkpoint):
    return str(tiny_checkpoint("qwen2_audio"))


def run_label(model_dir, pattern, out, *extra):
    return main([f"--filedir={pattern}", f"--qwen2a_model={model_dir}", f"--text_label_csv={out}", *extra])


def test_batched_equals_one_at_a_time(model_dir, wav_dir, tmp_path):
    assert run_label(model_dir, f"{wav_dir}/*.wav", tmp_path / "b1.csv") == 0
    assert run_label(model_dir, f"{wav_dir}/*.wav", tmp_path / "b3.csv", "--batch_size=3") == 0
    one = (tmp_path / "b1.csv").read_text()
    assert one == (tmp_path / "b3.csv").read_text()
    lines = one.splitlines()
    assert len(lines) == 4 and all(lines)
    # cleaned: no ASCII punctuation but commas, lower case
    assert not any(ch in one for ch in ".!?;:\"'()") and one == one.lower()


def test_chat_has_system_text_audio_and_annotation(model_dir):
    labeller = Qwen2AudioLabeller(model_dir, resolve_runtime("cpu"), "--qwen2a_model")
    text = labeller.render_chat(PROMPT_TEXT + " a bus passes")
    assert SYSTEM_TEXT_DEFAULT in text
    assert "<|audio_bos|><|AUDIO|><|audio_eos|>" in text
    assert text.index("<|AUDIO|>") < text.index(PROMPT_TEXT + " a bus passes")
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_annotations_change_the_prompt_and_short_file_is_padded(model_dir, wav_dir, tmp_path, monkeypatch):
    seen = []
    original = Qwen2AudioLabeller.prepare_batch

    def spy(self, requests):
        seen.extend(r.prompt for r in requests)
        return original(self, requests)

    monkeypatch.setattr(Qwen2AudioLabeller, "prepare_batch", spy)
    notes = tmp_path / "notes.csv"
    notes.write_text("\nengine idling\n")  # 2 lines for 4 files
    assert run_label(model_dir, f"{wav_dir}/*.wav", tmp_path / "l.csv", f"--annotations={notes}") == 0
    assert seen == [PROMPT_TEXT, PROMPT_TEXT + " engine idling", PROMPT_TEXT, PROMPT_TEXT]


def test_corrupt_wav_keeps_its_row_blank(model_dir, wav_dir, tmp_path, capsys):
    (wav_dir / "bb_corrupt.wav").write_bytes(b"RIFF\x00\x00garbage")
    (wav_dir / "bc_empty.wav").write_bytes(b"")
    out = tmp_path / "l.csv"
    assert run_label(model_dir, f"{wav_dir}/*.wav", out, "--batch_size=2") == 0
    lines = out.read_text().split("\n")[:-1]
    names = sorted(p.name for p in wav_dir.iterdir())
    assert len(lines) == len(names) == 6
    assert lines[names.index("bb_corrupt.wav")] == "" and lines[names.index("bc_empty.wav")] == ""
    assert sum(1 for line in lines if line) == 4
    assert "2 unreadable files got a blank line" in capsys.readouterr().out


def test_kill_and_resume_gives_identical_bytes(model_dir, tmp_path):
    wavs = tmp_path / "many"
    wavs.mkdir()
    for i in range(10):
        write_tone(wavs / f"{i:02d}.wav", seconds=0.5, freq=150.0 + 40 * i, seed=i)
    reference = tmp_path / "reference.csv"
    assert run_label(model_dir, f"{wavs}/*.wav", reference) == 0

    out = tmp_path / "resumed.csv"
    partial = tmp_path / "resumed.csv.partial"
    command = [sys.executable, str(REPO / "label_qwen2a.py"), f"--filedir={wavs}/*.wav",
               f"--qwen2a_model={model_dir}", f"--text_label_csv={out}", "--resume"]
    # every finished batch written at once, so a kill can land between two writes
    env = dict(os.environ, OMP_NUM_THREADS="1", AUDITORYHUM_FLUSH_SECONDS="0")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(partial_lines(out)) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_at_kill = len(partial_lines(out))
    assert not out.exists() and 2 <= done_at_kill < 10, "the kill must land mid-run"

    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"({done_at_kill} already done)" in finished.stdout
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists()


def test_finished_output_with_resume_exits_before_loading_the_model(model_dir, wav_dir, tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "l.csv"
    assert run_label(model_dir, f"{wav_dir}/*.wav", out) == 0
    before = out.read_bytes()

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    record = Path(f"{out}.run.json")
    made = json.loads(record.read_text())
    assert {"seconds", "files_per_second", "padded_to_minimum", "cut_to_window"} <= set(made["results"])
    monkeypatch.setattr(Qwen2AudioLabeller, "__init__", no_model)
    assert run_label(model_dir, f"{wav_dir}/*.wav", out, "--resume") == 0
    assert "Nothing left to do" in capsys.readouterr().err
    assert out.read_bytes() == before
    # the record of the run that did the work is kept, every field of it
    assert json.loads(record.read_text()) == made


def test_a_partial_output_of_an_older_version_is_not_resumed(model_dir, wav_dir, tmp_path, capsys):
    out = tmp_path / "l.csv"
    partial = tmp_path / "l.csv.partial"
    partial.write_text("dog barking\n")  # an older version's, without the file list: which file was that?
    assert run_label(model_dir, f"{wav_dir}/*.wav", out, "--resume") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{partial}: an interrupted run of an older version of this suite" in err
    assert f"delete {partial} to start over" in err and partial.read_text() == "dog barking\n"
    # without --resume the run starts over (and says so)
    assert run_label(model_dir, f"{wav_dir}/*.wav", out) == 0
    assert "older version is discarded" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 4 and not partial.exists()


def test_load_in_4bit_refused_without_cuda(model_dir, wav_dir, tmp_path, capsys):
    assert run_label(model_dir, f"{wav_dir}/*.wav", tmp_path / "l.csv", "--load_in_4bit") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--load_in_4bit needs a CUDA GPU" in err
    assert not (tmp_path / "l.csv").exists()


def test_missing_model_folder_and_empty_glob(wav_dir, tmp_path, capsys):
    assert run_label(str(tmp_path / "Qwen2-Audio-7B-Instruct"), f"{wav_dir}/*.wav", tmp_path / "l.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model folder not found" in err
    assert run_label(str(tmp_path), f"{tmp_path}/nothing/*.wav", tmp_path / "l.csv") == 2
    assert "matches no files" in capsys.readouterr().err


def test_wrong_architecture_names_the_folder_and_class(wav_dir, tmp_path, capsys):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert run_label(str(folder), f"{wav_dir}/*.wav", tmp_path / "l.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder) in err and "model_type 'bert'" in err and "qwen2_audio" in err


def test_runtime_defaults_follow_the_published_runs_per_kind_of_model(monkeypatch):
    """On CUDA, an MLLM loads 4-bit by default (and says how to opt out when bitsandbytes is
    missing), CLAP/AST/sentence models stay float32, the naming LLM bf16; on CPU all float32."""
    import torch

    from auditoryhum import runtime
    from auditoryhum.errors import UserError

    assert resolve_runtime("auto", cuda_default=runtime.CUDA_4BIT) == runtime.Runtime("cpu", "float32", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_runtime("auto", cuda_default=runtime.CUDA_FLOAT32) == runtime.Runtime("cuda", "float32", False)
    assert resolve_runtime("auto", cuda_default=runtime.CUDA_BFLOAT16) == runtime.Runtime("cuda", "bfloat16", False)
    assert resolve_runtime("auto", "bfloat16", cuda_default=runtime.CUDA_4BIT) == runtime.Runtime("cuda", "bfloat16",
                                                                                                   False)
    assert resolve_runtime("auto", cuda_default=runtime.CUDA_4BIT) == runtime.Runtime("cuda", "bfloat16", True)
    # where bitsandbytes is missing (requirements.txt has it), one line says how to go on
    monkeypatch.setattr(runtime, "bitsandbytes_installed", lambda: False)
    with pytest.raises(UserError, match=r"needs bitsandbytes: .*or pass --dtype bfloat16"):
        resolve_runtime("auto", cuda_default=runtime.CUDA_4BIT)
