"""train_scene_classifier.py: a small scene classifier on the taxonomy, cross-validated and exported
to ONNX for the edge (see auditoryhum.scene_classifier and auditoryhum.onnx_model)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from .. import __version__, cli, formats, onnx_model, records
from ..errors import UserError
from ..runtime import SEED
from ..scene_classifier import (
    DEFAULT_FOLDS,
    LINEAR,
    MODELS,
    CrossValidation,
    Scores,
    TrainingSet,
    cross_validate,
    fit,
    format_scores,
    plot_confusion,
    scores,
    scores_json,
    training_set,
)

PROG = "train_scene_classifier.py"
DEFAULT_LATENCY_RUNS = 200

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        "Train a small scene classifier - audio features in, the taxonomy's cluster out - measure it by\n"
        "stratified k-fold cross-validation (per-class precision/recall/F1, macro-F1, confusion matrix),\n"
        "and export the model trained on every file to ONNX (features -> class probabilities, the class\n"
        "names in its metadata), checked against the trained model with onnxruntime, with its size and\n"
        "single-clip CPU latency. Rows with NaN features (unreadable files) and rows in no cluster (id -1)\n"
        "are left out and counted. --edge_features_npy=mfcc.npy trains the same classifier on small\n"
        "features that need no large model at inference time and reports the macro-F1 gap.",
        f"python3 {PROG} --features_npy=clap.npy --label_csv=st_sweep.csv --composite_csv=composite_labels.csv "
        "--edge_features_npy=mfcc.npy --onnx_out=classifier.onnx --json_out=classifier.json "
        "--confusion_png=classifier_confusion.png",
    )
    cli.add_input(parser, "--features_npy", required=True,
                  help="audio features, one float row per file (features_mfcc.py, features_clap.py, features_ast.py, "
                  "...); NaN rows are left out")
    classes = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(classes, "--label_csv",
                  help="cluster ids, one per file (cluster_sweep.py --label_csv, a cluster_*.py script); -1 = left out")
    cli.add_input(classes, "--taxonomy_json", help="the taxonomy tree (taxonomy.json); its --level gives the classes")
    parser.add_argument("--level", type=int, default=None,
                        help="with --taxonomy_json: the level whose clusters are the classes (1 = coarsest; "
                        "default: the last level, the chosen partition)")
    cli.add_input(parser, "--composite_csv",
                  help="with --label_csv: composite labels (composite_labels.py) that name the classes; "
                  "default: cluster <id>")
    parser.add_argument("--model", choices=MODELS, default=LINEAR,
                        help="linear: logistic regression (classes weighted by inverse frequency); "
                        "mlp: one hidden layer of 64 units (L-BFGS)")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                        help="stratified cross-validation folds (shuffled, seed 100); every class needs this many "
                        "files")
    parser.add_argument("--min_class_files", type=int, default=0,
                        help="leave out (and count) the files of classes with fewer files than this; "
                        "default: refuse such a class with a message")
    cli.add_input(parser, "--edge_features_npy",
                  help="small features for the edge (mfcc.npy): the same classifier is trained and measured on them, "
                  "on the same files and folds, and the macro-F1 gap is reported")
    cli.add_output(parser, "--onnx_out", default="scene_classifier.onnx",
                   help="output: the classifier trained on every file, as ONNX")
    cli.add_output(parser, "--edge_onnx_out", help="output: the classifier on --edge_features_npy, as ONNX")
    cli.add_output(parser, "--json_out",
                   help="output: every figure as JSON (macro_f1, accuracy, classes, confusion_matrix, onnx, edge, ...)")
    cli.add_output(parser, "--confusion_png", extra=True, help="output: the cross-validated confusion matrix")
    parser.add_argument("--latency_runs", type=int, default=DEFAULT_LATENCY_RUNS,
                        help="single-clip runs timed for the latency (median reported)")
    return parser


# ----------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class Classes:
    """One cluster id per file, the clusters' names, and what they came from."""

    ids: np.ndarray
    names: dict[int, str]
    source: str  # for messages: --label_csv=ids.csv, or --taxonomy_json=taxonomy.json level 2
    files: list[str] | None  # the audio file of each row, where known
    level: int | None


def _read_classes(args) -> Classes:
    if args.taxonomy_json:
        tree = formats.read_taxonomy_json(args.taxonomy_json)
        level = len(tree.levels) if args.level is None else args.level
        if not 1 <= level <= len(tree.levels):
            raise UserError(f"--level={level}: {args.taxonomy_json} has levels 1 to {len(tree.levels)}")
        return Classes(tree.level_ids(level), tree.names(level), f"--taxonomy_json={args.taxonomy_json} level {level}",
                       list(tree.files), level)
    if args.level is not None:
        raise UserError(f"--level={args.level}: only with --taxonomy_json (a cluster ids CSV has one level)")
    names = {}
    if args.composite_csv:
        names = {row.cluster: row.composite_label for row in formats.read_composite_csv(args.composite_csv)}
    return Classes(formats.read_cluster_ids(args.label_csv), names, f"--label_csv={args.label_csv}",
                   records.recorded_files(args.label_csv), None)


def _check_rows(features_npy: str, n_rows: int, classes: Classes) -> None:
    """The features' rows must be the ids' files: by name where both say which, by count always."""
    records.check_same_files(features_npy, records.recorded_files(features_npy), classes.source, classes.files)
    if n_rows != len(classes.ids):
        raise UserError(f"row-count mismatch: {features_npy} has {n_rows} rows but {classes.source} has "
                        f"{len(classes.ids)}")


def _check_flags(args) -> None:
    if args.folds < 2:
        raise UserError(f"--folds={args.folds}: must be at least 2")
    cli.require_at_least_one(args.latency_runs, "--latency_runs")
    if args.min_class_files < 0:
        raise UserError(f"--min_class_files={args.min_class_files}: must be 0 or more")
    if args.composite_csv and not args.label_csv:
        raise UserError("--composite_csv: only with --label_csv (the taxonomy JSON names its own clusters)")
    if args.edge_onnx_out and not args.edge_features_npy:
        raise UserError("--edge_onnx_out: needs --edge_features_npy")


# ----------------------------------------------------------------------------------------------
# one feature set: cross-validate, train, export, check


@dataclass(frozen=True)
class Trained:
    features_npy: str
    dimensions: int
    result: Scores
    onnx: bytes
    held_out: onnx_model.Agreement  # the fold models' ONNX against themselves, on their held-out rows
    exported: onnx_model.Agreement  # the exported model against the model trained on every row
    latency_ms: float

    @property
    def max_difference(self) -> float:
        return max(self.held_out.max_difference, self.exported.max_difference)


def _train(args, features_npy: str, features: np.ndarray, chosen: TrainingSet, classes: Classes) -> Trained:
    x = features[chosen.rows]
    folds: CrossValidation = cross_validate(args.model, x, chosen.labels, args.folds, features_npy)
    result = scores(chosen.labels, folds.predictions, chosen.class_ids, chosen.class_names)
    metadata = {
        **onnx_model.class_metadata(chosen.class_ids, chosen.class_names),
        "features": os.path.basename(features_npy),
        "features_made_by": (records.read_record(features_npy) or {}).get("script") or "unknown",
        "feature_dimensions": str(x.shape[1]),
        "classes_from": classes.source,
        "model": args.model,
        "cross_validated_macro_f1": f"{result.macro_f1:.6f}",
        "folds": str(args.folds),
        "seed": str(SEED),
        "auditoryhum_version": __version__,
    }
    description = (f"AuditoryHuM scene classifier ({args.model}) on {os.path.basename(features_npy)} "
                   f"({x.shape[1]} features) -> {len(chosen.class_ids)} taxonomy classes")
    held_out = onnx_model.Agreement(rows=0, max_difference=0.0, label_disagreements=0)
    for fold, fold_model in enumerate(folds.fold_models):
        test = folds.fold_of_row == fold
        fold_onnx = onnx_model.to_onnx(fold_model, x.shape[1], metadata, description)
        held_out = held_out.merged(onnx_model.compare(fold_onnx, fold_model, x[test]))
    final = fit(args.model, x, chosen.labels, f"{features_npy}, every row")
    model = onnx_model.to_onnx(final, x.shape[1], metadata, description)
    exported = onnx_model.compare(model, final, x)
    for what, agreement in (("the held-out folds", held_out), ("the training rows", exported)):
        if not agreement.agrees:
            raise UserError(f"{features_npy}: the ONNX export disagrees with the trained {args.model} model on {what} "
                            f"({agreement.label_disagreements} of {agreement.rows} rows predict another class, largest "
                            f"probability difference {agreement.max_difference:.3g} > {onnx_model.TOLERANCE:g}); "
                            "nothing was written")
    latency = onnx_model.median_latency_ms(model, x[0], args.latency_runs)
    return Trained(features_npy, x.shape[1], result, model, held_out, exported, latency)


def _onnx_json(trained: Trained, path: str | None, runs: int) -> dict:
    return {
        "path": path,
        "size_bytes": len(trained.onnx),
        "latency_ms_median": trained.latency_ms,
        "latency_runs": runs,
        "threads": 1,
        "check": {"held_out_rows": trained.held_out.rows, "max_probability_difference": trained.max_difference,
                  "class_disagreements": trained.held_out.label_disagreements + trained.exported.label_disagreements,
                  "tolerance": onnx_model.TOLERANCE},
    }


def _onnx_lines(trained: Trained, path: str | None, runs: int, folds: int) -> list[str]:
    where = f"{path}, " if path else ""
    return [
        f"ONNX model: {where}{len(trained.onnx):,} bytes; single-clip CPU latency {trained.latency_ms:.4f} ms "
        f"(onnxruntime, 1 thread, median of {runs} runs)",
        f"ONNX check: same class and probabilities within {onnx_model.TOLERANCE:g} on the {trained.held_out.rows} "
        f"held-out rows of {folds} folds and on every training row (largest difference {trained.max_difference:.2g})",
    ]


# ----------------------------------------------------------------------------------------------


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    _check_flags(args)
    features = formats.load_npy(args.features_npy, "audio features")
    classes = _read_classes(args)
    _check_rows(args.features_npy, features.shape[0], classes)
    arrays = [features]
    if args.edge_features_npy:
        edge_features = formats.load_npy(args.edge_features_npy, "edge features")
        _check_rows(args.edge_features_npy, edge_features.shape[0], classes)
        records.check_same_files(args.edge_features_npy, records.recorded_files(args.edge_features_npy),
                                 args.features_npy, records.recorded_files(args.features_npy))
        arrays.append(edge_features)
    run.files = classes.files or records.recorded_files(args.features_npy)
    chosen = training_set(arrays, classes.ids, classes.names, classes.source, args.folds, args.min_class_files)
    run.parameters.update(seed=SEED, level=classes.level)

    trained = _train(args, args.features_npy, features, chosen, classes)
    edge = _train(args, args.edge_features_npy, arrays[1], chosen, classes) if args.edge_features_npy else None

    print(f"Scene classifier ({args.model}), stratified {args.folds}-fold cross-validation on {chosen.rows.size} of "
          f"{chosen.n_rows} files, {len(chosen.class_ids)} classes from {classes.source} (left out: "
          f"{chosen.left_out_text()})")
    print(f"Features: {args.features_npy} ({trained.dimensions} dimensions)")
    print(format_scores(trained.result))
    print("\n".join(_onnx_lines(trained, args.onnx_out, args.latency_runs, args.folds)))
    gap = trained.result.macro_f1 - edge.result.macro_f1 if edge is not None else None
    if edge is not None:
        print(f"\nEdge features: {args.edge_features_npy} ({edge.dimensions} dimensions), the same files and folds")
        print(format_scores(edge.result))
        print("\n".join(_onnx_lines(edge, args.edge_onnx_out, args.latency_runs, args.folds)))
        print(f"Macro-F1 gap: {gap:+.4f} ({args.features_npy} {trained.result.macro_f1:.4f}, "
              f"{args.edge_features_npy} {edge.result.macro_f1:.4f})")

    with formats.atomic_open(args.onnx_out, "wb") as handle:
        handle.write(trained.onnx)
    if args.edge_onnx_out:
        with formats.atomic_open(args.edge_onnx_out, "wb") as handle:
            handle.write(edge.onnx)
    if args.confusion_png:
        plot_confusion(trained.result, args.confusion_png,
                       f"{os.path.basename(args.features_npy)}, {args.model}, {args.folds}-fold: "
                       f"macro-F1 {trained.result.macro_f1:.3f}")
        log.info(f"confusion matrix written to {args.confusion_png}")

    summary = {
        "model": args.model, "folds": args.folds, "seed": SEED, "features_npy": args.features_npy,
        "dimensions": trained.dimensions, "classes_from": classes.source, "level": classes.level,
        "rows": chosen.n_rows, "rows_used": int(chosen.rows.size),
        "rows_left_out": {"without_features": chosen.without_features, "in_no_cluster": chosen.in_no_cluster,
                          "in_small_classes": chosen.in_small_classes},
        **scores_json(trained.result),
        "onnx": _onnx_json(trained, args.onnx_out, args.latency_runs),
    }
    run.results.update(rows=chosen.n_rows, rows_used=int(chosen.rows.size),
                       rows_without_features=chosen.without_features, rows_in_no_cluster=chosen.in_no_cluster,
                       rows_in_small_classes=chosen.in_small_classes, classes=len(chosen.class_ids),
                       macro_f1=trained.result.macro_f1, accuracy=trained.result.accuracy,
                       onnx_bytes=len(trained.onnx), latency_ms=trained.latency_ms)
    if edge is not None:
        summary["edge"] = {"features_npy": args.edge_features_npy, "dimensions": edge.dimensions,
                           **scores_json(edge.result), "macro_f1_gap": gap,
                           "onnx": _onnx_json(edge, args.edge_onnx_out, args.latency_runs)}
        run.results.update(edge_macro_f1=edge.result.macro_f1, edge_accuracy=edge.result.accuracy,
                           macro_f1_gap=gap,
                           edge_onnx_bytes=len(edge.onnx), edge_latency_ms=edge.latency_ms)
    if args.json_out:
        formats.write_json(args.json_out, summary)
        log.info(f"figures written to {args.json_out}")
    return 0
