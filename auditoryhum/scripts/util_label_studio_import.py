"""util_label_studio_import.py: a Label Studio JSON export of the review tasks, back into the
suite's annotations CSV (see auditoryhum.label_studio)."""

from __future__ import annotations

from .. import cli, formats, label_studio
from ..errors import UserError
from ..review import write_annotations

PROG = "util_label_studio_import.py"


def get_parser():
    parser = cli.make_parser(
        PROG,
        "Read the annotations of a Label Studio project made from export_taxonomy.py --label_studio_json\n"
        "(Export -> JSON in Label Studio) and write the suite's annotations CSV: one line per file of the\n"
        "scores CSV, the reviewer's text where a task has a submitted annotation (skipped ones are\n"
        "ignored; with several, the last), blank elsewhere - for util_merge_csv.py or label_*.py\n"
        "--annotations. Tasks are matched to files by name, in any order.",
        f"python3 {PROG} --label_studio_json=project-1-export.json --top_label_scores_csv=top_label_scores.csv "
        "--annotations_csv=human_annotations.csv",
    )
    cli.add_input(parser, "--label_studio_json", required=True, help="Label Studio's JSON export of the project")
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="the top-label scores CSV the tasks were made from: its rows are the annotations' rows")
    cli.add_output(parser, "--annotations_csv", required=True,
                   help="output: annotations CSV, one line per file, the note where one was written")
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    scores = formats.read_scores_csv(args.top_label_scores_csv)
    run.files = list(scores.filenames)
    tasks = label_studio.read_export(args.label_studio_json)
    notes = label_studio.notes_by_row(tasks, scores.filenames, args.label_studio_json, args.top_label_scores_csv)
    if not notes:
        raise UserError(f"{args.label_studio_json}: none of its {len(tasks)} tasks has a submitted annotation with "
                        "text; annotate in Label Studio, then export the project again")
    write_annotations(args.annotations_csv, len(scores), notes)
    run.results.update(tasks=len(tasks), annotations=len(notes), rows_written=len(scores))
    print(f"{len(notes)} annotations from {len(tasks)} Label Studio tasks written to {args.annotations_csv} "
          f"({len(scores)} lines)")
    return 0
