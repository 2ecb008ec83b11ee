"""util_merge_csv.py: MLLM labels with human annotations merged in (annotation where present)."""

from __future__ import annotations

from .. import formats
from ..cli import entry_point, make_parser
from ..hitl import merge_labels


def get_parser():
    parser = make_parser(
        "util_merge_csv.py",
        "Write a labels CSV that takes each file's human annotation where there is one and the MLLM "
        "line otherwise. The annotations CSV may be shorter than the labels CSV (missing = none).",
        "python3 util_merge_csv.py --csv1=qwen2a_text_labels.csv --csv2=human_annotations.csv "
        "--csv3=top_label_scores_with_annotations.csv",
    )
    parser.add_argument("--csv1", required=True, help="labels CSV written by an MLLM labeller")
    parser.add_argument("--csv2", required=True, help="human annotations CSV (one line per file, blank = none)")
    parser.add_argument("--csv3", required=True, help="output labels CSV with the annotations merged in")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    labels = formats.read_labels_csv(args.csv1)
    annotations = formats.read_annotations_csv(args.csv2, len(labels))
    merged = merge_labels(labels, annotations)
    formats.write_labels_csv(args.csv3, merged)
    replaced = sum(1 for note in annotations if note.strip())
    print(f"Merged {replaced} annotations into {len(labels)} labels -> {args.csv3}")
    return 0
