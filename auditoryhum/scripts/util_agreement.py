"""util_agreement.py - how far two or more labellers agree on the same files (see auditoryhum.agreement)."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

from .. import cli, formats, records
from ..agreement import DEFAULT_THRESHOLD, NO_LABEL, Agreement, agreement, kappa_reading, line_label, normalise
from ..errors import UserError, counted

PROG = "util_agreement.py"
PAIRS_CSV_HEADER = ("a", "b", "files", "exact_agreement", "cohen_kappa", "semantic_agreement", "semantic_agree_share",
                    "files_both_without_a_label")

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        "How far two or more labellers agree on the same files: MLLMs run on the same clips, or an MLLM and\n"
        "the human annotations. Each file's label is the first label of its line, cleaned as CLAP scoring\n"
        "cleans it (ASCII, first two words) - or, with --top_label_scores_csvs, the label CLAP chose - in\n"
        f"lower case; a file without one is the category {NO_LABEL}, counted like any label. Per pair:\n"
        "exact agreement, Cohen's kappa (agreement beyond chance: 1 the same, 0 chance), and with\n"
        "--st_model the semantic agreement (the mean cosine of the two labels' sentence embeddings, and\n"
        "the share of files at --threshold or above) and the files they disagree on most; over all:\n"
        "Fleiss' kappa (three or more labellers) and the share of files on which all agree. A kappa is\n"
        "also said in Landis and Koch's words (0-0.2 slight, ... above 0.8 almost perfect; 0 is chance).",
        f"python3 {PROG} --text_label_csvs soundnet_text_labels.csv qwen2a_text_labels.csv "
        "--st_model=all-MiniLM-L6-v2 --json_out=agreement.json --pairs_csv=agreement.csv",
    )
    cli.add_input(parser, "--text_label_csvs", nargs="+", required=True,
                  help="two or more labels CSVs (label_*.py, or an annotations CSV: blank = no label; one ending "
                  "early has no label for the files after its end) over the same files, one line per file")
    parser.add_argument("--names", nargs="+", default=None,
                        help="a name per labels CSV (default: each file's name without .csv)")
    cli.add_input(parser, "--top_label_scores_csvs", nargs="+", default=None,
                  help="a top-label scores CSV per labels CSV (features_clap_text.py of those labels): each file's "
                  "label is then the one CLAP chose among its candidates, not the first")
    cli.add_model(parser, "--st_model", default=None,
                  help="sentence-transformers model folder for the semantic agreement (e.g. all-MiniLM-L6-v2); "
                  "without it only the exact figures are computed")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="cosine at which two labels count as saying the same thing (semantic agree share)")
    parser.add_argument("--disagreements", type=int, default=10,
                        help="files listed per pair where the labellers disagree most (lowest cosine)")
    parser.add_argument("--device", default="auto", help='device of --st_model: "cpu", "cuda", "cuda:N" or "auto"')
    cli.add_output(parser, "--json_out", required=True,
                   help="output: every figure as JSON (labellers, pairs with cohen_kappa, exact_agreement, "
                   "semantic_agreement and disagreements, overall with fleiss_kappa)")
    cli.add_output(parser, "--pairs_csv", extra=True, default=None,
                   help="output (optional): one row per pair: " + ",".join(PAIRS_CSV_HEADER))
    return parser


def _names(args) -> list[str]:
    paths = [Path(path) for path in args.text_label_csvs]
    if args.names is not None:
        if len(args.names) != len(paths):
            raise UserError(f"--names: {len(args.names)} names for {len(paths)} labels CSVs")
        names = list(args.names)
    else:
        names = [path.stem for path in paths]
        if len(set(names)) < len(names):  # the recipe's layout: exp/<dataset>/<mllm>/text_labels.csv
            names = [f"{path.parent.name}/{path.stem}" for path in paths]
    if len(set(names)) < len(names):
        raise UserError(f"--names: two labellers share a name ({', '.join(names)}); pass --names")
    return names


def _labels(args, names: list[str]) -> tuple[list[list[str]], list[str]]:
    """Each labeller's normalised label per file, and the files' names (from the inputs' run records
    or scores CSVs; ``row N`` where none names them)."""
    lines = [formats.read_labels_csv(path) for path in args.text_label_csvs]
    n_files = max(map(len, lines))
    files, named_by = None, None
    for path, found in zip(args.text_label_csvs, lines):
        recorded = records.recorded_files(path)
        if recorded is not None:
            if files is not None:
                records.check_same_files(path, recorded, named_by, files)
            files, named_by = files or recorded, named_by or path
        if recorded is not None and len(found) > len(recorded):
            raise UserError(f"{path}: {len(found)} lines, but its run record lists {len(recorded)} files")
    scores = None
    if args.top_label_scores_csvs is not None:
        if len(args.top_label_scores_csvs) != len(args.text_label_csvs):
            raise UserError(f"--top_label_scores_csvs: {len(args.top_label_scores_csvs)} CSVs for "
                            f"{len(args.text_label_csvs)} labels CSVs (one per labeller, in the same order)")
        scores = [formats.read_scores_csv(path) for path in args.top_label_scores_csvs]
        for path, table in zip(args.top_label_scores_csvs, scores):
            if files is not None:
                records.check_scores_files(path, table.filenames, named_by, files)
            files, named_by = files or list(table.filenames), named_by or path
    n_files = max(n_files, len(files or []))
    labels = []
    for name, path, found in zip(names, args.text_label_csvs, lines):
        if len(found) < n_files:
            log.warning("%s: %s for %s; the files after its last line (rows %d to %d) count as %s", path,
                        counted(len(found), "line"), counted(n_files, "file"), len(found) + 1, n_files, NO_LABEL)
        labels.append([line_label(line) for line in found] + [NO_LABEL] * (n_files - len(found)))
    if scores is not None:
        for i, table in enumerate(scores):
            if len(table) != n_files:
                raise UserError(f"{args.top_label_scores_csvs[i]}: {len(table)} rows for {n_files} files")
            labels[i] = [normalise(label) for label in table.labels]
    return labels, files or [f"row {i}" for i in range(1, n_files + 1)]


def _embedder(args, run):
    if args.st_model is None:
        log.warning("no --st_model: the semantic agreement is not computed (exact figures only)")
        return None
    from ..text_embedding import encoder, load_on_device

    return encoder(load_on_device(args.st_model, args.device, run.parameters))


def _figure(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _print(found: Agreement) -> None:
    overall = found.overall()
    print(f"Agreement of {len(found.names)} labellers on {counted(len(found.files), 'file')} "
          f"(files without a label: " + ", ".join(f"{name} {n}" for name, n in found.without_label().items()) + ")")
    for pair in found.pairs:
        semantic = "" if pair.semantic_agreement is None else \
            f"  semantic {_figure(pair.semantic_agreement)} (at least {found.threshold:g}: " \
            f"{_figure(pair.semantic_agree_share)})"
        print(f"  {pair.a} vs {pair.b}: exact {_figure(pair.exact_agreement)}  Cohen's kappa "
              f"{_figure(pair.cohen_kappa)} ({kappa_reading(pair.cohen_kappa)}){semantic}")
    if found.fleiss_kappa is not None:
        print(f"  all {len(found.names)}: Fleiss' kappa {_figure(found.fleiss_kappa)} "
              f"({kappa_reading(found.fleiss_kappa)}); all agree on "
              f"{_figure(overall['all_agree'])} of the files")
    for pair in found.pairs:
        if pair.disagreements:
            print(f"Files {pair.a} and {pair.b} disagree on most:")
            for item in pair.disagreements:
                cosine = "" if item.cosine is None else f" (cosine {item.cosine:.3f})"
                print(f"  {item.file}: {item.label_a!r} vs {item.label_b!r}{cosine}")


def _pairs_csv(found: Agreement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAIRS_CSV_HEADER)
    for pair in found.pairs:
        figures = pair.as_dict()
        writer.writerow([pair.a, pair.b, pair.files] + ["" if figures[key] is None else f"{figures[key]:.6f}"
                                                         for key in PAIRS_CSV_HEADER[3:-1]]
                        + [pair.both_without_label])
    return out.getvalue()


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    if len(args.text_label_csvs) < 2:
        raise UserError("--text_label_csvs: agreement needs two or more labels CSVs")
    if not -1 <= args.threshold <= 1:
        raise UserError(f"--threshold={args.threshold}: a cosine, from -1 to 1")
    if args.disagreements < 0:
        raise UserError(f"--disagreements={args.disagreements}: must be 0 or more")
    names = _names(args)
    labels, files = _labels(args, names)
    run.files = files
    found = agreement(names, labels, files, _embedder(args, run), args.threshold, args.disagreements)
    _print(found)
    data = {
        "labellers": [{"name": name, "text_label_csv": path, "files_without_a_label": found.without_label()[name],
                       **({"top_label_scores_csv": args.top_label_scores_csvs[i]} if args.top_label_scores_csvs
                          else {})}
                      for i, (name, path) in enumerate(zip(names, args.text_label_csvs))],
        "label": ("the CLAP-chosen label of the scores CSV" if args.top_label_scores_csvs
                  else "the first label of the line (ASCII, first two words)") + f", lower case; {NO_LABEL}: no label",
        "st_model": args.st_model, "threshold": args.threshold,
        "pairs": [pair.as_dict() for pair in found.pairs],
        "overall": found.overall(),
    }
    formats.write_json(args.json_out, data)
    if args.pairs_csv:
        formats.write_text_atomic(args.pairs_csv, _pairs_csv(found))
    run.results.update(found.overall(), pairs=[{key: value for key, value in pair.as_dict().items()
                                               if key != "disagreements"} for pair in found.pairs])
    log.info("agreement written to %s%s", args.json_out, f" and {args.pairs_csv}" if args.pairs_csv else "")
    return 0
