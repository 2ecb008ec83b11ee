"""python -m auditoryhum.scripts.report: the paper's tables from a recipe's experiment folder
(see auditoryhum.report)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .. import cli
from ..errors import UserError
from ..recipe import report_inputs
from ..report import stand_ins, write_report

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        "python -m auditoryhum.scripts.report",
        "Collect every dataset x MLLM x CLAP model result of a recipe run (auditoryhum_tests.sh) into "
        "the paper's tables - label alignment (µc, µ1%), HITL boost, chosen k and U, silhouette per "
        "clustering algorithm, rows without a label per stage - from the run records beside the results; "
        "markdown plus one CSV per table, and the S(k)/S_adj(k) curves side by side. What in the results "
        "is not real (a random-weight model, the simulated annotator) is said at the top and beside every "
        "figure it touches.",
        "python -m auditoryhum.scripts.report --exp_dir exp --out exp/report.md",
    )
    parser.add_argument("--exp_dir", default="exp", help="the recipe's experiment folder")
    cli.add_output(parser, "--out", default=None, help="markdown report to write (default: <exp_dir>/report.md)")
    parser.add_argument("--csv_dir", default=None,
                        help="folder for the tables as CSV and the sweep plot (default: report/ beside --out)")
    return parser


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    exp_dir = Path(args.exp_dir)
    if not exp_dir.is_dir():
        raise UserError(f"--exp_dir={exp_dir}: folder not found (run the recipe first)")
    out = Path(args.out) if args.out else exp_dir / "report.md"
    if not args.out:
        run.add_output("--out", str(out))
    csv_dir = Path(args.csv_dir) if args.csv_dir else out.parent / "report"
    inputs = report_inputs(exp_dir)
    for path in inputs:  # the report is made again when any of them changes (the recipe's check)
        run.add_input_file("--exp_dir", str(path))
    for item in stand_ins(exp_dir, inputs):
        run.add_stand_in(item)
    tables = write_report(exp_dir, out, csv_dir, inputs)
    log.info("report written to %s (%d tables, CSVs in %s)", out, len(tables), csv_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
