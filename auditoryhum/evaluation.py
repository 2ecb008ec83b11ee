"""How good is a taxonomy: agreement with ground truth, stability under resampling, and its names
(docs/method.md §11, "Evaluating a taxonomy").

**Against ground truth.** A ground-truth CSV gives each file one class or several. A file with m
classes counts as m (file, class) pairs, each with the file's cluster, and every figure is the one
scikit-learn computes on those pairs (with one class per file: on the files); rows in no cluster,
rows without a label and files without ground truth are left out and counted by the caller:

* NMI - mutual information over the arithmetic mean of the two entropies
  (``normalized_mutual_info_score``);
* ARI - the Rand index adjusted for chance (``adjusted_rand_score``): 0 for a random partition;
* V-measure - the harmonic mean of homogeneity (each cluster holds one class) and completeness
  (each class sits in one cluster) (``homogeneity_completeness_v_measure``);
* purity - the share of pairs whose class is their cluster's most frequent class; it rises with k
  (k = n gives 1), so it is read beside completeness, never alone.

Every figure is a sum over the clusters (the columns of the class x cluster contingency table) of
a function of the cluster's column, plus the class totals. :class:`_Columns` keeps those sums, so
the figures of a partition cost one pass over its clusters, and the figures at *every* k of a Ward
sweep cost one column update per k: going from k to k+1 splits one cluster of the tree into its
two children (:func:`sweep_scores`), O(classes) work, where scoring each cut anew would cost
O(rows) per k.

**Stability** (:func:`bootstrap_stability`): the files are resampled with replacement (seeded),
the k sweep runs again on each resample with the same k range and penalty rule, and the resample's
chosen k and partition are compared with the full data's: the distribution of chosen k, and the
ARI between the resample's partition and the full partition on the same (resampled) rows - at the
resample's own chosen k, and at the full data's k (which separates "k moved" from "the clusters
moved").

**Names** (:func:`check_names`): whether any two clusters share a name, and name-to-cluster
retrieval - each name's sentence embedding is compared (cosine) with every cluster's label
centroid (the mean embedding of its files' labels, in the space the clustering used); a name is
retrieved when the nearest centroid is its own cluster's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from . import formats
from .sweep import Sweep, adjusted_silhouette, choose_k, default_penalty, group_identical_rows, silhouette_sweep

#: The figures against ground truth, in the order they are printed and written.
METRICS = ("nmi", "ari", "v_measure", "homogeneity", "completeness", "purity")
METRIC_TITLES = {"nmi": "NMI", "ari": "ARI", "v_measure": "V-measure", "homogeneity": "homogeneity",
                 "completeness": "completeness", "purity": "purity"}


# ----------------------------------------------------------------------------------------------
# ground truth as (row, class) pairs


@dataclass(frozen=True)
class GroundTruth:
    """The (row, class) pairs of the rows that have ground truth."""

    rows: np.ndarray  # (p,) row of each pair
    classes: np.ndarray  # (p,) class index of each pair
    class_names: tuple[str, ...]
    has_truth: np.ndarray  # (n,) bool: the row's file is in the ground truth

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def restricted(self, keep: np.ndarray) -> "GroundTruth":
        """The pairs of the rows where ``keep`` is true, the rows renumbered 0.. in order."""
        position = np.cumsum(keep) - 1
        mask = keep[self.rows]
        return GroundTruth(position[self.rows[mask]], self.classes[mask], self.class_names, self.has_truth[keep])


def ground_truth_pairs(filenames: Sequence[str], truth: dict[str, tuple[str, ...]]) -> GroundTruth:
    """Pairs for the rows of ``filenames`` (a file's classes in the ground truth's order; the
    classes numbered in sorted order)."""
    class_names = tuple(sorted({label for labels in truth.values() for label in labels}))
    index = {name: i for i, name in enumerate(class_names)}
    rows, classes = [], []
    for row, filename in enumerate(filenames):
        for label in truth.get(filename, ()):
            rows.append(row)
            classes.append(index[label])
    has_truth = np.array([filename in truth for filename in filenames], dtype=bool)
    return GroundTruth(np.array(rows, dtype=np.int64), np.array(classes, dtype=np.int64), class_names, has_truth)


# ----------------------------------------------------------------------------------------------
# the figures, from the contingency table's columns


@dataclass(frozen=True)
class PartitionScores:
    nmi: float
    ari: float
    v_measure: float
    homogeneity: float
    completeness: float
    purity: float
    pairs: int  # (row, class) pairs scored
    clusters: int  # clusters holding at least one of them

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in METRICS}


class _Columns:
    """Running sums over the clusters (columns) of a class x cluster contingency table, with fixed
    class totals; :meth:`scores` turns them into the figures exactly as scikit-learn defines them
    (its special cases included)."""

    def __init__(self, class_totals: np.ndarray):
        totals = np.asarray(class_totals, dtype=np.int64)
        self.n = int(totals.sum())
        present = totals > 0
        self.n_classes = int(present.sum())
        self.log_n = math.log(self.n) if self.n else 0.0
        self.log_totals = np.zeros(len(totals))
        self.log_totals[present] = np.log(totals[present])
        self.class_entropy = 0.0 if self.n_classes < 2 else \
            float(-np.sum(totals[present] / self.n * (self.log_totals[present] - self.log_n)))
        self.class_squares = sum(int(t) * int(t) for t in totals)
        self.mi = 0.0  # sum of N_ck/n * log(n N_ck / (a_c b_k)) over the columns added
        self.cluster_entropy = 0.0
        self.squares = 0  # sum of N_ck^2
        self.cluster_squares = 0  # sum of b_k^2
        self.majority = 0  # sum of max_c N_ck
        self.clusters = 0  # columns with b_k > 0

    def _terms(self, column: np.ndarray) -> tuple[float, float, int, int, int, int]:
        nonzero = np.flatnonzero(column)
        if not len(nonzero):
            return 0.0, 0.0, 0, 0, 0, 0
        counts = column[nonzero].astype(np.int64)
        size = int(counts.sum())
        share = counts / self.n
        log_size = math.log(size)
        # the same terms as sklearn's mutual_info_score, per non-zero cell
        mi = float(np.sum(share * (np.log(counts) - self.log_n)
                          + share * (-(self.log_totals[nonzero] + log_size) + 2 * self.log_n)))
        entropy = -(size / self.n) * (log_size - self.log_n)
        return mi, entropy, int(np.dot(counts, counts)), size * size, int(counts.max()), 1

    def add(self, column: np.ndarray, sign: int = 1) -> None:
        """Add (``sign`` = -1: remove) one cluster's column: its count of each class."""
        mi, entropy, squares, size_squared, majority, nonempty = self._terms(column)
        self.mi += sign * mi
        self.cluster_entropy += sign * entropy
        self.squares += sign * squares
        self.cluster_squares += sign * size_squared
        self.majority += sign * majority
        self.clusters += sign * nonempty

    def scores(self) -> PartitionScores:
        n = self.n
        if n == 0:
            nan = math.nan
            return PartitionScores(nan, nan, nan, nan, nan, nan, 0, 0)
        single = self.n_classes < 2 or self.clusters < 2
        mi = 0.0 if single else max(self.mi, 0.0)
        class_entropy = self.class_entropy
        cluster_entropy = 0.0 if self.clusters < 2 else self.cluster_entropy
        if self.n_classes == self.clusters == 1:
            nmi = 1.0
        elif mi == 0.0:
            nmi = 0.0
        else:
            nmi = mi / ((class_entropy + cluster_entropy) / 2)
        homogeneity = mi / class_entropy if class_entropy else 1.0
        completeness = mi / cluster_entropy if cluster_entropy else 1.0
        v_measure = 0.0 if homogeneity + completeness == 0 else \
            2 * homogeneity * completeness / (homogeneity + completeness)
        # the pair confusion matrix of sklearn's adjusted_rand_score, in Python integers
        tp = self.squares - n
        fp = self.cluster_squares - self.squares
        fn = self.class_squares - self.squares
        tn = n * n - fp - fn - self.squares
        ari = 1.0 if fn == 0 and fp == 0 else \
            2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
        return PartitionScores(float(nmi), float(ari), float(v_measure), float(homogeneity), float(completeness),
                               self.majority / n, n, self.clusters)


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), int(codes.max()) + 1 if len(codes) else 0


def compare_labels(truth: np.ndarray, predicted: np.ndarray) -> PartitionScores:
    """The figures of ``predicted`` against ``truth``: two labels per sample, any integers."""
    truth_codes, n_classes = _codes(np.asarray(truth))
    cluster_codes, n_clusters = _codes(np.asarray(predicted))
    columns = _Columns(np.bincount(truth_codes, minlength=n_classes))
    order = np.argsort(cluster_codes, kind="stable")
    bounds = np.searchsorted(cluster_codes[order], np.arange(n_clusters + 1))
    for cluster in range(n_clusters):
        members = truth_codes[order[bounds[cluster]:bounds[cluster + 1]]]
        columns.add(np.bincount(members, minlength=n_classes))
    return columns.scores()


def partition_scores(truth: GroundTruth, ids: np.ndarray) -> PartitionScores:
    """The figures of the partition ``ids`` (one per row; rows with :data:`formats.NO_CLUSTER` left
    out) against the ground truth's pairs."""
    in_cluster = ids[truth.rows] != formats.NO_CLUSTER
    return compare_labels(truth.classes[in_cluster], ids[truth.rows[in_cluster]])


def sweep_scores(sweep: Sweep, truth: GroundTruth, ks: Sequence[int]) -> list[PartitionScores]:
    """The figures of the sweep's Ward partition at every k of ``ks`` (ascending); ``truth``'s rows
    are the rows the sweep was run on. Cuts of the tree are walked split by split; a k above the
    tree's leaves (splits of identical rows) is scored from its partition."""
    tree, layout = sweep.tree, sweep.layout
    n_leaves = tree.n_leaves
    leaf_of_row = sweep.groups.inverse if sweep.leaf_of_distinct is None else \
        sweep.leaf_of_distinct[sweep.groups.inverse]
    per_leaf = np.zeros((n_leaves, truth.n_classes), dtype=np.int64)
    np.add.at(per_leaf, (leaf_of_row[truth.rows], truth.classes), 1)
    before = np.vstack([np.zeros((1, truth.n_classes), dtype=np.int64), np.cumsum(per_leaf[layout.order], axis=0)])

    def column(node: int) -> np.ndarray:  # a node's leaves are one contiguous range of the leaf order
        return before[layout.stop[node]] - before[layout.start[node]]

    columns = _Columns(before[-1])
    columns.add(column(2 * n_leaves - 2))  # k = 1: the root
    scores, k = [], 1
    for wanted in ks:
        if wanted > n_leaves:
            scores.append(partition_scores(truth, sweep.cluster_ids(wanted)))
            continue
        while k < wanted:
            k += 1
            merge = n_leaves - k  # the merge undone going from k - 1 to k clusters
            columns.add(column(n_leaves + merge), -1)
            for child in tree.children[merge]:
                columns.add(column(int(child)))
        scores.append(columns.scores())
    return scores


def best_k(ks: Sequence[int], values: Sequence[float]) -> tuple[int, float] | None:
    """The k with the highest value (the smallest such k on a tie), and the value; None when every
    value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).all():
        return None
    i = int(np.nanargmax(values))
    return int(ks[i]), float(values[i])


# ----------------------------------------------------------------------------------------------
# the adjusted silhouette's choice


def choice_margin(ks: np.ndarray, adjusted: np.ndarray, chosen_k: int) -> dict:
    """How clearly S_adj chose ``chosen_k``: its lead over each neighbour k - 1 and k + 1 (where in
    the sweep) and over the best other k anywhere (the runner-up)."""
    at = {int(k): float(a) for k, a in zip(ks, adjusted)}
    best = at[chosen_k]
    others = [(a, k) for k, a in at.items() if k != chosen_k]
    runner_up = max(others, key=lambda item: (item[0], -item[1])) if others else None
    return {
        "below": None if chosen_k - 1 not in at else best - at[chosen_k - 1],
        "above": None if chosen_k + 1 not in at else best - at[chosen_k + 1],
        "runner_up_k": None if runner_up is None else runner_up[1],
        "runner_up_gap": None if runner_up is None else best - runner_up[0],
    }


# ----------------------------------------------------------------------------------------------
# bootstrap stability


@dataclass(frozen=True)
class Stability:
    """The sweep re-run on resamples of the rows: per resample, its chosen k (0: it could not be
    swept - fewer distinct rows than the k range needs), the ARI of its partition against the full
    partition on its rows, and the same at the full data's chosen k (NaN where it has fewer leaves)."""

    seed: int
    chosen_k: np.ndarray
    ari: np.ndarray
    ari_at_full_k: np.ndarray

    @property
    def swept(self) -> np.ndarray:
        return self.chosen_k > 0

    def k_counts(self) -> dict[int, int]:
        ks, counts = np.unique(self.chosen_k[self.swept], return_counts=True)
        return {int(k): int(c) for k, c in zip(ks, counts)}

    def as_dict(self, full_k: int) -> dict:
        swept = self.swept
        return {
            "resamples": int(len(self.chosen_k)),
            "seed": self.seed,
            "swept": int(swept.sum()),
            "chosen_k": self.chosen_k.tolist(),
            "chosen_k_counts": {str(k): c for k, c in self.k_counts().items()},
            "share_at_chosen_k": float(np.mean(self.chosen_k[swept] == full_k)) if swept.any() else None,
            "ari": [None if math.isnan(a) else a for a in self.ari.tolist()],
            "mean_ari": _nanmean(self.ari),
            "ari_at_chosen_k": [None if math.isnan(a) else a for a in self.ari_at_full_k.tolist()],
            "mean_ari_at_chosen_k": _nanmean(self.ari_at_full_k),
        }


def _nanmean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


def bootstrap_stability(rows: np.ndarray, full_ids: np.ndarray, k_min: int, k_max: int, penalty: float | None,
                        full_k: int, resamples: int, seed: int,
                        progress: Callable[[Iterable[int]], Iterable[int]] = iter) -> Stability:
    """Resample the ``rows`` (the embeddings that were swept) ``resamples`` times with replacement
    (numpy's generator seeded with ``seed``), sweep each resample over k_min..min(k_max, its distinct
    rows) with ``penalty`` (None: 1/U of the resample, the default rule), and compare. ``full_ids``:
    the full partition of ``rows`` (rows with :data:`formats.NO_CLUSTER` are left out of the ARI)."""
    rng = np.random.default_rng(seed)
    n = len(rows)
    chosen = np.zeros(resamples, dtype=np.int64)
    ari = np.full(resamples, np.nan)
    ari_at_full_k = np.full(resamples, np.nan)
    for b in progress(range(resamples)):
        picked = rng.integers(0, n, size=n)
        resample = rows[picked]
        groups = group_identical_rows(resample)
        n_distinct = len(groups.counts)
        top = min(k_max, n_distinct, n - 1)
        if n_distinct < 2 or top < k_min:
            continue
        sweep = silhouette_sweep(resample, top, groups=groups)
        in_range = sweep.ks >= k_min
        ks = sweep.ks[in_range]
        lam = default_penalty(n_distinct) if penalty is None else penalty
        chosen[b] = choose_k(ks, adjusted_silhouette(ks, sweep.silhouette[in_range], lam))
        truth = full_ids[picked]
        clustered = truth != formats.NO_CLUSTER
        ari[b] = compare_labels(truth[clustered], sweep.cluster_ids(int(chosen[b]))[clustered]).ari
        if full_k <= n_distinct:
            ari_at_full_k[b] = compare_labels(truth[clustered], sweep.cluster_ids(full_k)[clustered]).ari
    return Stability(seed, chosen, ari, ari_at_full_k)


# ----------------------------------------------------------------------------------------------
# names


def name_key(name: str) -> str:
    """Two names are the same name when they differ only in case, spacing or end punctuation."""
    return " ".join(name.casefold().split()).strip(" .!?,;:\"'")


def duplicate_names(names: Iterable[str]) -> list[str]:
    """The names held by more than one cluster (as first written), in order of first appearance;
    empty names count as the same name."""
    seen: dict[str, str] = {}
    duplicates: dict[str, None] = {}
    for name in names:
        key = name_key(name)
        if key in seen:
            duplicates[seen[key]] = None
        else:
            seen[key] = name
    return list(duplicates)


def label_centroids(embeddings: np.ndarray, ids: np.ndarray, clusters: Sequence[int]) -> np.ndarray:
    """(len(clusters), d): the mean label embedding of each cluster's rows."""
    return np.stack([embeddings[ids == cluster].astype(np.float64).mean(axis=0) for cluster in clusters])


def nearest_centroids(name_vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """For each name vector, the index of the centroid with the highest cosine similarity."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return np.argmax(unit(name_vectors) @ unit(centroids).T, axis=1)


@dataclass(frozen=True)
class NameCheck:
    clusters: tuple[int, ...]
    names: tuple[str, ...]
    duplicates: tuple[str, ...]
    nearest: tuple[int, ...] | None  # the cluster whose centroid is nearest each name; None: not measured

    @property
    def unique(self) -> bool:
        return not self.duplicates

    @property
    def retrieved(self) -> int | None:
        return None if self.nearest is None else sum(a == b for a, b in zip(self.clusters, self.nearest))

    @property
    def retrieval(self) -> float | None:
        return None if self.nearest is None else self.retrieved / len(self.clusters)

    def as_dict(self) -> dict:
        return {"clusters": len(self.clusters), "unique": self.unique, "duplicates": list(self.duplicates),
                "retrieved": self.retrieved, "retrieval": self.retrieval,
                "names": [{"cluster": c, "name": name, "nearest_cluster": None if self.nearest is None else near}
                          for c, name, near in zip(self.clusters, self.names,
                                                   self.nearest or [None] * len(self.clusters))]}


def check_names(names: dict[int, str], embeddings: np.ndarray | None, ids: np.ndarray | None,
                embed: Callable[[list[str]], np.ndarray] | None) -> NameCheck:
    """Uniqueness of ``names`` (cluster -> name), and - given the label ``embeddings`` the clusters
    ``ids`` were made from and ``embed`` (the same sentence model) - name-to-cluster retrieval."""
    clusters = tuple(sorted(names))
    texts = tuple(names[c] for c in clusters)
    nearest = None
    if embed is not None and embeddings is not None and ids is not None and clusters:
        centroids = label_centroids(embeddings, ids, clusters)
        vectors = np.asarray(embed([text or " " for text in texts]))
        nearest = tuple(int(clusters[i]) for i in nearest_centroids(vectors, centroids))
    return NameCheck(clusters, texts, tuple(duplicate_names(texts)), nearest)


# ----------------------------------------------------------------------------------------------
# a summary of evaluate_taxonomy.py's JSON


def summary_lines(report: dict) -> list[str]:
    """The evaluation's main figures in a few lines (what the example prints at its end)."""
    lines = []
    if report.get("nmi") is not None:
        lines.append(f"Against ground truth ({report['rows_evaluated']} files): NMI {report['nmi']:.3f}, "
                     f"ARI {report['ari']:.3f}, V-measure {report['v_measure']:.3f}, purity {report['purity']:.3f}")
    sweep = report.get("sweep") or {}
    best = sweep.get("best_k") or {}
    if best:
        lines.append(f"  the k that maximises NMI: {best['nmi']['k']}, ARI: {best['ari']['k']}; "
                     f"the adjusted silhouette chose k = {sweep['chosen_k']}")
    stability = report.get("stability")
    if stability and stability.get("swept"):
        again = round(stability["share_at_chosen_k"] * stability["swept"])
        lines.append(f"Stability over {stability['resamples']} bootstrap resamples: k = {sweep.get('chosen_k')} chosen "
                     f"again in {again} of {stability['swept']}; mean ARI to the full partition "
                     f"{stability['mean_ari']:.3f}")
    for entry in report.get("names", []) + report.get("levels", []):
        what = f"level {entry['level']}" if "level" in entry else "composite labels"
        retrieval = "" if entry.get("retrieval") is None else \
            f"; retrieval {entry['retrieved']} of {entry['clusters']}"
        lines.append(f"Names ({what}, {entry['clusters']} clusters): {'unique' if entry['unique'] else 'NOT unique'}"
                     f"{retrieval}")
    return lines
