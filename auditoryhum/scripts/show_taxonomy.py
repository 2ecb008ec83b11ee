"""python -m auditoryhum.scripts.show_taxonomy COMPOSITE_CSV [--taxonomy_json T] [--evaluation_json E]: the
composite labels as the table composite_labels.py prints (cluster, size, composite label, top labels), the
taxonomy tree and the evaluation's main figures, e.g. at the end of the example."""

from __future__ import annotations

import sys

from .. import cli, formats
from ..composite import format_table
from ..evaluation import summary_lines
from ..taxonomy_tree import format_tree


def get_parser():
    parser = cli.make_parser("python -m auditoryhum.scripts.show_taxonomy", __doc__.split(":", 1)[1].strip(),
                             "python -m auditoryhum.scripts.show_taxonomy composite_labels.csv "
                             "--taxonomy_json=taxonomy.json --evaluation_json=evaluation.json")
    parser.add_argument("composite_csv", help="composite labels CSV from composite_labels.py")
    parser.add_argument("--taxonomy_json", help="also print this taxonomy tree (composite_labels.py --taxonomy_json)")
    parser.add_argument("--evaluation_json", help="also print the main figures of evaluate_taxonomy.py --json_out")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    print(format_table(formats.read_composite_csv(args.composite_csv)))
    if args.taxonomy_json:
        print()
        print(format_tree(formats.read_taxonomy_json(args.taxonomy_json)))
    if args.evaluation_json:
        print()
        print("\n".join(summary_lines(formats.read_evaluation_json(args.evaluation_json))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
