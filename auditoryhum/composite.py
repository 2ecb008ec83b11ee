"""Label distributions per cluster, and composite labels for clusters (docs/method.md §7).

For each cluster the best labels of its files (third column of the top-label scores CSV) are
counted. The report has, per cluster in ascending id order, the published prompt line, one
``label, count`` line per label (most frequent first, ties by label) and ``Total samples: N``,
then a blank line; after all clusters, one ``label, belongs to this many clusters: C`` line per
label (most clusters first, ties by label), ``Total labels: U`` and ``Total labels belonging to
more than 1 cluster: M``. A cluster's block is the prompt the paper gives an LLM to name the
cluster; :class:`LocalLLM` asks a local instruction-tuned model (a transformers model folder or a
GGUF file) for that composite label.

Rows with an empty label (files that could not be scored) and rows in no cluster (id -1: a file
without a label, or HDBSCAN noise) are left out of every count and reported once, on stderr and in
the JSON, never as a label or a cluster of their own; the report text stays the published one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

from . import formats, records
from .errors import UserError
from .runtime import Runtime, loading_model, resolve_model_path

log = logging.getLogger(__name__)

PROMPT_LINE = (
    "Provide a short sentence to describe this set of audio samples. The frequency distribution of "
    "individual labels for this set of audio samples is provided:"
)


# ----------------------------------------------------------------------------------------------
# statistics


@dataclass(frozen=True)
class ClusterLabels:
    cluster: int
    label_counts: tuple[tuple[str, int], ...]  # most frequent first, ties by label

    @property
    def n_samples(self) -> int:
        return sum(count for _, count in self.label_counts)


@dataclass(frozen=True)
class LabelStats:
    clusters: tuple[ClusterLabels, ...]  # ascending cluster id
    clusters_per_label: tuple[tuple[str, int], ...]  # most clusters first, ties by label
    n_unlabelled: int = 0  # rows left out because their label was empty
    n_unclustered: int = 0  # rows with a label left out because their cluster id was -1
    files: tuple[str, ...] | None = None  # the audio file of each row, when known

    @property
    def total_labels(self) -> int:
        return len(self.clusters_per_label)

    @property
    def shared_labels(self) -> int:
        """Labels found in more than one cluster."""
        return sum(1 for _, n_clusters in self.clusters_per_label if n_clusters > 1)


def _most_first(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def label_stats(cluster_ids: Sequence[int], labels: Sequence[str], n_unlabelled: int = 0,
                n_unclustered: int = 0) -> LabelStats:
    """Counts for rows that line up: ``labels[i]`` is the (non-empty) label of a row in ``cluster_ids[i]``."""
    per_cluster: dict[int, Counter] = defaultdict(Counter)
    for cluster, label in zip(cluster_ids, labels, strict=True):
        per_cluster[int(cluster)][label] += 1
    clusters_of_label: dict[str, set[int]] = defaultdict(set)
    for cluster, counts in per_cluster.items():
        for label in counts:
            clusters_of_label[label].add(cluster)
    return LabelStats(
        clusters=tuple(ClusterLabels(c, _most_first(per_cluster[c])) for c in sorted(per_cluster)),
        clusters_per_label=_most_first({label: len(c) for label, c in clusters_of_label.items()}),
        n_unlabelled=n_unlabelled,
        n_unclustered=n_unclustered,
    )


def read_label_stats(label_csv: formats.PathLike, scores_csv: formats.PathLike) -> LabelStats:
    """Statistics of a cluster ids CSV and the top-label scores CSV it was clustered from (the
    files its rows belong to must be the scores' files, where its run record names them)."""
    cluster_ids = formats.read_cluster_ids(label_csv)
    rows = formats.read_scores_csv(scores_csv)
    records.check_rows_belong(label_csv, len(cluster_ids), str(scores_csv), rows.filenames)
    labels = [label.strip() for label in rows.labels]
    n_unlabelled = sum(not label for label in labels)
    n_unclustered = sum(bool(label) and int(cluster) == formats.NO_CLUSTER for cluster, label in zip(cluster_ids, labels))
    kept = [(cluster, label) for cluster, label in zip(cluster_ids, labels)
            if label and cluster != formats.NO_CLUSTER]
    if not kept:
        raise UserError(f"{label_csv}: none of its {len(rows)} rows has both a cluster and a label in {scores_csv} "
                        f"({n_unlabelled} without a label, {n_unclustered} with cluster id {formats.NO_CLUSTER})")
    if n_unlabelled or n_unclustered:
        log.warning("%d of %d rows are left out of the statistics: %d without a label in %s, %d more with "
                    "cluster id %d in %s (no label, or HDBSCAN noise)", n_unlabelled + n_unclustered, len(rows),
                    n_unlabelled, scores_csv, n_unclustered, formats.NO_CLUSTER, label_csv)
    stats = label_stats([c for c, _ in kept], [label for _, label in kept], n_unlabelled, n_unclustered)
    return dataclasses.replace(stats, files=tuple(rows.filenames))


# ----------------------------------------------------------------------------------------------
# report text and structured form


def cluster_prompt(cluster: ClusterLabels) -> str:
    """The published prompt for one cluster: prompt line, ``label, count`` lines, total."""
    lines = [PROMPT_LINE, *(f"{label}, {count}" for label, count in cluster.label_counts)]
    lines.append(f"Total samples: {cluster.n_samples}")
    return "\n".join(lines)


def format_report(stats: LabelStats) -> str:
    blocks = "".join(f"{cluster_prompt(cluster)}\n\n" for cluster in stats.clusters)
    label_lines = "".join(f"{label}, belongs to this many clusters: {n}\n" for label, n in stats.clusters_per_label)
    totals = (
        f"Total labels: {stats.total_labels}\n"
        f"Total labels belonging to more than 1 cluster: {stats.shared_labels}\n"
    )
    return blocks + label_lines + totals


def stats_as_dict(stats: LabelStats) -> dict:
    """The report's numbers, for ``--json_out``."""
    return {
        "clusters": [
            {
                "cluster": cluster.cluster,
                "n_samples": cluster.n_samples,
                "label_counts": [{"label": label, "count": count} for label, count in cluster.label_counts],
            }
            for cluster in stats.clusters
        ],
        "labels": [{"label": label, "n_clusters": n} for label, n in stats.clusters_per_label],
        "total_labels": stats.total_labels,
        "total_labels_in_more_than_one_cluster": stats.shared_labels,
        "rows_without_label_left_out": stats.n_unlabelled,
        "rows_without_cluster_left_out": stats.n_unclustered,
    }


def format_prompts_file(stats: LabelStats) -> str:
    """Every cluster's prompt, each under a ``# cluster`` header, for pasting into any chat tool."""
    return "".join(
        f"# cluster {cluster.cluster} ({cluster.n_samples} sample{'' if cluster.n_samples == 1 else 's'})\n"
        f"{cluster_prompt(cluster)}\n\n"
        for cluster in stats.clusters
    )


# ----------------------------------------------------------------------------------------------
# composite labels


def top_labels_text(cluster: ClusterLabels, n: int) -> str:
    """``traffic noise (3); car horn (1)`` - the ``n`` most frequent labels."""
    return "; ".join(f"{label} ({count})" for label, count in cluster.label_counts[:n])


def clean_composite_label(text: str) -> str:
    """One line, without surrounding quotes: a model may answer over several lines or quote it."""
    return " ".join(text.split()).strip("\"'` ")


#: the gguf package version transformers is tested with here (reading GGUF files needs it)
GGUF_REQUIREMENT = "gguf==0.19.0"


@dataclass(frozen=True)
class LLMSource:
    """Where an LLM's weights are: a transformers model folder (or hub id), or one GGUF file in a folder."""

    folder: str
    gguf_file: str | None = None

    def kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    def describe(self) -> str:
        return os.path.join(self.folder, self.gguf_file) if self.gguf_file else self.folder


def locate_llm(path: str, flag: str = "--llm_model") -> LLMSource:
    """``path`` is a .gguf file, a folder holding exactly one .gguf file (and no config.json), a
    transformers model folder, or a hub id where a hub is reachable."""
    if os.path.isfile(path):
        if not path.lower().endswith(".gguf"):
            raise UserError(f"{flag}={path}: a file, but not a .gguf file (pass a GGUF file or a model folder)")
        return LLMSource(os.path.dirname(path) or ".", os.path.basename(path))
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        gguf_files = sorted(name for name in os.listdir(path) if name.lower().endswith(".gguf"))
        if len(gguf_files) == 1:
            return LLMSource(path, gguf_files[0])
        if len(gguf_files) > 1:
            raise UserError(f"{flag}={path}: the folder holds {len(gguf_files)} GGUF files "
                            f"({', '.join(gguf_files)}); pass the one to use")
    return LLMSource(resolve_model_path(path, flag))


class LocalLLM:
    """An instruction-tuned causal LM - a transformers folder or a GGUF file - answering one user
    turn greedily. A GGUF file is de-quantised by transformers into the runtime's dtype."""

    def __init__(self, model_path: str, runtime: Runtime, max_new_tokens: int, flag: str = "--llm_model"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = locate_llm(model_path, flag)
        where = f"{flag}={source.describe()}"
        if source.gguf_file:
            _check_gguf_support(where, runtime)
        with loading_model(flag, source.describe(), "causal LM"):
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(source.folder, **source.kwargs())
                self.model = AutoModelForCausalLM.from_pretrained(
                    source.folder, **source.kwargs(), **runtime.from_pretrained_kwargs()
                )
            except ValueError as err:
                architecture = re.search(r"architecture (\S+?)\.? is not supported", " ".join(str(err).split()))
                if source.gguf_file and architecture:
                    raise UserError(f"{where}: a GGUF file of architecture {architecture.group(1)}, which this "
                                    "transformers version cannot load (use a transformers model folder)") from None
                raise
        if not self.tokenizer.chat_template:
            raise UserError(f"{where}: the tokenizer has no chat template (use an instruction-tuned model)")
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    def answer(self, prompt: str) -> str:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        ).to(self.model.device)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1, use_cache=True
            )
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)


def _check_gguf_support(where: str, runtime: Runtime) -> None:
    if runtime.load_in_4bit:
        raise UserError(f"{where}: --load_in_4bit does not apply to a GGUF file (its weights are already quantised)")
    from transformers.utils import is_gguf_available

    if not is_gguf_available():
        raise UserError(f"{where}: reading GGUF files needs the gguf package: pip install {GGUF_REQUIREMENT}")


def format_table(rows: Sequence[formats.CompositeLabel]) -> str:
    """Aligned columns for the terminal."""
    cells = [formats.COMPOSITE_CSV_HEADER] + [(str(r.cluster), str(r.n_samples), r.composite_label, r.top_labels) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    return "\n".join(
        f"{row[0]:>{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip() for row in cells
    )
