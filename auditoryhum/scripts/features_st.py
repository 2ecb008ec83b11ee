"""features_st.py - sentence-transformer embedding of each file's best label (the clustering input)."""

from __future__ import annotations

import logging

from .. import cli, formats
from ..errors import UserError
from ..models import MPNET
from ..runtime import resolve_runtime
from ..text_embedding import load_sentence_transformer, sentence_embeddings

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        "features_st.py",
        "Embed the label (third column) of every row of a top-label scores CSV with a\n"
        "sentence-transformers model and write a float32 .npy, one row per CSV row. Each distinct\n"
        "label is embedded once, so rows with the same label are bit-identical. A row with an\n"
        "empty label (a file that had no usable label or unreadable audio) is written as a row of\n"
        "NaN - not as the embedding of an empty string, which would pile all such files onto one\n"
        "made-up point - and is reported.",
        f'python3 features_st.py --st_model="{MPNET.default_model}" --label_csv=top_label_scores.csv --st_npy=st.npy',
    )
    cli.add_model(
        parser, "--st_model",
        required=True,
        help=f"sentence-transformers model folder (e.g. a git clone of {MPNET.default_model} or all-MiniLM-L6-v2), "
        "or a hub id where a hub is reachable",
    )
    cli.add_input(
        parser, "--label_csv",
        required=True,
        help="top-label scores CSV from features_clap_text.py (index, filename, label, score)",
    )
    cli.add_output(parser, "--st_npy", default="st.npy", help="output .npy, shape (rows, embedding dim), float32")
    parser.add_argument("--batch_size", type=int, default=64, help="labels per model pass")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    cli.require_at_least_one(args.batch_size, "--batch_size")
    rows = formats.read_scores_csv(args.label_csv)
    run.files = rows.filenames
    labels = rows.labels
    if not any(labels):
        raise UserError(f"--label_csv={args.label_csv}: no row has a label, nothing to embed")
    device = resolve_runtime(args.device).device
    run.parameters["device"] = device
    model = load_sentence_transformer(args.st_model, device)
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
