"""Qwen2.5-Omni, Qwen3-Omni and Gemma-3n labellers on the shared loop, with tiny random-weight
checkpoints of the real architectures (the Omni ones in the released full layout and thinker-only)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

from auditoryhum.labelling import label_files
from auditoryhum.mllm_gemma3n import Gemma3nLabeller
from auditoryhum.mllm_qwen_omni import Qwen2_5OmniLabeller, Qwen3OmniLabeller
from auditoryhum.prompting import PROMPT_TEXT, SYSTEM_TEXT_DEFAULT, SYSTEM_TEXT_QWEN_OMNI
from auditoryhum.runtime import resolve_runtime
from auditoryhum.scripts import label_gemma3n, label_qwen2_5o, label_qwen3o
from auditoryhum.tiny_checkpoints.qwen2_5_omni import THINKER_ONLY_SUBFOLDER
from conftest import labelling_stopped_after, partial_lines, write_tone

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Family:
    main: Callable
    flag: str
    labeller: type
    system_text: str
    audio_placeholder: str
    generation_prompt: str
    window_seconds: float | None
    #: a tiny checkpoint of another family, i.e. the wrong architecture for this script
    other: str


FAMILIES = {
    "qwen2_5_omni": Family(label_qwen2_5o.main, "--qwen2_5o_model", Qwen2_5OmniLabeller, SYSTEM_TEXT_QWEN_OMNI,
                           "<|audio_bos|><|AUDIO|><|audio_eos|>", "<|im_start|>assistant\n", 30.0, "qwen3_omni"),
    "qwen3_omni": Family(label_qwen3o.main, "--qwen3o_model", Qwen3OmniLabeller, SYSTEM_TEXT_QWEN_OMNI,
                         "<|audio_start|><|audio_pad|><|audio_end|>", "<|im_start|>assistant\n", None, "qwen2_5_omni"),
    "gemma3n": Family(label_gemma3n.main, "--gemma3n_model", Gemma3nLabeller, SYSTEM_TEXT_DEFAULT,
                      "<audio_soft_token>", "<start_of_turn>model\n", 30.0, "qwen2_5_omni"),
}
OMNI = ["qwen2_5_omni", "qwen3_omni"]


@pytest.fixture(scope="module", params=list(FAMILIES))
def name(request):
    return request.param


@pytest.fixture(scope="module")
def family(name):
    return FAMILIES[name]


@pytest.fixture(scope="module")
def model_dir(tiny_checkpoint, name):
    return tiny_checkpoint(name)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    """Four short clips of distinct content and length."""
    folder = tmp_path_factory.mktemp("omni_gemma_wavs")
    for i in range(4):
        write_tone(folder / f"{i}.wav", seconds=0.5 + 0.25 * i, freq=220.0 * (i + 1), seed=i)
    return folder


def run_label(family, folder, wav_folder, out, *extra):
    return family.main([f"--filedir={wav_folder}/*.wav", f"{family.flag}={folder}", f"--text_label_csv={out}",
                        "--device=cpu", *extra])


@pytest.fixture(scope="module")
def reference(family, model_dir, wavs, tmp_path_factory):
    """Labels CSV of the model folder, one file at a time."""
    out = tmp_path_factory.mktemp("reference") / "labels.csv"
    assert run_label(family, model_dir, wavs, out) == 0
    return out.read_bytes()


@pytest.fixture(scope="module")
def labeller(family, model_dir):
    return family.labeller(str(model_dir), resolve_runtime("cpu"), family.flag)


def test_reference_labels_are_cleaned_lines(reference):
    text = reference.decode()
    lines = text.splitlines()
    assert len(lines) == 4 and all(line.strip() for line in lines)
    assert len(set(lines)) > 1, "different clips should not all get the same label"
    assert not any(ch in text for ch in ".!?;:\"'()<>|") and text == text.lower()


def test_batched_run_equals_one_file_at_a_time(family, model_dir, wavs, reference, tmp_path):
    assert run_label(family, model_dir, wavs, tmp_path / "b3.csv", "--batch_size=3") == 0
    assert (tmp_path / "b3.csv").read_bytes() == reference


@pytest.mark.parametrize("omni", OMNI)
def test_full_and_thinker_only_folders_give_the_same_labels(omni, tiny_checkpoint, wavs, tmp_path):
    from safetensors import safe_open

    family = FAMILIES[omni]
    full = tiny_checkpoint(omni)
    # the released layout: a whole Omni model, the thinker's weights under thinker.*
    assert json.loads((full / "config.json").read_text())["model_type"] == family.labeller.description.model_types[0]
    with safe_open(full / "model.safetensors", "pt") as weights:
        parts = {key.split(".")[0] for key in weights.keys()}
    assert "thinker" in parts and len(parts) > 1
    assert run_label(family, full, wavs, tmp_path / "full.csv", "--batch_size=2") == 0
    assert run_label(family, full / THINKER_ONLY_SUBFOLDER, wavs, tmp_path / "thinker.csv", "--batch_size=2") == 0
    assert (tmp_path / "full.csv").read_bytes() == (tmp_path / "thinker.csv").read_bytes()


def test_resume_finishes_an_interrupted_run_byte_identical(family, model_dir, wavs, reference, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    done = b"".join(reference.splitlines(keepends=True)[:2])
    with labelling_stopped_after(1):
        assert run_label(family, model_dir, wavs, out, "--batch_size=2") == 130
    assert "".join(f"{line}\n" for line in partial_lines(out)).encode() == done
    capsys.readouterr()
    assert run_label(family, model_dir, wavs, out, "--resume", "--batch_size=2") == 0
    assert "Labelled 2 files (2 already done)" in capsys.readouterr().out
    assert out.read_bytes() == reference
    assert not (tmp_path / "labels.csv.partial").exists()


def test_chat_is_system_text_then_audio_then_prompt(family, labeller):
    prompt = PROMPT_TEXT + " a bus passes"
    text = labeller.render_chat(prompt)
    assert family.system_text in text
    assert text.count(family.audio_placeholder) == 1
    assert text.index(family.system_text) < text.index(family.audio_placeholder) < text.index(prompt)
    assert text.endswith(family.generation_prompt)


def test_gemma_folds_the_system_text_into_the_first_user_turn(tiny_checkpoint):
    labeller = Gemma3nLabeller(str(tiny_checkpoint("gemma3n")), resolve_runtime("cpu"), "--gemma3n_model")
    assert labeller.render_chat(PROMPT_TEXT).startswith(f"<bos><start_of_turn>user\n{SYSTEM_TEXT_DEFAULT}\n\n")


def test_tiny_gemma_token_ids_follow_the_vision_and_audio_block_layout(tiny_checkpoint):
    from transformers import AutoConfig, AutoTokenizer

    folder = tiny_checkpoint("gemma3n")
    config, tokenizer = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    text, vision, audio = config.text_config, config.vision_config, config.audio_config
    assert vision.vocab_offset == text.vocab_size_per_layer_input
    assert audio.vocab_offset == vision.vocab_offset + vision.vocab_size
    assert len(tokenizer) == text.vocab_size == audio.vocab_offset + audio.vocab_size
    ids = tokenizer.convert_tokens_to_ids
    assert [ids("<end_of_image>"), ids("<image_soft_token>")] == [config.eoi_token_id, config.image_token_id] \
        == [vision.vocab_offset, vision.vocab_offset + 1]
    assert [ids("<end_of_audio>"), ids("<audio_soft_token>")] == [config.eoa_token_id, config.audio_token_id] \
        == [audio.vocab_offset, audio.vocab_offset + 1]
    assert max(ids("<start_of_image>"), ids("<start_of_audio>")) < vision.vocab_offset


def test_gemma_feeds_the_templates_own_token_ids_with_one_bos(tiny_checkpoint, wavs):
    import soundfile as sf

    labeller = Gemma3nLabeller(str(tiny_checkpoint("gemma3n")), resolve_runtime("cpu"), "--gemma3n_model")
    audio, _ = sf.read(wavs / "0.wav", dtype="float32")
    fed = labeller.processor_inputs([labeller.render_chat(PROMPT_TEXT)], [audio])["input_ids"][0].tolist()

    conversation = labeller.conversation(PROMPT_TEXT)
    conversation[1]["content"][0]["audio"] = audio
    own = labeller.processor.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"][0]
    bos = labeller.tokenizer.bos_token_id
    assert fed == list(own)
    assert fed[0] == bos and fed.count(bos) == 1
    # the trap this guards: the tokenizer adds a <bos> of its own to the rendered text
    naive = labeller.tokenizer(labeller.render_chat(PROMPT_TEXT)).input_ids
    assert naive[:2] == [bos, bos]

    # which is what the published script fed, and what --double_bos gives back
    published = Gemma3nLabeller(str(tiny_checkpoint("gemma3n")), resolve_runtime("cpu"), "--gemma3n_model",
                                double_bos=True)
    doubled = published.processor_inputs([published.render_chat(PROMPT_TEXT)], [audio])["input_ids"][0].tolist()
    assert doubled == [bos] + fed


def test_double_bos_is_a_flag_of_the_gemma_script_and_changes_its_record(tiny_checkpoint, wavs, tmp_path):
    import json

    out = tmp_path / "labels.csv"
    assert label_gemma3n.main([f"--filedir={wavs}/0.wav", f"--gemma3n_model={tiny_checkpoint('gemma3n')}",
                               f"--text_label_csv={out}", "--device=cpu", "--double_bos"]) == 0
    record = json.loads(Path(f"{out}.run.json").read_text())
    assert record["parameters"]["double_bos"] is True and record["made_with"]["double_bos"] is True


def test_clip_longer_than_the_window(family, labeller, tmp_path, caplog, capsys):
    long_clip = write_tone(tmp_path / "long.wav", seconds=31.0)
    out = tmp_path / "labels.csv"
    with caplog.at_level(logging.INFO, logger="auditoryhum"):
        summary = label_files(labeller, [str(long_clip)], str(out))
    assert out.read_text().strip(), "the clip still gets a label"
    if family.window_seconds is None:  # Qwen3-Omni hears 10 minutes
        assert summary.cut == []
    else:
        assert summary.cut == [str(long_clip)]
        assert f"{long_clip}: 31.0 s long" in caplog.text and f"first {family.window_seconds:g} s" in caplog.text
        assert "1 file longer than the model's window cut" in capsys.readouterr().out


def test_qwen3_omni_window_is_a_flag_cutting_long_clips_and_recorded(tiny_checkpoint, tmp_path, caplog, capsys):
    folder = tmp_path / "wavs"
    folder.mkdir()
    write_tone(folder / "long.wav", seconds=3.0)
    model = tiny_checkpoint("qwen3_omni")

    def run(out, *flags):
        return label_qwen3o.main([f"--filedir={folder}/*.wav", f"--qwen3o_model={model}", f"--text_label_csv={out}",
                                  "--device=cpu", *flags])

    with caplog.at_level(logging.INFO, logger="auditoryhum"):
        assert run(tmp_path / "cut.csv", "--max_audio_seconds=2") == 0
    assert "long.wav: 3.0 s long" in caplog.text and "first 2 s" in caplog.text
    assert json.loads(Path(f"{tmp_path / 'cut.csv'}.run.json").read_text())["made_with"]["max_audio_seconds"] == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="auditoryhum"):
        assert run(tmp_path / "whole.csv", "--max_audio_seconds=0") == 0
    assert "3.0 s long" not in caplog.text
    capsys.readouterr()
    assert run(tmp_path / "bad.csv", "--max_audio_seconds=-1") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: --max_audio_seconds=-1: give a length in seconds, or 0 for whole clips"]
    assert not (tmp_path / "bad.csv").exists()


def test_empty_response_is_a_blank_line_counted_at_the_end(labeller, wavs, tmp_path, monkeypatch, capsys):
    def answers_nothing(**inputs):
        end = torch.full((inputs["input_ids"].shape[0], 1), labeller.tokenizer.eos_token_id)
        return torch.cat([inputs["input_ids"], end], dim=1)

    monkeypatch.setattr(labeller.model, "generate", answers_nothing)
    files = [str(wavs / "0.wav"), str(wavs / "1.wav")]
    summary = label_files(labeller, files, str(tmp_path / "labels.csv"), batch_size=2)
    assert (tmp_path / "labels.csv").read_text() == "\n\n"
    assert summary.empty == files
    assert "2 empty model responses (blank lines)" in capsys.readouterr().out


def test_wrong_architecture_names_the_folder_and_its_class(family, tiny_checkpoint, wavs, tmp_path, capsys):
    other = tiny_checkpoint(family.other)
    capsys.readouterr()
    assert run_label(family, other, wavs, tmp_path / "labels.csv") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    held = json.loads((other / "config.json").read_text())["model_type"]
    assert len(errors) == 1 and str(other) in errors[0] and held in errors[0]
    assert family.labeller.description.model_types[0] in errors[0]
    assert not (tmp_path / "labels.csv").exists()


def test_load_in_4bit_is_refused_on_cpu_before_loading(family, model_dir, wavs, tmp_path, capsys):
    assert run_label(family, model_dir, wavs, tmp_path / "labels.csv", "--load_in_4bit") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--load_in_4bit needs a CUDA GPU" in err


def test_prequantised_bnb_4bit_folder_is_refused_on_cpu_in_one_line(tiny_checkpoint, wavs, tmp_path, capsys):
    # the unsloth bnb-4bit builds of Gemma-3n carry their quantisation in config.json
    config = json.loads((tiny_checkpoint("gemma3n") / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True,
                                     "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "bfloat16"}
    folder = tmp_path / "gemma-3n-E2B-it-bnb-4bit"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert run_label(FAMILIES["gemma3n"], folder, wavs, tmp_path / "labels.csv") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder) in err and "bitsandbytes-quantised checkpoint needs a CUDA GPU" in err


def test_missing_timm_is_one_line_naming_the_package(tiny_checkpoint, wavs, tmp_path, monkeypatch, capsys):
    import transformers.models.timm_wrapper.modeling_timm_wrapper  # noqa: F401 - imported with timm, for later tests
    from transformers.utils.import_utils import is_timm_available

    monkeypatch.setitem(sys.modules, "timm", None)  # as if timm were not installed
    is_timm_available.cache_clear()
    try:
        assert run_label(FAMILIES["gemma3n"], tiny_checkpoint("gemma3n"), wavs, tmp_path / "labels.csv") == 2
    finally:
        is_timm_available.cache_clear()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--gemma3n_model=" in errors[0] and "pip install timm" in errors[0]
    assert not (tmp_path / "labels.csv").exists()


def test_kill_and_resume_gives_identical_bytes(tiny_checkpoint, tmp_path):
    model_dir = tiny_checkpoint("qwen2_5_omni")
    wav_folder = tmp_path / "many"
    wav_folder.mkdir()
    for i in range(8):
        write_tone(wav_folder / f"{i:02d}.wav", seconds=0.5, freq=150.0 + 40 * i, seed=i)
    reference = tmp_path / "reference.csv"
    assert run_label(FAMILIES["qwen2_5_omni"], model_dir, wav_folder, reference) == 0

    out = tmp_path / "resumed.csv"
    partial = tmp_path / "resumed.csv.partial"
    command = [sys.executable, str(REPO / "label_qwen2_5o.py"), f"--filedir={wav_folder}/*.wav",
               f"--qwen2_5o_model={model_dir}", f"--text_label_csv={out}", "--device=cpu", "--resume"]
    # every finished batch written at once, so a kill can land between two writes
    env = dict(os.environ, OMP_NUM_THREADS="1", AUDITORYHUM_FLUSH_SECONDS="0")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(partial_lines(out)) < 2:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_at_kill = len(partial_lines(out))
    assert not out.exists() and 2 <= done_at_kill < 8, "the kill must land mid-run"

    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert f"({done_at_kill} already done)" in finished.stdout
    assert out.read_bytes() == reference.read_bytes()
    assert not partial.exists()
