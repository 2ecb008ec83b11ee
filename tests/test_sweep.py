"""The k sweep: exactness against scikit-learn, and the cluster_sweep script."""

import logging
import re
import tracemalloc

import matplotlib.image
import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score, silhouette_score

from auditoryhum import formats, sweep
from auditoryhum.scripts import cluster_sweep

GRID = np.array([[i, j] for i in range(6) for j in range(5)], dtype=np.float32)


def repeated_rows(seed=0, n=160, n_distinct=30, dim=6):
    """Zipf-distributed repeats of a few distinct rows, in shuffled order (like st.npy)."""
    rng = np.random.default_rng(seed)
    distinct = rng.normal(size=(n_distinct, dim)).astype(np.float32)
    draws = np.concatenate([np.arange(n_distinct), np.minimum(rng.zipf(1.4, size=n - n_distinct) - 1, n_distinct - 1)])
    return distinct[rng.permutation(draws)]


def all_distinct(seed=1):
    return np.random.default_rng(seed).normal(size=(45, 5)).astype(np.float32)


def grid_ties():
    """Integer grid: many Ward distances tie exactly (all rows distinct)."""
    return GRID[np.random.default_rng(2).permutation(len(GRID))]


def ties_among_unique_rows_with_repeats():
    """Tied distances among unique grid rows, plus groups of repeated rows far away."""
    rng = np.random.default_rng(3)
    far = (rng.normal(size=(6, 2)) * 3 + 40).astype(np.float32)
    rows = np.concatenate([GRID, far[rng.integers(0, 6, size=50)]])
    return rows[rng.permutation(len(rows))]


def same_partition(a, b):
    """True when a and b are the same partition up to renumbering."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def blobs(seed=4, n=3000, n_distinct=2000, dim=16, n_centres=40):
    """Zipf repeats of distinct rows scattered around a few dozen centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_centres, dim)) * 4
    distinct = (centres[rng.integers(0, n_centres, n_distinct)] + rng.normal(size=(n_distinct, dim))).astype(np.float32)
    draws = np.concatenate([np.arange(n_distinct), np.minimum(rng.zipf(1.3, size=n - n_distinct) - 1, n_distinct - 1)])
    return distinct[rng.permutation(draws)]


# memory_budget=0: the silhouettes compute their distances again instead of reading the tree's copy.
@pytest.mark.parametrize("memory_budget", [None, 0], ids=["kept distances", "recomputed distances"])
@pytest.mark.parametrize("make_rows", [repeated_rows, all_distinct, grid_ties, ties_among_unique_rows_with_repeats])
def test_every_k_matches_scikit_learn(make_rows, memory_budget):
    x = make_rows()
    result = sweep.silhouette_sweep(x, memory_budget=memory_budget)
    n_distinct = len(np.unique(x, axis=0))
    assert result.n_distinct == n_distinct
    assert result.ks.tolist() == list(range(2, min(n_distinct, len(x) - 1) + 1))
    for k in result.ks.tolist():
        expected = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
        ids = result.cluster_ids(k)
        assert same_partition(ids, expected), f"k={k}"
        assert abs(result.silhouette[k - 2] - silhouette_score(x, expected)) < 1e-6, f"k={k}"


def test_two_thousand_distinct_rows_match_scikit_learn(tmp_path):
    x = blobs()
    kept, recomputed = (sweep.silhouette_sweep(x, memory_budget=budget) for budget in (None, 0))
    assert kept.n_distinct == 2000 and kept.ks.tolist() == list(range(2, 2001))
    np.testing.assert_allclose(recomputed.silhouette, kept.silhouette, rtol=0, atol=1e-8)
    # The whole tree: scikit-learn's last U - 1 merge heights (before them, copies merge at 0).
    full = AgglomerativeClustering(n_clusters=None, distance_threshold=0, linkage="ward").fit(x)
    assert np.all(full.distances_[: len(x) - 2000] < 1e-5)
    np.testing.assert_allclose(kept.tree.distances, full.distances_[len(x) - 2000 :], rtol=1e-9)
    model = AgglomerativeClustering(linkage="ward", compute_full_tree=True, memory=str(tmp_path))  # one tree
    for k in [*range(2, 12), *range(50, 2001, 50)]:
        expected = model.set_params(n_clusters=k).fit_predict(x)
        assert same_partition(kept.cluster_ids(k), expected), f"k={k}"
        if k in (2, 10, 400, 1250, 2000):
            assert abs(kept.silhouette[k - 2] - silhouette_score(x, expected)) < 1e-6, f"k={k}"


def test_memory_estimate_covers_what_the_sweep_allocates():
    x = blobs(n=2400, n_distinct=1500)
    groups = sweep.group_identical_rows(x)
    for keep in (False, True):
        estimate = sweep.sweep_memory_bytes(len(x), 1500, x.shape[1], 1500, keep_distances=keep)
        tracemalloc.start()
        sweep.silhouette_sweep(x, groups=groups, memory_budget=None if keep else 0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # numpy's allocations are traced (numba's few per-thread buffers are not, and are small).
        assert 0.6 * estimate < peak <= estimate, (keep, peak, estimate)
    assert sweep.sweep_memory_bytes(200_000, 20_000, 384, 20_000) == pytest.approx(1.8e9, rel=0.05)
    assert sweep.sweep_memory_bytes(500_000, 50_000, 384, 12_500, max_groups=20_000) < 2.5e9


def test_approximate_sweep_keeps_groups_whole_and_scores_its_partitions_exactly():
    x = blobs(n=900, n_distinct=600, dim=8)
    result = sweep.silhouette_sweep(x, max_groups=80)
    assert result.approximate and result.n_distinct == 600 and result.n_groups <= 80
    assert result.ks.tolist() == list(range(2, result.n_groups + 1))
    group_of_row = result.leaf_of_distinct[result.groups.inverse]
    for k in (2, 7, 30, result.n_groups):
        ids = result.cluster_ids(k)
        assert len(np.unique(ids)) == k
        assert all(len(np.unique(ids[group_of_row == group])) == 1 for group in range(result.n_groups))
        assert abs(result.silhouette[k - 2] - silhouette_score(x, ids)) < 1e-6, f"k={k}"
    exact = sweep.silhouette_sweep(x)
    assert not exact.approximate and not sweep.silhouette_sweep(x, max_groups=600).approximate
    assert adjusted_rand_score(exact.cluster_ids(20), result.cluster_ids(20)) > 0.8
    with pytest.raises(ValueError, match="groups of the approximate sweep"):
        sweep.silhouette_sweep(x, k_max=result.n_groups + 1, max_groups=80)


def test_cluster_ids_are_numbered_in_order_of_first_row():
    ids = sweep.silhouette_sweep(repeated_rows()).cluster_ids(7)
    _, first_rows = np.unique(ids, return_index=True)
    assert np.all(np.diff(first_rows) > 0) and ids[0] == 0 and set(ids.tolist()) == set(range(7))


def test_identical_rows_are_grouped_in_slot_order_of_their_last_row():
    x = np.array([[1, 0], [2, 0], [1, 0], [3, 0], [2, 0], [-0.0, 5], [0.0, 5]], dtype=np.float32)
    groups = sweep.group_identical_rows(x)
    # Last rows: [1,0] row 2, [3,0] row 3, [2,0] row 4, [0,5] row 6 (-0.0 equals 0.0).
    assert groups.rows.tolist() == [[1, 0], [3, 0], [2, 0], [0, 5]]
    assert groups.counts.tolist() == [2, 1, 2, 2]
    assert groups.inverse.tolist() == [0, 2, 0, 1, 2, 3, 3]


def test_hash_collisions_fall_back_to_the_exact_grouping(monkeypatch):
    x = repeated_rows()
    expected = sweep.group_identical_rows(x)
    monkeypatch.setattr(sweep, "_row_hashes", lambda rows: np.zeros(len(rows), dtype=np.uint64))
    collided = sweep.group_identical_rows(x)
    assert collided.inverse.tolist() == expected.inverse.tolist()
    assert np.array_equal(collided.rows, expected.rows) and np.array_equal(collided.counts, expected.counts)


def test_above_the_distinct_rows_the_sweep_gives_scikit_learns_per_k_values():
    """k > U splits identical rows as scikit-learn's Ward breaks their ties: the sweep gives the
    published per-k values there (its own clustering on every row, then silhouette_score)."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    rng = np.random.default_rng(5)
    labels = rng.normal(size=(12, 6)).astype(np.float32)
    x = labels[rng.integers(0, len(labels), size=80)]  # 80 rows, U = 12 distinct (repeated labels)
    u = len(np.unique(x, axis=0))
    result = sweep.silhouette_sweep(x, k_max=u + 15)
    for k in range(2, u + 16):
        ids = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
        assert result.silhouette[k - 2] == pytest.approx(silhouette_score(x, ids), abs=1e-6), k
        assert adjusted_rand_score(ids, result.cluster_ids(k)) == 1.0, k
        assert result.cluster_ids(k).max() == k - 1


def test_adjusted_silhouette_and_choice():
    ks = np.arange(2, 7)
    silhouette = np.array([0.2, 0.5, 0.6, 0.65, 0.7])
    adjusted = sweep.adjusted_silhouette(ks, silhouette, penalty=0.1)
    assert adjusted == pytest.approx([0.0, 0.2, 0.2, 0.15, 0.1])
    assert sweep.choose_k(ks, adjusted) == 3  # first of the tied best
    assert sweep.default_penalty(400) == 1 / 400


# ----------------------------------------------------------------------------------------------
# the script


@pytest.fixture
def st_npy(tmp_path):
    path = tmp_path / "st.npy"
    np.save(path, repeated_rows())
    return path


def outputs(folder):
    folder.mkdir(exist_ok=True)
    return {name: folder / name for name in ("sweep.csv", "ids.csv", "sweep.png")}


def run(argv, capsys):
    status = cluster_sweep.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def sweep_argv(npy, paths, *extra):
    return ["--cluster_npy", npy, "--sweep_csv", paths["sweep.csv"], "--label_csv", paths["ids.csv"],
            "--png_plot", paths["sweep.png"], *extra]


def read_sweep_csv(path):
    lines = path.read_text().splitlines()
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    return lines[0], rows


def test_script_writes_curve_choice_ids_and_plot(st_npy, tmp_path, capsys):
    paths = outputs(tmp_path)
    status, out, _ = run(sweep_argv(st_npy, paths), capsys)
    assert status == 0
    x = np.load(st_npy)
    n_distinct = len(np.unique(x, axis=0))
    header, rows = read_sweep_csv(paths["sweep.csv"])
    assert header == "k,silhouette,adjusted_silhouette"
    assert rows[:, 0].tolist() == list(range(2, n_distinct + 1))
    assert rows[:, 2] == pytest.approx(rows[:, 1] - rows[:, 0] / n_distinct, abs=2e-8)
    chosen_k = int(rows[np.argmax(rows[:, 2]), 0])
    assert f"Chosen k: {chosen_k}\n" in out
    ids = formats.read_cluster_ids(paths["ids.csv"])
    assert len(ids) == len(x)
    expected = AgglomerativeClustering(n_clusters=chosen_k, linkage="ward").fit_predict(x)
    assert same_partition(ids, expected)
    assert rows[chosen_k - 2, 1] == pytest.approx(silhouette_score(x, expected), abs=1e-6)
    assert matplotlib.image.imread(paths["sweep.png"]).shape[:2] == (600, 1000)


def test_script_range_penalty_and_tsne(st_npy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUDITORYHUM_CACHE", str(tmp_path / "tsne_cache"))
    paths = outputs(tmp_path)
    tsne_png = tmp_path / "tsne.png"
    status, out, _ = run(sweep_argv(st_npy, paths, "--k_min", 4, "--k_max", 12, "--penalty", 0,
                                    "--tsne_png", tsne_png), capsys)
    assert status == 0
    _, rows = read_sweep_csv(paths["sweep.csv"])
    assert rows[:, 0].tolist() == list(range(4, 13))
    assert np.array_equal(rows[:, 1], rows[:, 2])  # lambda = 0: the plain silhouette
    chosen_k = int(rows[np.argmax(rows[:, 1]), 0])
    assert f"Chosen k: {chosen_k}\n" in out
    assert len(np.unique(formats.read_cluster_ids(paths["ids.csv"]))) == chosen_k
    assert matplotlib.image.imread(tsne_png).shape[:2] == (1200, 1200)


def test_script_beyond_the_distinct_rows_gives_a_per_k_scikit_learn_loops_values(st_npy, tmp_path, capsys):
    """The published runs swept k = 2..840, past U: cluster_sweep.py --k_max beyond U gives what one
    process per k would print (AgglomerativeClustering + silhouette_score), on repeated labels."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    paths = outputs(tmp_path)
    x = np.load(st_npy)
    n_distinct = len(np.unique(x, axis=0))
    status, _, err = run(sweep_argv(st_npy, paths, "--k_max", n_distinct + 10), capsys)
    assert status == 0
    assert f"above the {n_distinct} distinct rows" in err and "computed its way, on every row" in err
    ks, rows = read_sweep_csv(paths["sweep.csv"])
    assert rows[-1, 0] == n_distinct + 10
    for k, silhouette in zip(rows[:, 0].astype(int), rows[:, 1]):
        expected = silhouette_score(x, AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x))
        assert silhouette == pytest.approx(expected, abs=1e-6), k


def test_script_default_range_gives_no_warning(st_npy, tmp_path, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        assert run(sweep_argv(st_npy, outputs(tmp_path)), capsys)[0] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_label_less_rows_get_minus_one_and_leave_the_sweep_as_without_them(tmp_path, capsys, caplog):
    x = repeated_rows()
    label_less = np.zeros(len(x) + 3, dtype=bool)
    label_less[[0, 50, 162]] = True
    with_nan = np.full((len(x) + 3, x.shape[1]), np.nan, dtype=np.float32)
    with_nan[~label_less] = x
    with_nan[50, :3] = 1.0  # partly NaN is no embedding either
    results = {}
    for name, array in (("clean", x), ("nan", with_nan)):
        np.save(tmp_path / f"{name}.npy", array)
        paths = outputs(tmp_path / name)
        status, _, err = run(sweep_argv(tmp_path / f"{name}.npy", paths), capsys)
        assert status == 0
        results[name] = (paths["sweep.csv"].read_text(), formats.read_cluster_ids(paths["ids.csv"]), err)
    assert results["nan"][0] == results["clean"][0]  # the same curve, the same U
    ids = results["nan"][1]
    assert len(ids) == len(with_nan) and (ids[label_less] == -1).all()
    np.testing.assert_array_equal(ids[~label_less], results["clean"][1])
    assert "(3 rows without a label left out, id -1)" in results["nan"][2]
    assert "3 of 163 rows of" in caplog.text


@pytest.mark.parametrize(
    "array, extra, message",
    [
        (np.full((6, 3), np.nan, dtype=np.float32), [], "only 0 of its 6 rows hold a usable embedding"),
        (np.arange(10, dtype=np.float32), [], "2-D"),
        (np.zeros((0, 4), dtype=np.float32), [], "no rows"),
        (np.eye(2, dtype=np.float32), [], "only 2 rows hold a usable embedding"),
        (np.ones((5, 3), dtype=np.float32), [], "identical"),
        (repeated_rows(), ["--k_min", 9, "--k_max", 5], "--k_min=9 is above --k_max=5"),
        (repeated_rows(), ["--k_min", 40], "--k_min=40 is above --k_max=30"),
        (repeated_rows(), ["--k_min", 1], "--k_min=1"),
        (repeated_rows(), ["--k_max", 160], "--k_max=160"),
        (repeated_rows(), ["--penalty", -0.5], "--penalty=-0.5"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, array, extra, message):
    npy = tmp_path / "bad.npy"
    np.save(npy, array)
    paths = outputs(tmp_path)
    status, _, err = run(sweep_argv(npy, paths, *extra), capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "--" in message or str(npy) in err
    assert not any(path.exists() for path in paths.values())


def test_a_sweep_beyond_the_memory_budget_stops_before_any_work_and_says_what_fits(tmp_path, capsys, monkeypatch):
    npy = tmp_path / "st.npy"
    np.save(npy, blobs(n=600, n_distinct=400, dim=6))
    paths = outputs(tmp_path / "out")
    exact = sweep.sweep_memory_bytes(600, 400, 6, 400)
    budget = (exact + sweep.sweep_memory_bytes(600, 400, 6, 2, max_groups=2)) / 2  # only an approximate sweep fits
    calls = []
    monkeypatch.setattr(cluster_sweep, "silhouette_sweep", lambda *a, **k: calls.append(1))
    status, _, err = run(sweep_argv(npy, paths, "--max_memory_gb", budget / 1e9), capsys)
    assert status == 2 and err.count("\n") == 1 and not calls
    assert not any(path.exists() for path in paths.values())
    match = re.fullmatch(r"error: \S+st\.npy: the exact sweep of 400 distinct rows needs ~(\S+) MB, --max_memory_gb "
                         r"allows (\S+) MB; use --approximate --max_groups (\d+)\n", err)
    assert match, err
    assert float(match[1]) == round(exact / 1e6, 1) and float(match[2]) == round(budget / 1e6, 1)
    groups = int(match[3])
    assert sweep.sweep_memory_bytes(600, 400, 6, groups, max_groups=groups) <= budget
    assert sweep.sweep_memory_bytes(600, 400, 6, groups + 1, max_groups=groups + 1) > budget

    monkeypatch.undo()
    status, _, err = run(sweep_argv(npy, paths, "--max_memory_gb", budget / 1e9, "--approximate", "--max_groups",
                                    groups), capsys)
    assert status == 0
    assert f"Approximate sweep: the 400 distinct rows were reduced to {groups} k-means groups" in err
    _, rows = read_sweep_csv(paths["sweep.csv"])
    assert rows[-1, 0] == groups
    status, _, err = run(sweep_argv(npy, paths, "--max_memory_gb", budget / 1e9, "--approximate", "--max_groups",
                                    groups + 20), capsys)
    assert status == 2 and f"the approximate sweep on {groups + 20} groups needs" in err
    assert err.rstrip().endswith(f"use --max_groups {groups}")


def test_script_approximate_range_is_checked(tmp_path, capsys):
    npy = tmp_path / "st.npy"
    np.save(npy, repeated_rows())
    status, _, err = run(sweep_argv(npy, outputs(tmp_path / "out"), "--approximate", "--max_groups", 10,
                                    "--k_max", 12), capsys)
    assert status == 2 and "--k_max=12 is above --max_groups=10" in err
    status, out, _ = run(sweep_argv(npy, outputs(tmp_path / "all"), "--approximate", "--max_groups", 30), capsys)
    assert status == 0 and "Approximate" not in out  # U = 30: nothing to reduce, the sweep is exact


def test_help_documents_the_formula_and_ends_with_an_example(capsys):
    with pytest.raises(SystemExit):
        cluster_sweep.main(["--help"])
    out = capsys.readouterr().out
    assert "S_adj(k) = S(k) - lambda * k" in out and "1/U" in out and "2/n" in out
    assert out.rstrip().splitlines()[-1].strip().startswith("python3 cluster_sweep.py --cluster_npy=")
