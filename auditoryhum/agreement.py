"""How far labellers agree on the same files (util_agreement.py; docs/method.md §14).

The recipe runs several MLLMs over the same clips; a person's notes are one more labeller. Each
labeller gives every file one **label**: the first candidate label of its labels-CSV line, cleaned
as CLAP scoring cleans it (:func:`auditoryhum.prompting.parse_label_line`: ASCII, its first two
words) - or, given the labeller's top-label scores CSV, the label CLAP chose - then **normalised**:
lower case, runs of white space as one. A file without a label (a blank line, an answer with no
English word, an annotations CSV that ends early) gets the category :data:`NO_LABEL` - it is
counted, as a label of its own, never dropped.

Per pair of labellers, over every file:

* **exact agreement** - the share of files whose two labels are equal;
* **Cohen's kappa** - that agreement corrected for what two labellers with the same label
  frequencies would reach by chance, (p_o - p_e) / (1 - p_e), as scikit-learn's
  ``cohen_kappa_score`` computes it: 1 = the same labels, 0 = chance, below 0 = worse than chance;
  undefined (None) when both give every file one and the same label;
* **semantic agreement** - the mean cosine of the two labels' sentence embeddings (two labellers
  that say "dog barking" and "barking dog" agree here, not exactly), and the share of files whose
  cosine reaches a threshold; (none) against a label counts as cosine 0, (none) against (none) as 1;
* **the files they disagree on most** - the lowest cosines (without a sentence model: the files
  whose labels differ).

Over all labellers: **Fleiss' kappa** (three or more labellers; with two it is Scott's pi, and
Cohen's kappa is the figure to read), the share of files on which all agree, and the means of the
pairwise figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Sequence

import numpy as np

from .prompting import parse_label_line

#: the category of a file without a label
NO_LABEL = "(none)"
#: cosine at which two labels count as saying the same thing (all-MiniLM-L6-v2: "dog barking" and
#: "barking dog" 0.95, "rain" and "thunder" 0.5, "traffic noise" and "bird song" 0.1)
DEFAULT_THRESHOLD = 0.5


def normalise(label: str) -> str:
    """Lower case, runs of white space as one space; :data:`NO_LABEL` for an empty label."""
    return " ".join(label.lower().split()) or NO_LABEL


def line_label(line: str) -> str:
    """The normalised label of a labels-CSV (or annotations-CSV) line: its first candidate label."""
    candidates = parse_label_line(line)
    return normalise(candidates[0]) if candidates else NO_LABEL


# ----------------------------------------------------------------------------------------------
# the figures


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two labellings of the same items; NaN where chance agreement is 1."""
    n = len(a)
    categories = sorted(set(a) | set(b))
    index = {label: i for i, label in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)), dtype=np.float64)
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / (n * n)
    return math.nan if expected == 1.0 else float((observed - expected) / (1.0 - expected))


def fleiss_kappa(labellings: Sequence[Sequence[str]]) -> float:
    """Fleiss' kappa of m labellings (m >= 2) of the same items, each item labelled by every one;
    NaN where chance agreement is 1."""
    m = len(labellings)
    items = list(zip(*labellings, strict=True))
    n = len(items)
    categories = sorted({label for labels in labellings for label in labels})
    index = {label: i for i, label in enumerate(categories)}
    counts = np.zeros((n, len(categories)), dtype=np.float64)
    for i, labels in enumerate(items):
        for label in labels:
            counts[i, index[label]] += 1
    per_item = ((counts ** 2).sum(axis=1) - m) / (m * (m - 1))
    shares = counts.sum(axis=0) / (n * m)
    observed, expected = float(per_item.mean()), float((shares ** 2).sum())
    return math.nan if expected == 1.0 else (observed - expected) / (1.0 - expected)


#: Landis and Koch's (1977) words for a kappa, by its upper bound
KAPPA_WORDS = ((0.0, "worse than chance"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"),
               (math.inf, "almost perfect"))


def kappa_reading(kappa: float | None) -> str:
    """A kappa in words: ``slight`` for 0.00-0.20 (0 is chance), ..., ``undefined``."""
    if kappa is None or math.isnan(kappa):
        return "undefined"
    if kappa < 0:
        return KAPPA_WORDS[0][1]
    return next(words for bound, words in KAPPA_WORDS[1:] if kappa <= bound)


def exact_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def label_cosines(a: Sequence[str], b: Sequence[str], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """Per item, the cosine of the two labels' embeddings (``vectors``: label -> embedding);
    :data:`NO_LABEL` against a label 0, against itself 1."""
    units = {}
    for label in (set(a) | set(b)) - {NO_LABEL}:  # each distinct label normalised once
        vector = np.asarray(vectors[label], dtype=np.float64)
        units[label] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    out = np.empty(len(a), dtype=np.float64)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x == NO_LABEL or y == NO_LABEL:
            out[i] = 1.0 if x == y else 0.0
        else:
            out[i] = float(units[x] @ units[y])
    return out


@dataclass(frozen=True)
class Disagreement:
    file: str
    label_a: str
    label_b: str
    cosine: float | None  # None without a sentence model


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    files: int
    exact_agreement: float
    cohen_kappa: float
    semantic_agreement: float | None  # mean cosine
    semantic_agree_share: float | None  # share of files with cosine >= threshold
    both_without_label: int
    disagreements: tuple[Disagreement, ...]  # the worst first

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "files": self.files, "exact_agreement": self.exact_agreement,
                "cohen_kappa": _number(self.cohen_kappa), "semantic_agreement": self.semantic_agreement,
                "semantic_agree_share": self.semantic_agree_share, "files_both_without_a_label":
                    self.both_without_label,
                "disagreements": [{"file": d.file, self.a: d.label_a, self.b: d.label_b, "cosine": d.cosine}
                                  for d in self.disagreements]}


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def pair_agreement(name_a: str, labels_a: Sequence[str], name_b: str, labels_b: Sequence[str],
                   files: Sequence[str], vectors: dict[str, np.ndarray] | None, threshold: float,
                   n_disagreements: int) -> PairAgreement:
    """Every figure of one pair (``vectors``: each label's sentence embedding, None for none)."""
    cosines = None if vectors is None else label_cosines(labels_a, labels_b, vectors)
    differ = [i for i, (x, y) in enumerate(zip(labels_a, labels_b)) if x != y]
    if cosines is not None:
        differ.sort(key=lambda i: (cosines[i], i))
    worst = tuple(Disagreement(files[i], labels_a[i], labels_b[i], None if cosines is None else float(cosines[i]))
                  for i in differ[:n_disagreements])
    return PairAgreement(
        name_a, name_b, len(files), exact_agreement(labels_a, labels_b), cohen_kappa(labels_a, labels_b),
        None if cosines is None else float(cosines.mean()),
        None if cosines is None else float(np.mean(cosines >= threshold)),
        sum(x == y == NO_LABEL for x, y in zip(labels_a, labels_b)), worst)


@dataclass(frozen=True)
class Agreement:
    names: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]  # per labeller, per file (normalised)
    pairs: tuple[PairAgreement, ...]
    fleiss_kappa: float | None  # None with fewer than 3 labellers
    all_agree: float  # share of files on which every labeller gives the same label
    threshold: float
    semantic: bool

    def overall(self) -> dict:
        def mean(values):
            values = [v for v in values if v is not None and not math.isnan(v)]
            return float(np.mean(values)) if values else None

        return {"labellers": len(self.names), "files": len(self.files), "fleiss_kappa": _number(self.fleiss_kappa),
                "all_agree": self.all_agree,
                "mean_exact_agreement": mean([p.exact_agreement for p in self.pairs]),
                "mean_cohen_kappa": mean([p.cohen_kappa for p in self.pairs]),
                "mean_semantic_agreement": mean([p.semantic_agreement for p in self.pairs]),
                "mean_semantic_agree_share": mean([p.semantic_agree_share for p in self.pairs])}

    def without_label(self) -> dict[str, int]:
        return {name: sum(label == NO_LABEL for label in labels) for name, labels in zip(self.names, self.labels)}


def agreement(names: Sequence[str], labels: Sequence[Sequence[str]], files: Sequence[str],
              embed: Callable[[list[str]], np.ndarray] | None, threshold: float = DEFAULT_THRESHOLD,
              n_disagreements: int = 10) -> Agreement:
    """Every figure of two or more labellings (normalised labels, one per file) of ``files``;
    ``embed``: a sentence model (distinct labels -> embeddings), None for no semantic figures."""
    vectors = None
    if embed is not None:
        distinct = sorted({label for labelling in labels for label in labelling} - {NO_LABEL})
        vectors = dict(zip(distinct, np.asarray(embed(distinct)))) if distinct else {}
    pairs = tuple(pair_agreement(names[i], labels[i], names[j], labels[j], files, vectors, threshold, n_disagreements)
                  for i, j in combinations(range(len(names)), 2))
    all_agree = float(np.mean([len(set(item)) == 1 for item in zip(*labels)]))
    return Agreement(tuple(names), tuple(files), tuple(tuple(labelling) for labelling in labels), pairs,
                     fleiss_kappa(labels) if len(names) >= 3 else None, all_agree, threshold, embed is not None)
