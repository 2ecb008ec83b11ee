"""A small scene classifier trained on the taxonomy: audio features -> cluster (docs/method.md §10).

What the taxonomy is for, in the paper's words: "training lightweight scene recognition models
deployable to edge devices". The inputs are an ``(n_files, d)`` features array the suite made
(``mfcc.npy``, ``clap.npy``, ``ast.npy``, ...) and one cluster id per file (a cluster ids CSV, or
one level of the taxonomy tree). Rows are left out, and counted, when they cannot teach anything:

* a features row that is not finite (NaN: a file that could not be read);
* cluster id -1 (a file without a label, or HDBSCAN noise);
* with ``min_class_files``, the files of a class smaller than that.

The classifier is a pipeline ``StandardScaler`` -> model: a linear model (multinomial logistic
regression, classes weighted by their inverse frequency so a small cluster counts as much as a big
one in training, as it does in macro-F1) or a small MLP (one hidden layer, L-BFGS, which suits a few
thousand rows). It is measured by stratified k-fold cross-validation (shuffled with seed 100):
every file is predicted once by the model trained on the other folds, and precision, recall, F1,
macro-F1, accuracy and the confusion matrix are computed on those held-out predictions. The model
that is exported is then trained on every row.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import formats
from .errors import UserError
from .runtime import SEED

log = logging.getLogger(__name__)

LINEAR, MLP = "linear", "mlp"
MODELS = (LINEAR, MLP)
DEFAULT_FOLDS = 5
LINEAR_MAX_ITER = 2000
MLP_HIDDEN_UNITS = 64
MLP_MAX_ITER = 1000
MLP_L2 = 1e-3
#: Above this many classes the printed confusion matrix would be unreadable: the JSON and PNG hold it.
MAX_PRINTED_CLASSES = 20


# ----------------------------------------------------------------------------------------------
# which rows train the classifier


@dataclass(frozen=True)
class TrainingSet:
    """The rows that train and test the classifier, and what was left out."""

    rows: np.ndarray  # 0-based rows of the inputs that are used, in order
    labels: np.ndarray  # (len(rows),) int64 cluster id of each
    class_ids: tuple[int, ...]  # ascending: the column order of the probabilities
    class_names: tuple[str, ...]
    n_rows: int  # rows of the inputs
    without_features: int  # rows left out: a non-finite features row (of any features array)
    in_no_cluster: int  # rows with features left out: cluster id -1
    in_small_classes: int  # rows left out: their class has fewer than min_class_files files

    def counts(self) -> dict[int, int]:
        ids, counts = np.unique(self.labels, return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist()))

    def left_out_text(self) -> str:
        parts = [(self.without_features, "without features (NaN row)"),
                 (self.in_no_cluster, f"in no cluster (id {formats.NO_CLUSTER})"),
                 (self.in_small_classes, "in classes smaller than --min_class_files")]
        said = [f"{count} {what}" for count, what in parts if count]
        return ", ".join(said) if said else "none"


def class_name(names: dict[int, str], cluster: int) -> str:
    """A cluster's name in the taxonomy, or ``cluster <id>`` where it has none."""
    return names.get(cluster) or f"cluster {cluster}"


def training_set(feature_arrays: Sequence[np.ndarray], cluster_ids: np.ndarray, names: dict[int, str],
                 ids_source: str, folds: int, min_class_files: int = 0) -> TrainingSet:
    """The rows with finite features (in every array of ``feature_arrays``, so two feature sets are
    compared on the same files) and a cluster, checked for cross-validation: at least two classes,
    and every class with at least ``folds`` files (a class of one file can never be both trained on
    and held out). ``ids_source`` names the ids in messages (``--label_csv=ids.csv``)."""
    has_features = np.logical_and.reduce([np.isfinite(array).all(axis=1) for array in feature_arrays])
    in_cluster = cluster_ids != formats.NO_CLUSTER
    usable = has_features & in_cluster
    ids, counts = np.unique(cluster_ids[usable], return_counts=True)
    small = ids[counts < min_class_files]
    in_small = usable & np.isin(cluster_ids, small)
    kept = usable & ~in_small
    class_ids = tuple(int(c) for c in np.unique(cluster_ids[kept]))
    chosen = TrainingSet(
        rows=np.flatnonzero(kept), labels=cluster_ids[kept].astype(np.int64), class_ids=class_ids,
        class_names=tuple(class_name(names, c) for c in class_ids), n_rows=len(cluster_ids),
        without_features=int((~has_features).sum()), in_no_cluster=int((has_features & ~in_cluster).sum()),
        in_small_classes=int(in_small.sum()))
    _check_classes(chosen, ids_source, folds, min_class_files)
    if chosen.rows.size < chosen.n_rows:
        log.warning("%d of %d rows are left out of training and testing: %s", chosen.n_rows - chosen.rows.size,
                    chosen.n_rows, chosen.left_out_text())
    return chosen


def _check_classes(chosen: TrainingSet, ids_source: str, folds: int, min_class_files: int) -> None:
    if not chosen.class_ids:
        raise UserError(f"{ids_source}: none of its {chosen.n_rows} rows has both features and a cluster "
                        f"(left out: {chosen.left_out_text()})")
    if len(chosen.class_ids) == 1:
        only = chosen.class_ids[0]
        raise UserError(f"{ids_source}: only one class ({chosen.class_names[0]!r}, cluster {only}) among the "
                        f"{chosen.rows.size} rows with features and a cluster; a classifier needs at least 2")
    counts = chosen.counts()
    smallest = min(chosen.class_ids, key=lambda c: (counts[c], c))
    name = chosen.class_names[chosen.class_ids.index(smallest)]
    n = counts[smallest]
    if n == 1:
        raise UserError(f"{ids_source}: cluster {smallest} ({name!r}) has only 1 file with features: a class needs "
                        "at least 2 to be both trained on and held out; leave small classes out with "
                        f"--min_class_files={folds}")
    if n < folds:
        raise UserError(f"{ids_source}: cluster {smallest} ({name!r}) has {n} files, fewer than --folds={folds}: "
                        f"stratified cross-validation holds out part of every class in every fold; pass --folds={n}, "
                        f"or leave small classes out with --min_class_files={folds}")


# ----------------------------------------------------------------------------------------------
# the models


def make_classifier(model: str):
    """An untrained pipeline: standardised features, then the linear model or the MLP (seed 100)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == LINEAR:
        head = LogisticRegression(max_iter=LINEAR_MAX_ITER, class_weight="balanced", random_state=SEED)
    elif model == MLP:
        head = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN_UNITS,), solver="lbfgs", alpha=MLP_L2,
                             max_iter=MLP_MAX_ITER, random_state=SEED)
    else:
        raise UserError(f"--model={model}: expected one of {', '.join(MODELS)}")
    return make_pipeline(StandardScaler(), head)


def fit(model: str, features: np.ndarray, labels: np.ndarray, what: str):
    """``make_classifier(model)`` trained; a solver that stops before converging is one warning
    naming ``what`` was trained, not one per fold from scikit-learn."""
    from sklearn.exceptions import ConvergenceWarning

    classifier = make_classifier(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(features, labels)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s: the %s solver stopped at its iteration limit before converging", what, model)
    return classifier


@dataclass(frozen=True)
class CrossValidation:
    """Every row predicted once, by the model of the fold that held it out."""

    predictions: np.ndarray  # (n,) cluster ids
    probabilities: np.ndarray  # (n, n_classes), columns in class_ids order
    fold_of_row: np.ndarray  # (n,) 0-based fold that held each row out
    fold_models: tuple  # the model of each fold


def cross_validate(model: str, features: np.ndarray, labels: np.ndarray, folds: int, what: str) -> CrossValidation:
    """Stratified ``folds``-fold cross-validation, shuffled with seed 100 (the same folds for the
    same labels, whatever the features - so two feature sets are compared fold by fold)."""
    from sklearn.model_selection import StratifiedKFold

    class_ids = np.unique(labels)
    predictions = np.empty_like(labels)
    probabilities = np.zeros((len(labels), class_ids.size))
    fold_of_row = np.empty(len(labels), dtype=np.int64)
    models = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for fold, (train, test) in enumerate(splitter.split(features, labels)):
        classifier = fit(model, features[train], labels[train], f"{what}, fold {fold + 1}")
        predictions[test] = classifier.predict(features[test])
        # every class is in every training fold (each class has >= folds files), so the columns line up
        probabilities[test] = classifier.predict_proba(features[test])
        fold_of_row[test] = fold
        models.append(classifier)
    return CrossValidation(predictions, probabilities, fold_of_row, tuple(models))


# ----------------------------------------------------------------------------------------------
# scores


@dataclass(frozen=True)
class ClassScores:
    cluster: int
    name: str
    precision: float
    recall: float
    f1: float
    files: int  # support: files of this class


@dataclass(frozen=True)
class Scores:
    classes: tuple[ClassScores, ...]
    macro_f1: float
    accuracy: float
    confusion: np.ndarray  # (n_classes, n_classes): rows true class, columns predicted, class_ids order


def scores(labels: np.ndarray, predictions: np.ndarray, class_ids: Sequence[int],
           class_names: Sequence[str]) -> Scores:
    """Per-class precision, recall and F1 (0 where undefined: a class never predicted), their
    unweighted mean (macro-F1), accuracy and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=list(class_ids),
                                                                     zero_division=0)
    return Scores(
        classes=tuple(ClassScores(int(c), name, float(p), float(r), float(f), int(s))
                      for c, name, p, r, f, s in zip(class_ids, class_names, precision, recall, f1, support)),
        macro_f1=float(np.mean(f1)),
        accuracy=float(np.mean(labels == predictions)),
        confusion=confusion_matrix(labels, predictions, labels=list(class_ids)),
    )


def scores_json(result: Scores) -> dict:
    return {
        "classes": [{"cluster": c.cluster, "name": c.name, "files": c.files, "precision": c.precision,
                     "recall": c.recall, "f1": c.f1} for c in result.classes],
        "macro_f1": result.macro_f1,
        "accuracy": result.accuracy,
        "confusion_matrix": result.confusion.tolist(),
    }


def format_scores(result: Scores) -> str:
    """The per-class table, macro-F1 and accuracy, and (for a readable number of classes) the
    confusion matrix, as the script prints them."""
    width = min(40, max(len("name"), *(len(c.name) for c in result.classes)))
    lines = [f"{'cluster':>7}  {'name':<{width}}  {'files':>5}  {'precision':>9}  {'recall':>6}  {'f1':>6}"]
    for c in result.classes:
        name = c.name if len(c.name) <= width else c.name[: width - 3] + "..."
        lines.append(f"{c.cluster:>7}  {name:<{width}}  {c.files:>5}  {c.precision:>9.3f}  {c.recall:>6.3f}  "
                     f"{c.f1:>6.3f}")
    lines += [f"Macro-F1: {result.macro_f1:.4f}", f"Accuracy: {result.accuracy:.4f}"]
    if len(result.classes) <= MAX_PRINTED_CLASSES:
        cell = max(5, len(str(int(result.confusion.max()))) + 1)
        lines.append("Confusion matrix (rows: true cluster, columns: predicted):")
        lines.append(" " * 8 + "".join(f"{c.cluster:>{cell}}" for c in result.classes))
        for c, counts in zip(result.classes, result.confusion):
            lines.append(f"{c.cluster:>8}" + "".join(f"{int(n):>{cell}}" for n in counts))
    else:
        lines.append(f"Confusion matrix: {len(result.classes)} classes, in --json_out and --confusion_png")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# confusion matrix plot

#: Above this many classes the counts no longer fit in the cells; the colours still show the pattern.
MAX_ANNOTATED_CLASSES = 30
MAX_TICK_LABEL = 32


def plot_confusion(result: Scores, png_path: formats.PathLike, title: str) -> None:
    """The confusion matrix as a heat map (rows true, columns predicted; each row normalised so a
    small class is as visible as a big one; counts in the cells), written atomically."""
    # The Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(result.classes)
    side = min(4.0 + 0.45 * n, 40.0)
    fig = Figure(figsize=(side + 2.0, side), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    totals = result.confusion.sum(axis=1, keepdims=True)
    share = result.confusion / np.maximum(totals, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    ticks = [_tick_label(c) for c in result.classes]
    ax.set_xticks(range(n), ticks, rotation=90)
    ax.set_yticks(range(n), ticks)
    ax.set_xlabel("predicted cluster")
    ax.set_ylabel("true cluster")
    ax.set_title(title)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                if result.confusion[i, j]:
                    ax.text(j, i, str(int(result.confusion[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    with formats.atomic_open(png_path, "wb") as handle:
        fig.savefig(handle, format="png")


def _tick_label(c: ClassScores) -> str:
    name = c.name if len(c.name) <= MAX_TICK_LABEL else c.name[: MAX_TICK_LABEL - 3] + "..."
    return f"{c.cluster}: {name}"
