"""util_merge_csv.py: MLLM labels with human annotations merged in (annotation where present)."""

from __future__ import annotations

from .. import cli, formats, records
from ..errors import counted
from ..hitl import WHITESPACE_NOTES_HELP, is_note, merge_labels


def get_parser():
    parser = cli.make_parser(
        "util_merge_csv.py",
        "Write a labels CSV that takes each file's human annotation where there is one and the MLLM "
        "line otherwise. The annotations CSV may be shorter than the labels CSV (missing = none).",
        "python3 util_merge_csv.py --csv1=qwen2a_text_labels.csv --csv2=human_annotations.csv "
        "--csv3=merged_text_labels.csv",
    )
    cli.add_input(parser, "--csv1", required=True, help="labels CSV written by an MLLM labeller")
    cli.add_input(parser, "--csv2", required=True, help="human annotations CSV (one line per file, blank = none)")
    cli.add_output(parser, "--csv3", required=True, help="output labels CSV with the annotations merged in")
    parser.add_argument("--whitespace_notes", action="store_true", help=WHITESPACE_NOTES_HELP)
    return parser


@cli.script(get_parser)
def main(args, run):
    labels = formats.read_labels_csv(args.csv1)
    annotations = formats.read_annotations_csv(args.csv2, len(labels), keep_whitespace=args.whitespace_notes)
    run.files = records.recorded_files(args.csv1)
    records.check_same_files(args.csv1, run.files, args.csv2, records.recorded_files(args.csv2))
    merged = merge_labels(labels, annotations, args.whitespace_notes)
    formats.write_labels_csv(args.csv3, merged)
    replaced = sum(is_note(note, args.whitespace_notes) for note in annotations)
    run.results.update(rows_written=len(merged), annotations_merged=replaced)
    print(f"Merged {counted(replaced, 'annotation')} into {counted(len(labels), 'label line')} -> {args.csv3}")
    return 0
