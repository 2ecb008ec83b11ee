"""The paper's tables, collected from a recipe's experiment folder (auditoryhum_tests.sh, last stage).

    python -m auditoryhum.report --exp_dir exp --out exp/report.md

It reads what the recipe leaves under ``exp/`` - one folder per dataset x MLLM x CLAP model
(x sentence-transformer for the clustering), every output beside the ``.log`` of the command
that wrote it::

    exp/<dataset>/<mllm>/human_annotations.csv
    exp/<dataset>/<mllm>/<clap>/top_label_scores.csv                   MLLM labels, scored
    exp/<dataset>/<mllm>/<clap>/top_label_scores_with_annotations.csv  after the human review
    exp/<dataset>/<mllm>/<clap>/<st>/sweep/sweep.csv (+ .log)          k,silhouette,adjusted_silhouette
    exp/<dataset>/<mllm>/<clap>/<st>/compare/<algorithm>_k<k>.csv.log  "Silhouette Score <s>"
    exp/<dataset>/<mllm>/<clap>/<st>/compare/hdbscan.csv.log

and writes the report as markdown, each table also as CSV (in ``report/`` beside the markdown),
and the S(k) / S_adj(k) curves of every sweep side by side in one PNG:

1. label alignment: µc (mean best CLAP score) and µ1% (mean over the lowest 1 % of files), per
   dataset and MLLM, before and after the human annotations;
2. HITL boost: the mean score of the annotated rows before -> after;
3. number of clusters: unique labels U, the chosen k (maximum of S_adj) and k / U, with the λ the
   curve was computed with;
4. silhouette of each clustering algorithm at k = 2, the chosen k and U, and of HDBSCAN.

Scores and counts are computed from the CSVs themselves; only the silhouettes, which depend on
what each script clustered (the spectral one scores its 2-D embedding), are read from the logs.
"""

from __future__ import annotations

import argparse
import csv
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
SWEEP_CSV = Path("sweep") / "sweep.csv"
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


def printed_silhouette(output: Path) -> float | None:
    """The ``Silhouette Score <s>`` a cluster_* script printed; None when missing or undefined."""
    match = re.search(r"^Silhouette Score (\S+)\s*$", _log_text(output) or "", re.MULTILINE)
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
    folder: Path  # exp/<dataset>/<mllm>/<clap>/<st>
    sweep: Sweep
    chosen_k: int
    unique_labels: int

    @property
    def key(self) -> list[str]:
        return self.run.key + [self.folder.name]

    @property
    def title(self) -> str:
        return " / ".join(self.key)

    @property
    def compared_k(self) -> list[int]:
        return [2, self.chosen_k, self.unique_labels]


def find_clusterings(runs: list[Run]) -> list[Clustering]:
    found = []
    for run in runs:
        labels_csv = run.folder / SCORES_WITH_ANNOTATIONS
        if not labels_csv.exists():
            labels_csv = run.folder / SCORES
        for folder in run.clusterings():
            sweep = read_sweep(folder / SWEEP_CSV)
            found.append(Clustering(run, folder, sweep, chosen_k(folder / SWEEP_CSV, sweep),
                                    unique_label_count(labels_csv)))
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
        "U: distinct best labels; chosen k: the maximum of the adjusted silhouette S_adj(k) = S(k) - λ·k "
        "over the Ward sweep k = 2..U.",
        ["dataset", "MLLM", "CLAP model", "sentence model", "files", "U", "chosen k", "k / U", "λ"],
        rows,
    )


def silhouette_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        for name, title in K_ALGORITHMS.items():
            values = [fmt(printed_silhouette(c.folder / COMPARE_DIR / f"{name}_k{k}.csv")) for k in c.compared_k]
            rows.append(c.key + [title, " / ".join(map(str, c.compared_k))] + values)
    return Table(
        "silhouette", "Silhouette by clustering algorithm",
        "At k = 2, the chosen k and k = U (the k column lists the three). The spectral score is "
        f"measured on its 2-D embedding. {MISSING}: not run, or undefined (every point its own cluster).",
        ["dataset", "MLLM", "CLAP model", "sentence model", "algorithm", "k", "k = 2", "k = chosen", "k = U"],
        rows,
    )


def hdbscan_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        output = c.folder / COMPARE_DIR / f"{HDBSCAN}.csv"
        rows.append(c.key + [fmt(hdbscan_cluster_count(output)), fmt(printed_silhouette(output))])
    return Table(
        "hdbscan", "HDBSCAN",
        "HDBSCAN chooses its own number of clusters; its silhouette leaves the noise points out.",
        ["dataset", "MLLM", "CLAP model", "sentence model", "clusters found", "silhouette"],
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
              hdbscan_table(clusterings)]
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
