"""t-SNE scatter plots of clustered embeddings, with the 2-D coordinates cached on disk.

t-SNE parameters (docs/method.md §5): 2 components, perplexity 35, early exaggeration 12, learning rate
"auto", max_iter 500, n_iter_without_progress 100, euclidean, random init, seed 100. Perplexity
must stay below the number of rows, so tiny inputs use n - 1 (with a warning).

The coordinates depend only on the embeddings and these parameters, not on the clustering, so
they are computed once and kept in a cache folder - ``$AUDITORYHUM_CACHE`` if set, else
``~/.cache/auditoryhum/tsne`` - under a key made of the array's sha256 (bytes, shape, dtype), the
parameters and the scikit-learn version. Re-running any cluster script or the k-sweep on the same
embeddings reuses them. Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from . import formats
from .runtime import SEED

log = logging.getLogger(__name__)

TSNE_PARAMS = {
    "n_components": 2,
    "perplexity": 35.0,
    "early_exaggeration": 12.0,
    "learning_rate": "auto",
    "max_iter": 500,
    "n_iter_without_progress": 100,
    "metric": "euclidean",
    "init": "random",
    "random_state": SEED,
}

FIGSIZE_INCHES = (12, 12)
DPI = 100
NOISE = -1
NOISE_COLOUR = "#b0b0b0"
#: With more clusters than this a legend is unreadable; cluster ids are written on the plot instead.
MAX_LEGEND_CLUSTERS = 20


# ----------------------------------------------------------------------------------------------
# coordinates, cached


def cache_folder() -> Path:
    return Path(os.environ.get("AUDITORYHUM_CACHE") or Path.home() / ".cache" / "auditoryhum" / "tsne")


def tsne_params(n_rows: int) -> dict:
    """The published parameters, perplexity clamped below the number of rows."""
    params = dict(TSNE_PARAMS)
    if params["perplexity"] >= n_rows:
        log.warning("only %d rows: t-SNE perplexity %d instead of %g (it must be below the row count)",
                    n_rows, n_rows - 1, params["perplexity"])
        params["perplexity"] = float(n_rows - 1)
    return params


def cache_key(embeddings: np.ndarray, params: dict) -> str:
    import sklearn

    array = np.ascontiguousarray(embeddings)
    digest = hashlib.sha256()
    header = {"shape": array.shape, "dtype": array.dtype.str, "params": params, "sklearn": sklearn.__version__}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _read_cached(path: Path, n_rows: int) -> np.ndarray | None:
    try:
        coords = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as err:
        log.warning("ignoring unreadable t-SNE cache file %s (%s)", path, err)
        return None
    if coords.shape != (n_rows, 2):
        log.warning("ignoring t-SNE cache file %s of shape %s", path, coords.shape)
        return None
    return coords


def _write_cached(path: Path, coords: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        formats.save_npy(path, coords)
    except OSError as err:
        # A read-only home must not stop the plot: the cache only saves time.
        log.warning("could not cache t-SNE coordinates in %s (%s)", path.parent, err)


def tsne_coordinates(embeddings: np.ndarray) -> np.ndarray:
    """``(n, 2)`` t-SNE coordinates of ``embeddings`` (finite, at least 2 rows), from the cache if there."""
    from sklearn.manifold import TSNE

    n_rows = embeddings.shape[0]
    if n_rows < 2:
        raise ValueError(f"t-SNE needs at least 2 rows, got {n_rows}")
    params = tsne_params(n_rows)
    path = cache_folder() / f"{cache_key(embeddings, params)}.npy"
    coords = _read_cached(path, n_rows)
    if coords is not None:
        log.info("t-SNE coordinates taken from the cache: %s", path)
        return coords
    log.info("computing t-SNE of %d rows (cached afterwards in %s)", n_rows, path.parent)
    coords = TSNE(**params).fit_transform(embeddings).astype(np.float32)
    _write_cached(path, coords)
    return coords


# ----------------------------------------------------------------------------------------------
# scatter plot


def cluster_colours(n_clusters: int) -> list:
    """One RGBA colour per cluster: the qualitative maps while they last, then evenly spaced hues
    of a continuous map, shuffled so clusters with neighbouring ids do not look alike."""
    from matplotlib import colormaps

    if n_clusters <= 10:
        return [colormaps["tab10"](i) for i in range(n_clusters)]
    if n_clusters <= 20:
        return [colormaps["tab20"](i) for i in range(n_clusters)]
    hues = np.linspace(0.0, 1.0, n_clusters, endpoint=False)
    np.random.default_rng(SEED).shuffle(hues)
    return [colormaps["turbo"](0.05 + 0.9 * h) for h in hues]


def draw_scatter(coords: np.ndarray, cluster_ids: np.ndarray, png_path: formats.PathLike, title: str,
                 n_not_shown: int = 0) -> None:
    """``coords`` and ``cluster_ids`` of the rows on the map; ``n_not_shown`` rows without an
    embedding (files without a label) are counted in the legend."""
    # The Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    marker_size = float(np.clip(6000 / len(coords), 4, 40))

    noise = cluster_ids == NOISE
    if noise.any():  # underneath, in grey
        ax.scatter(*coords[noise].T, s=marker_size, c=NOISE_COLOUR, alpha=0.6, linewidths=0,
                   label=f"noise ({NOISE})")
    clusters = np.unique(cluster_ids[~noise])
    for cluster, colour in zip(clusters, cluster_colours(len(clusters))):
        members = coords[cluster_ids == cluster]
        ax.scatter(*members.T, s=marker_size, color=colour, alpha=0.85, linewidths=0, label=str(cluster))
        if len(clusters) > MAX_LEGEND_CLUSTERS:
            ax.annotate(str(cluster), np.median(members, axis=0), fontsize=7, ha="center", va="center",
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
    if n_not_shown:
        # An empty handle: the count belongs in the legend, the rows have no place on the map.
        ax.scatter([], [], s=0, label=f"no label: {n_not_shown} row{'' if n_not_shown == 1 else 's'} (not shown)")
    if len(clusters) <= MAX_LEGEND_CLUSTERS or n_not_shown:
        ax.legend(title="cluster", markerscale=max(1.0, 40 / marker_size) ** 0.5, loc="best")

    ax.set_title(title)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    with formats.atomic_open(png_path, "wb") as handle:
        fig.savefig(handle, format="png")


def plot_tsne(embeddings: np.ndarray, cluster_ids, png_path: formats.PathLike, title: str = "t-SNE") -> None:
    """12x12 in t-SNE scatter of ``embeddings`` coloured by ``cluster_ids`` (-1 = noise, grey),
    written atomically to ``png_path``; the t-SNE coordinates come from the cache when they can.

    Rows holding NaN (files without a label) have no place on the map: t-SNE runs on the other
    rows only, and the legend counts them as "no label"."""
    cluster_ids = np.asarray(cluster_ids)
    if len(cluster_ids) != embeddings.shape[0]:
        raise ValueError(f"{len(cluster_ids)} cluster ids for {embeddings.shape[0]} embedding rows")
    on_map = np.isfinite(embeddings).all(axis=1)
    draw_scatter(tsne_coordinates(embeddings[on_map]), cluster_ids[on_map], png_path, title,
                 n_not_shown=int((~on_map).sum()))
