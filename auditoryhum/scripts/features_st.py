"""features_st.py - sentence-transformer embedding of each file's best label (the clustering input)."""

from __future__ import annotations

import logging

from .. import cli, formats, multilabel
from ..errors import UserError
from ..models import MPNET
from ..text_embedding import load_on_device, sentence_embeddings

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        "features_st.py",
        "Embed the label (third column) of every row of a top-label scores CSV with a\n"
        "sentence-transformers model and write a float32 .npy, one row per CSV row. Each distinct\n"
        "label is embedded once, so rows with the same label are bit-identical. A row with an\n"
        "empty label (a file that had no usable label or unreadable audio) is written as a row of\n"
        "NaN - not as the embedding of an empty string, which would pile all such files onto one\n"
        "made-up point - and is reported.\n"
        "With --multi_label_csv (features_clap_text.py --multi_label) it embeds each distinct label\n"
        "a file keeps instead: one row per distinct label, in order of first appearance, listed in\n"
        "the run record; the sweep and the clustering scripts then cluster the distinct labels, and\n"
        "the scripts after them put each file in every cluster of its labels.",
        f'python3 features_st.py --st_model="{MPNET.default_model}" --label_csv=top_label_scores.csv --st_npy=st.npy',
    )
    cli.add_model(
        parser, "--st_model",
        required=True,
        help=f"sentence-transformers model folder (e.g. a git clone of {MPNET.default_model} or all-MiniLM-L6-v2), "
        "or a hub id where a hub is reachable",
    )
    labels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(
        labels, "--label_csv",
        help="top-label scores CSV from features_clap_text.py (index, filename, label, score)",
    )
    cli.add_input(
        labels, "--multi_label_csv",
        help="instead of --label_csv: the multi-label scores CSV of features_clap_text.py --multi_label; writes one "
        "row per distinct label (order of first appearance), which the run record lists",
    )
    cli.add_output(parser, "--st_npy", default="st.npy", help="output .npy, shape (rows, embedding dim), float32")
    parser.add_argument("--batch_size", type=int, default=64, help="labels per model pass")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    cli.require_at_least_one(args.batch_size, "--batch_size")
    if args.multi_label_csv:
        return _embed_distinct_labels(args, run)
    rows = formats.read_scores_csv(args.label_csv)
    run.files = rows.filenames
    labels = rows.labels
    if not any(labels):
        raise UserError(f"--label_csv={args.label_csv}: no row has a label, nothing to embed")
    model = load_on_device(args.st_model, args.device, run.parameters)
    embeddings = sentence_embeddings(model, labels, args.batch_size)
    formats.save_npy(args.st_npy, embeddings)
    unlabelled = [name for name, label in zip(rows.filenames, labels) if not label]
    if unlabelled:
        log.warning("%d rows have an empty label; their rows in %s are NaN: %s",
                    len(unlabelled), args.st_npy, ", ".join(unlabelled))
    n_distinct = len(set(labels) - {""})
    run.results.update(rows_written=embeddings.shape[0], dimensions=embeddings.shape[1], distinct_labels=n_distinct,
                       rows_without_a_label=len(unlabelled))
    log.info("wrote %s: %d rows x %d dimensions (%d distinct labels)", args.st_npy, embeddings.shape[0],
             embeddings.shape[1], n_distinct)
    return 0


def _embed_distinct_labels(args, run) -> int:
    """--multi_label_csv: one row per distinct label; the record lists the labels as its rows, so the
    scripts that read the clusters of these rows can check they are these labels by name."""
    rows, labels = multilabel.read_label_rows(args.multi_label_csv)
    run.files = labels
    model = load_on_device(args.st_model, args.device, run.parameters)
    embeddings = sentence_embeddings(model, labels, args.batch_size)
    formats.save_npy(args.st_npy, embeddings)
    n_files = len({row.index for row in rows})
    unlabelled = sum(not row.label for row in rows)
    run.results.update(rows_written=embeddings.shape[0], dimensions=embeddings.shape[1], distinct_labels=len(labels),
                       rows_without_a_label=0, multi_label_files=n_files, multi_label_rows=len(rows) - unlabelled,
                       files_without_a_label=unlabelled)
    log.info("wrote %s: %d rows x %d dimensions, one per distinct label of %s (%d labels of %d files%s)",
             args.st_npy, embeddings.shape[0], embeddings.shape[1], args.multi_label_csv, len(rows) - unlabelled,
             n_files, f"; {unlabelled} files without a label have no row" if unlabelled else "")
    return 0
