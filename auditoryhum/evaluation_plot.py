"""The evaluation's figure: S(k) and S_adj(k), the ground-truth figures against k, and the chosen k
of the bootstrap resamples - the adjusted silhouette's choice marked on each."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import formats
from .evaluation import METRIC_TITLES

DPI = 100
#: the figures drawn against k: V-measure equals NMI (arithmetic mean) and is named with it; its
#: parts homogeneity and completeness are in the CSV
CURVES = ("nmi", "ari", "purity")
COLOURS = {"nmi": "tab:green", "ari": "tab:purple", "purity": "tab:grey"}
TITLES = {**METRIC_TITLES, "nmi": "NMI (= V-measure)"}


def plot_evaluation(png_path: formats.PathLike, ks: Sequence[int], silhouette: Sequence[float],
                    adjusted: Sequence[float], chosen_k: int, metrics: dict[str, Sequence[float]] | None,
                    bootstrap_k: Sequence[int] | None, title: str) -> None:
    """One panel per part that is there: the silhouettes; the figures against ground truth
    (``metrics``: name -> one value per k), each one's best k as a dot; a histogram of the
    resamples' chosen k. The chosen k is a dashed line on each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ks = np.asarray(ks)
    panels = 1 + (metrics is not None) + (bootstrap_k is not None and len(bootstrap_k) > 0)
    fig = Figure(figsize=(10, 3.6 * panels), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    fig.suptitle(title)

    ax = axes[0]
    ax.plot(ks, silhouette, color="tab:blue", label="silhouette S(k)")
    ax.plot(ks, adjusted, color="tab:orange", label="adjusted S_adj(k)")
    ax.set_ylabel("silhouette")
    panel = 1
    if metrics is not None:
        ax = axes[panel]
        panel += 1
        for name in CURVES:
            values = np.asarray(metrics[name], dtype=np.float64)
            ax.plot(ks, values, color=COLOURS[name], label=TITLES[name])
            if not np.isnan(values).all():
                best = int(np.nanargmax(values))
                ax.plot([ks[best]], [values[best]], "o", color=COLOURS[name])
        ax.set_ylabel("against ground truth")
    for ax in axes[:panel]:
        ax.axvline(chosen_k, color="tab:red", linestyle="--", linewidth=1, label=f"chosen k = {chosen_k}")
        ax.set_xlabel("number of clusters k")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    if panel < panels:
        ax = axes[panel]
        values, counts = np.unique(np.asarray(bootstrap_k), return_counts=True)
        ax.bar(values, counts, color="tab:blue", width=0.8)
        ax.axvline(chosen_k, color="tab:red", linestyle="--", linewidth=1, label=f"full data: k = {chosen_k}")
        ax.set_xlabel("k chosen on a bootstrap resample")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("resamples")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="best", fontsize="small")
    with formats.atomic_open(png_path, "wb") as handle:
        fig.savefig(handle, format="png")
