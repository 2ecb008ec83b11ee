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
from .multilabel import Memberships, read_memberships
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
    #: every row's cluster id and label (stripped), the rows left out included, when read from files
    row_cluster_ids: tuple[int, ...] | None = None
    row_labels: tuple[str, ...] | None = None
    #: with several labels per file: the rows are (file, cluster) memberships (auditoryhum.multilabel)
    memberships: "Memberships | None" = None

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
    return _rows_stats(cluster_ids, rows.labels, rows.filenames, label_csv, scores_csv, "rows")


def read_multi_label_stats(label_csv: formats.PathLike, multi_label_csv: formats.PathLike) -> LabelStats:
    """Statistics of the cluster ids of distinct labels and the multi-label CSV they came from: one
    row per (file, cluster) membership, so a file counts once in every cluster of its labels."""
    found = read_memberships(multi_label_csv, label_csv)
    log.info("%s", found.note())
    stats = _rows_stats(found.cluster_ids, found.row_labels, found.filenames, label_csv, multi_label_csv,
                        "memberships")
    return dataclasses.replace(stats, memberships=found)


def _rows_stats(cluster_ids, labels: Sequence[str], filenames: Sequence[str], label_csv, scores_csv,
                what: str) -> LabelStats:
    labels = [label.strip() for label in labels]
    n_unlabelled = sum(not label for label in labels)
    n_unclustered = sum(bool(label) and int(cluster) == formats.NO_CLUSTER for cluster, label in zip(cluster_ids, labels))
    kept = [(cluster, label) for cluster, label in zip(cluster_ids, labels)
            if label and cluster != formats.NO_CLUSTER]
    if not kept:
        raise UserError(f"{label_csv}: none of its {len(labels)} {what} has both a cluster and a label in "
                        f"{scores_csv} ({n_unlabelled} without a label, {n_unclustered} with cluster id "
                        f"{formats.NO_CLUSTER})")
    if n_unlabelled or n_unclustered:
        log.warning("%d of %d %s are left out of the statistics: %d without a label in %s, %d more with "
                    "cluster id %d in %s (no label, or HDBSCAN noise)", n_unlabelled + n_unclustered, len(labels),
                    what, n_unlabelled, scores_csv, n_unclustered, formats.NO_CLUSTER, label_csv)
    stats = label_stats([c for c, _ in kept], [label for _, label in kept], n_unlabelled, n_unclustered)
    return dataclasses.replace(stats, files=tuple(filenames), row_cluster_ids=tuple(int(c) for c in cluster_ids),
                               row_labels=tuple(labels))


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
        **({"multi_label": {**stats.memberships.summary(), "counted": "each file once in every cluster of its "
                            "labels, by its best label there; the rows counted are (file, cluster) memberships"}}
           if stats.memberships is not None else {}),
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


# ----------------------------------------------------------------------------------------------
# naming modes: the published sentence prompt, or a short name from worked examples

#: ``sentence``: the published prompt (one user turn, a sentence back); ``short``: a name of 2-4 words
SENTENCE, SHORT = "sentence", "short"
NAMING_MODES = (SENTENCE, SHORT)
#: longest answer taken as a short name; a longer one is a sentence, and the cluster is named by
#: its labels instead (:func:`fallback_name`)
MAX_SHORT_WORDS = 5
#: new tokens a short name needs (a sentence gets --max_new_tokens)
SHORT_NAME_TOKENS = 12

SHORT_NAME_ASK = "Name this group of sound recordings in 2 to 4 words. Labels, most frequent first:"
# Worked examples as real user/assistant turns: asked plainly, a 135M chat model (SmolLM2) answers
# in sentences, and with the examples packed into one user message it copies the last example's
# name; as turns it answers in their form (one line, no counts), measured on SmolLM2-135M against
# other pairs of examples. A cluster whose labels resemble an example's may get the example's name.
SHORT_NAME_EXAMPLES = (
    ("rain (6)\nthunder (2)", "Heavy rain"),
    ("bus (3)\nstreet (2)\nengine idling (1)", "Street traffic"),
)
PARENT_SHORT_ASK = "Name this group of sound categories in 2 to 4 words. The categories:"
PARENT_SHORT_EXAMPLES = (
    ("Heavy rain\nThunderstorm\nWind in trees", "Weather"),
    ("Street traffic\nTrain station", "Transport"),
)
#: the published prompt's wording, for a cluster of clusters in sentence mode
PARENT_SENTENCE_LINE = ("Provide a short sentence to describe this set of audio samples. It is made of these "
                        "groups of audio samples, with their sizes:")


def _user(content: str) -> dict:
    return {"role": "user", "content": content}


def _examples(examples: Sequence[tuple[str, str]], ask: str) -> list[dict]:
    turns = []
    for question, answer in examples:
        turns += [_user(f"{ask}\n{question}"), {"role": "assistant", "content": answer}]
    return turns


def cluster_messages(mode: str, cluster: ClusterLabels) -> list[dict]:
    """The conversation that names a cluster from its label counts: the published prompt as one
    user turn, or the short-name examples and then the cluster."""
    if mode == SENTENCE:
        return [_user(cluster_prompt(cluster))]
    counts = "\n".join(f"{label} ({count})" for label, count in cluster.label_counts)
    return _examples(SHORT_NAME_EXAMPLES, SHORT_NAME_ASK) + [_user(f"{SHORT_NAME_ASK}\n{counts}")]


def parent_messages(mode: str, children: Sequence[tuple[str, int]]) -> list[dict]:
    """The conversation that names a cluster of clusters from its children's (name, size)."""
    if mode == SENTENCE:
        lines = [PARENT_SENTENCE_LINE, *(f"{name}, {size}" for name, size in children),
                 f"Total samples: {sum(size for _, size in children)}"]
        return [_user("\n".join(lines))]
    names = "\n".join(name for name, _ in children)
    return _examples(PARENT_SHORT_EXAMPLES, PARENT_SHORT_ASK) + [_user(f"{PARENT_SHORT_ASK}\n{names}")]


def clash_messages(mode: str, messages: Sequence[dict], answer: str, taken: Sequence[str]) -> list[dict]:
    """``messages`` continued after the model's ``answer``, which another cluster already has: asked
    again with every name taken at this level in context."""
    taken_text = "; ".join(taken)
    ask = (f"Another group already has that name. Names taken: {taken_text}. Give a different name of 2 to 4 "
           "words.") if mode == SHORT else \
        (f"Another set of audio samples is already described that way. Descriptions taken: {taken_text}. "
         "Provide a different short sentence.")
    return [*messages, {"role": "assistant", "content": answer}, _user(ask)]


_COUNT = re.compile(r"\(\s*\d+\s*\)")
_LEADING_TAG = re.compile(r"^(name|answer|category)\s*:\s*", re.IGNORECASE)


def clean_short_name(text: str) -> str:
    """A short name from an answer: its first line, without counts such as ``(8)``, a leading
    ``Name:``, quotes, end punctuation and a word repeated at once (``Aquarium aquarium``); first
    letter upper case. Empty when the answer is no name of at most :data:`MAX_SHORT_WORDS` words."""
    lines = [line for line in text.splitlines() if line.strip()]
    line = _LEADING_TAG.sub("", _COUNT.sub(" ", lines[0] if lines else "")).strip()
    words = []
    for word in line.strip("\"'`*.,;:!? ").split():
        if not words or word.casefold() != words[-1].casefold():
            words.append(word)
    if not words or len(words) > MAX_SHORT_WORDS:
        return ""
    name = " ".join(words).strip("\"'`*.,;:!? ")
    return name[:1].upper() + name[1:]


def clean_name(mode: str, text: str) -> str:
    return clean_short_name(text) if mode == SHORT else clean_composite_label(text)


def fallback_name(label_counts: Sequence[tuple[str, int]]) -> str:
    """A name when the model gives none: the two most frequent labels, e.g. ``Pond & marsh``."""
    name = " & ".join(label for label, _ in label_counts[:2]) or "unlabelled"
    return name[:1].upper() + name[1:]


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
        """The answer to one user turn."""
        return self.chat([{"role": "user", "content": prompt}])

    def chat(self, messages: Sequence[dict]) -> str:
        """The next assistant turn of a conversation (``{"role", "content"}`` turns), greedily."""
        import torch

        inputs = self.tokenizer.apply_chat_template(
            list(messages),
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
