"""The paper's tables, collected from a recipe's experiment folder (auditoryhum_tests.sh, last stage).

    python -m auditoryhum.scripts.report --exp_dir exp --out exp/report.md

Every figure comes from the run records the scripts left beside their outputs (``<output>.run.json``,
see docs/run-records.md); nothing is read from printed logs. The folder layout the recipe leaves::

    exp/<dataset>/<mllm>/text_labels.csv                               the MLLM's labels
    exp/<dataset>/clap/<clap>/clap.npy                                 CLAP audio embeddings
    exp/<dataset>/<mllm>/<clap>/top_label_scores.csv                   MLLM labels, scored
    exp/<dataset>/<mllm>/<clap>/top_label_scores_with_annotations.csv  after the human review
    exp/<dataset>/<mllm>/<clap>/score_boost.txt                        the HITL boost
    exp/<dataset>/<mllm>/<clap>/<st>/st.npy                            sentence embeddings of the clustered labels
    exp/<dataset>/<mllm>/<clap>/<st>/sweep/sweep.csv, cluster_ids.csv  the k sweep and the chosen partition
    exp/<dataset>/<mllm>/<clap>/<st>/compare/<algorithm>_k<k>.csv      the algorithms at the compared k
    exp/<dataset>/<mllm>/<clap>/<st>/compare/hdbscan.csv

The report, as markdown with each table also as CSV (in ``report/`` beside the markdown) and the
S(k) / S_adj(k) curves of every sweep side by side in one PNG:

1. label alignment: µc (mean best CLAP score) and µ1% (mean over the lowest 1 % of files), per
   dataset and MLLM, before and after the human annotations;
2. HITL boost: the mean score of the annotated rows before -> after;
3. number of clusters: unique labels U, the chosen k (maximum of S_adj) and k / U, with λ;
4. silhouette of each clustering algorithm at every k it was run at, and of HDBSCAN (with and
   without its noise points);
5. rows without a label: how many files each stage carried without one.

Which labels a clustering used (the MLLM's before the review, as published, or the reviewed ones)
is read from its sentence embeddings' record.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from . import formats, records
from .errors import UserError

SCORES = "top_label_scores.csv"
SCORES_WITH_ANNOTATIONS = "top_label_scores_with_annotations.csv"
BOOST = "score_boost.txt"
TEXT_LABELS = "text_labels.csv"
ST_NPY = "st.npy"
SWEEP_CSV = Path("sweep") / "sweep.csv"
SWEEP_IDS = Path("sweep") / "cluster_ids.csv"
COMPARE_DIR = "compare"
#: the fixed-k scripts as the recipe names their outputs (compare/<name>_k<k>.csv), in table order
K_ALGORITHMS = {"cluster_ag.py": "Ward agglomerative", "cluster_kmeans.py": "k-means",
                "cluster_spectral.py": "spectral + k-means"}
HDBSCAN = "hdbscan.csv"
REVIEWED_SUFFIX = ".reviewed"
MISSING = "—"


def results_of(path: Path) -> dict | None:
    """The results a finished run recorded for ``path``; None without a record."""
    data = records.read_record(path, check_output=False)
    return data.get("results", {}) if data else None


def result(path: Path, key: str):
    found = results_of(path)
    return None if found is None else found.get(key)


# ----------------------------------------------------------------------------------------------
# the experiment folder


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

    @property
    def clap_npy(self) -> Path:
        return self.folder.parent.parent / "clap" / self.clap / "clap.npy"

    @property
    def text_labels(self) -> Path:
        return self.folder.parent / TEXT_LABELS

    def clusterings(self) -> list["Clustering"]:
        """The sentence-transformer folders that hold a finished sweep."""
        return [Clustering(self, path.parent.parent) for path in sorted(self.folder.glob(f"*/{SWEEP_CSV}"))]


@dataclass(frozen=True)
class Clustering:
    """One sentence-transformer folder of a run: its embeddings, sweep and compared partitions."""

    run: Run
    folder: Path  # exp/<dataset>/<mllm>/<clap>/<st>[.reviewed]

    @functools.cached_property
    def st_record(self) -> dict:
        return records.read_record(self.folder / ST_NPY, check_output=False) or {}

    @functools.cached_property
    def sweep_results(self) -> dict:
        return results_of(self.folder / SWEEP_CSV) or {}

    @property
    def labels(self) -> str:
        """Which best labels were embedded: "reviewed" (the scores after the review) or "MLLM"."""
        label_csv = next((item.get("path", "") for item in self.st_record.get("inputs", [])
                          if item.get("flag") == "--label_csv"), "")
        return "reviewed" if Path(label_csv).name == SCORES_WITH_ANNOTATIONS else "MLLM" if label_csv else MISSING

    @property
    def sentence_model(self) -> str:
        """The recipe names the folder after the model (``.reviewed`` added for the reviewed labels)."""
        return self.folder.name.removesuffix(REVIEWED_SUFFIX)

    @property
    def key(self) -> list[str]:
        return self.run.key + [self.sentence_model, self.labels]

    @property
    def title(self) -> str:
        return " / ".join(self.key)

    @property
    def unique_labels(self) -> int | None:
        """U: the distinct labels that were embedded."""
        return self.st_record.get("results", {}).get("distinct_labels")

    @property
    def chosen_k(self) -> int | None:
        return self.sweep_results.get("chosen_k")

    def compared(self) -> list[tuple[str, dict]]:
        """(algorithm, results) of every fixed-k partition under compare/, by algorithm then k."""
        found = []
        for path in (self.folder / COMPARE_DIR).glob("*_k*.csv"):
            data = records.read_record(path, check_output=False)
            if data and data.get("script") in K_ALGORITHMS:
                found.append((K_ALGORITHMS[data["script"]], data.get("results", {})))
        order = list(K_ALGORITHMS.values())
        return sorted(found, key=lambda item: (order.index(item[0]), item[1].get("n_clusters", 0)))


def find_runs(exp_dir: Path) -> list[Run]:
    runs = sorted(Run(path.parent) for path in Path(exp_dir).glob(f"*/*/*/{SCORES}"))
    if not runs:
        raise UserError(f"{exp_dir}: no results found (expected {exp_dir}/<dataset>/<mllm>/<clap>/{SCORES}, "
                        "written by the recipe's scoring stage)")
    return runs


# ----------------------------------------------------------------------------------------------
# tables


@dataclass
class Table:
    name: str  # CSV file stem
    title: str
    note: str
    columns: list[str]
    rows: list[list[str]]


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


RUN_KEY = ["dataset", "MLLM", "CLAP model"]
CLUSTERING_KEY = RUN_KEY + ["sentence model", "labels"]


def alignment_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        before = results_of(run.folder / SCORES) or {}
        after = results_of(run.folder / SCORES_WITH_ANNOTATIONS) or {}
        rows.append(run.key + [fmt(before.get("rows_written")), fmt(before.get("scored_rows")),
                               fmt(before.get("mean_clap_score")), fmt(before.get("mean_clap_score_lowest_1pct")),
                               fmt(after.get("mean_clap_score")), fmt(after.get("mean_clap_score_lowest_1pct"))])
    return Table(
        "alignment", "Label alignment (CLAP)",
        "µc: mean best-label CLAP score over the scored files; µ1%: mean over the lowest 1 % of them (at "
        "least one). Before: the MLLM's labels; after: with the human annotations merged in.",
        RUN_KEY + ["files", "scored", "µc", "µ1%", "µc after HITL", "µ1% after HITL"],
        rows,
    )


def boost_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        boost = results_of(run.folder / BOOST) or {}
        rows.append(run.key + [fmt(boost.get("annotated_rows")), fmt(boost.get("mean_before")),
                               fmt(boost.get("mean_after")), fmt(boost.get("boost"))])
    return Table(
        "hitl_boost", "HITL boost",
        "Mean CLAP score of the rows a human annotated, with the MLLM label (before) and with the "
        "annotation merged in (after), as util_score_boost.py computes it (rows with no score left out).",
        RUN_KEY + ["annotated rows", "before", "after", "boost"],
        rows,
    )


def k_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        chosen, unique = c.chosen_k, c.unique_labels
        share = f"{100 * chosen / unique:.1f} %" if chosen and unique else MISSING
        rows.append(c.key + [fmt(c.st_record.get("results", {}).get("rows_written")), fmt(unique), fmt(chosen),
                             share, fmt(c.sweep_results.get("penalty"), 6),
                             fmt(c.sweep_results.get("silhouette_at_chosen_k"))])
    return Table(
        "chosen_k", "Number of clusters",
        "U: distinct best labels of the clustered rows; chosen k: the maximum of the adjusted silhouette "
        "S_adj(k) = S(k) - λ·k over the Ward sweep; S: the plain silhouette there. Labels: the MLLM's before "
        "the review (as published) or the reviewed ones.",
        CLUSTERING_KEY + ["files", "U", "chosen k", "k / U", "λ", "S at chosen k"],
        rows,
    )


def silhouette_table(clusterings: list[Clustering]) -> Table:
    rows = []
    for c in clusterings:
        for title, found in c.compared():
            k = found.get("n_clusters")
            which = ", ".join(what for what, value in (("chosen", c.chosen_k), ("U", c.unique_labels)) if k == value)
            rows.append(c.key + [title, fmt(k), which, fmt(found.get("silhouette"))])
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
        found = results_of(c.folder / COMPARE_DIR / HDBSCAN) or {}
        rows.append(c.key + [fmt(found.get("clusters_found")), fmt(found.get("noise_points")),
                             fmt(found.get("silhouette")), fmt(found.get("silhouette_without_noise"))])
    return Table(
        "hdbscan", "HDBSCAN",
        "HDBSCAN chooses its own number of clusters. Silhouette: as published, the noise points (id -1) "
        "count as one more group; without noise: the clustered points alone.",
        CLUSTERING_KEY + ["clusters found", "noise points", "silhouette", "silhouette without noise"],
        rows,
    )


def unlabelled_table(runs: list[Run], clusterings: list[Clustering]) -> Table:
    rows = []
    for run in runs:
        mine = [c for c in clusterings if c.run == run] or [None]
        for c in mine:
            key = c.key if c else run.key + [MISSING, MISSING]
            counts = [
                result(run.text_labels, "rows_without_a_label"),
                result(run.clap_npy, "nan_rows"),
                result(run.folder / SCORES, "rows_without_a_label"),
                result(run.folder / SCORES_WITH_ANNOTATIONS, "rows_without_a_label"),
                result(c.folder / ST_NPY, "rows_without_a_label") if c else None,
                result(c.folder / SWEEP_IDS, "rows_without_a_label") if c else None,
            ]
            rows.append(key + [fmt(result(run.folder / SCORES, "rows_written"))] + [fmt(n) for n in counts])
    return Table(
        "unlabelled", "Rows without a label",
        "How many files each stage carried without a label: a blank or failed MLLM answer, an unreadable "
        "recording (its CLAP row is NaN), or an answer with no English label. They stay in every file as blank "
        f"or NaN rows, are left out of µc, µ1% and the silhouettes, and get cluster id -1. {MISSING}: not run "
        "(or not recorded: labels copied from the published data).",
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(3, len(clusterings))
    rows = math.ceil(len(clusterings) / columns)
    fig = Figure(figsize=(5 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, c in zip(axes.flat, clusterings):
        curve = formats.read_sweep_csv(c.folder / SWEEP_CSV)
        ax.plot(curve.k, curve.silhouette, label="S(k)")
        ax.plot(curve.k, curve.adjusted, label="S_adj(k)")
        if c.chosen_k is not None:
            ax.axvline(c.chosen_k, color="grey", linestyle="--", label=f"chosen k = {c.chosen_k}")
        ax.set_title(c.title, fontsize=9)
        ax.set_xlabel("k")
        ax.set_ylabel("silhouette")
        ax.legend(fontsize=8)
    for ax in axes.flat[len(clusterings):]:
        ax.axis("off")
    with formats.atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)


def build_tables(exp_dir: Path) -> tuple[list[Table], list[Clustering]]:
    runs = find_runs(exp_dir)
    clusterings = [c for run in runs for c in run.clusterings()]
    tables = [alignment_table(runs), boost_table(runs), k_table(clusterings), silhouette_table(clusterings),
              hdbscan_table(clusterings), unlabelled_table(runs, clusterings)]
    return tables, clusterings


def write_report(exp_dir: Path, out: Path, csv_dir: Path) -> list[Table]:
    tables, clusterings = build_tables(exp_dir)
    csv_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# AuditoryHuM results\n\nCollected from `{exp_dir}` by `python -m auditoryhum.scripts.report`, "
             "from the run records beside every result."]
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
