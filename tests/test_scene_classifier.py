"""train_scene_classifier: cross-validated scores, the ONNX export and its check, the edge comparison,
and one clear line for inputs a classifier cannot be trained on."""

import json

import numpy as np
import onnxruntime
import pytest
from conftest import error_line

from auditoryhum import formats, onnx_model
from auditoryhum.records import read_record
from auditoryhum.scene_classifier import make_classifier
from auditoryhum.scripts import train_scene_classifier

N_PER_CLASS = 12
CLASS_IDS = [0, 2, 7]  # not 0..k-1: the ids are the taxonomy's, not positions
NAMES = {0: "busy street", 2: "birds in a park", 7: "rain on a roof"}


def blobs(seed=0, dims=12, spread=1.0):
    """Three well-separated classes of N_PER_CLASS rows, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(CLASS_IDS, N_PER_CLASS)
    centres = {c: rng.normal(scale=4.0, size=dims) for c in CLASS_IDS}
    features = np.stack([centres[c] for c in labels]) + spread * rng.normal(size=(labels.size, dims))
    order = rng.permutation(labels.size)
    return features[order].astype(np.float32), labels[order]


@pytest.fixture
def inputs(tmp_path):
    """features.npy with one NaN row (an unreadable file), ids.csv with one more row in no cluster,
    composite labels naming two of the three clusters."""
    features, labels = blobs()
    features = np.concatenate([features, np.full((1, features.shape[1]), np.nan, np.float32), features[:1]])
    ids = np.concatenate([labels, [labels[0], formats.NO_CLUSTER]])
    formats.save_npy(tmp_path / "features.npy", features)
    formats.write_cluster_ids(tmp_path / "ids.csv", ids)
    formats.write_composite_csv(tmp_path / "composite.csv", [formats.CompositeLabel(c, N_PER_CLASS, NAMES[c], "")
                                                              for c in (0, 2)])
    return tmp_path


def run(argv, capsys):
    status = train_scene_classifier.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def train(folder, capsys, *extra):
    return run(["--features_npy", folder / "features.npy", "--label_csv", folder / "ids.csv",
                "--composite_csv", folder / "composite.csv", "--onnx_out", folder / "model.onnx",
                "--json_out", folder / "scores.json", "--latency_runs", 5, *extra], capsys)


def test_scores_onnx_export_and_record(inputs, capsys):
    status, out, err = train(inputs, capsys, "--confusion_png", inputs / "confusion.png")
    assert status == 0, err
    summary = json.loads((inputs / "scores.json").read_text())
    # the NaN row and the row in no cluster are left out and counted
    assert summary["rows"] == 3 * N_PER_CLASS + 2 and summary["rows_used"] == 3 * N_PER_CLASS
    assert summary["rows_left_out"] == {"without_features": 1, "in_no_cluster": 1, "in_small_classes": 0}
    assert "2 of 38 rows are left out of training and testing" in err
    classes = summary["classes"]
    assert [(c["cluster"], c["name"], c["files"]) for c in classes] == [
        (0, "busy street", N_PER_CLASS), (2, "birds in a park", N_PER_CLASS), (7, "cluster 7", N_PER_CLASS)]
    assert summary["macro_f1"] == pytest.approx(np.mean([c["f1"] for c in classes]))
    assert summary["macro_f1"] > 0.9  # well-separated classes
    confusion = np.array(summary["confusion_matrix"])
    assert confusion.sum() == summary["rows_used"] and confusion.sum(axis=1).tolist() == [N_PER_CLASS] * 3
    assert summary["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert f"Macro-F1: {summary['macro_f1']:.4f}" in out and "busy street" in out

    onnx_file = inputs / "model.onnx"
    assert summary["onnx"]["size_bytes"] == onnx_file.stat().st_size
    assert summary["onnx"]["check"]["held_out_rows"] == summary["rows_used"]
    assert summary["onnx"]["check"]["max_probability_difference"] <= onnx_model.TOLERANCE
    assert f"{onnx_file.stat().st_size:,} bytes; single-clip CPU latency" in out
    assert (inputs / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = read_record(onnx_file)
    assert record["results"]["macro_f1"] == summary["macro_f1"] and record["results"]["classes"] == 3


def test_onnx_model_round_trips_through_onnxruntime(inputs, capsys):
    """The file answers as the classifier trained on the same rows does: the same class, the same
    probabilities to 1e-5, class names and ids in its metadata."""
    assert train(inputs, capsys)[0] == 0
    features = formats.load_npy(inputs / "features.npy")
    ids = formats.read_cluster_ids(inputs / "ids.csv")
    used = np.isfinite(features).all(axis=1) & (ids != formats.NO_CLUSTER)
    classifier = make_classifier("linear").fit(features[used], ids[used])

    session = onnxruntime.InferenceSession(str(inputs / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    labels, probabilities = session.run(["label", "probabilities"], {"features": features[used]})
    assert labels.tolist() == classifier.predict(features[used]).tolist()
    np.testing.assert_allclose(probabilities, classifier.predict_proba(features[used]), atol=1e-5)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_ids"]) == CLASS_IDS
    assert json.loads(metadata["class_names"]) == ["busy street", "birds in a park", "cluster 7"]
    assert metadata["features"] == "features.npy" and metadata["model"] == "linear"


def test_same_inputs_same_model_bytes(inputs, capsys):
    assert train(inputs, capsys, "--model", "mlp")[0] == 0
    first = (inputs / "model.onnx").read_bytes()
    scores = json.loads((inputs / "scores.json").read_text())
    assert train(inputs, capsys, "--model", "mlp")[0] == 0
    assert (inputs / "model.onnx").read_bytes() == first
    again = json.loads((inputs / "scores.json").read_text())
    assert again["classes"] == scores["classes"] and again["confusion_matrix"] == scores["confusion_matrix"]


def test_edge_features_same_rows_and_folds_with_the_gap(inputs, capsys):
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(3 * N_PER_CLASS + 2, 4)).astype(np.float32)  # features that know nothing
    formats.save_npy(inputs / "mfcc.npy", noise)
    status, out, _ = train(inputs, capsys, "--edge_features_npy", inputs / "mfcc.npy",
                           "--edge_onnx_out", inputs / "mfcc.onnx")
    assert status == 0
    summary = json.loads((inputs / "scores.json").read_text())
    edge = summary["edge"]
    assert sum(c["files"] for c in edge["classes"]) == summary["rows_used"]
    assert edge["macro_f1"] < summary["macro_f1"]
    assert edge["macro_f1_gap"] == pytest.approx(summary["macro_f1"] - edge["macro_f1"])
    assert f"Macro-F1 gap: {edge['macro_f1_gap']:+.4f}" in out
    session = onnxruntime.InferenceSession(str(inputs / "mfcc.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1] == 4
    assert json.loads(session.get_modelmeta().custom_metadata_map["class_ids"]) == CLASS_IDS


def test_any_level_of_the_taxonomy_tree(inputs, capsys):
    """Level 1 merges clusters 0 and 2; its names come from the tree."""
    ids = formats.read_cluster_ids(inputs / "ids.csv")
    coarse = np.where(ids == 7, 1, np.where(ids == formats.NO_CLUSTER, formats.NO_CLUSTER, 0))
    files = tuple(f"{i:02d}.wav" for i in range(len(ids)))
    nodes = (formats.TaxonomyNode(1, 0, "outdoors", None, (), ()), formats.TaxonomyNode(1, 1, "weather", None, (), ()))
    tree = formats.TaxonomyTree(files, (tuple(coarse.tolist()), tuple(ids.tolist())), nodes, {})
    formats.write_taxonomy_json(inputs / "taxonomy.json", tree)
    status, _, err = run(["--features_npy", inputs / "features.npy", "--taxonomy_json", inputs / "taxonomy.json",
                          "--level", 1, "--onnx_out", inputs / "model.onnx", "--json_out", inputs / "scores.json",
                          "--latency_runs", 5], capsys)
    assert status == 0, err
    summary = json.loads((inputs / "scores.json").read_text())
    assert [(c["cluster"], c["name"], c["files"]) for c in summary["classes"]] == [
        (0, "outdoors", 2 * N_PER_CLASS), (1, "weather", N_PER_CLASS)]
    assert summary["level"] == 1
    assert read_record(inputs / "model.onnx")["files"] == list(files)


def test_min_class_files_leaves_small_classes_out(inputs, capsys):
    ids = formats.read_cluster_ids(inputs / "ids.csv")
    ids[np.flatnonzero(ids == 7)[:-2]] = formats.NO_CLUSTER  # cluster 7 keeps 2 files
    formats.write_cluster_ids(inputs / "ids.csv", ids)
    status, _, err = train(inputs, capsys, "--min_class_files", 5)
    assert status == 0, err
    summary = json.loads((inputs / "scores.json").read_text())
    assert [c["cluster"] for c in summary["classes"]] == [0, 2]
    assert summary["rows_left_out"]["in_small_classes"] == 2


def _ids_where(folder, change):
    ids = formats.read_cluster_ids(folder / "ids.csv")
    change(ids)
    formats.write_cluster_ids(folder / "ids.csv", ids)


BAD_INPUTS = {
    "row counts differ": (lambda f: formats.write_cluster_ids(f / "ids.csv", [0, 2, 7]), [],
                          "error: row-count mismatch: {f}/features.npy has 38 rows but --label_csv={f}/ids.csv has 3\n"),
    "one class only": (lambda f: _ids_where(f, lambda ids: ids.__setitem__(ids != formats.NO_CLUSTER, 2)), [],
                       "error: --label_csv={f}/ids.csv: only one class ('birds in a park', cluster 2) among the 36 rows "
                       "with features and a cluster; a classifier needs at least 2\n"),
    "a class with one file": (lambda f: _ids_where(f, lambda ids: ids.__setitem__(np.flatnonzero(ids == 7)[1:], 0)), [],
                              "error: --label_csv={f}/ids.csv: cluster 7 ('cluster 7') has only 1 file with features: a "
                              "class needs at least 2 to be both trained on and held out; leave small classes out with "
                              "--min_class_files=5\n"),
    "a class smaller than the folds": (lambda f: None, ["--folds", 13],
                                       "error: --label_csv={f}/ids.csv: cluster 0 ('busy street') has 12 files, fewer "
                                       "than --folds=13: stratified cross-validation holds out part of every class in "
                                       "every fold; pass --folds=12, or leave small classes out with "
                                       "--min_class_files=13\n"),
    "a level without a tree": (lambda f: None, ["--level", 1],
                               "error: --level=1: only with --taxonomy_json (a cluster ids CSV has one level)\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_writes_nothing(case, inputs, capsys):
    change, extra, expected = BAD_INPUTS[case]
    change(inputs)
    status, out, err = train(inputs, capsys, *extra)
    assert status == 2
    assert error_line(err) == expected.format(f=inputs)
    assert not (inputs / "model.onnx").exists() and not (inputs / "scores.json").exists()


def test_the_check_catches_a_model_that_answers_otherwise():
    """compare() is what stands between a faulty conversion and the file: it must see a difference."""
    features, labels = blobs()
    exported = make_classifier("linear").fit(features, labels)
    other = make_classifier("linear").fit(features, np.random.default_rng(0).permutation(labels))
    model = onnx_model.to_onnx(exported, features.shape[1], onnx_model.class_metadata(CLASS_IDS, ["a", "b", "c"]), "")
    assert onnx_model.compare(model, exported, features).agrees
    against_other = onnx_model.compare(model, other, features)
    assert not against_other.agrees and against_other.label_disagreements > 0
