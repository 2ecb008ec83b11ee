"""Where an experiment's files live: the one definition of the folder layout the recipe
(auditoryhum_tests.sh, :mod:`auditoryhum.recipe`) writes and the report (:mod:`auditoryhum.report`)
reads. Every path is relative to the folder the recipe runs in, as the recipe passes them to the
scripts, so a finished experiment that is copied or moved elsewhere is still up to date::

    data/<dataset>/wav/*.wav                                    the recordings (resampled in place)
    data/<dataset>/fetch.done, resample.done                    what the first two stages did
    data/supplementary/                                         the authors' published labels and notes
    exp/<dataset>/<mllm>/text_labels.csv                        the MLLM's labels
    exp/<dataset>/agreement.json, agreement.csv                 how far the MLLMs agree (two or more)
    exp/<dataset>/<mllm>/review_sheet.csv, human_annotations.csv   the human review
    exp/<dataset>/<mllm>/text_labels_with_annotations.csv       labels merged with the notes
    exp/<dataset>/clap/<clap>/clap.npy                          CLAP audio embeddings
    exp/<dataset>/<mllm>/<clap>/top_label_scores.csv            MLLM labels, scored (µc, µ1%)
    exp/<dataset>/<mllm>/<clap>/top_label_scores_with_annotations.csv   after the human review
    exp/<dataset>/<mllm>/<clap>/score_boost.txt                 the HITL boost
    exp/<dataset>/<mllm>/<clap>/<st>[.reviewed]/st.npy          sentence embeddings of the clustered labels
        sweep/sweep.csv, cluster_ids.csv, sweep.png, tsne.png   the k sweep and the chosen partition
        compare/<algorithm>_k<k>.csv (.png, _stats.txt)         the algorithms at the compared k
        compare/<algorithm>.csv                                 algorithms that choose their own k (HDBSCAN)
        composite/stats.json, stats.txt, composite_labels.csv, composite_prompts.txt
        taxonomy.html                                           the page to explore the taxonomy
    exp/report.md, exp/report/                                  the paper's tables
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TEXT_LABELS = "text_labels.csv"
REVIEW_SHEET = "review_sheet.csv"
ANNOTATIONS = "human_annotations.csv"
MERGED_LABELS = "text_labels_with_annotations.csv"
CLAP_NPY = "clap.npy"
SCORES = "top_label_scores.csv"
SCORES_WITH_ANNOTATIONS = "top_label_scores_with_annotations.csv"
BOOST = "score_boost.txt"
ST_NPY = "st.npy"
#: the sentence-model folder of a clustering of the reviewed labels: <st>.reviewed
REVIEWED_SUFFIX = ".reviewed"
SWEEP_DIR, COMPARE_DIR, COMPOSITE_DIR = "sweep", "compare", "composite"
REPORT = "report.md"
AGREEMENT, AGREEMENT_CSV = "agreement.json", "agreement.csv"


def model_name(value: str) -> str:
    """A model's folder name: what names it in the layout (``models/Qwen2-Audio-7B-Instruct`` ->
    ``Qwen2-Audio-7B-Instruct``)."""
    return Path(value).name


@dataclass(frozen=True, order=True)
class Run:
    """One dataset x MLLM x CLAP model: exp/<dataset>/<mllm>/<clap>/."""

    dataset: str
    mllm: str
    clap: str  # the CLAP model's folder name

    @property
    def key(self) -> list[str]:
        return [self.dataset, self.mllm, self.clap]


@dataclass(frozen=True)
class Layout:
    data_dir: Path = Path("data")
    exp_dir: Path = Path("exp")

    # -- data ------------------------------------------------------------------------------

    def wav_dir(self, dataset: str) -> Path:
        return self.data_dir / dataset / "wav"

    def wav_glob(self, dataset: str) -> str:
        return str(self.wav_dir(dataset) / "*.wav")

    def fetched(self, dataset: str) -> Path:
        return self.data_dir / dataset / "fetch.done"

    def resampled(self, dataset: str) -> Path:
        return self.data_dir / dataset / "resample.done"

    @property
    def supplementary_dir(self) -> Path:
        return self.data_dir / "supplementary"

    def agreement(self, dataset: str) -> Path:
        """util_agreement.py's figures for the MLLMs that labelled ``dataset``."""
        return self.exp_dir / dataset / AGREEMENT

    def agreement_csv(self, dataset: str) -> Path:
        return self.exp_dir / dataset / AGREEMENT_CSV

    # -- per MLLM --------------------------------------------------------------------------

    def mllm_dir(self, dataset: str, mllm: str) -> Path:
        return self.exp_dir / dataset / mllm

    def labels(self, dataset: str, mllm: str) -> Path:
        return self.mllm_dir(dataset, mllm) / TEXT_LABELS

    def review_sheet(self, dataset: str, mllm: str) -> Path:
        return self.mllm_dir(dataset, mllm) / REVIEW_SHEET

    def annotations(self, dataset: str, mllm: str) -> Path:
        return self.mllm_dir(dataset, mllm) / ANNOTATIONS

    def merged_labels(self, dataset: str, mllm: str) -> Path:
        return self.mllm_dir(dataset, mllm) / MERGED_LABELS

    def clap_npy(self, dataset: str, clap: str) -> Path:
        return self.exp_dir / dataset / "clap" / model_name(clap) / CLAP_NPY

    # -- per dataset x MLLM x CLAP ---------------------------------------------------------

    def run_dir(self, run: Run) -> Path:
        return self.mllm_dir(run.dataset, run.mllm) / run.clap

    def scores(self, run: Run) -> Path:
        return self.run_dir(run) / SCORES

    def scores_with_annotations(self, run: Run) -> Path:
        return self.run_dir(run) / SCORES_WITH_ANNOTATIONS

    def boost(self, run: Run) -> Path:
        return self.run_dir(run) / BOOST

    def st_dir(self, run: Run, st_model: str, reviewed: bool) -> Path:
        return self.run_dir(run) / (model_name(st_model) + (REVIEWED_SUFFIX if reviewed else ""))

    def runs(self) -> list[Run]:
        """Every run the experiment folder holds scores of, sorted."""
        return sorted(Run(path.parent.parent.parent.name, path.parent.parent.name, path.parent.name)
                      for path in self.exp_dir.glob(f"*/*/*/{SCORES}"))

    @property
    def report(self) -> Path:
        return self.exp_dir / REPORT

    @property
    def report_dir(self) -> Path:
        return self.exp_dir / "report"


@dataclass(frozen=True)
class ClusteringDir:
    """One sentence-model folder of a run: its embeddings, sweep, compared partitions, taxonomy."""

    folder: Path

    @property
    def st_npy(self) -> Path:
        return self.folder / ST_NPY

    @property
    def sweep_csv(self) -> Path:
        return self.folder / SWEEP_DIR / "sweep.csv"

    @property
    def sweep_ids(self) -> Path:
        return self.folder / SWEEP_DIR / "cluster_ids.csv"

    @property
    def sweep_png(self) -> Path:
        return self.folder / SWEEP_DIR / "sweep.png"

    @property
    def sweep_tsne(self) -> Path:
        return self.folder / SWEEP_DIR / "tsne.png"

    def compared(self, algorithm: str, k: int | None) -> Path:
        """The ids of ``algorithm`` (its registry key) at ``k``; None for one that chooses its own k."""
        return self.folder / COMPARE_DIR / (f"{algorithm}_k{k}.csv" if k is not None else f"{algorithm}.csv")

    @property
    def compare_dir(self) -> Path:
        return self.folder / COMPARE_DIR

    @property
    def composite_stats(self) -> Path:
        return self.folder / COMPOSITE_DIR / "stats.json"

    @property
    def composite_stats_txt(self) -> Path:
        return self.folder / COMPOSITE_DIR / "stats.txt"

    @property
    def composite_labels(self) -> Path:
        return self.folder / COMPOSITE_DIR / "composite_labels.csv"

    @property
    def composite_prompts(self) -> Path:
        return self.folder / COMPOSITE_DIR / "composite_prompts.txt"

    @property
    def taxonomy_html(self) -> Path:
        return self.folder / "taxonomy.html"

    @property
    def sentence_model(self) -> str:
        return self.folder.name.removesuffix(REVIEWED_SUFFIX)


def clusterings(layout: Layout, run: Run) -> list[ClusteringDir]:
    """The sentence-model folders of a run that hold a sweep, sorted."""
    return [ClusteringDir(path.parent.parent) for path in sorted(layout.run_dir(run).glob(f"*/{SWEEP_DIR}/sweep.csv"))]
