"""cluster_sweep.py - choose the number of clusters k with an adjusted silhouette (the paper's k sweep).

Ward clustering (euclidean) of the embeddings is scored with the silhouette S(k) for every k from
--k_min to --k_max, and k is chosen by the adjusted score

    S_adj(k) = S(k) - lambda * k        (default lambda = 1/U, U = number of distinct rows)

Why a penalty: the rows are embeddings of each file's best label, so files with the same label are
identical points, and the plain silhouette keeps rising until every distinct label is its own
cluster (k = U). The paper subtracts a penalty whose parameter is "derived from AIC" but does not
give the formula (docs/method.md §6). A penalty linear in k with lambda = 1/U puts the optimum at 15-20 % of
U on a realistic Zipf-distributed label set, where the paper reports 15-23 % (k = 152 of 668,
67 of 435, 116 of 639); lambda = 2/n, AIC's per-sample cost, puts it near 80 %. Set --penalty to
use another lambda (0 = plain silhouette).

The whole curve takes seconds, not hours: the Ward tree is built once on the distinct rows weighted
by their multiplicities and cut at every k, and silhouettes come from per-cluster distance sums
(auditoryhum.sweep). For every k <= U the partition is exactly scikit-learn's
AgglomerativeClustering(n_clusters=k, linkage="ward") on all rows (up to renumbering) and S(k) is
silhouette_score to within float rounding. --k_max defaults to U; above U a cluster can only split
identical rows, as scikit-learn's Ward breaks their ties, so those k (the published runs swept to
840, past U) are computed by scikit-learn itself on every row - the published per-k values, on a
slower path with its own progress bar.

Memory is checked before any work: the exact sweep needs about 4 U^2 bytes (U = 20,000: 1.6 GB;
50,000: 10 GB), estimated from the rows, U, the dimension and --k_max; when that is more than
--max_memory_gb (default: the memory free now) it stops with one line instead of failing later.
--approximate then reduces the distinct rows to at most --max_groups weighted k-means groups
(seed 100) and sweeps Ward on those; the partitions (and so the curve) are approximate, the
silhouettes are still measured on every distinct row, and the output says so.

Rows holding NaN (files without a label, or unreadable audio) are left out of the sweep and get
cluster id -1; U and n count the usable rows only.

Outputs: --sweep_csv (header k,silhouette,adjusted_silhouette, one row per k), --label_csv (the
cluster ids of the chosen k, one integer per line, numbered in order of first row), --png_plot
(both curves, chosen k marked) and, with --tsne_png, the t-SNE scatter of the chosen partition.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .. import cli, formats
from ..errors import UserError
from ..sweep import (
    adjusted_silhouette,
    available_memory_bytes,
    choose_k,
    default_penalty,
    group_identical_rows,
    largest_fitting_groups,
    silhouette_sweep,
    sweep_memory_bytes,
)
from ..sweep_plot import plot_sweep
from .clustering_cli import load_clustering_input

PROG = "cluster_sweep.py"
DEFAULT_MAX_GROUPS = 20_000

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        __doc__.split("\n", 1)[1].strip(),
        f"python3 {PROG} --cluster_npy=st.npy --sweep_csv=sweep.csv --label_csv=cluster_ids.csv "
        "--png_plot=sweep.png --tsne_png=tsne.png",
    )
    cli.add_input(parser, "--cluster_npy", required=True,
                  help=".npy of embeddings to cluster, one row per file (e.g. st.npy from features_st.py)")
    parser.add_argument("--k_min", type=int, default=2, help="smallest k of the sweep (at least 2)")
    parser.add_argument("--k_max", type=int, default=None,
                        help="largest k of the sweep; default: U, the number of distinct rows (at most rows - 1); "
                        "840 reproduces the published sweep range")
    parser.add_argument("--penalty", type=float, default=None,
                        help="lambda in S_adj(k) = S(k) - lambda*k; default: 1/U (see above); 0 = plain silhouette")
    cli.add_output(parser, "--sweep_csv", required=True,
                   help="output: k,silhouette,adjusted_silhouette - one row per k of the sweep")
    cli.add_output(parser, "--label_csv", required=True,
                   help="output: cluster ids of the chosen k, one integer per line, row i = row i of --cluster_npy; "
                   "rows holding NaN (files without a label) get -1")
    cli.add_output(parser, "--png_plot", required=True, extra=True,
                   help="output: plot of S(k) and S_adj(k) with the chosen k marked")
    parser.add_argument("--approximate", action="store_true",
                        help="when U is above --max_groups, sweep Ward on at most --max_groups k-means groups of the "
                        "distinct rows (weighted by their counts): for U beyond what fits in memory")
    parser.add_argument("--max_groups", type=int, default=DEFAULT_MAX_GROUPS,
                        help=f"groups of the approximate sweep (default {DEFAULT_MAX_GROUPS:,}: its tree needs "
                        f"~{4 * DEFAULT_MAX_GROUPS**2 / 1e9:.1f} GB); k is at most this")
    parser.add_argument("--max_memory_gb", type=float, default=None,
                        help="memory the sweep may use, in GB; default: the memory free when it starts")
    cli.add_output(parser, "--tsne_png", default=None, extra=True,
                   help="output (optional): 12x12 in t-SNE scatter of the chosen partition "
                   "(t-SNE coordinates are cached, see auditoryhum.tsne)")
    return parser


def _n_leaves(args, n_distinct: int) -> int:
    """Leaves of the Ward tree: the distinct rows, or the approximate sweep's groups."""
    if args.approximate and args.max_groups < 2:
        raise UserError(f"--max_groups={args.max_groups}: must be at least 2")
    return min(n_distinct, args.max_groups) if args.approximate else n_distinct


def _k_range(args, n_rows: int, n_distinct: int, n_leaves: int) -> tuple[int, int]:
    k_max = min(n_leaves, n_rows - 1) if args.k_max is None else args.k_max
    if n_leaves < n_distinct and k_max > n_leaves:
        raise UserError(f"--k_max={k_max} is above --max_groups={n_leaves}: the approximate sweep has at most "
                        f"{n_leaves} clusters")
    if args.k_min < 2:
        raise UserError(f"--k_min={args.k_min}: must be at least 2 (a silhouette needs 2 clusters)")
    if k_max > n_rows - 1:
        raise UserError(f"--k_max={k_max}: must be at most {n_rows - 1} (rows of {args.cluster_npy} minus 1)")
    if args.k_min > k_max:
        where = "" if args.k_max is not None else f" (default: the {n_distinct} distinct rows of {args.cluster_npy})"
        raise UserError(f"--k_min={args.k_min} is above --k_max={k_max}{where}")
    if k_max > n_distinct:
        log.info("--k_max=%d is above the %d distinct rows of %s: k > %d only split identical rows, as "
                 "scikit-learn's Ward breaks their ties; those k are computed its way, on every row (slower)",
                 k_max, n_distinct, args.cluster_npy, n_distinct)
    return args.k_min, k_max


def _check_memory(args, n_rows: int, n_distinct: int, dim: int, k_max: int, n_leaves: int) -> int:
    """The memory budget in bytes; one line, before any work, when the sweep needs more."""
    if args.max_memory_gb is not None and not args.max_memory_gb > 0:
        raise UserError(f"--max_memory_gb={args.max_memory_gb}: must be a number of GB above 0")
    budget = available_memory_bytes() if args.max_memory_gb is None else int(args.max_memory_gb * 1e9)
    max_groups = n_leaves if n_leaves < n_distinct else None
    needed = sweep_memory_bytes(n_rows, n_distinct, dim, k_max, max_groups)
    if needed <= budget:
        return budget
    fitting = largest_fitting_groups(n_rows, n_distinct, dim, k_max, budget)
    sweep = f"the approximate sweep on {n_leaves} groups" if max_groups else f"the exact sweep of {n_distinct} distinct rows"
    advice = ("nothing fits: free memory or use a machine with more" if fitting is None else
              f"use --approximate --max_groups {fitting}" if max_groups is None else f"use --max_groups {fitting}")
    has = f"this machine has {_size(budget)} free" if args.max_memory_gb is None else \
        f"--max_memory_gb allows {_size(budget)}"
    raise UserError(f"{args.cluster_npy}: {sweep} needs ~{_size(needed)}, {has}; {advice}")


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


def _penalty(args, n_distinct: int) -> float:
    if args.penalty is None:
        return default_penalty(n_distinct)
    if not math.isfinite(args.penalty) or args.penalty < 0:
        raise UserError(f"--penalty={args.penalty}: must be a finite number >= 0")
    return args.penalty


def _check_penalty_scale(penalty: float, ks: np.ndarray) -> None:
    """A silhouette lies in [-1, 1]: a penalty that overflows, or that differs by more than 2 over
    the range, makes the smallest k win whatever the data say."""
    spread = penalty * float(ks[-1] - ks[0])
    if not math.isfinite(penalty * float(ks[-1])):
        raise UserError(f"--penalty={penalty}: lambda * k overflows; a useful lambda is of the order of 1/U, "
                        "the default")
    if spread > 2:
        log.warning("--penalty=%g: lambda * (k_max - k_min) = %.3g is more than any difference of silhouettes (at "
                    "most 2), so k = %d is chosen whatever the data say", penalty, spread, ks[0])


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    all_rows = load_clustering_input(args, run)
    embeddings = all_rows.rows
    n_rows = embeddings.shape[0]
    groups = group_identical_rows(embeddings)
    n_distinct = len(groups.counts)
    if n_distinct < 2:
        raise UserError(f"{args.cluster_npy}: all {n_rows} rows are identical; there is nothing to cluster")
    n_leaves = _n_leaves(args, n_distinct)
    k_min, k_max = _k_range(args, n_rows, n_distinct, n_leaves)
    penalty = _penalty(args, n_distinct)
    budget = _check_memory(args, n_rows, n_distinct, embeddings.shape[1], k_max, n_leaves)
    log.info("Distinct rows: %d of %d%s", n_distinct, n_rows,
             f" ({all_rows.n_unusable} rows without a label left out, id -1)" if all_rows.n_unusable else "")

    log.info("Ward tree of the %d %s and silhouettes for k = 2..%d", n_leaves,
             "distinct rows" if n_leaves == n_distinct else "k-means groups of the distinct rows", k_max)
    sweep = silhouette_sweep(embeddings, k_max, groups=groups, max_groups=n_leaves if args.approximate else None,
                             memory_budget=budget)
    if sweep.approximate:
        log.warning("Approximate sweep: the %d distinct rows were reduced to %d k-means groups; the curve and the "
                    "partitions are approximate (silhouettes measured on every distinct row)", n_distinct, sweep.n_groups)
    in_range = sweep.ks >= k_min
    ks, silhouette = sweep.ks[in_range], sweep.silhouette[in_range]
    _check_penalty_scale(penalty, ks)
    adjusted = adjusted_silhouette(ks, silhouette, penalty)
    chosen_k = choose_k(ks, adjusted)
    chosen = int(np.flatnonzero(ks == chosen_k)[0])
    print(f"Chosen k: {chosen_k}")
    print(f"Silhouette Score {silhouette[chosen]}")
    print(f"Adjusted silhouette {adjusted[chosen]} (penalty {penalty:.6g} per cluster)")
    run.parameters.update(k_min=k_min, k_max=k_max, penalty=penalty)
    run.results.update(chosen_k=chosen_k, silhouette_at_chosen_k=silhouette[chosen],
                       adjusted_silhouette_at_chosen_k=adjusted[chosen], penalty=penalty,
                       distinct_rows=n_distinct, usable_rows=n_rows, approximate=sweep.approximate,
                       tree_leaves=sweep.n_groups)

    # Cheapest and most valuable first, so a failing plot loses nothing.
    formats.write_sweep_csv(args.sweep_csv, ks, silhouette, adjusted)
    log.info("sweep written to %s", args.sweep_csv)
    ids = all_rows.expand(sweep.cluster_ids(chosen_k))
    formats.write_cluster_ids(args.label_csv, ids)
    log.info("cluster ids written to %s", args.label_csv)
    name = Path(args.cluster_npy).name
    plot_sweep(ks, silhouette, adjusted, chosen_k, penalty, args.png_plot, n_distinct=n_distinct,
               title=f"Ward k sweep of {name} ({n_rows} rows, {n_distinct} distinct)")
    log.info("sweep plot written to %s", args.png_plot)
    if args.tsne_png:
        from auditoryhum.tsne import plot_tsne

        plot_tsne(all_rows.array, ids, args.tsne_png,
                  title=f"Ward agglomerative, chosen k = {chosen_k} (t-SNE of {name})")
        log.info("t-SNE plot written to %s", args.tsne_png)
    return 0
