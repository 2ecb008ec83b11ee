"""The k-sweep curve: S(k) and S_adj(k) = S(k) - lambda*k against k, the chosen k marked."""

from __future__ import annotations

import numpy as np

from . import formats

FIGSIZE_INCHES = (10, 6)
DPI = 100


def plot_sweep(ks: np.ndarray, silhouette: np.ndarray, adjusted: np.ndarray, chosen_k: int, penalty: float,
               png_path: formats.PathLike, n_distinct: int | None = None, title: str = "Ward k sweep") -> None:
    """Both curves on one axis, a dashed line at the chosen k (and a dotted one at the number of
    distinct rows when it lies inside the sweep); written atomically to ``png_path``."""
    # The Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(ks, silhouette, color="tab:blue", label="silhouette S(k)")
    ax.plot(ks, adjusted, color="tab:orange", label=f"adjusted S(k) - {penalty:.3g} k")
    chosen = int(np.flatnonzero(ks == chosen_k)[0])
    ax.axvline(chosen_k, color="tab:red", linestyle="--", linewidth=1,
               label=f"chosen k = {chosen_k} (S = {silhouette[chosen]:.3f})")
    ax.plot([chosen_k], [adjusted[chosen]], "o", color="tab:red")
    if n_distinct is not None and ks[0] <= n_distinct < ks[-1]:
        ax.axvline(n_distinct, color="grey", linestyle=":", linewidth=1,
                   label=f"{n_distinct} distinct rows (above: ties among identical rows)")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    with formats.atomic_open(png_path, "wb") as handle:
        fig.savefig(handle, format="png")
