"""Several labels per file: from clusters of distinct labels to the clusters each file belongs to
(docs/method.md §13).

``features_clap_text.py --multi_label`` keeps, per file, every candidate label its rule accepts
(the multi-label scores CSV: one row per file and label, best first). ``features_st.py
--multi_label_csv`` embeds each distinct accepted label once - one row per distinct label, in
order of first appearance in that CSV (:func:`distinct_labels`), and the run record lists them as
its rows - so the sweep and the clustering scripts cluster distinct labels, and their cluster ids
CSV has one line per distinct label.

Every script after the clustering (the composite statistics and labels, the taxonomy tree and
page, the evaluation) reads the multi-label CSV and those cluster ids through this module, which
turns them into **memberships**: one row per (file, cluster) the file belongs to, holding the
file's best-ranked label in that cluster. A file is in every cluster of its labels and is counted
once in each; two of its labels in one cluster count once, by the better one; a label HDBSCAN
left as noise (id -1) makes no membership unless the file has no clustered label at all; a file
without a label has one membership, with an empty label, in no cluster. The scripts then work on
memberships exactly as on the rows of a scores CSV (one file, one label, one cluster), so with one
label per file the memberships are the scores CSV's rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import formats, records
from .errors import UserError, counted


def distinct_labels(rows: Sequence[formats.LabelRow]) -> list[str]:
    """The distinct non-empty labels of a multi-label CSV, in order of first appearance: the rows of
    features_st.py's embeddings and of the cluster ids made from them."""
    return list(dict.fromkeys(row.label for row in rows if row.label))


@dataclass(frozen=True)
class Memberships:
    """One row per (file, cluster) a file belongs to (see the module docstring), in file order."""

    rows: list[formats.ScoreRow]  # the file's index and name, its best label in the cluster, that label's score
    cluster_ids: np.ndarray  # (m,) the cluster; NO_CLUSTER for a file without a label or only noise labels
    label_rows: np.ndarray  # (m,) row of the distinct labels (st.npy, the ids) the label is; -1 for no label
    n_files: int
    labels: list[str]  # the distinct labels, as the rows of st.npy and of the label cluster ids
    source: list[formats.LabelRow]  # the multi-label CSV's rows they were made from

    def regrouped(self, label_ids: np.ndarray) -> "Memberships":
        """The memberships of the same files under another clustering of the distinct labels."""
        return memberships(self.source, label_ids)

    @property
    def filenames(self) -> list[str]:
        return [row.filename for row in self.rows]

    @property
    def row_labels(self) -> list[str]:
        return [row.label for row in self.rows]

    @property
    def files_in_several_clusters(self) -> int:
        indices = [row.index for row, cluster in zip(self.rows, self.cluster_ids.tolist())
                   if cluster != formats.NO_CLUSTER]
        return int(np.sum(np.bincount(indices) > 1)) if indices else 0

    def expand(self, per_label: np.ndarray) -> np.ndarray:
        """A per-label array (one row per distinct label: st.npy) as one row per membership, NaN
        where a membership has no label."""
        per_label = np.asarray(per_label, dtype=np.float32)
        out = np.full((len(self.rows), per_label.shape[1]), np.nan, dtype=np.float32)
        has = self.label_rows >= 0
        out[has] = per_label[self.label_rows[has]]
        return out

    def summary(self) -> dict:
        """What the record and the JSON outputs say of the memberships."""
        return {"files": self.n_files, "memberships": len(self.rows),
                "files_in_several_clusters": self.files_in_several_clusters}

    def note(self) -> str:
        """The sentence every multi-label output says (beside its results, on the page): how files
        are counted."""
        return (f"several labels per file: {counted(self.n_files, 'file')} in {len(self.rows)} (file, cluster) "
                f"memberships, {self.files_in_several_clusters} in more than one cluster; a file counts once in "
                "every cluster of its labels")


def memberships(label_rows: Sequence[formats.LabelRow], label_ids: np.ndarray) -> Memberships:
    """The memberships of the files of a multi-label CSV, given one cluster id per distinct label."""
    labels = distinct_labels(label_rows)
    if len(label_ids) != len(labels):
        raise ValueError(f"{len(label_ids)} cluster ids for {len(labels)} distinct labels")
    position = {label: i for i, label in enumerate(labels)}
    out: list[formats.ScoreRow] = []
    clusters: list[int] = []
    label_index: list[int] = []
    n_files = 0
    start = 0
    while start < len(label_rows):
        stop = start
        while stop < len(label_rows) and label_rows[stop].index == label_rows[start].index:
            stop += 1
        n_files += 1
        file_rows = label_rows[start:stop]
        taken: dict[int, tuple[formats.LabelRow, int]] = {}
        for row in file_rows:  # best first: a cluster keeps the file's best label in it
            if row.label:
                cluster = int(label_ids[position[row.label]])
                taken.setdefault(cluster, (row, position[row.label]))
        if len(taken) > 1:
            taken.pop(formats.NO_CLUSTER, None)  # a noise label beside clustered ones makes no membership
        if not taken:
            first = file_rows[0]
            taken[formats.NO_CLUSTER] = (formats.LabelRow(first.index, first.filename, "", math.nan,
                                                          formats.NO_LABEL_RANK), -1)
        for cluster, (row, label_row) in taken.items():
            out.append(formats.ScoreRow(row.index, row.filename, row.label, row.score))
            clusters.append(cluster)
            label_index.append(label_row)
        start = stop
    return Memberships(out, np.array(clusters, dtype=np.int64), np.array(label_index, dtype=np.int64), n_files,
                       labels, list(label_rows))


def read_label_rows(multi_label_csv: formats.PathLike) -> tuple[list[formats.LabelRow], list[str]]:
    """The rows of a multi-label CSV and its distinct labels; a CSV with no label at all is refused."""
    rows = formats.read_multi_label_csv(multi_label_csv)
    labels = distinct_labels(rows)
    if not labels:
        raise UserError(f"{multi_label_csv}: no file has a label, nothing to cluster")
    return rows, labels


def check_label_rows(path: formats.PathLike, n_rows: int, multi_label_csv: formats.PathLike,
                     labels: Sequence[str]) -> None:
    """Stop with one line unless the ``n_rows`` rows of ``path`` (embeddings or cluster ids of
    distinct labels) are the distinct labels of ``multi_label_csv``, in order: by name where its
    run record lists them, by count always."""
    records.check_rows_belong(path, n_rows, f"the distinct labels of {multi_label_csv}", labels)


def read_label_embeddings(path: formats.PathLike, multi_label_csv: formats.PathLike,
                          found: Memberships) -> np.ndarray:
    """The embeddings of the distinct labels of ``multi_label_csv`` (one row each, checked against
    them); :meth:`Memberships.expand` gives one row per membership."""
    per_label = formats.load_npy(path, "label embeddings")
    check_label_rows(path, per_label.shape[0], multi_label_csv, found.labels)
    return per_label


def read_memberships(multi_label_csv: formats.PathLike, cluster_ids_csv: formats.PathLike) -> Memberships:
    """The memberships of a multi-label CSV and the cluster ids of its distinct labels."""
    rows, labels = read_label_rows(multi_label_csv)
    ids = formats.read_cluster_ids(cluster_ids_csv)
    check_label_rows(cluster_ids_csv, len(ids), multi_label_csv, labels)
    return memberships(rows, ids)
