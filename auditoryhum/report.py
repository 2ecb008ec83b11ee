"""The paper's tables, collected from a recipe's experiment folder (auditoryhum_tests.sh, last stage).

    python -m auditoryhum.report --exp_dir exp --out exp/report.md

It reads what the recipe leaves under ``exp/`` - one folder per dataset x MLLM x CLAP model
(x sentence-transformer for the clustering), every output beside the ``.log`` of the command
that wrote it::

    exp/<dataset>/<mllm>/human_annotations.csv
    exp/<dataset>/<mllm>/<clap>/top_label_scores.csv                   MLLM labels, scored
    exp/<dataset>/<mllm>/<clap>/top_label_scores_with_annotations.csv  after the human review
    exp/<dataset>/<mllm>/<text_labels.csv>                           MLLM labels (blank = no answer)
    exp/<dataset>/clap/<clap>/clap.npy                                CLAP audio embeddings
    exp/<dataset>/<mllm>/<clap>/<st>/st.npy                           sentence embeddings (NaN = no label)
    exp/<dataset>/<mllm>/<clap>/<st>/sweep/sweep.csv (+ .log)          k,silhouette,adjusted_silhouette
    exp/<dataset>/<mllm>/<clap>/<st>/compare/<algorithm>_k<k>.csv.log  "Silhouette Score <s>"
    exp/<dataset>/<mllm>/<clap>/<st>/compare/hdbscan.csv.log

``<st>`` clusters the MLLM's best labels before the review (as published); ``<st>.reviewed`` the
reviewed ones (the recipe's ``--cluster_labels reviewed``).

and writes the report as markdown, each table also as CSV (in ``report/`` beside the markdown),
and the S(k) / S_adj(k) curves of every sweep side by side in one PNG:

1. label alignment: µc (mean best CLAP score) and µ1% (mean over the lowest 1 % of files), per
   dataset and MLLM, before and after the human annotations;
2. HITL boost: the mean score of the annotated rows before -> after;
3. number of clusters: unique labels U, the chosen k (maximum of S_adj) and k / U, with the λ the
   curve was computed with;
4. silhouette of each clustering algorithm at every k it was run at (the chosen k, and the recipe's
   ``--compare_k``: 2 and U by default), and of HDBSCAN (with and without its noise points);
5. rows without a label: how many files each stage carried without one (a blank MLLM answer, an
   unreadable recording, a non-English answer), so a reader sees what the scores and clusters
   were computed over.

Scores and counts are computed from the CSVs themselves; only the silhouettes, which depend on
what each script clustered (the spectral one scores its 2-D embedding), are read from the logs.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cli, formats, hitl
from .clap import clap_summary
from .errors import UserError

SCORES = "top_label_scores.csv"
SCORES_WITH_ANNOTATIONS = "top_label_scores_with_annotations.csv"
ANNOTATIONS = "human_annotations.csv"
TEXT_LABELS = "text_labels.csv"
SWEEP_CSV = Path("sweep") / "sweep.csv"
SWEEP_IDS = Path("sweep") / "cluster_ids.csv"
ST_NPY = "st.npy"
#: the folder suffix of a clustering of the reviewed labels (auditoryhum_tests.sh --cluster_labels reviewed)
REVIEWED_SUFFIX = ".reviewed"
COMPARE_DIR = "compare"
#: compare/<name>_k<k>.csv as the recipe names the k-algorithms' outputs, in table order
K_ALGORITHMS = {"ag": "Ward agglomerative", "kmeans": "k-means", "spectral": "spectral + k-means"}
HDBSCAN = "hdbscan"
MISSING = "—"


# ----------------------------------------------------------------------------------------------
# reading the experiment folder


@dataclass(frozen=True, order=True)
class Run:
    """One dataset x MLLM x CLAP model: exp/<dataset>/<mllm>/<clap>/."""

    folder: Path

    @property
    def dataset(self) -> str:
        return self.folder.parent.parent.name

    @property
    def mllm(self) -> str:
        return self.folder.parent.name

    @property
    def clap(self) -> str:
        return self.folder.name

    @property
    def key(self) -> list[str]:
        return [self.dataset, self.mllm, self.clap]

    def clusterings(self) -> list[Path]:
        """Sentence-transformer folders that hold a sweep."""
        return sorted(path.parent.parent for path in self.folder.glob(f"*/{SWEEP_CSV}"))


def find_runs(exp_dir: Path) -> list[Run]:
    runs = sorted(Run(path.parent) for path in Path(exp_dir).glob(f"*/*/*/{SCORES}"))
    if not runs:
        raise UserError(f"{exp_dir}: no results found (expected {exp_dir}/<dataset>/<mllm>/<clap>/{SCORES}, "
                        "written by the recipe's scoring stage)")
    return runs


def unique_label_count(scores_csv: formats.PathLike) -> int:
    """U: the number of distinct non-empty best labels in a top-label scores CSV."""
    return len({row.label for row in formats.read_scores_csv(scores_csv) if row.label})


@dataclass(frozen=True)
class Sweep:
    k: np.ndarray
    silhouette: np.ndarray
    adjusted: np.ndarray

    @property
    def best_k(self) -> int:
        """The k maximising S_adj (the smallest such k on a tie)."""
        return int(self.k[int(np.nanargmax(self.adjusted))])

    @property
    def penalty(self) -> float:
        """λ of S_adj(k) = S(k) - λ·k, read back from the curve."""
        return float(np.nanmedian((self.silhouette - self.adjusted) / self.k))


def read_sweep(path: Path) -> Sweep:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
        values = np.array([[float(r["k"]), float(r["silhouette"]), float(r["adjusted_silhouette"])]
                           for r in records], dtype=np.float64)
    except FileNotFoundError:
        raise UserError(f"{path}: sweep CSV not found") from None
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: expected a header k,silhouette,adjusted_silhouette and numbers below it") from None
    if values.size == 0:
        raise UserError(f"{path}: the sweep CSV has no rows")
    return Sweep(values[:, 0].astype(np.int64), values[:, 1], values[:, 2])


def _log_text(output: Path) -> str | None:
    log = output.with_name(output.name + ".log")
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else None


def chosen_k(sweep_csv: Path, sweep: Sweep) -> int:
    """The k cluster_sweep.py printed (``Chosen k: <k>``), else the maximum of S_adj."""
    match = re.search(r"Chosen k: (\d+)", _log_text(sweep_csv) or "")
    return int(match.group(1)) if match else sweep.best_k


def printed_silhouette(output: Path, prefix: str = "Silhouette Score") -> float | None:
    """The ``<prefix> <s>`` line a cluster_* script printed; None when missing or undefined."""
    match = re.search(rf"^{prefix} (\S+)\s*$", _log_text(output) or "", re.MULTILINE)
    if not match:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def hdbscan_cluster_count(output: Path) -> int | None:
    match = re.search(r"HDBSCAN found (\d+) cluster", _log_text(output) or "")
    return int(match.group(1)) if match else None


# ----------------------------------------------------------------------------------------------
# tables


@dataclass
class Table:
    name: str  # CSV file stem
    title: str
    note: str
    columns: list[str]
    rows: list[list[str]]


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.{digits}f}"


def alignment_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        scores = [row.score for row in formats.read_scores_csv(run.folder / SCORES)]
        mean, lowest = clap_summary(scores)
        after = run.folder / SCORES_WITH_ANNOTATIONS
        mean_after, lowest_after = (clap_summary([r.score for r in formats.read_scores_csv(after)])
                                    if after.exists() else (None, None))
        scored = sum(not math.isnan(score) for score in scores)
        rows.append(run.key + [str(len(scores)), str(scored), fmt(mean), fmt(lowest), fmt(mean_after),
                               fmt(lowest_after)])
    return Table(
        "alignment", "Label alignment (CLAP)",
        "µc: mean best-label CLAP score over all files; µ1%: mean over the lowest 1 % of files (at "
        "least one). Before: the MLLM's labels; after: with the human annotations merged in.",
        ["dataset", "MLLM", "CLAP model", "files", "scored", "µc", "µ1%", "µc after HITL", "µ1% after HITL"],
        rows,
    )


def boost_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        annotations = run.folder.parent / ANNOTATIONS
        after = run.folder / SCORES_WITH_ANNOTATIONS
        if not (annotations.exists() and after.exists()):
            rows.append(run.key + [MISSING] * 4)
            continue
        boost = hitl.score_boost(*hitl.load_boost_inputs(run.folder / SCORES, after, annotations))
        rows.append(run.key + [str(boost.annotated_rows), fmt(boost.mean_before), fmt(boost.mean_after),
                               fmt(boost.boost)])
    return Table(
        "hitl_boost", "HITL boost",
        "Mean CLAP score of the rows a human annotated, with the MLLM label (before) and with the "
        "annotation merged in (after), as util_score_boost.py computes it (rows with no score left out).",
        ["dataset", "MLLM", "CLAP model", "annotated rows", "before", "after", "boost"],
        rows,
    )


@dataclass(frozen=True)
class Clustering:
    """One sentence-transformer folder of a run: its sweep and the k values compared."""

    run: Run
    folder: Path  # exp/<dataset>/<mllm>/<clap>/<st>[.reviewed]
    sweep: Sweep
    chosen_k: int

    @functools.cached_property
    def unique_labels(self) -> int:
        """U of the clustered labels."""
        return unique_label_count(self.scores_csv)

    @property
    def reviewed(self) -> bool:
        """Clusters of the reviewed labels (else of the MLLM's, before the review)."""
        return self.folder.name.endswith(REVIEWED_SUFFIX)

    @property
    def scores_csv(self) -> Path:
        return self.run.folder / (SCORES_WITH_ANNOTATIONS if self.reviewed else SCORES)

    @property
    def key(self) -> list[str]:
        st = self.folder.name.removesuffix(REVIEWED_SUFFIX)
        return self.run.key + [st, "reviewed" if self.reviewed else "MLLM"]

    @property
    def title(self) -> str:
        return " / ".join(self.key)

    def compared(self, algorithm: str) -> list[int]:
        """The k values ``algorithm`` was run at (compare/<algorithm>_k<k>.csv), ascending."""
        found = (re.fullmatch(rf"{algorithm}_k(\d+)\.csv(?:\.log)?", path.name)
                 for path in (self.folder / COMPARE_DIR).glob(f"{algorithm}_k*"))
        return sorted({int(match.group(1)) for match in found if match})


CLUSTERING_KEY = ["dataset", "MLLM", "CLAP model", "sentence model", "labels"]


def find_clusterings(runs: list[Run]) -> list[Clustering]:
    found = []
    for run in runs:
        for folder in run.clusterings():
            sweep = read_sweep(folder / SWEEP_CSV)
            found.append(Clustering(run, folder, sweep, chosen_k(folder / SWEEP_CSV, sweep)))
    return found


def k_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        n_files = len(formats.read_scores_csv(c.run.folder / SCORES))
        rows.append(c.key + [str(n_files), str(c.unique_labels), str(c.chosen_k),
                             f"{100 * c.chosen_k / c.unique_labels:.1f} %" if c.unique_labels else MISSING,
                             fmt(c.sweep.penalty, 6)])
    return Table(
        "chosen_k", "Number of clusters",
        "U: distinct best labels of the clustered rows; chosen k: the maximum of the adjusted silhouette "
        "S_adj(k) = S(k) - λ·k over the Ward sweep. Labels: the MLLM's before the review (as published) or "
        "the reviewed ones.",
        CLUSTERING_KEY + ["files", "U", "chosen k", "k / U", "λ"],
        rows,
    )


def silhouette_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        for name, title in K_ALGORITHMS.items():
            for k in c.compared(name):
                which = ", ".join(what for what, value in (("chosen", c.chosen_k), ("U", c.unique_labels)) if k == value)
                rows.append(c.key + [title, str(k), which,
                                     fmt(printed_silhouette(c.folder / COMPARE_DIR / f"{name}_k{k}.csv"))])
    return Table(
        "silhouette", "Silhouette by clustering algorithm",
        "At every k the algorithms were run at: the chosen k and the recipe's --compare_k (2 and U by "
        f"default). The spectral score is measured on its 2-D embedding. {MISSING}: undefined (every point "
        "its own cluster).",
        CLUSTERING_KEY + ["algorithm", "k", "which k", "silhouette"],
        rows,
    )


def hdbscan_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        output = c.folder / COMPARE_DIR / f"{HDBSCAN}.csv"
        rows.append(c.key + [fmt(hdbscan_cluster_count(output)), fmt(printed_silhouette(output)),
                             fmt(printed_silhouette(output, "Silhouette Score without noise"))])
    return Table(
        "hdbscan", "HDBSCAN",
        "HDBSCAN chooses its own number of clusters. Silhouette: as published, the noise points (id -1) "
        "count as one more group; without noise: the clustered points alone.",
        CLUSTERING_KEY + ["clusters found", "silhouette", "silhouette without noise"],
        rows,
    )


def count_blank_lines(path: Path) -> int | None:
    return sum(not line.strip() for line in formats.read_labels_csv(path)) if path.exists() else None


def count_unscored(path: Path) -> int | None:
    return sum(not row.label for row in formats.read_scores_csv(path)) if path.exists() else None


def count_nan_rows(path: Path) -> int | None:
    return int((~np.isfinite(formats.load_npy(path)).all(axis=1)).sum()) if path.exists() else None


def count_unclustered(path: Path) -> int | None:
    return int((formats.read_cluster_ids(path) == formats.NO_CLUSTER).sum()) if path.exists() else None


def unlabelled_table(runs: list[Run], clusterings: list[Clustering]) -> Table:
    rows = []
    for c in [*clusterings, *(run for run in runs if not any(c.run == run for c in clusterings))]:
        run, folder = (c.run, c.folder) if isinstance(c, Clustering) else (c, None)
        clap_npy = run.folder.parent.parent / "clap" / run.clap / "clap.npy"
        counts = [
            count_blank_lines(run.folder.parent / TEXT_LABELS),
            count_nan_rows(clap_npy),
            count_unscored(run.folder / SCORES),
            count_unscored(run.folder / SCORES_WITH_ANNOTATIONS),
            count_nan_rows(folder / ST_NPY) if folder else None,
            count_unclustered(folder / SWEEP_IDS) if folder else None,
        ]
        key = c.key if isinstance(c, Clustering) else run.key + [MISSING, MISSING]
        rows.append(key + [str(len(formats.read_scores_csv(run.folder / SCORES)))] + [fmt(n) for n in counts])
    return Table(
        "unlabelled", "Rows without a label",
        "How many files each stage carried without a label: a blank MLLM answer, an unreadable recording "
        "(its CLAP row is NaN), or an answer with no English label. They stay in every file as blank or "
        f"NaN rows, are left out of µc, µ1% and the silhouettes, and get cluster id -1. {MISSING}: not run.",
        CLUSTERING_KEY + ["files", "blank MLLM lines", "unreadable audio", "unscored", "unscored after HITL",
                          "NaN sentence rows", "cluster id -1"],
        rows,
    )


# ----------------------------------------------------------------------------------------------
# output


def markdown_table(table: Table) -> str:
    lines = [f"| {' | '.join(table.columns)} |", "|" + "---|" * len(table.columns)]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in table.rows]
    return "\n".join(lines)


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue()


def plot_sweeps(clusterings: list[Clustering], png: Path) -> None:
    """S(k) and S_adj(k) of every sweep, one panel each, side by side (3 to a row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(clusterings))
    rows = math.ceil(len(clusterings) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for ax, c in zip(axes.flat, clusterings):
        ax.plot(c.sweep.k, c.sweep.silhouette, label="S(k)")
        ax.plot(c.sweep.k, c.sweep.adjusted, label="S_adj(k)")
        ax.axvline(c.chosen_k, color="grey", linestyle="--", label=f"chosen k = {c.chosen_k}")
        ax.set_title(c.title, fontsize=9)
        ax.set_xlabel("k")
        ax.set_ylabel("silhouette")
        ax.legend(fontsize=8)
    for ax in axes.flat[len(clusterings):]:
        ax.axis("off")
    fig.tight_layout()
    with formats.atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def build_tables(exp_dir: Path) -> tuple[list[Table], list[Clustering]]:
    runs = find_runs(exp_dir)
    clusterings = find_clusterings(runs)
    tables = [alignment_table(runs), boost_table(runs), k_table(clusterings), silhouette_table(clusterings),
              hdbscan_table(clusterings), unlabelled_table(runs, clusterings)]
    return tables, clusterings


def write_report(exp_dir: Path, out: Path, csv_dir: Path) -> list[Table]:
    tables, clusterings = build_tables(exp_dir)
    csv_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# AuditoryHuM results\n\nCollected from `{exp_dir}` by `python -m auditoryhum.report`."]
    for table in tables:
        csv_path = csv_dir / f"{table.name}.csv"
        formats.write_text_atomic(csv_path, table_csv(table))
        link = Path(os.path.relpath(csv_path, out.parent))
        parts.append(f"## {table.title}\n\n{table.note} ([CSV]({link.as_posix()}))\n\n{markdown_table(table)}")
    if clusterings:
        png = csv_dir / "sweep_curves.png"
        plot_sweeps(clusterings, png)
        parts.append(f"## Silhouette sweeps\n\nS(k) and S_adj(k) of each Ward sweep; the dashed line is the "
                     f"chosen k.\n\n![S(k) and S_adj(k)]({Path(os.path.relpath(png, out.parent)).as_posix()})")
    formats.write_text_atomic(out, "\n\n".join(parts) + "\n")
    return tables


def get_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "python -m auditoryhum.report",
        "Collect every dataset x MLLM x CLAP model result of a recipe run (auditoryhum_tests.sh) into "
        "the paper's tables: label alignment (µc, µ1%), HITL boost, chosen k and U, silhouette per "
        "clustering algorithm; markdown plus one CSV per table, and the S(k)/S_adj(k) curves side by side.",
        "python -m auditoryhum.report --exp_dir exp --out exp/report.md",
    )
    parser.add_argument("--exp_dir", default="exp", help="the recipe's experiment folder")
    parser.add_argument("--out", default=None, help="markdown report to write (default: <exp_dir>/report.md)")
    parser.add_argument("--csv_dir", default=None,
                        help="folder for the tables as CSV and the sweep plot (default: report/ beside --out)")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    exp_dir = Path(args.exp_dir)
    if not exp_dir.is_dir():
        raise UserError(f"--exp_dir={exp_dir}: folder not found (run the recipe first)")
    out = Path(args.out) if args.out else exp_dir / "report.md"
    csv_dir = Path(args.csv_dir) if args.csv_dir else out.parent / "report"
    tables = write_report(exp_dir, out, csv_dir)
    print(f"report written to {out} ({len(tables)} tables, CSVs in {csv_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
