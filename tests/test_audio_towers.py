import numpy as np
import torch

from auditoryhum.audio import load_audio
from auditoryhum.scripts import features_qwen2a


def test_qwen2a_tower_sum_over_time_batched_and_nan_row(tiny_checkpoint, wav_dir, tmp_path):
    model_dir = tiny_checkpoint("qwen2_audio")
    (wav_dir / "bb_corrupt.wav").write_bytes(b"not audio")
    args = [f"--filedir={wav_dir}/*.wav", f"--qwen2a_model={model_dir}"]
    assert features_qwen2a.main(args + [f"--qwen2a_npy={tmp_path}/b1.npy", "--batch_size=1"]) == 0
    assert features_qwen2a.main(args + [f"--qwen2a_npy={tmp_path}/b3.npy", "--batch_size=3"]) == 0
    one, three = np.load(tmp_path / "b1.npy"), np.load(tmp_path / "b3.npy")
    assert one.shape == (5, 32) and one.dtype == np.float32
    assert np.isnan(one[2]).all() and not np.isnan(np.delete(one, 2, axis=0)).any()
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-5)

    # Direct computation: the encoder's last hidden state over the 30 s window, summed over time.
    from transformers import AutoFeatureExtractor, Qwen2AudioForConditionalGeneration

    model = Qwen2AudioForConditionalGeneration.from_pretrained(model_dir)
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    audio = load_audio(str(wav_dir / "a.wav"), 16000)
    features = extractor([audio], sampling_rate=16000, return_tensors="pt")["input_features"]
    with torch.no_grad():
        expected = model.model.audio_tower(features).last_hidden_state.sum(dim=1)[0].numpy()
    np.testing.assert_allclose(one[0], expected, rtol=1e-5, atol=1e-4)


def test_qwen2a_tower_wrong_architecture(tiny_checkpoint, wav_dir, tmp_path, capsys):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "whisper"}')
    assert features_qwen2a.main([f"--filedir={wav_dir}/*.wav", f"--qwen2a_model={folder}",
                                 f"--qwen2a_npy={tmp_path}/x.npy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model_type 'whisper'" in err and str(folder) in err


def test_gemma3n_tower_batched_equals_single_and_direct(tiny_checkpoint, wav_dir, tmp_path):
    from auditoryhum.scripts import features_gemma3n
    from conftest import write_tone

    model_dir = tiny_checkpoint("gemma3n")
    write_tone(wav_dir / "e.wav", seconds=0.5, freq=700.0, seed=9)  # same length as a.wav: one shared batch
    (wav_dir / "bb_corrupt.wav").write_bytes(b"not audio")
    args = [f"--filedir={wav_dir}/*.wav", f"--gemma3n_model={model_dir}"]
    assert features_gemma3n.main(args + [f"--gemma3n_npy={tmp_path}/b1.npy", "--batch_size=1"]) == 0
    assert features_gemma3n.main(args + [f"--gemma3n_npy={tmp_path}/b6.npy", "--batch_size=6"]) == 0
    one, six = np.load(tmp_path / "b1.npy"), np.load(tmp_path / "b6.npy")
    assert one.shape[0] == 6 and one.dtype == np.float32
    assert np.isnan(one[2]).all() and not np.isnan(np.delete(one, 2, axis=0)).any()
    np.testing.assert_allclose(one, six, rtol=1e-5, atol=1e-5)

    from transformers import AutoFeatureExtractor, Gemma3nForConditionalGeneration

    model = Gemma3nForConditionalGeneration.from_pretrained(model_dir)
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    mel = extractor([load_audio(str(wav_dir / "c.wav"), 16000)], sampling_rate=16000,
                    return_tensors="pt")["input_features"]
    with torch.no_grad():
        hidden = model.model.audio_tower(mel, torch.zeros(mel.shape[:2], dtype=torch.bool)).last_hidden_state
    np.testing.assert_allclose(one[3], hidden.sum(dim=1)[0].numpy(), rtol=1e-5, atol=1e-4)


def test_gemma3n_tower_reads_only_the_30_s_its_extractor_keeps_with_the_whole_clips_embedding(
        tiny_checkpoint, tmp_path):
    from auditoryhum.audio_towers import Gemma3nAudioTower
    from auditoryhum.audio import AudioSettings, load_clip
    from auditoryhum.runtime import resolve_runtime
    from conftest import write_tone

    tower = Gemma3nAudioTower(str(tiny_checkpoint("gemma3n")), resolve_runtime("cpu"), "--gemma3n_model")
    path = write_tone(tmp_path / "long.wav", seconds=31.5, seed=4)
    clip = load_clip(AudioSettings.of(tower), str(path))
    assert clip.cut and clip.audio.shape == (480_000,)
    np.testing.assert_array_equal(tower([clip.audio]), tower([load_audio(str(path), 16000)]))
