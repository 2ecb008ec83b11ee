"""features_st.py - sentence-transformer embedding of each file's best label (the clustering input)."""

from __future__ import annotations

import logging

from .. import cli, formats
from ..errors import UserError
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
        'python3 features_st.py --st_model="all-MiniLM-L6-v2" --label_csv=top_label_scores.csv --st_npy=st.npy',
    )
    parser.add_argument(
        "--st_model",
        required=True,
        help="sentence-transformers model folder (e.g. a git clone of all-MiniLM-L6-v2), or a hub id "
        "where a hub is reachable",
    )
    parser.add_argument(
        "--label_csv",
        required=True,
        help="top-label scores CSV from features_clap_text.py (index, filename, label, score)",
    )
    parser.add_argument("--st_npy", default="st.npy", help="output .npy, shape (rows, embedding dim), float32")
    parser.add_argument("--batch_size", type=int, default=64, help="labels per model pass")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cli.require_at_least_one(args.batch_size, "--batch_size")
    cli.require_output_folder(args.st_npy, "--st_npy")
    rows = formats.read_scores_csv(args.label_csv)
    labels = [row.label for row in rows]
    if not any(labels):
        raise UserError(f"--label_csv={args.label_csv}: no row has a label, nothing to embed")
    model = load_sentence_transformer(args.st_model, resolve_runtime(args.device).device)
    embeddings = sentence_embeddings(model, labels, args.batch_size)
    formats.save_npy(args.st_npy, embeddings)
    unlabelled = [row.filename for row in rows if not row.label]
    if unlabelled:
        log.warning("%d rows have an empty label; their rows in %s are NaN: %s",
                    len(unlabelled), args.st_npy, ", ".join(unlabelled))
    print(f"wrote {args.st_npy}: {embeddings.shape[0]} rows x {embeddings.shape[1]} dimensions "
          f"({len(set(labels) - {''})} distinct labels)")
    return 0
