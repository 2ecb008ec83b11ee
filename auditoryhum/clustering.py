"""Clustering of embeddings (docs/method.md §5) and the run the cluster_* scripts share.

Algorithms, with the published parameters (seed 100):

* Ward agglomerative - euclidean distance;
* k-means - k-means++ initialisation, at most 300 iterations;
* spectral - ``SpectralEmbedding`` to 2 dimensions (nearest-neighbours affinity, 30 neighbours),
  then k-means on those 2-D points; its silhouette is measured there, not on the input;
* HDBSCAN - ``sklearn.cluster.HDBSCAN`` with min_samples 2, cluster_selection_epsilon 0.0001;
  ``Silhouette Score`` counts its noise points (id -1) as one more group, as the published runs
  did, and a second line gives the silhouette of the clustered points alone.

Every script writes one integer cluster id per line, prints ``Silhouette Score <s>`` (the upstream
layout) and draws the t-SNE scatter coloured by cluster (:func:`auditoryhum.tsne.plot_tsne`).

Rows that hold NaN (or inf) - files without a usable label, or whose audio could not be read - are
carried, not refused: they are left out of fitting, silhouettes and t-SNE, get cluster id -1 in the
ids CSV (so row i still belongs to file i), and are counted in one warning. Only an input with fewer
than 3 usable rows is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import formats
from .errors import UserError, counted
from .runtime import SEED

log = logging.getLogger(__name__)

KMEANS_MAX_ITER = 300
SPECTRAL_COMPONENTS = 2
SPECTRAL_NEIGHBOURS = 30
HDBSCAN_MIN_SAMPLES = 2
HDBSCAN_EPSILON = 0.0001
#: HDBSCAN's noise points and rows without an embedding (files without a label) share the id
#: the cluster ids CSV keeps for "in no cluster".
NOISE = formats.NO_CLUSTER
NO_LABEL = formats.NO_CLUSTER
MIN_ROWS = 3


# ----------------------------------------------------------------------------------------------
# input checks


@dataclass(frozen=True)
class Embeddings:
    """An embeddings array and which of its rows can be clustered (every value finite)."""

    array: np.ndarray  # (n, d), every row, in file order
    usable: np.ndarray  # (n,) bool

    @property
    def rows(self) -> np.ndarray:
        """The usable rows, in order: what is fitted, scored and mapped (the array itself, not a
        copy, when every row is usable)."""
        return self.array if self.n_unusable == 0 else self.array[self.usable]

    @property
    def n_unusable(self) -> int:
        return int((~self.usable).sum())

    def expand(self, usable_ids: np.ndarray) -> np.ndarray:
        """Cluster ids of the usable rows -> ids of every row, :data:`NO_LABEL` for the others."""
        ids = np.full(len(self.usable), NO_LABEL, dtype=np.int64)
        ids[self.usable] = usable_ids
        return ids


def check_embeddings(array: np.ndarray, path: formats.PathLike) -> Embeddings:
    """Split ``array`` into usable rows and rows without an embedding (one warning counts them);
    stop with one line unless at least ``MIN_ROWS`` rows are usable."""
    if array.ndim != 2:
        raise UserError(f"{path}: expected a 2-D array (rows x features), got shape {array.shape}")
    if array.shape[1] == 0:
        raise UserError(f"{path}: the array has {array.shape[0]} rows but no feature columns")
    usable, largest = finite_rows(array)
    if largest > MAX_MAGNITUDE:
        raise UserError(f"{path}: holds values as large as {largest:.3g}; distances between such rows overflow, so "
                        f"no clustering of them means anything (embeddings stay far below {MAX_MAGNITUDE:.0e}: is this "
                        "file damaged, or not embeddings?)")
    embeddings = Embeddings(array, usable)
    n_usable = array.shape[0] - embeddings.n_unusable
    if n_usable < MIN_ROWS:
        held = f"only {n_usable} of its {array.shape[0]} rows hold" if embeddings.n_unusable else \
            f"only {array.shape[0]} rows hold"
        raise UserError(f"{path}: {held} a usable embedding (the others are NaN: files without a label); "
                        f"clustering needs at least {MIN_ROWS}")
    if embeddings.n_unusable:
        log.warning("%d of %d rows of %s hold NaN (files without a label, or unreadable audio): they are left "
                    "out of clustering, silhouettes and t-SNE and get cluster id %d",
                    embeddings.n_unusable, array.shape[0], path, NO_LABEL)
    return embeddings


#: the largest embedding value the clustering takes: squared distances of rows this large, summed
#: over thousands of dimensions, stay far inside float32's range (3.4e38)
MAX_MAGNITUDE = 1e15


def finite_rows(array: np.ndarray, block: int = 1 << 16) -> tuple[np.ndarray, float]:
    """(n,) True where every value of the row is finite, and the largest magnitude in those rows;
    checked a block of rows at a time (a whole n x d mask would be a quarter of the array again)."""
    usable = np.empty(array.shape[0], dtype=bool)
    largest = 0.0
    for start in range(0, array.shape[0], block):
        rows = array[start:start + block]
        usable[start:start + block] = ok = np.isfinite(rows).all(axis=1)
        if ok.any():
            largest = max(largest, float(np.abs(rows[ok]).max()))
    return usable, largest


def load_embeddings(path: formats.PathLike) -> Embeddings:
    return check_embeddings(formats.load_npy(path), path)


def check_n_clusters(n_clusters: int, embeddings: Embeddings, path: formats.PathLike) -> None:
    if n_clusters < 2:
        raise UserError(f"--n_clusters={n_clusters}: must be at least 2")
    n_rows = int(embeddings.usable.sum())
    if n_clusters > n_rows:
        rows = f"{n_rows} usable rows" if embeddings.n_unusable else f"{n_rows} rows"
        raise UserError(f"--n_clusters={n_clusters}: more clusters than the {rows} of {path}")


def check_min_cluster_size(min_cluster_size: int) -> None:
    if min_cluster_size < 2:
        raise UserError(f"--min_cluster_size={min_cluster_size}: must be at least 2")


# ----------------------------------------------------------------------------------------------
# algorithms


@dataclass(frozen=True)
class Clustering:
    ids: np.ndarray  # one cluster id per input row
    points: np.ndarray  # where the silhouette is measured (the input, or the spectral embedding)


def fit_ward(x: np.ndarray, n_clusters: int) -> Clustering:
    from sklearn.cluster import AgglomerativeClustering

    ids = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward", metric="euclidean").fit_predict(x)
    return Clustering(ids, x)


def _kmeans_ids(x: np.ndarray, n_clusters: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, init="k-means++", max_iter=KMEANS_MAX_ITER, random_state=SEED).fit_predict(x)


def fit_kmeans(x: np.ndarray, n_clusters: int) -> Clustering:
    return Clustering(_kmeans_ids(x, n_clusters), x)


def spectral_embedding(x: np.ndarray) -> np.ndarray:
    """2-D spectral embedding; fewer rows than neighbours would fail, so the count is clamped."""
    from sklearn.manifold import SpectralEmbedding

    neighbours = SPECTRAL_NEIGHBOURS
    if x.shape[0] < neighbours:
        log.warning("only %d rows: spectral embedding uses %d neighbours instead of %d",
                    x.shape[0], x.shape[0], neighbours)
        neighbours = x.shape[0]
    return SpectralEmbedding(
        n_components=SPECTRAL_COMPONENTS, affinity="nearest_neighbors", n_neighbors=neighbours, random_state=SEED
    ).fit_transform(x)


def fit_spectral(x: np.ndarray, n_clusters: int) -> Clustering:
    points = spectral_embedding(x)
    return Clustering(_kmeans_ids(points, n_clusters), points)


def fit_hdbscan(x: np.ndarray, min_cluster_size: int) -> Clustering:
    from sklearn.cluster import HDBSCAN

    ids = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=HDBSCAN_MIN_SAMPLES,
        cluster_selection_epsilon=HDBSCAN_EPSILON,
        copy=True,  # never modify the caller's array
    ).fit_predict(x)
    return Clustering(ids, x)


@dataclass(frozen=True)
class Algorithm:
    """A clustering algorithm, described once: its script (cluster_<key>.py), how it fits, and
    whether it takes the number of clusters (``--n_clusters``) or finds its own (``--min_cluster_size``).
    The recipe runs every entry of :data:`ALGORITHMS` (at each compared k where it takes one) and
    the report tabulates each by its title."""

    key: str  # the recipe's name for it; its outputs are compare/<key>_k<k>.csv or compare/<key>.csv
    title: str  # for printouts, plot titles and the report
    fit: Callable[[np.ndarray, int], Clustering]  # (rows, n_clusters) or (rows, min_cluster_size)
    takes_k: bool = True

    @property
    def script(self) -> str:
        return f"cluster_{self.key}"


WARD = Algorithm("ag", "Ward agglomerative", fit_ward)
KMEANS = Algorithm("kmeans", "k-means", fit_kmeans)
SPECTRAL = Algorithm("spectral", "spectral embedding + k-means", fit_spectral)
HDBSCAN = Algorithm("hdbscan", "HDBSCAN", fit_hdbscan, takes_k=False)
#: Every clustering algorithm, by the recipe's name.
ALGORITHMS = {algorithm.key: algorithm for algorithm in (WARD, KMEANS, SPECTRAL, HDBSCAN)}


# ----------------------------------------------------------------------------------------------
# silhouette


def silhouette(points: np.ndarray, ids: np.ndarray) -> float | None:
    """Mean silhouette (euclidean); ``None`` where it is undefined (fewer than 2 clusters, or
    every point its own cluster)."""
    from sklearn.metrics import silhouette_score

    n_clusters = np.unique(ids).size
    if not 2 <= n_clusters <= len(ids) - 1:
        return None
    return float(silhouette_score(points, ids))


@dataclass(frozen=True)
class Report:
    """What a cluster script prints - its result ``lines`` on stdout (the published ones), its
    ``notes`` on stderr - and the same figures for its run record."""

    lines: list[str]
    figures: dict
    notes: list[str] = field(default_factory=list)


def _silhouette_line(prefix: str, score: float | None, ids: np.ndarray) -> str:
    if score is None:
        n_found = np.unique(ids).size
        return f"{prefix} undefined: {counted(n_found, 'distinct group')} for {len(ids)} rows"
    return f"{prefix} {score}"


def k_report(clustering: Clustering) -> Report:
    """``Silhouette Score <s>`` as upstream prints it, or why there is none."""
    score = silhouette(clustering.points, clustering.ids)
    return Report([_silhouette_line("Silhouette Score", score, clustering.ids)], {"silhouette": score})


def hdbscan_report(clustering: Clustering) -> Report:
    """``Silhouette Score`` with the noise points as one more group (as published), the silhouette
    of the clustered points alone, and how many clusters and noise points HDBSCAN found."""
    clustered = clustering.ids != NOISE
    n_noise = int((~clustered).sum())
    n_found = int(np.unique(clustering.ids[clustered]).size)
    score = silhouette(clustering.points, clustering.ids)
    without_noise = silhouette(clustering.points[clustered], clustering.ids[clustered])
    return Report(
        [_silhouette_line("Silhouette Score", score, clustering.ids)],
        {"silhouette": score, "silhouette_without_noise": without_noise, "clusters_found": n_found,
         "noise_points": n_noise},
        [_silhouette_line("Silhouette Score without noise", without_noise, clustering.ids[clustered]),
         f"HDBSCAN found {counted(n_found, 'cluster')} and {counted(n_noise, 'noise point')} (id {NOISE})"],
    )


# ----------------------------------------------------------------------------------------------
# the run every cluster_* script shares


def write_outputs(embeddings: np.ndarray, ids: np.ndarray, label_csv: str, png_plot: str, title: str) -> None:
    """Cluster ids of every row first (so a failing plot loses nothing), then the t-SNE scatter
    (rows without an embedding are counted in its legend, not drawn)."""
    from .tsne import plot_tsne

    formats.write_cluster_ids(label_csv, ids)
    log.info("cluster ids written to %s", label_csv)
    plot_tsne(embeddings, ids, png_plot, title=title)
    log.info("t-SNE plot written to %s", png_plot)
