"""features_mfcc.py and features_ast.py: shapes, reference values, NaN rows, batching, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from auditoryhum import mfcc
from auditoryhum.ast_embedding import load_ast_embedder
from auditoryhum.audio import AudioSettings, LongAudio, load_audio, load_clip
from auditoryhum.filelist import list_audio_files
from auditoryhum.runtime import resolve_runtime
from auditoryhum.scripts import features_ast, features_mfcc
from conftest import write_tone


#: A WAV header with nothing decodable after it; as ``bb.wav`` it sorts third of a..d.
CORRUPT_WAV = b"RIFF\x00\x00\x00\x00WAVEnot really audio"


def run_mfcc(wav_dir, out_npy):
    return features_mfcc.main([f"--filedir={wav_dir}/*.wav", f"--mfcc_npy={out_npy}"])


def run_ast(wav_dir, model, out_npy, *extra):
    return features_ast.main(
        [f"--filedir={wav_dir}/*.wav", f"--ast_model={model}", f"--ast_npy={out_npy}", "--device=cpu", *extra]
    )


# ----------------------------------------------------------------------------------------------
# MFCC


def test_mfcc_rows_follow_sorted_files_and_match_librosa(wav_dir, tmp_path, capsys):
    out = tmp_path / "mfcc.npy"
    assert run_mfcc(wav_dir, out) == 0
    assert f"wrote {out}: 4 files x 20 dimensions" in capsys.readouterr().err

    mfcc = np.load(out)
    assert mfcc.shape == (4, 20) and mfcc.dtype == np.float32
    files = list_audio_files(f"{wav_dir}/*.wav")
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.wav", "b.wav", "c.wav", "d.wav"]
    y, rate = sf.read(files[2], dtype="float32")
    assert rate == 16000 and y.ndim == 1
    expected = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=20, n_fft=2048, hop_length=512, win_length=2048)
    np.testing.assert_allclose(mfcc[2], expected.mean(axis=1), rtol=1e-5, atol=1e-3)
    assert not np.allclose(mfcc[1], mfcc[2])


def test_mfcc_resamples_to_16k_and_mixes_to_mono(tmp_path):
    folder = tmp_path / "rates"
    folder.mkdir()
    for name, rate, channels in (("a.wav", 16000, 1), ("b.wav", 44100, 2)):
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(rate) / rate)
        sf.write(folder / name, np.stack([tone] * channels, axis=1), rate)
    out = tmp_path / "mfcc.npy"
    assert run_mfcc(folder, out) == 0
    mfcc = np.load(out)
    # The same tone at 16 kHz mono and 44.1 kHz stereo: the same coefficients once both are 16 kHz mono.
    np.testing.assert_allclose(mfcc[0], mfcc[1], atol=0.01 * np.abs(mfcc[0]).max())


def test_mfcc_corrupt_file_gets_nan_row_and_others_are_intact(wav_dir, tmp_path):
    clean = tmp_path / "clean.npy"
    assert run_mfcc(wav_dir, clean) == 0
    (wav_dir / "bb.wav").write_bytes(CORRUPT_WAV)
    with_corrupt = tmp_path / "with_corrupt.npy"
    assert run_mfcc(wav_dir, with_corrupt) == 0

    mfcc = np.load(with_corrupt)
    assert mfcc.shape == (5, 20)
    assert np.isnan(mfcc[2]).all()  # a, b, bb, c, d
    np.testing.assert_array_equal(np.delete(mfcc, 2, axis=0), np.load(clean))


def test_mfcc_missing_output_folder_is_one_line(wav_dir, tmp_path, capsys):
    assert run_mfcc(wav_dir, tmp_path / "nowhere" / "mfcc.npy") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--mfcc_npy=" in err and "does not exist" in err


# ----------------------------------------------------------------------------------------------
# AST


@pytest.fixture(scope="module")
def ast_model(tiny_checkpoint):
    return tiny_checkpoint("ast")


def waveforms_of(wav_dir):
    return [load_audio(path, 16000) for path in list_audio_files(f"{wav_dir}/*.wav")]


def test_ast_shape_and_determinism(wav_dir, ast_model, tmp_path, capsys):
    (wav_dir / "bb.wav").write_bytes(CORRUPT_WAV)
    first, second = tmp_path / "first.npy", tmp_path / "second.npy"
    assert run_ast(wav_dir, ast_model, first) == 0
    assert run_ast(wav_dir, ast_model, second) == 0
    assert f"wrote {first}: 5 files x 32 dimensions" in capsys.readouterr().err

    embeddings = np.load(first)
    assert embeddings.shape == (5, 32) and embeddings.dtype == np.float32
    assert np.isnan(embeddings[2]).all()
    readable = np.delete(embeddings, 2, axis=0)
    assert np.isfinite(readable).all()
    assert len({row.tobytes() for row in readable}) == 4  # distinct clips, distinct rows
    np.testing.assert_array_equal(embeddings, np.load(second))


def test_ast_batch_of_one_equals_batch_of_three(wav_dir, ast_model, tmp_path):
    one, three = tmp_path / "one.npy", tmp_path / "three.npy"
    assert run_ast(wav_dir, ast_model, one, "--batch_size=1") == 0
    assert run_ast(wav_dir, ast_model, three, "--batch_size=3") == 0
    np.testing.assert_allclose(np.load(one), np.load(three), rtol=0, atol=1e-5)


def test_ast_embedding_is_the_classifier_layernorm_output(wav_dir, ast_model):
    embedder = load_ast_embedder(str(ast_model), resolve_runtime("cpu"))
    model = embedder.model
    waveforms = waveforms_of(wav_dir)
    captured = []
    hook = model.classifier.layernorm.register_forward_hook(lambda module, args, output: captured.append(output))
    try:
        inputs = embedder.feature_extractor(waveforms, sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**inputs).logits
    finally:
        hook.remove()

    assert logits.shape == (4, 3)
    np.testing.assert_allclose(embedder(waveforms), captured[0].numpy(), rtol=0, atol=1e-6)


def test_ast_reads_only_the_frames_it_hears_with_the_embedding_of_the_whole_clip(tmp_path, ast_model):
    embedder = load_ast_embedder(str(ast_model), resolve_runtime("cpu"))
    frames = embedder.feature_extractor.max_length
    window = round(embedder.max_audio_seconds * 16000)
    assert window == 400 + (frames - 1) * 160  # one 25 ms frame, then one every 10 ms
    path = write_tone(tmp_path / "long.wav", seconds=window / 16000 + 2.0, seed=6)
    clip = load_clip(AudioSettings.of(embedder), str(path))
    assert clip.cut and clip.audio.shape == (window,)
    assert np.array_equal(embedder([clip.audio]), embedder([load_audio(str(path), 16000)]))


def test_mfcc_of_a_clip_past_the_streaming_length_is_read_in_stretches_with_the_whole_clips_value(
        tmp_path, monkeypatch):
    monkeypatch.setattr(mfcc.MFCCEmbedder, "stream_above_seconds", 20.0)
    monkeypatch.setattr(mfcc, "FRAMES_PER_STRETCH", 100)
    folder = tmp_path / "wavs"
    folder.mkdir()
    rng = np.random.default_rng(7)
    signal = 0.3 * np.sin(np.arange(16000 * 47) / 40.0) * rng.uniform(0.01, 1, 16000 * 47)
    sf.write(folder / "long.wav", signal.astype(np.float32), 16000, subtype="PCM_16")
    out = tmp_path / "mfcc.npy"
    assert run_mfcc(folder, out) == 0
    whole = mfcc.mean_mfcc(load_audio(str(folder / "long.wav"), 16000))
    streamed = np.load(out)[0]
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-4)
    assert isinstance(load_clip(AudioSettings.of(mfcc.MFCCEmbedder()), str(folder / "long.wav")).audio, LongAudio)


def test_ast_long_clip_is_truncated_to_model_length(tmp_path, ast_model):
    embedder = load_ast_embedder(str(ast_model), resolve_runtime("cpu"))
    # The tiny model reads 128 frames of 10 ms: 1.28 s; what follows cannot change the embedding.
    clip = load_audio(str(write_tone(tmp_path / "long.wav", seconds=1.5, seed=5)), 16000)
    changed_tail = clip.copy()
    changed_tail[int(1.4 * 16000):] = 0.0
    np.testing.assert_allclose(embedder([clip]), embedder([changed_tail]), atol=1e-6)


def test_ast_missing_model_folder_is_one_line(wav_dir, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert run_ast(wav_dir, missing, tmp_path / "ast.npy") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --ast_model={missing}: model folder not found (git clone the model there, or pass its path)"
    assert not (tmp_path / "ast.npy").exists()


def test_ast_folder_of_another_architecture_is_one_line(wav_dir, tmp_path, capsys):
    from transformers import BertConfig

    other = tmp_path / "bert-model"
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
               architectures=["BertModel"]).save_pretrained(other)
    assert run_ast(wav_dir, other, tmp_path / "ast.npy") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert f"--ast_model={other}" in err and "BertModel" in err and "ASTForAudioClassification" in err


def test_ast_folder_without_config_is_one_line(wav_dir, tmp_path, capsys):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    assert run_ast(wav_dir, empty, tmp_path / "ast.npy") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(empty) in err and "config.json" in err


def test_ast_bad_batch_size_is_one_line(wav_dir, ast_model, tmp_path, capsys):
    assert run_ast(wav_dir, ast_model, tmp_path / "ast.npy", "--batch_size=0") == 2
    assert capsys.readouterr().err.strip() == "error: --batch_size=0: must be at least 1"


def test_help_ends_with_example(capsys):
    for module, example in ((features_mfcc, "python3 features_mfcc.py --filedir="),
                            (features_ast, "python3 features_ast.py --filedir=")):
        with pytest.raises(SystemExit):
            module.main(["--help"])
        assert example in capsys.readouterr().out.strip().splitlines()[-1]
