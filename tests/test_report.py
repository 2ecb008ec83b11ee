"""The report module on a hand-made experiment folder laid out as the recipe leaves it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from auditoryhum import formats, report
from auditoryhum.formats import ScoreRow

BEFORE = [0.10, 0.50, 0.30, 0.20]
AFTER = [0.40, 0.50, 0.35, 0.20]
LABELS = ["rain", "rain", "traffic noise", "dog bark"]
REVIEWED = ["rain", "bird song", "traffic noise", "dog bark"]


def write_run(exp: Path, dataset: str, mllm: str, clap: str, with_clustering: bool = True) -> Path:
    run = exp / dataset / mllm / clap
    run.mkdir(parents=True)
    names = [f"f{i}.wav" for i in range(len(BEFORE))]
    formats.write_scores_csv(run / "top_label_scores.csv",
                             [ScoreRow(i + 1, n, lab, s) for i, (n, lab, s) in enumerate(zip(names, LABELS, BEFORE))])
    formats.write_scores_csv(run / "top_label_scores_with_annotations.csv",
                             [ScoreRow(i + 1, n, lab, s) for i, (n, lab, s) in enumerate(zip(names, REVIEWED, AFTER))])
    formats.write_labels_csv(run.parent / "human_annotations.csv", ["rain", "", "traffic noise"])
    if with_clustering:
        st = run / "all-MiniLM-L6-v2"
        (st / "sweep").mkdir(parents=True)
        (st / "sweep" / "sweep.csv").write_text("k,silhouette,adjusted_silhouette\n"
                                                "2,0.5,0.3\n3,0.9,0.6\n")
        (st / "sweep" / "sweep.csv.log").write_text("Distinct rows: 3 of 4\nChosen k: 3\n")
        (st / "compare").mkdir()
        for name, k, score in (("ag", 2, 0.51), ("ag", 3, 0.91), ("kmeans", 2, 0.52), ("spectral", 3, 0.7)):
            (st / "compare" / f"{name}_k{k}.csv.log").write_text(f"progress\rbar\nSilhouette Score {score}\n")
        (st / "compare" / "kmeans_k3.csv.log").write_text("Silhouette Score undefined: 3 distinct clusters for 3 rows\n")
        (st / "compare" / "hdbscan.csv.log").write_text(
            "Silhouette Score 0.6\nSilhouette Score without noise 0.8\nHDBSCAN found 2 clusters and 1 noise point (id -1)\n")
    return run


@pytest.fixture
def exp(tmp_path) -> Path:
    exp = tmp_path / "exp"
    write_run(exp, "ahead_ds", "qwen2a", "human-clap-wsce-mse-mae")
    write_run(exp, "tau2019", "gemma3n", "human-clap-wsce-mse-mae", with_clustering=False)
    (exp / "tau2019" / "clap" / "human-clap-wsce-mse-mae").mkdir(parents=True)  # audio embeddings: not a run
    return exp


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_every_table_as_markdown_and_csv(exp, capsys):
    assert report.main(["--exp_dir", str(exp)]) == 0
    assert "report written to" in capsys.readouterr().out
    text = (exp / "report.md").read_text()
    for title in ("## Label alignment (CLAP)", "## HITL boost", "## Number of clusters",
                  "## Silhouette by clustering algorithm", "## HDBSCAN", "## Silhouette sweeps"):
        assert title in text
    assert "![S(k) and S_adj(k)](report/sweep_curves.png)" in text
    assert (exp / "report" / "sweep_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    alignment = read_csv(exp / "report" / "alignment.csv")
    assert [(r["dataset"], r["MLLM"]) for r in alignment] == [("ahead_ds", "qwen2a"), ("tau2019", "gemma3n")]
    row = alignment[0]
    assert row["files"] == "4" and row["µc"] == f"{sum(BEFORE) / 4:.4f}" and row["µ1%"] == "0.1000"
    assert row["µc after HITL"] == f"{sum(AFTER) / 4:.4f}" and row["µ1% after HITL"] == "0.2000"
    assert "| ahead_ds | qwen2a | human-clap-wsce-mse-mae | 4 | 4 | 0.2750 | 0.1000 |" in text


def test_boost_counts_the_annotated_rows(exp):
    report.main(["--exp_dir", str(exp)])
    boost = read_csv(exp / "report" / "hitl_boost.csv")[0]
    # rows 1 and 3 are annotated: before (0.10 + 0.30) / 2, after (0.40 + 0.35) / 2
    assert boost == {"dataset": "ahead_ds", "MLLM": "qwen2a", "CLAP model": "human-clap-wsce-mse-mae",
                     "annotated rows": "2", "before": "0.2000", "after": "0.3750", "boost": "0.1750"}


def test_cluster_tables_read_the_sweep_and_the_printed_silhouettes(exp):
    report.main(["--exp_dir", str(exp)])
    (k_row,) = read_csv(exp / "report" / "chosen_k.csv")  # only the run with a sweep
    assert (k_row["sentence model"], k_row["files"], k_row["U"], k_row["chosen k"], k_row["k / U"]) == \
        ("all-MiniLM-L6-v2", "4", "3", "3", "100.0 %")
    assert float(k_row["λ"]) == pytest.approx(0.1)  # (0.5 - 0.3) / 2 = (0.9 - 0.6) / 3
    silhouettes = {(r["algorithm"], r["k"]): (r["which k"], r["silhouette"])
                   for r in read_csv(exp / "report" / "silhouette.csv")}
    assert silhouettes == {
        ("Ward agglomerative", "2"): ("", "0.5100"), ("Ward agglomerative", "3"): ("chosen, U", "0.9100"),
        ("k-means", "2"): ("", "0.5200"), ("k-means", "3"): ("chosen, U", report.MISSING),  # undefined
        ("spectral + k-means", "3"): ("chosen, U", "0.7000"),  # k = 2 never run: no row
    }
    (hdbscan,) = read_csv(exp / "report" / "hdbscan.csv")
    assert (hdbscan["clusters found"], hdbscan["silhouette"], hdbscan["silhouette without noise"]) == \
        ("2", "0.6000", "0.8000")


def test_a_clustering_of_the_reviewed_labels_counts_their_distinct_labels(exp):
    run = exp / "ahead_ds" / "qwen2a" / "human-clap-wsce-mse-mae"
    (run / "all-MiniLM-L6-v2").rename(run / "all-MiniLM-L6-v2.reviewed")
    report.main(["--exp_dir", str(exp)])
    (k_row,) = read_csv(exp / "report" / "chosen_k.csv")
    assert (k_row["sentence model"], k_row["labels"], k_row["U"]) == ("all-MiniLM-L6-v2", "reviewed", "4")


def test_rows_without_a_label_are_counted_per_stage(exp):
    run = exp / "ahead_ds" / "qwen2a" / "human-clap-wsce-mse-mae"
    formats.write_labels_csv(run.parent / "text_labels.csv", ["rain", "", "日本語", "dog bark"])
    formats.write_scores_csv(run / "top_label_scores.csv",
                             [ScoreRow(1, "f0.wav", "rain", 0.1), ScoreRow(2, "f1.wav", "", math.nan),
                              ScoreRow(3, "f2.wav", "", math.nan), ScoreRow(4, "f3.wav", "dog bark", 0.2)])
    st = run / "all-MiniLM-L6-v2"
    formats.save_npy(st / "st.npy", [[0.1, 0.2], [math.nan] * 2, [math.nan] * 2, [0.3, 0.1]])
    formats.write_cluster_ids(st / "sweep" / "cluster_ids.csv", [0, -1, -1, 1])
    report.main(["--exp_dir", str(exp)])
    rows = {r["dataset"]: r for r in read_csv(exp / "report" / "unlabelled.csv")}
    assert [rows["ahead_ds"][c] for c in ("files", "blank MLLM lines", "unreadable audio", "unscored",
                                          "unscored after HITL", "NaN sentence rows", "cluster id -1")] == \
        ["4", "1", report.MISSING, "2", "0", "2", "2"]
    assert rows["tau2019"]["labels"] == report.MISSING and rows["tau2019"]["unscored"] == "0"


def test_chosen_k_falls_back_to_the_maximum_of_the_adjusted_curve(tmp_path):
    sweep_csv = tmp_path / "sweep.csv"
    sweep_csv.write_text("k,silhouette,adjusted_silhouette\n2,0.4,0.3\n3,0.6,0.45\n4,0.7,0.45\n5,0.8,nan\n")
    sweep = report.read_sweep(sweep_csv)
    assert report.chosen_k(sweep_csv, sweep) == 3  # no log: first maximum, NaN ignored
    assert math.isclose(sweep.penalty, 0.05)


def test_missing_experiment_is_one_line(tmp_path, capsys):
    (tmp_path / "exp").mkdir()
    assert report.main(["--exp_dir", str(tmp_path / "exp")]) == 2
    assert "no results found" in capsys.readouterr().err
    assert report.main(["--exp_dir", str(tmp_path / "nowhere")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_bad_sweep_csv_names_the_file(exp, capsys):
    sweep = exp / "ahead_ds" / "qwen2a" / "human-clap-wsce-mse-mae" / "all-MiniLM-L6-v2" / "sweep" / "sweep.csv"
    sweep.write_text("k;score\n2;0.5\n")
    assert report.main(["--exp_dir", str(exp)]) == 2
    assert f"{sweep}: expected a header k,silhouette,adjusted_silhouette" in capsys.readouterr().err
