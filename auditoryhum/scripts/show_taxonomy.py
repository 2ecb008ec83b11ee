"""python -m auditoryhum.scripts.show_taxonomy COMPOSITE_CSV: the composite labels as the table
composite_labels.py prints (cluster, size, composite label, top labels), e.g. at the end of the example."""

from __future__ import annotations

import sys

from .. import cli, formats
from ..composite import format_table


def get_parser():
    parser = cli.make_parser("python -m auditoryhum.scripts.show_taxonomy", __doc__.split(":", 1)[1].strip(),
                             "python -m auditoryhum.scripts.show_taxonomy composite_labels.csv")
    parser.add_argument("composite_csv", help="composite labels CSV from composite_labels.py")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    print(format_table(formats.read_composite_csv(args.composite_csv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
