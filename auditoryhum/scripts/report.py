"""python -m auditoryhum.scripts.report: the paper's tables from a recipe's experiment folder
(see auditoryhum.report)."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import cli
from ..errors import UserError
from ..report import write_report


def get_parser():
    parser = cli.make_parser(
        "python -m auditoryhum.scripts.report",
        "Collect every dataset x MLLM x CLAP model result of a recipe run (auditoryhum_tests.sh) into "
        "the paper's tables - label alignment (µc, µ1%), HITL boost, chosen k and U, silhouette per "
        "clustering algorithm, rows without a label per stage - from the run records beside the results; "
        "markdown plus one CSV per table, and the S(k)/S_adj(k) curves side by side.",
        "python -m auditoryhum.scripts.report --exp_dir exp --out exp/report.md",
    )
    parser.add_argument("--exp_dir", default="exp", help="the recipe's experiment folder")
    parser.add_argument("--out", default=None, help="markdown report to write (default: <exp_dir>/report.md)")
    parser.add_argument("--csv_dir", default=None,
                        help="folder for the tables as CSV and the sweep plot (default: report/ beside --out)")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    exp_dir = Path(args.exp_dir)
    if not exp_dir.is_dir():
        raise UserError(f"--exp_dir={exp_dir}: folder not found (run the recipe first)")
    out = Path(args.out) if args.out else exp_dir / "report.md"
    csv_dir = Path(args.csv_dir) if args.csv_dir else out.parent / "report"
    tables = write_report(exp_dir, out, csv_dir)
    print(f"report written to {out} ({len(tables)} tables, CSVs in {csv_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
