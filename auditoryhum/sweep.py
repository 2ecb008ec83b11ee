"""Choosing k: the silhouette of Ward clustering for every k at once (the paper's k sweep).

The published workflow ran one process per k (k = 2..840): Ward clustering of all n rows, then
``sklearn.metrics.silhouette_score``, about 14 s per k. This module gives the same numbers for the
whole curve, without ever building an n x n matrix:

* **Identical rows are grouped first.** The rows are sentence embeddings of each file's best
  label, so rows repeat: n files, only U distinct labels. Ward merges identical rows at distance 0
  before anything else, and a group of m identical rows then behaves exactly like one point of
  weight m. So the Ward tree is built once, on the U distinct rows weighted by their
  multiplicities, and cut at every k.
* **The tree is scikit-learn's tree.** ``AgglomerativeClustering(linkage="ward")`` calls
  ``scipy.cluster.hierarchy.ward`` on all n rows: the nearest-neighbour-chain algorithm with the
  Lance-Williams update, merges sorted by distance (stable), then relabelled with a union-find;
  cutting at k undoes the last k-1 merges. :func:`ward_tree` repeats those steps operation for
  operation (compiled with numba) on the weighted distinct rows, including how ties are broken: a
  lower slot wins, and a group of identical rows sits in the slot of its *last* row, as it does in
  scipy after its zero-distance merges. Its one U x U structure is the condensed matrix of Ward
  distances, 4 U^2 bytes in float64 (U = 20,000: 1.6 GB; 50,000: 10 GB), freed before the
  silhouettes.
* **Distances in blocks.** Euclidean distances come from the Gram matrix of a block of rows
  (BLAS), sqrt(|u|^2 + |v|^2 - 2 u.v), in float64. That form loses relative precision when two
  rows are close, so a pair closer than a tenth of their norms is summed directly from the
  coordinates instead. The values can differ from scipy's ``pdist`` in the last bits (not for
  integer-valued rows, where both are exact); computing them in float32 would cost up to 1e-3 on
  close pairs, enough to move S(k) beyond 1e-6. Storing them in float32 costs < 1e-7 (scikit-learn
  itself rounds its distances to float32 for float32 input): when memory allows (the sweep with
  it needs at most half the budget), the tree keeps such a copy, 2 U^2 bytes, and the silhouettes
  read it instead of computing every distance again.
* **Silhouettes row by row, incrementally in k.** For a distinct row u and a cluster C,
  ``sum_C(u) = sum over distinct rows v in C of m_v * |u - v|`` (copies of u add 0). In the tree's
  leaf order every cluster of every cut is a contiguous range, so one prefix sum of u's weighted
  distances gives sum_C(u) for any C in O(1). Going from k to k+1 splits one cluster in two: for
  u inside it, a(u) = sum_own(u) / (N_own - 1) is renewed and the sibling becomes a candidate for
  b(u); for u outside, b(u) = min(b(u), both children's means) - a parent's mean is a weighted
  average of its children's, so the minimum over the current clusters stays exact. s(u) =
  (b - a) / max(a, b), 0 in a cluster of one row (scikit-learn's convention), and S(k) =
  sum_u m_u s(u) / n. Rows are processed in blocks (compiled, in parallel): U^2 distances once,
  O(U k_max) updates, memory O(U) per row in flight - the silhouettes never hold a U x U array.

Exactness: for every k <= U the partition equals scikit-learn's (up to relabelling) and S(k) agrees
with ``silhouette_score`` well within 1e-6 (scikit-learn measures float32 distances for float32
input, and its distances between identical rows are ~1e-8, not 0). What can differ is the choice
between merges whose Ward distances tie *exactly*, or within the last bits: when a repeated row
(multiplicity > 1) is part of the tie, scipy reaches the distance of a group of m copies through
m-1 Lance-Williams updates in an order set by the rows' positions while we compute it in one step
(e.g. an integer grid with every point repeated 3 times in shuffled order); and on non-integer
rows our distances may differ from ``pdist``'s in the last bit. Ties among rows that occur once on
integer-valued rows go as in scipy (tested). Real embeddings practically never tie that closely.

Memory before work: :func:`sweep_memory_bytes` estimates the peak from n, U, d and k_max, so a
caller can refuse a sweep that does not fit instead of failing minutes later.

**Approximate sweep** (``max_groups``): when U is beyond what fits, the distinct rows are first
reduced to at most ``max_groups`` groups by k-means (rows weighted by their counts, seed 100), the
Ward tree is built on the groups' weighted centroids (Ward's merge cost depends only on centroids
and sizes, so this is Ward's tree constrained to keep each group whole), and the partitions of
that tree are scored exactly on the U distinct rows (the silhouette needs no U x U memory). The
partitions, and so the curve, are approximate; :attr:`Sweep.approximate` says so. k <= the number
of groups.

The sweep's purpose is the adjusted score S_adj(k) = S(k) - lambda * k, default lambda = 1/U
(:func:`adjusted_silhouette` says why); the k that maximises it is chosen.

Above k = U the clusters can only split groups of identical rows, and which rows split off is
decided by how scikit-learn's Ward breaks the ties among them (its distances between identical
rows are round-off, not 0). The published runs swept up to k = 840, past U, so for those k the sweep
takes the slow exact path: scikit-learn's ``AgglomerativeClustering(linkage="ward")`` on all n rows
- its tree built once and cut at each k, which is what it does for each k alone - and
``silhouette_score``, with a progress bar. That needs scipy's n x n condensed distances (4 n^2
bytes), counted in :func:`sweep_memory_bytes`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from .runtime import SEED

# Rows hashed per block when grouping identical rows: bounds the temporary memory to ~25 MB.
_HASH_BLOCK_ROWS = 8192
# Bytes of one block of Gram products (rows x all columns, float64).
_BLOCK_BYTES = 64 * 2**20
# Below this fraction of |u|^2 + |v|^2 a squared distance is summed from the coordinates: the
# Gram form's rounding error, a few 1e-16 of the norms, would no longer be negligible beside it.
_DIRECT_BELOW = 1e-2
# Slots whose kept distances are gathered together for the silhouettes.
_KEPT_BLOCK = 64
# k-means on the distinct rows (approximate sweep): Lloyd iterations at most. The reduction only
# has to be good, not converged, and each iteration costs U x max_groups x d.
_REDUCTION_MAX_ITER = 30


# ----------------------------------------------------------------------------------------------
# identical rows


@dataclass(frozen=True)
class DistinctRows:
    """The distinct rows of X in scipy's slot order (by the index of their last occurrence)."""

    rows: np.ndarray  # (U, d) float64
    counts: np.ndarray  # (U,) int64 multiplicities
    inverse: np.ndarray  # (n,) distinct-row index of every row of X


def _row_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bit pattern (equal rows, equal hashes), in blocks."""
    rng = np.random.default_rng(0)  # fixed: grouping must not depend on a run
    unsigned = np.dtype(f"u{X.dtype.itemsize}")
    coefficients = rng.integers(1, 2**63, size=X.shape[1], dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(X.shape[0], dtype=np.uint64)
    for start in range(0, X.shape[0], _HASH_BLOCK_ROWS):
        block = X[start : start + _HASH_BLOCK_ROWS] + X.dtype.type(0)  # -0.0 + 0 = 0.0: equal values, equal bits
        # uint64 arithmetic wraps around: a multiply-add hash modulo 2**64.
        hashes[start : start + _HASH_BLOCK_ROWS] = block.view(unsigned).astype(np.uint64) @ coefficients
    return hashes


def _groups_hold_identical_rows(X: np.ndarray, inverse: np.ndarray, first: np.ndarray) -> bool:
    """True when every row equals the first row of its group (no hash collision)."""
    for start in range(0, X.shape[0], _HASH_BLOCK_ROWS):
        block = slice(start, start + _HASH_BLOCK_ROWS)
        if not np.array_equal(X[block], X[first[inverse[block]]]):
            return False
    return True


def group_identical_rows(X: np.ndarray) -> DistinctRows:
    """Group the rows of a finite 2-D array into distinct rows with multiplicities.

    Hashing keeps the memory at O(n) beyond X itself (sorting the rows, as ``np.unique(axis=0)``
    does, would copy X); every group is then checked row by row, and only on a hash collision
    is the exact sort used instead.
    """
    _, first, inverse = np.unique(_row_hashes(X), return_index=True, return_inverse=True)
    if not _groups_hold_identical_rows(X, inverse, first):
        _, first, inverse = np.unique(X + X.dtype.type(0), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    last = np.zeros(len(first), dtype=np.int64)
    np.maximum.at(last, inverse, np.arange(X.shape[0]))
    # scipy keeps a merged cluster in the higher of the two slots, so after merging its copies a
    # group of identical rows sits in the slot of its last row; ordering the groups that way
    # reproduces scipy's tie-breaking among the distinct rows.
    slot_order = np.argsort(last, kind="stable")
    slot_of_group = np.empty_like(slot_order)
    slot_of_group[slot_order] = np.arange(len(slot_order))
    inverse = slot_of_group[inverse]
    return DistinctRows(
        rows=X[last[slot_order]].astype(np.float64),
        counts=np.bincount(inverse, minlength=len(first)).astype(np.int64),
        inverse=inverse,
    )


# ----------------------------------------------------------------------------------------------
# distances in blocks


def _rows_per_block(n_columns: int) -> int:
    return max(16, _BLOCK_BYTES // (8 * max(n_columns, 1)))


def _gram_blocks(rows: np.ndarray, upper_triangle: bool):
    """(first, rows[first:stop] @ rows[first or 0:].T) block by block, in one reused buffer
    (a fresh 64 MB block each time would cost its page faults again)."""
    n = len(rows)
    block = min(_rows_per_block(n), n)
    buffer = np.empty(block * n)
    for first in range(0, n - 1 if upper_triangle else n, block):
        stop = min(first + block, n)
        columns = rows[first:] if upper_triangle else rows
        gram = buffer[: (stop - first) * len(columns)].reshape(stop - first, len(columns))
        np.matmul(rows[first:stop], columns.T, out=gram)
        yield first, gram


@njit(cache=True, inline="always")
def _distance(gram: float, squares: np.ndarray, rows: np.ndarray, i: int, j: int) -> float:
    """|rows[i] - rows[j]| from their Gram product, or from the coordinates when they are close."""
    norms = squares[i] + squares[j]
    squared = norms - 2.0 * gram
    if squared < _DIRECT_BELOW * norms:
        squared = 0.0
        for t in range(rows.shape[1]):
            difference = rows[i, t] - rows[j, t]
            squared += difference * difference
    return math.sqrt(max(squared, 0.0))


# ----------------------------------------------------------------------------------------------
# the Ward tree of the weighted distinct rows


@dataclass(frozen=True)
class WardTree:
    """scipy/scikit-learn convention: merge j joins ``children[j]`` into node ``n_leaves + j``;
    merges are sorted by ``distances`` (ascending), so cutting at k undoes the last k-1."""

    children: np.ndarray  # (U - 1, 2) int64
    distances: np.ndarray  # (U - 1,) float64

    @property
    def n_leaves(self) -> int:
        return len(self.children) + 1


@njit(cache=True, inline="always")
def _condensed(n: int, i: int, j: int) -> int:
    """Position of the pair i < j in a condensed (``pdist``-layout) matrix of n points."""
    return i * (2 * n - i - 1) // 2 + (j - i - 1)


@njit(cache=True, parallel=True)
def _fill_ward_distances(ward: np.ndarray, kept: np.ndarray, first: int, gram: np.ndarray, squares: np.ndarray,
                         rows: np.ndarray, weights: np.ndarray) -> None:
    """Condensed Ward distances of rows first.. (gram = rows[first:...] @ rows[first:].T): the
    distance times sqrt(2 m_a m_b / (m_a + m_b)). The plain distances go to ``kept`` (float32,
    same layout) unless it is empty."""
    n = rows.shape[0]
    keep = kept.shape[0] > 0
    for r in prange(gram.shape[0]):
        i = first + r
        base = _condensed(n, i, i + 1) - i - 1
        weight_i = weights[i]
        for j in range(i + 1, n):
            distance = _distance(gram[r, j - first], squares, rows, i, j)
            weight_j = weights[j]
            ward[base + j] = distance * math.sqrt(2.0 * weight_i * weight_j / (weight_i + weight_j))
            if keep:
                kept[base + j] = distance


@njit(cache=True)
def _nn_chain(ward: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scipy's ``_hierarchy.nn_chain`` for Ward on a condensed matrix of Ward distances between
    weighted points (modified in place), scan for scan and float for float. Returns the merges
    (x < y, distance) in the order made."""
    n = counts.shape[0]
    sizes = counts.copy()
    active = np.arange(n)  # slots still holding a cluster, ascending: scans skip the others
    n_active = n
    chain = np.empty(n, dtype=np.int64)
    chain_length = 0
    merged_x = np.empty(n - 1, dtype=np.int64)
    merged_y = np.empty(n - 1, dtype=np.int64)
    merged_at = np.empty(n - 1, dtype=np.float64)
    for k in range(n - 1):
        if chain_length == 0:
            chain[0] = active[0]
            chain_length = 1
        while True:
            x = chain[chain_length - 1]
            # scipy keeps the previous chain element unless another cluster is strictly closer,
            # and otherwise the first (lowest) slot at the least distance.
            if chain_length > 1:
                y = chain[chain_length - 2]
                least = ward[_condensed(n, min(x, y), max(x, y))]
            else:
                y = -1
                least = np.inf
            t = 0
            while t < n_active and active[t] < x:  # column x above the diagonal
                i = active[t]
                distance = ward[_condensed(n, i, x)]
                if distance < least:
                    least, y = distance, i
                t += 1
            t += 1  # x itself
            row = _condensed(n, x, x + 1) - x - 1  # row x right of the diagonal: contiguous
            while t < n_active:
                i = active[t]
                distance = ward[row + i]
                if distance < least:
                    least, y = distance, i
                t += 1
            if chain_length > 1 and y == chain[chain_length - 2]:
                break
            chain[chain_length] = y
            chain_length += 1
        chain_length -= 2
        if x > y:
            x, y = y, x
        size_x, size_y = sizes[x], sizes[y]
        merged_x[k], merged_y[k], merged_at[k] = x, y, least
        sizes[x] = 0
        sizes[y] = size_x + size_y
        n_active -= 1
        for t in range(np.searchsorted(active[:n_active], x), n_active):
            active[t] = active[t + 1]
        # The Lance-Williams update for Ward with scipy's operation order, so the floats match.
        for t in range(n_active):
            i = active[t]
            if i == y:
                continue
            size_i = sizes[i]
            at_x = _condensed(n, min(i, x), max(i, x))
            at_y = _condensed(n, min(i, y), max(i, y))
            distance_x, distance_y = ward[at_x], ward[at_y]
            scale = 1.0 / (size_x + size_y + size_i)
            ward[at_y] = math.sqrt((size_i + size_x) * scale * distance_x * distance_x
                                   + (size_i + size_y) * scale * distance_y * distance_y
                                   - size_i * scale * least * least)
    return merged_x, merged_y, merged_at


def _relabel(merged_x: np.ndarray, merged_y: np.ndarray, n: int) -> np.ndarray:
    """scipy's ``label``: node ids for merges already sorted by distance, via union-find on the
    slots (so a merge sorted before one it was computed after is rewired exactly as scipy does)."""
    parent = np.arange(2 * n - 1)

    def find(node: int) -> int:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    children = np.empty((n - 1, 2), dtype=np.int64)
    for j, (x, y) in enumerate(zip(merged_x.tolist(), merged_y.tolist())):
        x_root, y_root = find(x), find(y)
        children[j] = (x_root, y_root) if x_root < y_root else (y_root, x_root)
        parent[x_root] = parent[y_root] = n + j
    return children


def ward_tree(rows: np.ndarray, counts: np.ndarray, kept_distances: np.ndarray | None = None) -> WardTree:
    """The Ward tree of weighted points: ``rows`` with multiplicities ``counts``.

    A group of m identical rows is a point of weight m: the Ward distance between groups of
    m_a and m_b rows is sqrt(2 m_a m_b / (m_a + m_b)) times the distance between their rows,
    which is what scipy's Lance-Williams updates reach after merging the copies.
    ``kept_distances``: a float32 array of U(U-1)/2 that receives the plain distances (condensed).
    """
    n = len(counts)
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    squares = np.einsum("ij,ij->i", rows, rows)
    weights = counts.astype(np.float64)
    kept = np.empty(0, dtype=np.float32) if kept_distances is None else kept_distances
    ward = np.empty(n * (n - 1) // 2)
    for first, gram in _gram_blocks(rows, upper_triangle=True):
        _fill_ward_distances(ward, kept, first, gram, squares, rows, weights)
    merged_x, merged_y, merged_at = _nn_chain(ward, counts.astype(np.int64))
    del ward
    order = np.argsort(merged_at, kind="mergesort")  # scipy's stable sort by distance
    return WardTree(
        children=_relabel(merged_x[order], merged_y[order], n),
        distances=merged_at[order],
    )


# ----------------------------------------------------------------------------------------------
# leaf order: every node's leaves form one contiguous range


@dataclass(frozen=True)
class _LeafLayout:
    order: np.ndarray  # (U,) leaf (slot) at each position
    start: np.ndarray  # (2U - 1,) first position of each node
    stop: np.ndarray  # (2U - 1,) one past its last position


def _leaf_layout(tree: WardTree) -> _LeafLayout:
    n = tree.n_leaves
    n_leaves_under = np.ones(2 * n - 1, dtype=np.int64)
    for j, (left, right) in enumerate(tree.children.tolist()):
        n_leaves_under[n + j] = n_leaves_under[left] + n_leaves_under[right]
    start = np.zeros(2 * n - 1, dtype=np.int64)
    for j in range(n - 2, -1, -1):
        left, right = tree.children[j]
        start[left] = start[n + j]
        start[right] = start[n + j] + n_leaves_under[left]
    order = np.empty(n, dtype=np.int64)
    order[start[:n]] = np.arange(n)
    return _LeafLayout(order=order, start=start, stop=start + n_leaves_under)


# ----------------------------------------------------------------------------------------------
# the silhouettes


@njit(cache=True, inline="always")
def _add_row_silhouettes(sums: np.ndarray, u: int, weight_u: float, prefix: np.ndarray, lower: np.ndarray,
                         middle: np.ndarray, upper: np.ndarray, left_rows: np.ndarray, right_rows: np.ndarray,
                         n_rows: float) -> None:
    """Add m_u * s_k(u) to ``sums[k - 2]`` for every k, given u's prefix sums of weighted distances
    in item order. Split j (k = j + 2) cuts the items lower[j]:upper[j] into lower[j]:middle[j]
    (left_rows[j] rows) and middle[j]:upper[j] (right_rows[j] rows)."""
    own_rows = n_rows
    a = prefix[prefix.shape[0] - 1] / (own_rows - 1.0)
    b = np.inf
    for j in range(lower.shape[0]):
        start, split, stop = lower[j], middle[j], upper[j]
        if u < start or u >= stop:
            b = min(b, (prefix[split] - prefix[start]) / left_rows[j], (prefix[stop] - prefix[split]) / right_rows[j])
        else:
            if u < split:
                b = min(b, (prefix[stop] - prefix[split]) / right_rows[j])
                own_rows, own_sum = left_rows[j], prefix[split] - prefix[start]
            else:
                b = min(b, (prefix[split] - prefix[start]) / left_rows[j])
                own_rows, own_sum = right_rows[j], prefix[stop] - prefix[split]
            if own_rows > 1.0:
                a = own_sum / (own_rows - 1.0)
        # A row alone in its cluster scores 0; b > 0: distinct rows are apart.
        if own_rows > 1.0:
            sums[j] += weight_u * (b - a) / max(a, b)


@njit(cache=True, parallel=True)
def _add_block_silhouettes(totals: np.ndarray, first: int, gram: np.ndarray, squares: np.ndarray, items: np.ndarray,
                           weights: np.ndarray, lower: np.ndarray, middle: np.ndarray, upper: np.ndarray,
                           left_rows: np.ndarray, right_rows: np.ndarray, n_rows: float) -> None:
    """The items u = first.. of ``gram`` (their Gram products with every item): add m_u s_k(u)
    to ``totals[thread, k - 2]``."""
    n_threads = totals.shape[0]
    n_items = items.shape[0]
    for thread in prange(n_threads):
        prefix = np.empty(n_items + 1)  # prefix[q] = sum of m_v |u - v| over items v < q
        for r in range(thread, gram.shape[0], n_threads):
            u = first + r
            prefix[0] = 0.0
            for q in range(n_items):
                prefix[q + 1] = prefix[q] + weights[q] * _distance(gram[r, q], squares, items, u, q)
            _add_row_silhouettes(totals[thread], u, weights[u], prefix, lower, middle, upper, left_rows, right_rows,
                                 n_rows)


@njit(cache=True, parallel=True)
def _add_kept_silhouettes(totals: np.ndarray, kept: np.ndarray, item_of_slot: np.ndarray, slot_of_item: np.ndarray,
                          weights: np.ndarray, lower: np.ndarray, middle: np.ndarray, upper: np.ndarray,
                          left_rows: np.ndarray, right_rows: np.ndarray, n_rows: float) -> None:
    """As :func:`_add_block_silhouettes` for every item, reading the distances kept by the tree
    (condensed, by slot) instead of computing them. Slots go in blocks of ``_KEPT_BLOCK``: the
    block's columns above the diagonal are then contiguous runs, not one access per row."""
    n_threads = totals.shape[0]
    n = slot_of_item.shape[0]
    n_blocks = (n + _KEPT_BLOCK - 1) // _KEPT_BLOCK
    for thread in prange(n_threads):
        by_slot = np.empty((_KEPT_BLOCK, n), dtype=np.float32)  # distances of the block's slots
        prefix = np.empty(n + 1)
        for block in range(thread, n_blocks, n_threads):
            first = block * _KEPT_BLOCK
            stop = min(first + _KEPT_BLOCK, n)
            for i in range(stop):  # rows above and in the block: their runs in the block's columns
                at = _condensed(n, i, i + 1) - i - 1
                for slot in range(max(first, i + 1), stop):
                    by_slot[slot - first, i] = kept[at + slot]
                    if i >= first:
                        by_slot[i - first, slot] = kept[at + slot]
            for slot in range(first, stop):  # each slot's row right of the block
                by_slot[slot - first, slot] = 0.0
                at = _condensed(n, slot, slot + 1) - slot - 1
                for i in range(stop, n):
                    by_slot[slot - first, i] = kept[at + i]
            for slot in range(first, stop):
                distances = by_slot[slot - first]
                prefix[0] = 0.0
                for q in range(n):
                    prefix[q + 1] = prefix[q] + weights[q] * distances[slot_of_item[q]]
                u = item_of_slot[slot]
                _add_row_silhouettes(totals[thread], u, weights[u], prefix, lower, middle, upper, left_rows,
                                     right_rows, n_rows)


def _silhouettes_up_to(tree: WardTree, layout: _LeafLayout, groups: DistinctRows,
                       leaf_of_distinct: np.ndarray | None, k_max: int,
                       kept_distances: np.ndarray | None = None) -> np.ndarray:
    """S(k) for k = 2..k_max (k_max <= number of leaves) of the tree's cuts, scored on the
    distinct rows (each leaf is one distinct row, or a group of them when ``leaf_of_distinct``).
    ``kept_distances``: the distinct rows' distances kept by :func:`ward_tree`, if it kept them."""
    n_leaves = tree.n_leaves
    if leaf_of_distinct is None:
        item_order = layout.order
        items_before = np.arange(n_leaves + 1)  # items before each leaf position
    else:
        item_order = np.argsort(layout.start[leaf_of_distinct], kind="stable")
        items_per_leaf = np.bincount(leaf_of_distinct, minlength=n_leaves)[layout.order]
        items_before = np.concatenate([[0], np.cumsum(items_per_leaf)])
    # Items: the distinct rows in leaf order, so every cluster of every cut is a contiguous range.
    weights = groups.counts[item_order].astype(np.float64)
    rows_before = np.concatenate([[0.0], np.cumsum(weights)])
    splits = np.arange(2 * n_leaves - 2, 2 * n_leaves - 1 - k_max, -1) - n_leaves  # merges undone, k = 2..
    left, right = tree.children[splits, 0], tree.children[splits, 1]
    lower = items_before[layout.start[left]]
    middle = items_before[layout.stop[left]]  # the right child's range follows the left's
    upper = items_before[layout.stop[right]]
    split_args = (lower, middle, upper, rows_before[middle] - rows_before[lower],
                  rows_before[upper] - rows_before[middle], rows_before[-1])

    totals = np.zeros((numba.get_num_threads(), len(splits)))
    if kept_distances is not None:
        item_of_slot = np.empty_like(item_order)
        item_of_slot[item_order] = np.arange(len(item_order))
        _add_kept_silhouettes(totals, kept_distances, item_of_slot, item_order, weights, *split_args)
    else:
        items = np.ascontiguousarray(groups.rows[item_order], dtype=np.float64)
        squares = np.einsum("ij,ij->i", items, items)
        for first, gram in _gram_blocks(items, upper_triangle=False):
            _add_block_silhouettes(totals, first, gram, squares, items, weights, *split_args)
    return totals.sum(axis=0) / rows_before[-1]


def scikit_learn_ward_above_distinct(X: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """S(k) and the partition of scikit-learn's Ward clustering of all rows of ``X`` for each k in
    ``ks`` (the k above the number of distinct rows, where only its ties between identical rows
    decide): its tree is built once (cached, as it builds the same one for every k) and cut at each k."""
    import tempfile

    from joblib import Memory
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score
    from tqdm.auto import tqdm

    scores, partitions = np.empty(len(ks)), {}
    with tempfile.TemporaryDirectory(prefix="auditoryhum-ward-") as cache:
        memory = Memory(cache, verbose=0)
        for i, k in enumerate(tqdm(ks.tolist(), desc="k above U (scikit-learn's Ward on every row)", unit="k")):
            ids = AgglomerativeClustering(n_clusters=k, linkage="ward", memory=memory,
                                          compute_full_tree=True).fit_predict(X)
            scores[i] = silhouette_score(X, ids)
            partitions[k] = ids
    return scores, partitions


# ----------------------------------------------------------------------------------------------
# the approximate sweep's reduction


def reduce_distinct_rows(rows: np.ndarray, counts: np.ndarray, max_groups: int, seed: int = SEED) -> np.ndarray:
    """(U,) group 0..G-1 of each distinct row, G <= max_groups: k-means on the rows weighted by
    their counts (float32, at most ``_REDUCTION_MAX_ITER`` Lloyd iterations, seeded)."""
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=max_groups, init="random", n_init=1, max_iter=_REDUCTION_MAX_ITER,
                    random_state=seed)
    labels = kmeans.fit_predict(rows.astype(np.float32), sample_weight=counts.astype(np.float32))
    return np.unique(labels, return_inverse=True)[1].reshape(-1)  # groups left empty are dropped


def _group_centroids(rows: np.ndarray, counts: np.ndarray, group_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted centroid and row count of every group."""
    n_groups = int(group_of.max()) + 1
    group_counts = np.bincount(group_of, weights=counts, minlength=n_groups)
    sums = np.zeros((n_groups, rows.shape[1]))
    np.add.at(sums, group_of, rows * counts[:, None])
    return sums / group_counts[:, None], group_counts.round().astype(np.int64)


# ----------------------------------------------------------------------------------------------
# memory


def sweep_memory_bytes(n_rows: int, n_distinct: int, dim: int, k_max: int, max_groups: int | None = None,
                       keep_distances: bool = False) -> int:
    """Peak memory the sweep adds to its input (the rows X and their grouping), in bytes.

    The Ward tree's condensed matrix (4 L^2 bytes for L leaves: the distinct rows, or at most
    ``max_groups`` groups) dominates; ``keep_distances`` adds a float32 copy of the distinct rows'
    distances (2 U^2 bytes). The silhouettes need one block of Gram products, a prefix row per
    thread and a few arrays of length U, k_max and n.
    """
    n_leaves = n_distinct if max_groups is None else min(n_distinct, max_groups)
    threads = numba.get_num_threads()
    rows = 8 * n_distinct * dim  # the distinct rows in float64
    kept = 4 * (n_distinct * (n_distinct - 1) // 2) if keep_distances else 0
    tree = 8 * (n_leaves * (n_leaves - 1) // 2) + 8 * min(_rows_per_block(n_leaves), n_leaves) * n_leaves \
        + 8 * n_leaves * (dim + 24)
    silhouettes = rows + 8 * min(_rows_per_block(n_distinct), n_distinct) * n_distinct \
        + 8 * (threads + 2) * (n_distinct + k_max) + 8 * 12 * k_max
    reduction = 0
    if n_leaves < n_distinct:  # k-means in float32: rows, centres, a chunk of distances per thread
        reduction = 4 * (n_distinct + 3 * n_leaves) * dim + 4 * 256 * n_leaves * threads + 16 * n_distinct
    above = 0
    if k_max > n_distinct:  # scikit-learn's Ward on every row: scipy's condensed float64 distances
        above = 8 * (n_rows * (n_rows - 1) // 2) + 8 * n_rows * (dim + 8)
    return rows + kept + max(tree, silhouettes, reduction, above) + 8 * 4 * n_rows


def largest_fitting_groups(n_rows: int, n_distinct: int, dim: int, k_max: int, budget: int) -> int | None:
    """The most groups (below U) an approximate sweep can have within ``budget`` bytes; None when
    not even two fit."""
    def fits(n_groups: int) -> bool:
        return sweep_memory_bytes(n_rows, n_distinct, dim, min(k_max, n_groups), n_groups) <= budget

    if n_distinct <= 2 or not fits(2):
        return None
    low, high = 2, n_distinct - 1
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def available_memory_bytes() -> int:
    """Memory this machine can give a new allocation now (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------------------------------
# the sweep


@dataclass(frozen=True)
class Sweep:
    """S(k) for k = 2..k_max and the partition behind every k."""

    groups: DistinctRows
    tree: WardTree  # leaves: the distinct rows, or (approximate) their groups
    layout: _LeafLayout
    ks: np.ndarray  # 2..k_max
    silhouette: np.ndarray
    #: None for the exact sweep; for the approximate one, the group (tree leaf) of each distinct row.
    leaf_of_distinct: np.ndarray | None = None
    #: k above the number of distinct rows -> scikit-learn's partition of every row (n,)
    above_distinct: dict[int, np.ndarray] | None = None

    @property
    def n_distinct(self) -> int:
        return len(self.groups.counts)

    @property
    def approximate(self) -> bool:
        """True when the partitions are those of Ward on k-means groups, not on the distinct rows."""
        return self.leaf_of_distinct is not None

    @property
    def n_groups(self) -> int:
        """Leaves of the tree: U, or the number of groups of an approximate sweep."""
        return self.tree.n_leaves

    def cluster_ids(self, k: int) -> np.ndarray:
        """(n,) ids 0..k-1 of the Ward partition into k clusters, numbered in order of first row."""
        n_leaves = self.tree.n_leaves
        largest = n_leaves if self.approximate else len(self.groups.inverse)
        if not 1 <= k <= largest:
            raise ValueError(f"k={k} is outside 1..{largest}")
        if k > n_leaves:
            ids = self.above_distinct[k]
        else:
            leaf_ids = np.empty(n_leaves, dtype=np.int64)
            undone = np.arange(n_leaves - k, n_leaves - 1)  # merges undone by the cut
            clusters = self.tree.children[undone].reshape(-1)
            clusters = clusters[clusters < 2 * n_leaves - k] if k > 1 else np.array([2 * n_leaves - 2])
            for cluster_id, node in enumerate(clusters.tolist()):
                leaf_ids[self.layout.order[self.layout.start[node] : self.layout.stop[node]]] = cluster_id
            distinct_ids = leaf_ids if self.leaf_of_distinct is None else leaf_ids[self.leaf_of_distinct]
            ids = distinct_ids[self.groups.inverse]
        _, first_row, renumbered = np.unique(ids, return_index=True, return_inverse=True)
        rank = np.empty_like(first_row)
        rank[np.argsort(first_row)] = np.arange(len(first_row))
        return rank[renumbered.reshape(-1)]


def silhouette_sweep(X: np.ndarray, k_max: int | None = None, groups: DistinctRows | None = None,
                     max_groups: int | None = None, seed: int = SEED, memory_budget: int | None = None) -> Sweep:
    """Silhouette of the Ward partition of X's rows for every k = 2..k_max.

    ``k_max`` defaults to the number of distinct rows U (capped at n - 1, the largest k a
    silhouette exists for); k above U is allowed, and computed as scikit-learn computes it (see the
    module notes). ``X`` must be a finite
    2-D float array with at least 3 rows and 2 distinct rows; pass ``groups`` when already grouped.
    ``max_groups``: when U is larger, sweep approximately on at most that many k-means groups of
    the distinct rows (seeded with ``seed``); k_max is then at most the number of groups.
    ``memory_budget`` (bytes; default: the memory available now): the tree keeps a float32 copy
    of the distances for the silhouettes, sparing their second computation, only when the sweep
    with it needs at most half of this - a speed-up never worth pressing the machine's memory.
    """
    n_rows = X.shape[0]
    groups = group_identical_rows(X) if groups is None else groups
    n_distinct = len(groups.counts)
    if n_rows < 3 or n_distinct < 2:
        raise ValueError(f"need at least 3 rows and 2 distinct rows, got {n_rows} rows, {n_distinct} distinct")
    if max_groups is not None and max_groups < 2:
        raise ValueError(f"max_groups={max_groups}: must be at least 2")
    leaf_of_distinct = None
    leaf_rows, leaf_counts = groups.rows, groups.counts
    if max_groups is not None and n_distinct > max_groups:
        leaf_of_distinct = reduce_distinct_rows(groups.rows, groups.counts, max_groups, seed)
        leaf_rows, leaf_counts = _group_centroids(groups.rows, groups.counts, leaf_of_distinct)
    n_leaves = len(leaf_counts)
    largest = n_leaves if leaf_of_distinct is not None else n_rows - 1
    k_max = min(n_leaves, n_rows - 1) if k_max is None else k_max
    if not 2 <= k_max <= largest:
        what = f"the {n_leaves} groups of the approximate sweep" if leaf_of_distinct is not None else n_rows - 1
        raise ValueError(f"k_max={k_max} is outside 2..{what}")

    kept = None
    if leaf_of_distinct is None:  # the tree's distances are the distinct rows' distances
        budget = available_memory_bytes() if memory_budget is None else memory_budget
        if 2 * sweep_memory_bytes(n_rows, n_distinct, X.shape[1], k_max, keep_distances=True) <= budget:
            kept = np.empty(n_distinct * (n_distinct - 1) // 2, dtype=np.float32)
    tree = ward_tree(leaf_rows, leaf_counts, kept)
    layout = _leaf_layout(tree)
    silhouettes = _silhouettes_up_to(tree, layout, groups, leaf_of_distinct, min(k_max, n_leaves), kept)
    del kept
    above = None
    if k_max > n_leaves:
        above_scores, above = scikit_learn_ward_above_distinct(X, np.arange(n_leaves + 1, k_max + 1))
        silhouettes = np.concatenate([silhouettes, above_scores])
    return Sweep(groups=groups, tree=tree, layout=layout, ks=np.arange(2, k_max + 1), silhouette=silhouettes,
                 leaf_of_distinct=leaf_of_distinct, above_distinct=above)


# ----------------------------------------------------------------------------------------------
# the adjusted score


def default_penalty(n_distinct: int) -> float:
    """lambda = 1/U (see :func:`adjusted_silhouette`)."""
    return 1.0 / n_distinct


def adjusted_silhouette(ks: np.ndarray, silhouette: np.ndarray, penalty: float) -> np.ndarray:
    """S_adj(k) = S(k) - lambda * k.

    The paper subtracts a penalty "derived from AIC" but does not give the formula. Plain S(k)
    rises towards k = U because identical rows are identical points. With lambda = 1/U the
    optimum lands at 15-20 % of U on a realistic Zipf-distributed label set (the paper reports
    15-23 %); lambda = 2/n, AIC's per-sample cost, puts it near 80 %.
    """
    return silhouette - penalty * ks


def choose_k(ks: np.ndarray, adjusted: np.ndarray) -> int:
    """The k with the highest adjusted score (the smallest such k on a tie)."""
    return int(ks[int(np.argmax(adjusted))])
