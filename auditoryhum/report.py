"""The paper's tables, collected from a recipe's experiment folder (auditoryhum_tests.sh, last stage).

    python -m auditoryhum.scripts.report --exp_dir exp --out exp/report.md

Every figure comes from the run records the scripts left beside their outputs (``<output>.run.json``,
see docs/run-records.md); nothing is read from printed logs. The folder layout is the one
:mod:`auditoryhum.experiment` defines and the recipe writes; the clustering algorithms are those of
:data:`auditoryhum.clustering.ALGORITHMS`.

The report, as markdown with each table also as CSV (in ``report/`` beside the markdown) and the
S(k) / S_adj(k) curves of every sweep side by side in one PNG:

1. label alignment: µc (mean best CLAP score) and µ1% (mean over the lowest 1 % of files), per
   dataset and MLLM, before and after the human annotations;
2. HITL boost: the mean score of the annotated rows before -> after, and who annotated them (a
   person, the authors' published notes, or the simulated annotator - said at every figure), or
   that the review is still waiting for a person;
3. number of clusters: unique labels U, the chosen k (maximum of S_adj) and k / U, with λ;
4. silhouette of each clustering algorithm at every k it was run at, and of the algorithms that
   choose their own k (with and without their noise points);
5. rows without a label: how many files each stage carried without one;
6. with two or more MLLMs, how far they agree on each dataset (util_agreement.py): per pair exact
   agreement, Cohen's kappa and semantic agreement, and Fleiss' kappa over all of them.

What in the results is not real (a random-weight model, the simulated annotator) is read from the
records' ``stand_ins`` and said at the top, and beside every figure it touches. Which labels a
clustering used (the MLLM's before the review, as published, or the reviewed ones) is read from
its sentence embeddings' record.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from . import experiment, formats, records, review
from .agreement import kappa_reading
from .clustering import ALGORITHMS
from .errors import UserError
from .experiment import SCORES_WITH_ANNOTATIONS, ClusteringDir, Layout

MISSING = "—"
#: the fixed-k scripts' titles by the script name their records carry, in table order
K_ALGORITHMS = {f"{a.script}.py": a.title for a in ALGORITHMS.values() if a.takes_k}
OWN_K_ALGORITHMS = {f"{a.script}.py": a for a in ALGORITHMS.values() if not a.takes_k}
SIMULATED = review.SIMULATED_ANNOTATOR_STAND_IN


def result(path: Path, key: str):
    found = records.recorded_results(path)
    return None if found is None else found.get(key)


# ----------------------------------------------------------------------------------------------
# the experiment folder


@dataclass(frozen=True, order=True)
class Run:
    """One dataset x MLLM x CLAP model of the experiment folder."""

    run: experiment.Run
    layout: Layout

    @property
    def key(self) -> list[str]:
        return self.run.key

    @property
    def folder(self) -> Path:
        return self.layout.run_dir(self.run)

    @property
    def scores(self) -> Path:
        return self.layout.scores(self.run)

    @property
    def scores_with_annotations(self) -> Path:
        return self.layout.scores_with_annotations(self.run)

    @property
    def boost(self) -> Path:
        return self.layout.boost(self.run)

    @property
    def annotations(self) -> Path:
        return self.layout.annotations(self.run.dataset, self.run.mllm)

    @property
    def review_sheet(self) -> Path:
        return self.layout.review_sheet(self.run.dataset, self.run.mllm)

    @property
    def text_labels(self) -> Path:
        return self.layout.labels(self.run.dataset, self.run.mllm)

    @property
    def clap_npy(self) -> Path:
        return self.layout.clap_npy(self.run.dataset, self.run.clap)

    def clusterings(self) -> list["Clustering"]:
        """The sentence-model folders that hold a finished sweep."""
        return [Clustering(self, c) for c in experiment.clusterings(self.layout, self.run)]

    @functools.cached_property
    def annotator(self) -> str:
        """Who wrote the human notes: "simulated annotator", "published" (the authors'), "person",
        or what the review is waiting for."""
        if not self.annotations.exists():
            return "waiting for a person" if self.review_sheet.exists() else MISSING
        data = records.read_record(self.annotations, check_output=False, quiet=True)
        if data is None:
            return "published"  # copied from the supplementary data: no run of ours made it
        return SIMULATED if review.simulated_annotator_named(data.get("stand_ins", [])) else "person"


@dataclass(frozen=True)
class Clustering:
    """One sentence-model folder of a run: its embeddings, sweep and compared partitions."""

    run: Run
    dir: ClusteringDir

    @property
    def folder(self) -> Path:
        return self.dir.folder

    @functools.cached_property
    def st_record(self) -> dict:
        return records.read_record(self.dir.st_npy, check_output=False) or {}

    @functools.cached_property
    def sweep_results(self) -> dict:
        return records.recorded_results(self.dir.sweep_csv) or {}

    @property
    def labels(self) -> str:
        """Which best labels were embedded: "reviewed" (the scores after the review) or "MLLM"."""
        inputs = self.st_record.get("inputs") if isinstance(self.st_record.get("inputs"), list) else []
        label_csv = next((str(item.get("path", "")) for item in inputs
                          if isinstance(item, dict) and item.get("flag") == "--label_csv"), "")
        return "reviewed" if Path(label_csv).name == SCORES_WITH_ANNOTATIONS else "MLLM" if label_csv else MISSING

    @property
    def sentence_model(self) -> str:
        return self.dir.sentence_model

    @property
    def key(self) -> list[str]:
        return self.run.key + [self.sentence_model, self.labels]

    @property
    def title(self) -> str:
        return " / ".join(self.key)

    @property
    def unique_labels(self) -> int | None:
        """U: the distinct labels that were embedded."""
        return _count(self.st_record.get("results", {}).get("distinct_labels"))

    @property
    def chosen_k(self) -> int | None:
        return _count(self.sweep_results.get("chosen_k"))

    def compared(self) -> list[tuple[str, dict]]:
        """(algorithm, results) of every fixed-k partition under compare/, by algorithm then k."""
        found = []
        for path in self.dir.compare_dir.glob("*_k*.csv"):
            data = records.read_record(path, check_output=False)
            if data and data.get("script") in K_ALGORITHMS and isinstance(data.get("results"), dict):
                found.append((K_ALGORITHMS[data["script"]], data["results"]))
        order = list(K_ALGORITHMS.values())
        return sorted(found, key=lambda item: (order.index(item[0]), item[1].get("n_clusters") or 0))

    def own_k(self) -> list[tuple[str, dict]]:
        """(algorithm, results) of the algorithms that choose their own k (HDBSCAN)."""
        found = []
        for script, algorithm in OWN_K_ALGORITHMS.items():
            results = records.recorded_results(self.dir.compared(algorithm.key, None))
            if results is not None:
                found.append((algorithm.title, results))
        return found


def find_runs(exp_dir: Path) -> list[Run]:
    layout = Layout(exp_dir=Path(exp_dir))
    runs = [Run(run, layout) for run in layout.runs()]
    if not runs:
        raise UserError(f"{exp_dir}: no results found (expected {exp_dir}/<dataset>/<mllm>/<clap>/"
                        f"{experiment.SCORES}, written by the recipe's scoring stage)")
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


#: beside every figure made with the simulated annotator's notes
SIMULATED_MARK = " (simulated annotator)"


def simulated_mark(run: Run) -> str:
    return SIMULATED_MARK if run.annotator == SIMULATED else ""


def fmt_marked(value, run: Run) -> str:
    """A figure made from the human notes, marked when the simulated annotator wrote them."""
    text = fmt(value)
    return text if text == MISSING else text + simulated_mark(run)


def _count(value) -> int | None:
    """A recorded count, or None where the record holds anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _figure(value) -> float | None:
    """A recorded real number, or None where the record holds anything else."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fmt(value, digits: int = 4) -> str:
    """A recorded figure as the tables show it; a value of a type no script records (a record edited
    by hand) shows as missing rather than stopping the report."""
    if isinstance(value, (bool, int)):
        return str(value)
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.{digits}f}"
    return MISSING


RUN_KEY = ["dataset", "MLLM", "CLAP model"]
CLUSTERING_KEY = RUN_KEY + ["sentence model", "labels"]


def alignment_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        before = records.recorded_results(run.scores) or {}
        after = records.recorded_results(run.scores_with_annotations) or {}
        rows.append(run.key + [fmt(before.get("rows_written")), fmt(before.get("scored_rows")),
                               fmt(before.get("mean_clap_score")), fmt(before.get("mean_clap_score_lowest_1pct")),
                               fmt_marked(after.get("mean_clap_score"), run),
                               fmt_marked(after.get("mean_clap_score_lowest_1pct"), run), run.annotator])
    return Table(
        "alignment", "Label alignment (CLAP)",
        "µc: mean best-label CLAP score over the scored files; µ1%: mean over the lowest 1 % of them (at "
        "least one). Before: the MLLM's labels; after: with the human annotations merged in (annotator: "
        f"who wrote them; {SIMULATED_MARK.strip()} marks figures made with the simulated annotator's notes, "
        "made up from the file names, not by a person).",
        RUN_KEY + ["files", "scored", "µc", "µ1%", "µc after HITL", "µ1% after HITL", "annotator"],
        rows,
    )


def boost_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        boost = records.recorded_results(run.boost) or {}
        rows.append(run.key + [run.annotator] + [fmt_marked(boost.get(name), run)
                                                 for name in ("annotated_rows", "mean_before", "mean_after", "boost")])
    return Table(
        "hitl_boost", "HITL boost",
        "Mean CLAP score of the rows a human annotated, with the MLLM label (before) and with the "
        "annotation merged in (after), as util_score_boost.py computes it (rows with no score left out). "
        "Annotator: a person (the review sheet), the authors' published notes, or the simulated annotator "
        f"(notes made up from the file names; every such figure is marked {SIMULATED_MARK.strip()}); "
        "\"waiting for a person\": the review sheet holds no note yet.",
        RUN_KEY + ["annotator", "annotated rows", "before", "after", "boost"],
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
        for title, found in c.own_k():
            rows.append(c.key + [title, fmt(found.get("clusters_found")), fmt(found.get("noise_points")),
                                 fmt(found.get("silhouette")), fmt(found.get("silhouette_without_noise"))])
    return Table(
        "hdbscan", "Algorithms that choose their own k (HDBSCAN)",
        "Silhouette: as published, the noise points (id -1) count as one more group; without noise: the "
        "clustered points alone.",
        CLUSTERING_KEY + ["algorithm", "clusters found", "noise points", "silhouette", "silhouette without noise"],
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
                result(run.scores, "rows_without_a_label"),
                result(run.scores_with_annotations, "rows_without_a_label"),
                result(c.dir.st_npy, "rows_without_a_label") if c else None,
                result(c.dir.sweep_ids, "rows_without_a_label") if c else None,
            ]
            rows.append(key + [fmt(result(run.scores, "rows_written"))] + [fmt(n) for n in counts])
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


def agreement_table(runs: list[Run]) -> Table | None:
    """How far the MLLMs agree on each dataset; None where the recipe measured no agreement (one MLLM)."""
    rows = []
    for dataset in sorted({run.run.dataset for run in runs}):
        found = records.recorded_results(runs[0].layout.agreement(dataset))
        if not found:
            continue
        pairs = found.get("pairs")
        for pair in pairs if isinstance(pairs, list) else []:
            if not isinstance(pair, dict):
                continue
            kappa = _figure(pair.get("cohen_kappa"))
            rows.append([dataset, f"{pair.get('a')} vs {pair.get('b')}", fmt(pair.get("files")),
                         fmt(pair.get("exact_agreement")), fmt(kappa), kappa_reading(kappa),
                         fmt(pair.get("semantic_agreement")), fmt(pair.get("semantic_agree_share"))])
        if _figure(found.get("fleiss_kappa")) is not None:
            kappa = _figure(found["fleiss_kappa"])
            rows.append([dataset, f"all {found.get('labellers')} (Fleiss' kappa)", fmt(found.get("files")),
                         fmt(found.get("all_agree")), fmt(kappa), kappa_reading(kappa),
                         fmt(found.get("mean_semantic_agreement")), fmt(found.get("mean_semantic_agree_share"))])
    if not rows:
        return None
    return Table(
        "agreement", "Agreement between the MLLMs",
        "Each file's label: the first of its MLLM answer, cleaned and in lower case; a file without one counts as "
        "the label (none). Exact: share of files with the same label (for all: every MLLM the same). Kappa: "
        "agreement beyond chance (Cohen's per pair, Fleiss' over all; 0 is chance, 1 the same labels), in Landis "
        "and Koch's words. Semantic: mean cosine of the two labels' sentence embeddings, and the share of files "
        "at the threshold or above (util_agreement.py, docs/method.md §14).",
        ["dataset", "MLLMs", "files", "exact", "kappa", "reading", "semantic", "semantic agree"],
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
        curve = formats.read_sweep_csv(c.dir.sweep_csv)
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
    agreement = agreement_table(runs)
    if agreement is not None:
        tables.append(agreement)
    return tables, clusterings


def stand_ins(exp_dir: Path, inputs: list[Path]) -> list[str]:
    """Every stand-in the experiment's records name, once."""
    found: dict[str, None] = {}
    for path in inputs:
        output = Path(str(path).removesuffix(records.RECORD_SUFFIX))
        found.update(dict.fromkeys(records.recorded_stand_ins(output, check_output=False)))
    return list(found)


def write_report(exp_dir: Path, out: Path, csv_dir: Path, inputs: list[Path]) -> list[Table]:
    """The report of ``exp_dir``, from the run records ``inputs``."""
    tables, clusterings = build_tables(exp_dir)
    csv_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"# AuditoryHuM results\n\nCollected from `{exp_dir}` by `python -m auditoryhum.scripts.report`, "
             "from the run records beside every result."]
    not_real = stand_ins(exp_dir, inputs)
    if not_real:
        parts.append("**Not real results.** These results were made with stand-ins, as their run records say:\n\n"
                     + "\n".join(f"- {item}" for item in not_real))
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
