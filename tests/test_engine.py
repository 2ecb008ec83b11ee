"""The one per-file engine (auditoryhum.engine): embeddings resume in process as labels do, a run
with nothing to do loads no model and imports no torch, a finished output counts only as its record
says; and a model or a clustering algorithm is described once - the recipe and the report follow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import partial_lines, write_tone

from auditoryhum import clustering, models, records
from auditoryhum.features import EmbeddingJob, embed_files
from auditoryhum.labelling import label_files
from auditoryhum.scripts import features_clap, features_mfcc, label_qwen2a

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clips(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(9):
        write_tone(folder / f"{i}.wav", seconds=0.3 + 0.05 * i, freq=150.0 + 60 * i, seed=i)
    return folder


class FakeEmbedder:
    """Each clip's length and its first sample; it fails on any batch that holds file 4."""

    name, sampling_rate, min_audio_seconds = "fake embedder", 16000, None

    def __call__(self, waveforms):
        if any(abs(w.shape[0] / 16000 - 0.5) < 1e-6 for w in waveforms):  # file 4 is 0.5 s long
            raise RuntimeError("out of memory on this one")
        return np.array([[w.shape[0], w[0]] for w in waveforms])


class CountingLabeller:
    """Answers one response per request, or - ``short`` - one too few."""

    name, sampling_rate, max_audio_seconds, min_audio_seconds = "fake labeller", 16000, None, None

    def __init__(self, short: bool = False):
        self.short = short

    def label_batch(self, requests):
        answers = [f"file {Path(request.path).stem}, {len(request.audio)} samples" for request in requests]
        return answers[:-1] if self.short else answers


def test_a_file_the_model_fails_on_costs_only_its_row_and_the_others_match_a_run_one_by_one(clips, tmp_path,
                                                                                            caplog):
    files = sorted(str(path) for path in clips.glob("*.wav"))
    together = embed_files(FakeEmbedder(), files, str(tmp_path / "batched.npy"), batch_size=4)
    alone = embed_files(FakeEmbedder(), files, str(tmp_path / "alone.npy"), batch_size=1)
    assert np.isnan(together[4]).all() and np.isfinite(np.delete(together, 4, axis=0)).all()
    assert np.array_equal(together, alone, equal_nan=True)
    assert f"{files[4]}: fake embedder failed on this file (out of memory on this one); its row is left as NaN" \
        in caplog.text
    assert f"1 of 9 files could not be embedded; their rows are NaN: {files[4]}" in caplog.text


def test_a_labeller_that_answers_too_few_stops_the_run_and_the_finished_lines_are_kept(clips, tmp_path, monkeypatch):
    files = sorted(str(path) for path in clips.glob("*.wav"))
    out = tmp_path / "labels.csv"
    summary = label_files(CountingLabeller(), files, str(out), batch_size=2)
    assert out.read_text().splitlines() == [f"file {i}, {4800 + 800 * i} samples" for i in range(9)]
    assert summary.without_a_row == [] and summary.empty == []

    monkeypatch.setenv("AUDITORYHUM_FLUSH_SECONDS", "0")  # each finished batch kept at once
    broken = CountingLabeller()
    calls = []

    def short_after_two(requests):
        calls.append(1)
        broken.short = len(calls) > 2
        return CountingLabeller.label_batch(broken, requests)

    broken.label_batch = short_after_two
    with pytest.raises(RuntimeError, match="fake labeller returned 1 responses for 2 requests"):
        label_files(broken, files, str(tmp_path / "short.csv"), batch_size=2, prefetch_batches=0)
    assert not (tmp_path / "short.csv").exists()
    assert partial_lines(tmp_path / "short.csv") == out.read_text().splitlines()[:4]


def test_an_interrupted_embedding_run_resumes_in_process_with_the_same_bytes(clips, tmp_path, monkeypatch, capsys):
    reference, out = tmp_path / "reference.npy", tmp_path / "mfcc.npy"
    args = [f"--filedir={clips}/*.wav"]  # one file per batch
    assert features_mfcc.main([*args, f"--mfcc_npy={reference}"]) == 0

    monkeypatch.setenv("AUDITORYHUM_FLUSH_SECONDS", "0")  # every finished batch kept at once
    original, calls = EmbeddingJob.read, []

    def stopped_after_two(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(EmbeddingJob, "read", staticmethod(stopped_after_two))
    assert features_mfcc.main([*args, f"--mfcc_npy={out}"]) == 130
    assert not out.exists() and len(list(Path(f"{out}.partial").glob("*.npy"))) == 2
    counted = []
    monkeypatch.setattr(EmbeddingJob, "read", staticmethod(lambda *a, **k: counted.append(1) or original(*a, **k)))
    capsys.readouterr()
    assert features_mfcc.main([*args, f"--mfcc_npy={out}", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err and len(counted) == 7  # only the 7 files left
    assert out.read_bytes() == reference.read_bytes() and not Path(f"{out}.partial").exists()


def test_with_nothing_left_to_do_no_model_loads_and_no_torch_is_imported(clips, tmp_path, tiny_checkpoint):
    labels, clap = tmp_path / "labels.csv", tmp_path / "clap.npy"
    label_args = [f"--filedir={clips}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
                  f"--text_label_csv={labels}", "--device=cpu", "--batch_size=3"]
    clap_args = [f"--filedir={clips}/*.wav", f"--clap_model={tiny_checkpoint('clap')}", f"--clap_npy={clap}",
                 "--device=cpu"]
    assert label_qwen2a.main(label_args) == 0 and features_clap.main(clap_args) == 0
    for module, args in (("label_qwen2a", label_args), ("features_clap", clap_args)):
        code = (f"import sys; from auditoryhum.scripts import {module}; status = {module}.main({[*args, '--resume']!r}); "
                "print(status, 'torch' in sys.modules)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        assert done.stdout.split() == ["0", "False"], done.stderr
        assert "Nothing left to do" in done.stderr


def test_a_finished_output_counts_only_as_its_record_says(clips, tmp_path, caplog):
    out = tmp_path / "mfcc.npy"
    args = [f"--filedir={clips}/*.wav", f"--mfcc_npy={out}", "--resume"]
    assert features_mfcc.main(args) == 0
    good, record = out.read_bytes(), records.record_path(out).read_text()
    out.write_bytes(good[:-100])  # damaged after its record was written
    assert features_mfcc.main(args) == 0
    assert "made again (it changed since its run record was written)" in caplog.text
    assert out.read_bytes() == good
    records.record_path(out).unlink()  # a finished output without its record
    assert features_mfcc.main(args) == 0
    assert "made again (no run record says how it was made)" in caplog.text
    assert out.read_bytes() == good and records.record_path(out).exists()
    assert json.loads(record)["output"]["sha256"] == records.sha256_of(out)


# ----------------------------------------------------------------------------------------------
# a model and an algorithm, each described once


def fake_exp(root: Path) -> None:
    """A finished experiment as far as the recipe's compare stage asks: the records of its
    embeddings (U) and sweep (the chosen k)."""
    st = root / "exp" / "alpha" / "fake" / "human-clap-wsce-mse-mae" / "all-MiniLM-L6-v2"
    (st / "sweep").mkdir(parents=True)
    (st / "st.npy").write_bytes(b"")
    (st / "sweep" / "sweep.csv").write_text("k,silhouette,adjusted_silhouette\n2,0.5,0.4\n3,0.6,0.45\n")
    for path, results in ((st / "st.npy", {"distinct_labels": 4}), (st / "sweep" / "sweep.csv", {"chosen_k": 3})):
        records.write_record(path, {"format_version": 1, "results": results, "output": {"path": str(path)}})
    scores = st.parent / "top_label_scores.csv"
    scores.write_text("1, a.wav, rain, 0.1\n")
    compare = st / "compare"
    compare.mkdir()
    (compare / "fake_k3.csv").write_text("0\n")
    records.write_record(compare / "fake_k3.csv", {"format_version": 1, "script": "cluster_fake.py",
                                                   "results": {"n_clusters": 3, "silhouette": 0.25}})


def test_a_labeller_and_an_algorithm_added_to_their_registries_reach_the_recipe_and_the_report(
        tmp_path, monkeypatch, capsys):
    from auditoryhum import recipe, report

    fake = models.Model(key="fake", display_name="Fake-Audio", model_flag="fake_model", default_model="Fake-Audio-1B",
                        clone_url="https://example.org/Fake-Audio-1B", model_types=("fake",),
                        model_help="Fake-Audio model folder", label_script="label_fake",
                        labeller="auditoryhum.mllm_qwen2_audio:Qwen2AudioLabeller")
    monkeypatch.setitem(models.MLLMS, "fake", fake)
    algorithm = clustering.Algorithm("fake", "Fake clustering", clustering.fit_ward)
    monkeypatch.setitem(clustering.ALGORITHMS, "fake", algorithm)
    monkeypatch.setattr("auditoryhum.report.K_ALGORITHMS", {**report.K_ALGORITHMS, "cluster_fake.py": algorithm.title})

    wav = tmp_path / "data" / "alpha" / "wav"
    wav.mkdir(parents=True)
    write_tone(wav / "a.wav", seconds=0.2)
    fake_exp(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        recipe.main(["--help"])
    assert "--fake_model FAKE_MODEL" in capsys.readouterr().out
    assert recipe.main(["--datasets", "alpha", "--mllms", "fake", "--st_model", "all-MiniLM-L6-v2",
                        "--dry_run", "true"]) == 0
    planned = capsys.readouterr().out
    assert "label_fake.py '--filedir=data/alpha/wav/*.wav' --fake_model=models/Fake-Audio-1B" in planned
    assert "cluster_fake.py --cluster_npy=exp/alpha/fake/human-clap-wsce-mse-mae/all-MiniLM-L6-v2/st.npy " \
           "--n_clusters=3" in planned
    tables, _ = report.build_tables(tmp_path / "exp")
    silhouettes = next(table for table in tables if table.name == "silhouette")
    assert any(row[5:8] == ["Fake clustering", "3", "chosen"] for row in silhouettes.rows), silhouettes.rows
