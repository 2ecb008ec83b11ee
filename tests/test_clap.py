"""CLAP scoring (pure math), features_clap and features_clap_text on the tiny CLAP checkpoint."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import soundfile as sf

from auditoryhum import clap, formats
from auditoryhum.scripts import features_clap, features_clap_text

# ----------------------------------------------------------------------------------------------
# scoring math, no model


def test_best_labels_matches_hand_computed_cosine():
    audio = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=np.float32)
    label_embeddings = {
        "car horn": np.array([1.0, 1.0, 0.0]),  # cos 1/sqrt(2) with file 1 and with file 2
        "dog bark": np.array([0.0, 1.0, 0.0]),  # cos 0 with file 1
        "rain": np.array([0.0, 3.0, 1.0]),  # cos 3/sqrt(10) with file 2
    }
    best = clap.best_labels(audio, [["dog bark", "car horn"], ["car horn", "rain"]], label_embeddings)
    assert [choice.label for choice in best] == ["car horn", "rain"]
    assert best[0].score == pytest.approx(1 / math.sqrt(2))
    assert best[1].score == pytest.approx(3 / math.sqrt(10))


def test_best_labels_tie_keeps_first_candidate_of_the_line():
    vectors = {"b": np.array([1.0, 0.0]), "a": np.array([2.0, 0.0])}
    assert clap.best_labels(np.array([[1.0, 0.0]]), [["b", "a"]], vectors)[0].label == "b"


def test_best_labels_without_candidates_or_audio_gives_empty_label_and_nan():
    audio = np.array([[1.0, 0.0], [np.nan, np.nan]], dtype=np.float32)
    best = clap.best_labels(audio, [[], ["x"]], {"x": np.array([1.0, 0.0])})
    assert [choice.label for choice in best] == ["", ""]
    assert all(math.isnan(choice.score) for choice in best)


def test_clap_summary_mean_and_lowest_one_percent_skip_nan():
    scores = [0.5 + i / 1000 for i in range(200)] + [math.nan]
    mean, lowest = clap.clap_summary(scores)
    assert mean == pytest.approx(np.mean(scores[:200]))
    assert lowest == pytest.approx((0.5 + 0.501) / 2)  # 1 % of 200 files = the 2 lowest


def test_clap_summary_lowest_one_percent_is_at_least_one_file():
    assert clap.clap_summary([0.3, 0.1, 0.2]) == pytest.approx((0.2, 0.1))
    assert all(math.isnan(value) for value in clap.clap_summary([math.nan]))


# ----------------------------------------------------------------------------------------------
# features_clap on the tiny checkpoint


def _sine(path, rate, freq=440.0, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture
def clap_audio_dir(wav_dir):
    """wav_dir plus a corrupt x.wav, a clip over CLAP's 10 s (random crops) and one sine at
    16 kHz and 48 kHz."""
    (wav_dir / "x.wav").write_bytes(b"definitely not a RIFF header" * 8)
    _sine(wav_dir / "long.wav", 16000, freq=300.0, seconds=10.5)
    _sine(wav_dir / "sine16k.wav", 16000)
    _sine(wav_dir / "sine48k.wav", 48000)
    return wav_dir


def test_features_clap_embeddings_deterministic_batch_independent_nan_for_corrupt(
        tiny_checkpoint, clap_audio_dir, tmp_path, capsys):
    model = tiny_checkpoint("clap")
    pattern = str(clap_audio_dir / "*.wav")
    names = sorted(path.name for path in clap_audio_dir.glob("*.wav"))
    for batch_size in (3, 1):
        assert features_clap.main([f"--filedir={pattern}", f"--clap_model={model}",
                                   f"--clap_npy={tmp_path / f'b{batch_size}.npy'}",
                                   f"--batch_size={batch_size}", "--device=cpu"]) == 0
    assert "wrote" in capsys.readouterr().err
    batched, single = np.load(tmp_path / "b3.npy"), np.load(tmp_path / "b1.npy")

    assert batched.dtype == np.float32 and batched.shape == (len(names), 32)
    corrupt = names.index("x.wav")
    assert np.isnan(batched[corrupt]).all() and np.isnan(single[corrupt]).all()
    good = np.delete(batched, corrupt, axis=0)
    assert np.isfinite(good).all()
    np.testing.assert_allclose(np.linalg.norm(good, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(single, batched, atol=1e-5)
    # Files are read at the model's 48 kHz whatever their own rate: the same tone stored at
    # 16 kHz and at 48 kHz embeds (nearly) alike, closer than to any other file.
    similarity = good @ good.T
    assert names[-1] == "x.wav"  # so removing its row shifts no other index
    i16, i48 = names.index("sine16k.wav"), names.index("sine48k.wav")
    others = [similarity[i16, j] for j in range(len(good)) if j not in (i16, i48)]
    assert similarity[i16, i48] > 0.999 and similarity[i16, i48] > max(others)


@pytest.mark.parametrize("truncation", ["fusion", "rand_trunc"])
@pytest.mark.parametrize("file_rate", [48000, 44100])
def test_long_clip_inputs_equal_the_extractors_on_the_whole_clip(tmp_path, truncation, file_rate):
    from transformers import ClapFeatureExtractor

    from auditoryhum.audio import LongAudio, load_audio
    from auditoryhum.clap_long import long_clip_inputs

    rng = np.random.default_rng(3)
    samples = int(file_rate * 23.7) + 17
    signal = 0.3 * np.sin(np.arange(samples) / 30.0) * rng.uniform(0.01, 1, samples)
    sf.write(tmp_path / "long.wav", signal.astype(np.float32), file_rate, subtype="FLOAT")
    extractor = ClapFeatureExtractor(truncation=truncation)
    np.random.seed(100)
    whole = extractor(load_audio(str(tmp_path / "long.wav"), 48000), sampling_rate=48000, return_tensors="np")
    np.random.seed(100)
    streamed, longer = long_clip_inputs(extractor, LongAudio.of(str(tmp_path / "long.wav"), 48000))
    assert longer and whole["is_longer"].tolist() == [[True]]
    assert streamed.shape == whole["input_features"].shape[1:] and streamed.dtype == np.float32
    # the crops are the same frames bit for bit; the shrunk image to float32 rounding of its blend
    np.testing.assert_array_equal(streamed[1:], whole["input_features"][0, 1:])
    np.testing.assert_allclose(streamed[0], whole["input_features"][0, 0], rtol=0, atol=2e-5)


def test_features_clap_reads_a_clip_past_the_streaming_length_block_by_block_with_the_same_embedding(
        tiny_checkpoint, tmp_path, monkeypatch):
    from auditoryhum.audio import LongAudio
    from auditoryhum.audio import AudioSettings, load_clip
    from auditoryhum.runtime import resolve_runtime

    model = tiny_checkpoint("clap")
    folder = tmp_path / "wavs"
    folder.mkdir()
    _sine(folder / "long.wav", 16000, freq=300.0, seconds=25.0)
    _sine(folder / "short.wav", 16000, freq=500.0, seconds=3.0)

    def run(out):
        return features_clap.main([f"--filedir={folder}/*.wav", f"--clap_model={model}", f"--clap_npy={out}",
                                   "--device=cpu"])

    assert run(tmp_path / "whole.npy") == 0
    monkeypatch.setattr(clap.ClapAudioEmbedder, "stream_above_seconds", 20.0)
    embedder = clap.ClapAudioEmbedder(clap.load_clap(str(model), resolve_runtime("cpu")))
    assert isinstance(load_clip(AudioSettings.of(embedder), str(folder / "long.wav")).audio, LongAudio)
    assert run(tmp_path / "streamed.npy") == 0
    whole, streamed = np.load(tmp_path / "whole.npy"), np.load(tmp_path / "streamed.npy")
    np.testing.assert_array_equal(streamed[1], whole[1])  # the short clip is not streamed
    np.testing.assert_allclose(streamed[0], whole[0], rtol=0, atol=1e-5)


def _error_line(stderr: str) -> str:
    """The one ``error:`` line on stderr (progress bars of model loading may precede it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_features_clap_missing_model_folder_is_one_line_exit_2(wav_dir, tmp_path, capsys):
    status = features_clap.main([f"--filedir={wav_dir / '*.wav'}", f"--clap_model={tmp_path / 'nope'}",
                                 f"--clap_npy={tmp_path / 'clap.npy'}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "--clap_model" in err and "nope" in err
    assert not (tmp_path / "clap.npy").exists()


# ----------------------------------------------------------------------------------------------
# features_clap_text on the tiny checkpoint, with hand-made audio embeddings


@pytest.fixture
def embed_texts_calls(monkeypatch):
    """Records every text that reaches the CLAP text tower, with the vector it got."""
    calls: list[tuple[list[str], np.ndarray]] = []
    real = clap.embed_texts

    def recording(model, texts, batch_size=64):
        vectors = real(model, texts, batch_size)
        calls.append((list(texts), vectors))
        return vectors

    monkeypatch.setattr(clap, "embed_texts", recording)
    return calls


def _audio_embeddings(n_files, nan_rows=()):
    rng = np.random.default_rng(7)
    audio = rng.standard_normal((n_files, 32)).astype(np.float32)
    audio[list(nan_rows)] = np.nan
    return audio


def test_features_clap_text_scores_reports_and_means(tiny_checkpoint, wav_dir, tmp_path, capsys, caplog,
                                                       embed_texts_calls):
    # sorted files: a.wav b.wav c.wav d.wav e.wav f.wav
    for name in ("e.wav", "f.wav"):
        shutil.copy(wav_dir / "a.wav", wav_dir / name)
    lines = [
        "traffic noise, car horn, engine idling loudly",  # a: third label cut to two words
        "car horn, dog barking,,",  # b: trailing commas; car horn shared with a
        "",  # c: blank line
        "日本語, ÉÀ",  # d: only non-ASCII
        "traffic noise",  # e: NaN audio row below
        "dog barking, café ambience",  # f: non-ASCII dropped from a piece -> "caf ambience"
    ]
    labels_csv = tmp_path / "labels.csv"
    formats.write_labels_csv(labels_csv, lines)
    clap_npy = tmp_path / "clap.npy"
    audio = _audio_embeddings(6, nan_rows=[4])
    formats.save_npy(clap_npy, audio)
    scores_csv = tmp_path / "top.csv"

    status = features_clap_text.main([
        f"--filedir={wav_dir / '*.wav'}", f"--clap_model={tiny_checkpoint('clap')}", f"--clap_npy={clap_npy}",
        f"--text_label_csv={labels_csv}", f"--top_label_scores_csv={scores_csv}", "--batch_size=2",
        "--device=cpu"])
    assert status == 0

    # every distinct label reached the text tower exactly once
    embedded = [text for texts, _ in embed_texts_calls for text in texts]
    assert sorted(embedded) == sorted(
        ["traffic noise", "car horn", "engine idling", "dog barking", "caf ambience"])
    vector_of = {text: vector for texts, vectors in embed_texts_calls for text, vector in zip(texts, vectors)}

    rows = formats.read_scores_csv(scores_csv)
    assert [(row.index, row.filename) for row in rows] == [
        (1, "a.wav"), (2, "b.wav"), (3, "c.wav"), (4, "d.wav"), (5, "e.wav"), (6, "f.wav")]
    candidates = {0: ["traffic noise", "car horn", "engine idling"], 1: ["car horn", "dog barking"],
                  5: ["dog barking", "caf ambience"]}
    best_scores = []
    for i, labels in candidates.items():
        cosines = [float(np.dot(vector_of[label], audio[i])
                         / np.linalg.norm(vector_of[label]) / np.linalg.norm(audio[i])) for label in labels]
        assert rows[i].label == labels[int(np.argmax(cosines))]
        assert rows[i].score == pytest.approx(max(cosines), abs=1e-6)  # CSV keeps 6 decimals
        best_scores.append(max(cosines))
    for i in (2, 3, 4):
        assert rows[i].label == "" and math.isnan(rows[i].score)

    out, err = capsys.readouterr()
    # the means leave out the three unscored files (said on stderr); 1 % of 3 files is still one file
    assert out.splitlines() == [f"Mean CLAP score: {np.mean(best_scores):.6f}",
                                f"Mean CLAP score (lowest 1%): {min(best_scores):.6f}"]
    assert "both means are over the 3 of 6 files with a label (3 without one left out)" in err
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings.pop() == (f"not real results - made with random-weight model {tiny_checkpoint('clap')} (--clap_model): its "
                              "outputs mean nothing")
    assert len(warnings) == 1 and warnings[0].startswith("3 of 6 files have no label (2 empty, only commas or "
                                                         "only non-ASCII; 1 with a NaN CLAP audio embedding")
    assert all(str(wav_dir / name) in warnings[0] for name in ("c.wav", "d.wav", "e.wav"))


def test_features_clap_text_row_count_mismatch_is_one_line_exit_2(wav_dir, tmp_path, capsys):
    labels_csv = tmp_path / "labels.csv"
    formats.write_labels_csv(labels_csv, ["car horn", "dog barking", "rain"])  # 4 files
    clap_npy = tmp_path / "clap.npy"
    formats.save_npy(clap_npy, _audio_embeddings(4))
    (tmp_path / "unused").mkdir()  # a folder never loaded: the rows are checked first
    status = features_clap_text.main([
        f"--filedir={wav_dir / '*.wav'}", f"--clap_model={tmp_path / 'unused'}", f"--clap_npy={clap_npy}",
        f"--text_label_csv={labels_csv}", f"--top_label_scores_csv={tmp_path / 'top.csv'}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err
    assert str(labels_csv) in err and "3" in err and "4" in err and "*.wav" in err
    assert not (tmp_path / "top.csv").exists()


def test_features_clap_text_clap_npy_from_another_model_is_one_line_exit_2(tiny_checkpoint, wav_dir, tmp_path,
                                                                            capsys):
    labels_csv = tmp_path / "labels.csv"
    formats.write_labels_csv(labels_csv, ["car horn"] * 4)
    clap_npy = tmp_path / "clap.npy"
    formats.save_npy(clap_npy, np.ones((4, 512), dtype=np.float32))
    status = features_clap_text.main([
        f"--filedir={wav_dir / '*.wav'}", f"--clap_model={tiny_checkpoint('clap')}", f"--clap_npy={clap_npy}",
        f"--text_label_csv={labels_csv}", f"--top_label_scores_csv={tmp_path / 'top.csv'}", "--device=cpu"])
    error = _error_line(capsys.readouterr().err)
    assert status == 2 and str(clap_npy) in error and "512" in error and "32" in error
    assert not (tmp_path / "top.csv").exists()


def test_features_clap_resume_of_a_finished_output_does_not_load_the_model(tiny_checkpoint, wav_dir, tmp_path,
                                                                          monkeypatch, capsys):
    out = tmp_path / "clap.npy"
    args = [f"--filedir={wav_dir / '*.wav'}", f"--clap_model={tiny_checkpoint('clap')}", f"--clap_npy={out}",
            "--device=cpu"]
    assert features_clap.main(args) == 0
    before, record = out.read_bytes(), (tmp_path / "clap.npy.run.json").read_text()

    def no_model(*_, **__):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(features_clap, "load_clap", no_model)
    assert features_clap.main([*args, "--resume"]) == 0
    assert "Nothing left to do" in capsys.readouterr().err
    assert out.read_bytes() == before and (tmp_path / "clap.npy.run.json").read_text() == record
    # another batch size changes nothing that is written; another --dtype does: made again
    assert features_clap.main([*args, "--resume", "--batch_size=3"]) == 0
    assert "Nothing left to do" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="the model was loaded"):
        features_clap.main([*args, "--resume", "--dtype=float32"])
    # a file changed since: the output is made again (here: the model is needed)
    shutil.copy(wav_dir / "a.wav", wav_dir / "e.wav")
    with pytest.raises(AssertionError, match="the model was loaded"):
        features_clap.main([*args, "--resume"])
