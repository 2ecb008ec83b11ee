"""features_clap_text.py - the best label of each file by CLAP audio-text cosine (docs/method.md §3)."""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from .. import clap, cli, formats, records, runtime
from ..errors import UserError, counted
from ..filelist import list_audio_files
from ..models import HUMAN_CLAP
from ..prompting import parse_label_line
from ..text_embedding import unique_in_order

log = logging.getLogger(__name__)

DEFAULT_LABEL_MARGIN = 0.05
DEFAULT_MULTI_LABEL_CSV = "multi_label_scores.csv"


def get_parser():
    parser = cli.make_parser(
        "features_clap_text.py",
        "Pick the best label of every audio file: each labels-CSV line is split on commas, every\n"
        "piece keeps its ASCII characters and first two words, each distinct label is embedded\n"
        "once with the CLAP text tower, and the label with the highest cosine to the file's CLAP\n"
        "audio embedding (from features_clap.py) wins. Writes the top-label scores CSV\n"
        "(index, filename, label, score) and prints the paper's metrics: the mean best score\n"
        "(Mean CLAP score) and the mean over the lowest 1% of files (at least one file).\n"
        "A file with no usable label (an empty line, only commas, only non-ASCII text) or whose\n"
        "audio embedding is NaN gets an empty label and score nan, is named in one warning, and is\n"
        "left out of both means (the count is printed beside them). Empty pieces of a line are never\n"
        "candidates: a trailing comma cannot win over a real label.",
        f'python3 features_clap_text.py --filedir="*.wav" --clap_model="{HUMAN_CLAP.default_model}" '
        "--clap_npy=clap.npy --text_label_csv=labels.csv --top_label_scores_csv=top_label_scores.csv",
    )
    cli.add_filedir_argument(parser)
    cli.add_model(parser, "--clap_model", required=True, help="CLAP model folder; the same model that wrote --clap_npy")
    cli.add_input(parser, "--clap_npy", required=True, help="CLAP audio embeddings from features_clap.py")
    cli.add_input(parser, "--text_label_csv", required=True,
                  help="labels CSV from a label_*.py script, one line per audio file")
    cli.add_output(parser, "--top_label_scores_csv", default="top_label_scores.csv",
                   help="output: one line per file, 'index, filename, label, score' (index 1-based)")
    parser.add_argument("--batch_size", type=int, default=64, help="labels per CLAP text-tower pass")
    group = parser.add_argument_group(
        "several labels per file (opt-in; the scores CSV is the same with or without)",
        "With --multi_label every file also keeps the candidates the rule below accepts besides its best "
        "label - a scene holds several sources - written one row per (file, label) to --multi_label_csv "
        "for features_st.py, the composite scripts, evaluate_taxonomy.py, taxonomy_report.py and the "
        "review sheet's margin order. One rule at a time; default: --label_margin "
        f"{DEFAULT_LABEL_MARGIN:g}.")
    group.add_argument("--multi_label", action="store_true",
                       help="also write --multi_label_csv: every label a file keeps, best first")
    cli.add_output(group, "--multi_label_csv", default=None,
                   help="output (with --multi_label): 'index, filename, label, score, rank' per kept label "
                   f"(default: {DEFAULT_MULTI_LABEL_CSV} beside --top_label_scores_csv)")
    rule = group.add_mutually_exclusive_group()
    rule.add_argument("--label_margin", type=float, default=None,
                      help="keep every label whose score is within this of the file's best "
                      f"(default rule: {DEFAULT_LABEL_MARGIN:g})")
    rule.add_argument("--label_threshold", type=float, default=None,
                      help="keep every label scoring at least this (the best is kept anyway)")
    rule.add_argument("--label_top", type=int, default=None,
                      help="keep the m best labels (2 or more gives the review sheet's margin order every "
                      "file's runner-up)")
    cli.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


def _label_rule(args, run) -> clap.LabelRule | None:
    """The rule of --multi_label (None without it); the flags of the rule need --multi_label."""
    given = [flag for flag, value in (("--multi_label_csv", args.multi_label_csv), ("--label_margin", args.label_margin),
                                      ("--label_threshold", args.label_threshold), ("--label_top", args.label_top))
             if value is not None]
    if not args.multi_label:
        if given:
            raise UserError(f"{given[0]} needs --multi_label")
        return None
    if args.label_margin is not None and args.label_margin < 0:
        raise UserError(f"--label_margin={args.label_margin}: must be 0 or more")
    if args.label_top is not None:
        cli.require_at_least_one(args.label_top, "--label_top")
    if args.label_margin is None and args.label_threshold is None and args.label_top is None:
        args.label_margin = DEFAULT_LABEL_MARGIN
        run.parameters["label_margin"] = DEFAULT_LABEL_MARGIN
    if args.multi_label_csv is None:
        args.multi_label_csv = os.path.join(os.path.dirname(args.top_label_scores_csv), DEFAULT_MULTI_LABEL_CSV)
        run.add_output("--multi_label_csv", args.multi_label_csv)
    return clap.LabelRule(args.label_margin, args.label_threshold, args.label_top)


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    cli.require_at_least_one(args.batch_size, "--batch_size")
    rule = _label_rule(args, run)
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    files_name = f'--filedir="{args.filedir}"'
    lines = formats.read_labels_csv(args.text_label_csv)
    records.check_rows_belong(args.text_label_csv, len(lines), files_name, run.files)
    audio_embeddings = formats.load_npy(args.clap_npy, "CLAP audio embeddings")
    records.check_rows_belong(args.clap_npy, audio_embeddings.shape[0], files_name, run.files)

    label_lists = [parse_label_line(line) for line in lines]
    clap_model = clap.load_clap(args.clap_model, cli.runtime_from_args(args, run))
    if clap_model.embedding_dim != audio_embeddings.shape[1]:
        raise UserError(
            f"{args.clap_npy}: audio embeddings have {audio_embeddings.shape[1]} dimensions but --clap_model "
            f"gives {clap_model.embedding_dim}; was it written with another CLAP model?"
        )
    label_embeddings = _embed_distinct_labels(clap_model, label_lists, args.batch_size)
    kept = None
    if rule is None:
        best = clap.best_labels(audio_embeddings, label_lists, label_embeddings)
    else:  # the ranked labels start with the best one: the cosines are computed once
        kept = clap.ranked_labels(audio_embeddings, label_lists, label_embeddings, rule)
        best = [labels[0] if labels else clap.NO_LABEL for labels in kept]

    rows = [
        formats.ScoreRow(index, os.path.basename(path), choice.label, choice.score)
        for index, (path, choice) in enumerate(zip(files, best), start=1)
    ]
    formats.write_scores_csv(args.top_label_scores_csv, rows)
    _report_unscored(files, label_lists, audio_embeddings)
    run.results.update(_print_summary([choice.score for choice in best]))
    if kept is not None:
        formats.write_multi_label_csv(args.multi_label_csv, multi_label_rows(rows, kept))
        run.results.update(_print_multi_label_summary(kept, rule))
    return 0


def multi_label_rows(rows: list[formats.ScoreRow], kept: list[list[clap.BestLabel]]) -> list[formats.LabelRow]:
    """One row per label each file keeps, ranked; one row of rank 0 for a file without a label."""
    out = []
    for row, labels in zip(rows, kept):
        if not labels:
            out.append(formats.LabelRow(row.index, row.filename, "", math.nan, formats.NO_LABEL_RANK))
        out += [formats.LabelRow(row.index, row.filename, choice.label, choice.score, rank)
                for rank, choice in enumerate(labels, start=1)]
    return out


def _print_multi_label_summary(kept: list[list[clap.BestLabel]], rule: clap.LabelRule) -> dict:
    labelled = [labels for labels in kept if labels]
    n_labels = sum(map(len, labelled))
    several = sum(len(labels) > 1 for labels in labelled)
    distinct = len({choice.label for labels in labelled for choice in labels})
    mean = n_labels / len(labelled) if labelled else math.nan
    print(f"Labels per file (kept {rule.describe()}): {mean:.3f} ({n_labels} labels of {len(labelled)} files, "
          f"{several} with several; {distinct} distinct)")
    return {"multi_label_rows": n_labels, "labels_per_file": mean, "files_with_several_labels": several,
            "distinct_kept_labels": distinct}


def _embed_distinct_labels(clap_model, label_lists, batch_size) -> dict[str, np.ndarray]:
    """Each distinct label is embedded once, however many files offer it."""
    distinct = unique_in_order(label for labels in label_lists for label in labels)
    if not distinct:
        return {}
    return dict(zip(distinct, clap.embed_texts(clap_model, distinct, batch_size)))


def _report_unscored(files, label_lists, audio_embeddings) -> None:
    """One warning naming every file that got no score, and why."""
    no_label = [path for path, labels in zip(files, label_lists) if not labels]
    no_audio = [path for path, labels, row in zip(files, label_lists, audio_embeddings)
                if labels and np.isnan(row).any()]
    unscored = no_label + no_audio
    if unscored:
        log.warning("%d of %d files have no label (%d empty, only commas or only non-ASCII; %d with a NaN CLAP "
                    "audio embedding, i.e. unreadable audio): empty label and score nan, left out of both means: %s",
                    len(unscored), len(files), len(no_label), len(no_audio), ", ".join(sorted(unscored)))


def _print_summary(scores: list[float]) -> dict:
    """Print µc and µ1% (the count of unscored files beside them); the same figures for the record."""
    mean, mean_lowest = clap.clap_summary(scores)
    n_unscored = sum(math.isnan(score) for score in scores)
    print(f"Mean CLAP score: {mean:.6f}")  # the published line
    print(f"Mean CLAP score (lowest 1%): {mean_lowest:.6f}")
    if n_unscored:
        log.info("both means are over the %d of %s with a label (%d without one left out)",
                 len(scores) - n_unscored, counted(len(scores), "file"), n_unscored)
    return {"mean_clap_score": mean, "mean_clap_score_lowest_1pct": mean_lowest, "rows_written": len(scores),
            "scored_rows": len(scores) - n_unscored, "rows_without_a_label": n_unscored}
