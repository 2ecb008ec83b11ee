"""cluster_ag / cluster_kmeans / cluster_spectral / cluster_hdbscan, and the cached t-SNE plot."""

import matplotlib.image
import numpy as np
import pytest
import sklearn.manifold
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.manifold import TSNE, SpectralEmbedding
from sklearn.metrics import silhouette_score
from conftest import error_line

from auditoryhum import formats, tsne
from auditoryhum.scripts import cluster_ag, cluster_hdbscan, cluster_kmeans, cluster_spectral

SEED = 100


@pytest.fixture(autouse=True)
def tsne_cache(tmp_path, monkeypatch):
    folder = tmp_path / "tsne_cache"
    monkeypatch.setenv("AUDITORYHUM_CACHE", str(folder))
    return folder


def blobs(n_blobs=4, per_blob=10, dim=8, seed=0, outliers=0):
    """Well separated Gaussian blobs (41 rows by default: above the 30 spectral neighbours and
    the t-SNE perplexity of 35, so the published parameters apply unchanged)."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=(per_blob, dim)) * 0.3 + rng.normal(size=dim) * 5 for _ in range(n_blobs)]
    parts.append(rng.normal(size=(outliers, dim)) * 20)
    return np.vstack(parts).astype(np.float32)


@pytest.fixture
def blobs_npy(tmp_path):
    path = tmp_path / "st.npy"
    np.save(path, blobs(outliers=1))
    return path


def ward(x, k):
    return AgglomerativeClustering(n_clusters=k, linkage="ward", metric="euclidean").fit_predict(x), x


def kmeans(x, k):
    return KMeans(n_clusters=k, init="k-means++", max_iter=300, random_state=SEED).fit_predict(x), x


def spectral(x, k):
    points = SpectralEmbedding(n_components=2, affinity="nearest_neighbors", n_neighbors=30,
                               random_state=SEED).fit_transform(x)
    return KMeans(n_clusters=k, init="k-means++", max_iter=300, random_state=SEED).fit_predict(points), points


def run(script, argv, capsys):
    status = script.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_png_12in(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[:2] == (1200, 1200)  # 12 x 12 in at 100 dpi


@pytest.mark.parametrize(
    "script, reference", [(cluster_ag, ward), (cluster_kmeans, kmeans), (cluster_spectral, spectral)],
    ids=["ag", "kmeans", "spectral"],
)
def test_k_scripts_match_sklearn_with_spec_parameters(script, reference, blobs_npy, tmp_path, capsys):
    ids_csv, png = tmp_path / "ids.csv", tmp_path / "tsne.png"
    status, out, _ = run(script, ["--cluster_npy", blobs_npy, "--n_clusters", 3,
                                  "--label_csv", ids_csv, "--png_plot", png], capsys)
    assert status == 0
    x = np.load(blobs_npy)
    expected_ids, points = reference(x, 3)
    np.testing.assert_array_equal(formats.read_cluster_ids(ids_csv), expected_ids)
    assert out.splitlines()[0] == f"Silhouette Score {silhouette_score(points, expected_ids)}"
    assert_png_12in(png)


def test_tsne_coordinates_use_spec_parameters_and_are_cached(blobs_npy, tmp_path, tsne_cache, monkeypatch, capsys):
    fits = []

    class CountingTSNE(TSNE):
        def fit_transform(self, x, y=None):
            fits.append(self.get_params())
            return super().fit_transform(x)

    monkeypatch.setattr(sklearn.manifold, "TSNE", CountingTSNE)
    for k in (2, 3):  # another k, same embeddings: the coordinates are reused
        argv = ["--cluster_npy", blobs_npy, "--n_clusters", k, "--label_csv", tmp_path / "ids.csv",
                "--png_plot", tmp_path / f"k{k}.png"]
        assert run(cluster_ag, argv, capsys)[0] == 0
        assert_png_12in(tmp_path / f"k{k}.png")
    assert len(fits) == 1
    assert {key: fits[0][key] for key in tsne.TSNE_PARAMS} == tsne.TSNE_PARAMS
    assert fits[0]["perplexity"] == 35 and fits[0]["max_iter"] == 500 and fits[0]["init"] == "random"
    cached = list(tsne_cache.glob("*.npy"))
    assert len(cached) == 1
    x = np.load(blobs_npy)
    np.testing.assert_allclose(np.load(cached[0]), TSNE(**tsne.TSNE_PARAMS).fit_transform(x), rtol=1e-5)

    tsne.tsne_coordinates(x[:-1])  # other content, other key
    assert len(fits) == 2 and len(list(tsne_cache.glob("*.npy"))) == 2


def test_tsne_perplexity_clamped_for_tiny_inputs(caplog):
    coords = tsne.tsne_coordinates(blobs(n_blobs=2, per_blob=4))
    assert coords.shape == (8, 2)
    assert "perplexity 7 instead of 35" in caplog.text


def test_plot_with_many_clusters_and_noise(tmp_path):
    x = blobs(n_blobs=30, per_blob=3, dim=4, outliers=5)
    ids = np.r_[np.repeat(np.arange(30), 3), [-1] * 5]
    tsne.plot_tsne(x, ids, tmp_path / "many.png", title="many clusters")
    assert_png_12in(tmp_path / "many.png")
    assert len({tuple(c) for c in tsne.cluster_colours(30)}) == 30
    with pytest.raises(ValueError, match="94 cluster ids for 95"):
        tsne.plot_tsne(x, ids[:-1], tmp_path / "bad.png")


def test_hdbscan_silhouette_counts_noise_as_published_and_says_it_without(tmp_path, capsys):
    npy, ids_csv, png = tmp_path / "st.npy", tmp_path / "ids.csv", tmp_path / "tsne.png"
    x = blobs(n_blobs=3, per_blob=12, outliers=3, seed=3)
    np.save(npy, x)
    status, out, err = run(cluster_hdbscan, ["--cluster_npy", npy, "--min_cluster_size", 5,
                                             "--label_csv", ids_csv, "--png_plot", png], capsys)
    assert status == 0
    expected = HDBSCAN(min_cluster_size=5, min_samples=2, cluster_selection_epsilon=0.0001, copy=True).fit_predict(x)
    ids = formats.read_cluster_ids(ids_csv)
    np.testing.assert_array_equal(ids, expected)
    noise = ids == -1
    assert noise.sum() == 3 and np.unique(ids[~noise]).size == 3
    # stdout: the published line alone (noise as one more group); the rest on stderr
    assert out.splitlines() == [f"Silhouette Score {silhouette_score(x, ids)}"]
    assert f"Silhouette Score without noise {silhouette_score(x[~noise], ids[~noise])}\n" in err
    assert "HDBSCAN found 3 clusters and 3 noise points (id -1)\n" in err
    assert_png_12in(png)


def test_hdbscan_with_fewer_than_two_clusters_says_so(tmp_path, capsys):
    npy, ids_csv, png = tmp_path / "st.npy", tmp_path / "ids.csv", tmp_path / "tsne.png"
    np.save(npy, np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32))
    status, out, err = run(cluster_hdbscan, ["--cluster_npy", npy, "--min_cluster_size", 5,
                                             "--label_csv", ids_csv, "--png_plot", png], capsys)
    assert status == 0
    assert out.splitlines() == ["Silhouette Score undefined: 1 distinct group for 10 rows"]
    assert "Silhouette Score without noise undefined: 0 distinct groups for 0 rows" in err
    assert "HDBSCAN found 0 clusters and 10 noise points (id -1)" in err
    assert list(formats.read_cluster_ids(ids_csv)) == [-1] * 10
    assert_png_12in(png)


def with_label_less_rows(x, rows):
    """``x`` with NaN rows (files without a label) inserted before the given positions."""
    out = x.astype(np.float32)
    for row in sorted(rows):
        out = np.insert(out, row, np.nan, axis=0)
    return out


@pytest.mark.parametrize(
    "script, extra",
    [(cluster_ag, ["--n_clusters", 3]), (cluster_kmeans, ["--n_clusters", 3]), (cluster_spectral, ["--n_clusters", 3]),
     (cluster_hdbscan, ["--min_cluster_size", 5])],
    ids=["ag", "kmeans", "spectral", "hdbscan"],
)
def test_label_less_rows_get_minus_one_and_leave_the_other_rows_as_without_them(script, extra, tmp_path, capsys,
                                                                              caplog):
    x = blobs(outliers=1)
    clean_npy, nan_npy = tmp_path / "clean.npy", tmp_path / "with_nan.npy"
    np.save(clean_npy, x)
    with_nan = with_label_less_rows(x, [0, 7, 20])
    with_nan[20, 3] = np.inf  # a row with any non-finite value has no embedding
    np.save(nan_npy, with_nan)
    label_less = ~np.isfinite(with_nan).all(axis=1)
    assert label_less.sum() == 3

    outputs = {}
    for name, npy in (("clean", clean_npy), ("nan", nan_npy)):
        status, out, _ = run(script, ["--cluster_npy", npy, "--label_csv", tmp_path / f"{name}.csv",
                                      "--png_plot", tmp_path / f"{name}.png", *extra], capsys)
        assert status == 0
        outputs[name] = (formats.read_cluster_ids(tmp_path / f"{name}.csv"), out.splitlines()[0])
    ids, printed = outputs["nan"]
    assert len(ids) == len(with_nan) and (ids[label_less] == -1).all()
    np.testing.assert_array_equal(ids[~label_less], outputs["clean"][0])
    assert printed == outputs["clean"][1]  # the same silhouette
    assert "3 of 44 rows of" in caplog.text and "get cluster id -1" in caplog.text
    assert_png_12in(tmp_path / "nan.png")


def test_the_map_counts_label_less_rows_in_its_legend(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(tsne, "draw_scatter", lambda coords, ids, png, title, n_not_shown: drawn.update(
        coords=coords, ids=ids, n_not_shown=n_not_shown))
    x = with_label_less_rows(blobs(n_blobs=2, per_blob=5), [3])
    tsne.plot_tsne(x, np.r_[[0, 0, 0, -1], [0] * 2, [1] * 5], tmp_path / "map.png")
    assert drawn["coords"].shape == (10, 2) and drawn["n_not_shown"] == 1 and -1 not in drawn["ids"]


def _bad(array):
    def write(path):
        np.save(path, array)
    return write


GOOD = blobs(n_blobs=2, per_blob=3)
NAN_ROW, INF_ROW = GOOD.copy(), GOOD.copy()
NAN_ROW[2, 1] = np.nan
INF_ROW[4, 0] = np.inf


@pytest.mark.parametrize(
    "script, write, extra, message",
    [
        (cluster_ag, _bad(np.full((6, 3), np.nan, np.float32)), ["--n_clusters", 2],
         "only 0 of its 6 rows hold a usable embedding (the others are NaN: files without a label); clustering "
         "needs at least 3"),
        (cluster_kmeans, _bad(NAN_ROW[:3]), ["--n_clusters", 2], "only 2 of its 3 rows"),
        (cluster_kmeans, _bad(INF_ROW), ["--n_clusters", 6], "--n_clusters=6: more clusters than the 5 usable rows"),
        (cluster_spectral, _bad(np.zeros(6, np.float32)), ["--n_clusters", 2], "expected a 2-D array"),
        (cluster_ag, _bad(np.zeros((0, 4), np.float32)), ["--n_clusters", 2], "the array has no rows"),
        (cluster_ag, _bad(GOOD[:2]), ["--n_clusters", 2], "only 2 rows hold a usable embedding"),
        (cluster_hdbscan, _bad(GOOD[:2]), ["--min_cluster_size", 2], "only 2 rows"),
        (cluster_ag, _bad(GOOD), ["--n_clusters", 1], "--n_clusters=1: must be at least 2"),
        (cluster_kmeans, _bad(GOOD), ["--n_clusters", 7], "--n_clusters=7: more clusters than the 6 rows of"),
        (cluster_hdbscan, _bad(GOOD), ["--min_cluster_size", 1], "--min_cluster_size=1: must be at least 2"),
        (cluster_ag, lambda path: None, ["--n_clusters", 2], ".npy not found"),
    ],
    ids=["all-nan", "nan-three-left", "inf-k-too-big", "1d", "empty", "two-rows", "hdbscan-two-rows", "k1",
         "k-too-big", "mcs1", "missing"],
)
def test_bad_input_is_one_error_line_and_exit_2(script, write, extra, message, tmp_path, capsys):
    npy = tmp_path / "bad.npy"
    write(npy)
    status, out, err = run(script, ["--cluster_npy", npy, "--label_csv", tmp_path / "ids.csv",
                                    "--png_plot", tmp_path / "p.png", *extra], capsys)
    assert status == 2
    err = error_line(err)
    assert message in err
    assert message.startswith("--") or "bad.npy" in err  # names the flag or the file
    assert not (tmp_path / "ids.csv").exists() and not (tmp_path / "p.png").exists()
