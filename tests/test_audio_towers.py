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
    assert "WhisperConfig" in err and str(folder) in err
