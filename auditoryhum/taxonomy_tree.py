"""The taxonomy tree (taxonomy.json): coarser levels above a partition, and a unique name for every
node (docs/method.md §10).

**Levels.** The partition given (the chosen k of the sweep) is the last level. The level above it
is chosen by the same adjusted silhouette, restricted to merges of the level below: every file is
replaced by its cluster's centroid, so the level below's clusters become U = k weighted points,
and the k sweep (:func:`auditoryhum.sweep.silhouette_sweep`) runs on them - Ward's merge cost
depends only on centroids and sizes, so its tree on those points is the Ward tree of the files
above that level, and no cut of it splits a cluster of the level below. S_adj(k') = S(k') - k'/U
picks k' among 2..k - 1, as the sweep picks k. Levels are added until there are
:data:`MAX_LEVELS` or the top level has fewer than :data:`MIN_CLUSTERS_TO_GROUP` clusters; the
sizes can instead be given (``--levels``), coarsest first, and are cut from the same trees.

**Names.** Each level is named in one round (:func:`name_level`): the clusters of the last level
from their label counts, every cluster above from its children's names (a cluster with a single
child takes its child's name). Then the names of the level are compared (case, spacing and end
punctuation aside); where several clusters got the same name, the largest keeps it and each other
is asked again in the same conversation, told every name already taken at its level; if the new
answer is taken too, the name gets the cluster's most frequent label that it does not already
hold as a suffix, ``Farm animals (sheep)``, or else a number. A cluster of clusters must also not
be named like one of its children. An answer that is no name (empty; in short mode, more than
:data:`~auditoryhum.composite.MAX_SHORT_WORDS` words) becomes the cluster's two most frequent labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import formats
from .composite import (
    ClusterLabels,
    clash_messages,
    clean_name,
    cluster_messages,
    fallback_name,
    label_stats,
    parent_messages,
)
from .errors import UserError
from .evaluation import label_centroids, name_key
from .sweep import adjusted_silhouette, choose_k, default_penalty, silhouette_sweep

log = logging.getLogger(__name__)

#: levels of an automatic tree, the given partition included
MAX_LEVELS = 3
#: a level of fewer clusters is a top level: grouping 3 clusters into 2 tells little
MIN_CLUSTERS_TO_GROUP = 4
AUTO = "auto"


# ----------------------------------------------------------------------------------------------
# levels


@dataclass(frozen=True)
class Level:
    ids: np.ndarray  # (n,) cluster id of every row, NO_CLUSTER for rows in none
    k: int
    chosen_by: str  # "the partition", "adjusted silhouette" or "--levels"
    silhouette: float | None = None  # S(k) of the level's sweep over the level below
    adjusted: float | None = None

    def about(self) -> dict:
        return {"k": self.k, "chosen_by": self.chosen_by, "silhouette": self.silhouette, "adjusted": self.adjusted}


def parse_levels(text: str) -> list[int] | None:
    """``auto`` -> None; ``3`` or ``3,12`` -> the sizes of the levels above the partition, coarsest first."""
    if text.strip().lower() == AUTO:
        return None
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size < 2 for size in sizes) or sizes != sorted(set(sizes)):
        raise UserError(f"--levels={text}: expected {AUTO}, or the numbers of clusters of the levels above the "
                        "partition, coarsest first, each at least 2 and rising (e.g. 3,12)")
    return sizes


def coarser_level(embeddings: np.ndarray, ids: np.ndarray, k: int | None = None) -> Level | None:
    """The level above the partition ``ids``: a cut of the Ward tree of its clusters' centroids
    (each weighted by its rows) at ``k``, or at the k the adjusted silhouette chooses; None when the
    partition has fewer than 3 distinct centroids (nothing to group)."""
    clustered = ids != formats.NO_CLUSTER
    clusters = np.unique(ids[clustered])
    centroids = label_centroids(embeddings, ids, clusters.tolist())
    points = centroids[np.searchsorted(clusters, ids[clustered])]
    n_distinct = len(np.unique(centroids, axis=0))
    top = min(len(clusters) - 1, n_distinct)
    if top < 2:
        return None
    sweep = silhouette_sweep(points, top)
    adjusted = adjusted_silhouette(sweep.ks, sweep.silhouette, default_penalty(n_distinct))
    chosen_by = "--levels"
    if k is None:
        k, chosen_by = choose_k(sweep.ks, adjusted), "adjusted silhouette"
    elif k > top:
        raise UserError(f"--levels: {k} clusters cannot group the {len(clusters)} clusters of the level below")
    level_ids = np.full(len(ids), formats.NO_CLUSTER, dtype=np.int64)
    level_ids[clustered] = sweep.cluster_ids(k)
    at = k - 2
    return Level(level_ids, k, chosen_by, float(sweep.silhouette[at]), float(adjusted[at]))


def build_levels(embeddings: np.ndarray, ids: np.ndarray, sizes: Sequence[int] | None) -> list[Level]:
    """The levels of the tree, coarsest first, the partition ``ids`` last: automatic (``sizes``
    None), or one level of each size."""
    k = len(np.unique(ids[ids != formats.NO_CLUSTER]))
    levels = [Level(np.asarray(ids, dtype=np.int64), k, "the partition")]
    if sizes is None:
        while len(levels) < MAX_LEVELS and levels[0].k >= MIN_CLUSTERS_TO_GROUP:
            above = coarser_level(embeddings, levels[0].ids)
            if above is None:
                break
            levels.insert(0, above)
        return levels
    if sizes[-1] >= k:
        raise UserError(f"--levels={','.join(map(str, sizes))}: every level above the partition needs fewer than its "
                        f"{k} clusters")
    for size in reversed(sizes):
        levels.insert(0, coarser_level(embeddings, levels[0].ids, size))
    return levels


# ----------------------------------------------------------------------------------------------
# names


@dataclass
class Namer:
    """Asks the model (``chat``: a conversation -> the next assistant turn) and keeps count of what
    unique naming took."""

    mode: str
    chat: Callable[[list[dict]], str]
    #: wraps the clusters of a level: ``progress(items, desc=..., unit=...)`` (e.g. tqdm)
    progress: Callable = field(default=lambda items, **_: items, repr=False)
    asked: int = 0
    asked_again: int = 0
    suffixed: int = 0
    fallbacks: int = 0
    #: called with each cluster of the last level (the partition) and its first name, as it is named
    on_named: Callable[[int, str], None] | None = field(default=None, repr=False)

    def ask(self, messages: list[dict]) -> str:
        self.asked += 1
        return clean_name(self.mode, self.chat(messages))

    def stats(self) -> dict:
        return {"answers": self.asked, "asked_again_on_a_clash": self.asked_again, "suffixed_names": self.suffixed,
                "fallback_names": self.fallbacks}


def _suffixed(name: str, label_counts: Sequence[tuple[str, int]], taken: set[str]) -> str:
    for label, _ in label_counts:
        candidate = f"{name} ({label})"
        if label.casefold() not in name.casefold() and name_key(candidate) not in taken:
            return candidate
    number = 2
    while name_key(f"{name} {number}") in taken:
        number += 1
    return f"{name} {number}"


def name_level(namer: Namer, conversations: Sequence[list[dict] | None], given: Sequence[str | None],
               sizes: Sequence[int], label_counts: Sequence[Sequence[tuple[str, int]]],
               not_like: Sequence[Sequence[str]] = (), what: str = "names",
               on_named: Callable[[int, str], None] | None = None) -> list[str]:
    """Unique names for the clusters of one level. Cluster i is named by ``given[i]`` where that is
    not None (a parent with one child), else by the model from ``conversations[i]``; ``not_like[i]``:
    names it must not take (its children's); ``on_named(i, name)``: told each first name as it
    comes."""
    names: list[str] = []
    for i in namer.progress(range(len(sizes)), desc=what, unit="cluster"):
        if given[i] is not None:
            name = given[i]
        else:
            name = namer.ask(conversations[i])
            if not name:
                namer.fallbacks += 1
                name = fallback_name(label_counts[i])
                log.warning("%s: cluster %d: no name in the model's answer; named by its labels: %s", what, i, name)
        names.append(name)
        if on_named is not None:
            on_named(i, name)
    # The largest cluster keeps a shared name; the others are asked again, largest first, with every
    # other name of the level (and, for a cluster of clusters, its children's names) in context.
    order = sorted(range(len(names)), key=lambda i: (-sizes[i], i))
    kept: set[str] = set()
    for i in order:
        children = list(not_like[i]) if not_like else []
        forbidden = {name_key(child) for child in children}
        key = name_key(names[i])
        if key not in kept and key not in forbidden:
            kept.add(key)
            continue
        others = list(dict.fromkeys(name for j, name in enumerate(names) if j != i)) + children
        taken = {name_key(name) for name in others}
        if conversations[i] is not None:
            namer.asked_again += 1
            again = namer.ask(clash_messages(namer.mode, conversations[i], names[i], list(dict.fromkeys(others))))
            if again and name_key(again) not in taken:
                log.info("%s: cluster %d renamed %r -> %r (the first name was taken)", what, i, names[i], again)
                names[i] = again
                kept.add(name_key(again))
                continue
        namer.suffixed += 1
        renamed = _suffixed(names[i], label_counts[i], taken)
        log.info("%s: cluster %d renamed %r -> %r (the name was taken)", what, i, names[i], renamed)
        names[i] = renamed
        kept.add(name_key(renamed))
    return names


def _rows_by_cluster(ids: np.ndarray) -> dict[int, np.ndarray]:
    """Each cluster's rows, ascending (rows in no cluster left out), found in one sort."""
    order = np.argsort(ids, kind="stable")
    in_order = ids[order]
    edges = np.flatnonzero(in_order[1:] != in_order[:-1]) + 1
    return {int(group[0]): rows for group, rows in zip(np.split(in_order, edges), np.split(order, edges))
            if len(rows) and group[0] != formats.NO_CLUSTER}


def level_label_counts(ids: np.ndarray, labels: Sequence[str]) -> dict[int, ClusterLabels]:
    """Each cluster's label counts (rows without a label left out)."""
    kept = [(int(c), label) for c, label in zip(ids.tolist(), labels) if c != formats.NO_CLUSTER and label]
    stats = label_stats([c for c, _ in kept], [label for _, label in kept])
    return {cluster.cluster: cluster for cluster in stats.clusters}


def name_tree(levels: Sequence[Level], labels: Sequence[str], files: Sequence[str], namer: Namer,
              about: dict) -> formats.TaxonomyTree:
    """Name every node, last level first (from label counts), then each level above (from its
    children's names), and assemble the tree."""
    names_of: list[dict[int, str]] = [{} for _ in levels]
    counts_of = [level_label_counts(level.ids, labels) for level in levels]
    rows_of = [_rows_by_cluster(level.ids) for level in levels]
    size_of = [{c: files_in(rows, files) for c, rows in level_rows.items()} for level_rows in rows_of]
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        clusters = sorted(rows_of[depth])
        counts = [counts_of[depth][c].label_counts if c in counts_of[depth] else () for c in clusters]
        sizes = [size_of[depth][c] for c in clusters]
        what = f"names of level {depth + 1} ({len(clusters)} clusters)"
        if depth == len(levels) - 1:
            conversations = [cluster_messages(namer.mode, counts_of[depth][c]) if c in counts_of[depth] else None
                             for c in clusters]
            given = [None if conversation is not None else "unlabelled" for conversation in conversations]
            on_named = None if namer.on_named is None else lambda i, name: namer.on_named(clusters[i], name)
            names = name_level(namer, conversations, given, sizes, counts, what=what, on_named=on_named)
        else:
            below = levels[depth + 1].ids
            children = [sorted(set(below[rows_of[depth][c]].tolist()) - {formats.NO_CLUSTER}) for c in clusters]
            child_names = [[names_of[depth + 1][child] for child in kids] for kids in children]
            child_sizes = [[size_of[depth + 1][child] for child in kids] for kids in children]
            conversations = [None if len(kids) == 1 else
                             parent_messages(namer.mode, sorted(zip(names_k, sizes_k), key=lambda item: -item[1]))
                             for kids, names_k, sizes_k in zip(children, child_names, child_sizes)]
            given = [names_k[0] if len(kids) == 1 else None for kids, names_k in zip(children, child_names)]
            not_like = [names_k if len(kids) > 1 else [] for kids, names_k in zip(children, child_names)]
            names = name_level(namer, conversations, given, sizes, counts, not_like, what=what)
        names_of[depth] = dict(zip(clusters, names))

    nodes = []
    for depth, level in enumerate(levels):
        for cluster, rows in sorted(rows_of[depth].items()):
            parent = None if depth == 0 else int(levels[depth - 1].ids[rows[0]])
            counts = counts_of[depth][cluster].label_counts if cluster in counts_of[depth] else ()
            nodes.append(formats.TaxonomyNode(depth + 1, cluster, names_of[depth][cluster], parent,
                                              tuple(int(r) for r in rows), counts))
    return formats.TaxonomyTree(tuple(files), tuple(tuple(int(i) for i in level.ids) for level in levels),
                                tuple(nodes), {**about, "levels": [level.about() for level in levels], **namer.stats()})


def files_in(rows, files: Sequence[str]) -> int:
    """How many files the rows hold: the rows themselves, but with several labels per file a row is a
    (file, cluster) membership, and a file in two clusters below a node counts once in it."""
    return len({files[int(row)] for row in rows})


def format_tree(tree: formats.TaxonomyTree) -> str:
    """The tree as indented lines: name, files, level and cluster."""
    children: dict[tuple[int, int | None], list[formats.TaxonomyNode]] = {}
    for node in tree.nodes:
        children.setdefault((node.level, node.parent), []).append(node)
    lines = []

    def show(level: int, parent: int | None, depth: int) -> None:
        for node in sorted(children.get((level, parent), []), key=lambda n: (-files_in(n.rows, tree.files), n.cluster)):
            lines.append(f"{'  ' * depth}{node.name} ({files_in(node.rows, tree.files)} files; level {level}, "
                         f"cluster {node.cluster})")
            show(level + 1, node.cluster, depth + 1)

    show(1, None, 0)
    return "\n".join(lines)
