"""export_taxonomy.py: the taxonomy and its evidence as a Parquet dataset with a dataset card, Label
Studio tasks, and taxonomy.csv (see auditoryhum.taxonomy_export and auditoryhum.label_studio)."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import cli, formats, label_studio, records
from ..errors import UserError
from ..filelist import list_audio_files
from ..review import LOWEST_FRACTION, review_rows
from ..taxonomy_export import (
    CARD_NAME,
    PARQUET_NAME,
    TaxonomyRows,
    dataset_card,
    format_taxonomy_csv,
    level_of_ids,
    levels_of_tree,
    model_version,
    parquet_columns,
    write_parquet,
)

PROG = "export_taxonomy.py"

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        "Write the taxonomy and its evidence where users' tools read them: a Parquet dataset that\n"
        "datasets.load_dataset(\"parquet\", ...) loads (audio path, MLLM answer, best label, CLAP score,\n"
        "human note, cluster id and composite label at each level), in a folder with a dataset card\n"
        "(README.md) made from the inputs' run records; Label Studio tasks for the review queue (the\n"
        "clip, CLAP's best label and score as the prediction) with the project's labeling config beside\n"
        "them - util_label_studio_import.py reads the annotated export back; and taxonomy.csv (each\n"
        "file and its cluster's name at each level). Row i of every input belongs to audio file i.",
        f'python3 {PROG} --filedir="*.wav" --top_label_scores_csv=top_label_scores.csv '
        "--text_label_csv=soundnet_text_labels.csv --annotations_csv=human_annotations.csv "
        "--taxonomy_json=taxonomy.json --dataset_dir=taxonomy_dataset --label_studio_json=label_studio_tasks.json "
        "--taxonomy_csv=taxonomy.csv",
    )
    cli.add_filedir_argument(parser)
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="top-label scores CSV (features_clap_text.py): each file's best label and CLAP score")
    cli.add_input(parser, "--text_label_csv", required=True, help="labels CSV: the MLLM's answers (label_*.py)")
    cli.add_input(parser, "--annotations_csv", help="human annotations CSV (util_review_sheet.py), one line per file")
    levels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(levels, "--taxonomy_json", help="the taxonomy tree (taxonomy.json): every level, named")
    cli.add_input(levels, "--label_csv", help="one level instead: cluster ids, one per file (cluster_sweep.py)")
    cli.add_input(parser, "--composite_csv", help="with --label_csv: composite labels that name its clusters")
    cli.add_output(parser, "--dataset_dir",
                   help=f"output: a folder (created) holding {PARQUET_NAME} and the dataset card {CARD_NAME}")
    parser.add_argument("--dataset_name", help="the dataset card's title (default: the folder's name)")
    cli.add_output(parser, "--label_studio_json", help="output: Label Studio tasks (JSON list) for the review queue")
    cli.add_output(parser, "--label_studio_config_xml", extra=True,
                   help="output: the Label Studio labeling config for the tasks (default with --label_studio_json: "
                   "beside it, <name>_config.xml)")
    parser.add_argument("--label_studio_all_files", action="store_true",
                        help="a task for every file, not only the review queue")
    parser.add_argument("--fraction", type=float, default=LOWEST_FRACTION,
                        help="the review queue: every file without a label, then this share of the scored files, "
                        "lowest CLAP score first (as util_review_sheet.py)")
    parser.add_argument("--audio_url_prefix",
                        help='put before each task\'s audio path (percent-encoded), e.g. "/data/local-files/?d=" for '
                        "Label Studio's local files, with --filedir relative to its LOCAL_FILES_DOCUMENT_ROOT; "
                        "default: the path as --filedir gives it")
    cli.add_output(parser, "--taxonomy_csv", help="output: file,level_1,level_2,... (each level's cluster name)")
    return parser


def _config_path(tasks_json: str) -> str:
    path = Path(tasks_json)
    return str(path.with_name(f"{path.stem}_config.xml"))


def _check_flags(args) -> None:
    if not (args.dataset_dir or args.label_studio_json or args.taxonomy_csv):
        raise UserError("nothing to write: give --dataset_dir, --label_studio_json and/or --taxonomy_csv")
    if args.composite_csv and not args.label_csv:
        raise UserError("--composite_csv: only with --label_csv (the taxonomy JSON names its own clusters)")
    if args.label_studio_config_xml and not args.label_studio_json:
        raise UserError("--label_studio_config_xml: needs --label_studio_json")
    if not 0 < args.fraction <= 1:
        raise UserError(f"--fraction={args.fraction}: must be in (0, 1]")


def _read_rows(args, run) -> tuple[TaxonomyRows, dict | None]:
    """Every input, each checked to belong to the audio files row by row."""
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    files_name = f'--filedir="{args.filedir}"'
    scores = formats.read_scores_csv(args.top_label_scores_csv)
    records.check_scores_files(args.top_label_scores_csv, scores.filenames, files_name, run.files)
    answers = formats.read_labels_csv(args.text_label_csv)
    records.check_rows_belong(args.text_label_csv, len(answers), files_name, run.files)
    notes = None
    if args.annotations_csv:
        notes = formats.read_annotations_csv(args.annotations_csv, len(scores))
        records.check_same_files(args.annotations_csv, records.recorded_files(args.annotations_csv), files_name,
                                 run.files)
    about = None
    if args.taxonomy_json:
        tree = formats.read_taxonomy_json(args.taxonomy_json)
        records.check_same_files(args.taxonomy_json, list(tree.files), files_name, run.files)
        levels, about = levels_of_tree(tree), tree.about
    else:
        ids = formats.read_cluster_ids(args.label_csv)
        records.check_rows_belong(args.label_csv, len(ids), files_name, run.files)
        composite = formats.read_composite_csv(args.composite_csv) if args.composite_csv else []
        levels = level_of_ids(ids, composite)
    return TaxonomyRows(scores, answers, notes, files, levels), about


def _inputs(args) -> list[tuple[str, str, str]]:
    """The input files the card describes, in the order of the chain."""
    described = [("MLLM answers", "--text_label_csv", args.text_label_csv),
                 ("best labels and CLAP scores", "--top_label_scores_csv", args.top_label_scores_csv),
                 ("human notes", "--annotations_csv", args.annotations_csv),
                 ("taxonomy", "--taxonomy_json", args.taxonomy_json),
                 ("cluster ids", "--label_csv", args.label_csv),
                 ("composite labels", "--composite_csv", args.composite_csv)]
    return [(what, flag, path) for what, flag, path in described if path]


def _write_dataset(args, rows: TaxonomyRows, about: dict | None) -> None:
    folder = Path(args.dataset_dir)
    (folder / PARQUET_NAME).parent.mkdir(parents=True, exist_ok=True)
    columns = parquet_columns(rows, folder)
    write_parquet(folder / PARQUET_NAME, columns)
    title = args.dataset_name or f"{folder.resolve().name} (AuditoryHuM taxonomy)"
    formats.write_text_atomic(folder / CARD_NAME, dataset_card(rows, list(columns), title, _inputs(args), about))
    log.info(f"Parquet dataset ({len(rows)} rows, {len(columns)} columns) and its card written to {folder}")


def _write_label_studio(args, rows: TaxonomyRows) -> int:
    if args.label_studio_all_files:
        queue = [(row, "") for row in rows.scores]
    else:
        queue = review_rows(list(rows.scores), args.fraction)
    version = model_version(args.top_label_scores_csv)
    tasks = []
    for score_row, reason in queue:
        i = score_row.index - 1
        audio = label_studio.audio_url(rows.audio_paths[i], args.audio_url_prefix or "")
        tasks.append(label_studio.task(score_row.filename, score_row.index, audio, rows.answers[i], score_row.label,
                                       score_row.score, reason, rows.path_in_taxonomy(i), version))
    formats.write_text_atomic(args.label_studio_json, label_studio.format_tasks(tasks))
    formats.write_text_atomic(args.label_studio_config_xml, label_studio.LABELING_CONFIG)
    log.info(f"{len(tasks)} Label Studio tasks written to {args.label_studio_json}, the labeling config to "
          f"{args.label_studio_config_xml}")
    return len(tasks)


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    _check_flags(args)
    if args.label_studio_json and not args.label_studio_config_xml:
        args.label_studio_config_xml = _config_path(args.label_studio_json)
        run.add_output("--label_studio_config_xml", args.label_studio_config_xml, main=False)
    rows, about = _read_rows(args, run)
    run.results.update(rows=len(rows), levels=len(rows.levels),
                       rows_in_no_cluster=int((rows.levels[-1].ids == formats.NO_CLUSTER).sum()))
    if args.dataset_dir:
        _write_dataset(args, rows, about)
    if args.label_studio_json:
        run.results["label_studio_tasks"] = _write_label_studio(args, rows)
    if args.taxonomy_csv:
        formats.write_text_atomic(args.taxonomy_csv, format_taxonomy_csv(rows))
        log.info(f"taxonomy.csv ({len(rows.levels)} levels) written to {args.taxonomy_csv}")
    return 0
