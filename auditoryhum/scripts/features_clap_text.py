"""features_clap_text.py - the best label of each file by CLAP audio-text cosine (docs/method.md §3)."""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from .. import clap, cli, formats, records, runtime
from ..audio import list_audio_files
from ..errors import UserError, counted
from ..models import HUMAN_CLAP
from ..prompting import parse_label_line
from ..text_embedding import unique_in_order

log = logging.getLogger(__name__)


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
    cli.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    cli.require_at_least_one(args.batch_size, "--batch_size")
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
    best = clap.best_labels(audio_embeddings, label_lists, label_embeddings)

    rows = [
        formats.ScoreRow(index, os.path.basename(path), choice.label, choice.score)
        for index, (path, choice) in enumerate(zip(files, best), start=1)
    ]
    formats.write_scores_csv(args.top_label_scores_csv, rows)
    _report_unscored(files, label_lists, audio_embeddings)
    run.results.update(_print_summary([choice.score for choice in best]))
    return 0


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
