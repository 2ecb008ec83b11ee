"""python -m auditoryhum.scripts.recipe_support: what auditoryhum_tests.sh and run_example.sh ask
the package.

* ``run OPTION...`` - the recipe itself (auditoryhum.recipe): its stages, checked and run in this
  one process; ``run --help`` lists the stages and options;
* ``up_to_date OUTPUT ARG...`` - exit 0 when OUTPUT was made by a finished run of a script with
  exactly these arguments whose inputs still match the files on disk; else exit 1 and say why;
* ``result OUTPUT KEY`` - a figure from OUTPUT's run record (e.g. ``chosen_k``).
"""

from __future__ import annotations

import argparse
import sys

from .. import records


def get_parser():
    # plain argparse: run_example.sh calls this once per step, so it stays clear of numpy and torch
    parser = argparse.ArgumentParser(prog="python -m auditoryhum.scripts.recipe_support",
                                     description=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the recipe (auditoryhum_tests.sh); run --help lists its options",
                              add_help=False)
    run.add_argument("options", nargs=argparse.REMAINDER, help="the recipe's options")
    check = commands.add_parser("up_to_date", help="exit 0 when OUTPUT is finished and current for these arguments")
    check.add_argument("output")
    check.add_argument("arguments", nargs=argparse.REMAINDER, help="the script's arguments, after its path")
    result = commands.add_parser("result", help="print one figure of OUTPUT's run record")
    result.add_argument("output")
    result.add_argument("key")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:  # everything after it is the recipe's, --help included
        from ..recipe import main as run_recipe

        return run_recipe(argv[1:])
    args = get_parser().parse_args(argv)
    if args.command == "up_to_date":
        reason = records.up_to_date(args.output, args.arguments)
        if reason:
            print(reason)
            return 1
    else:
        data = records.read_record(args.output, check_output=False) or {}
        results = data.get("results") if isinstance(data.get("results"), dict) else {}
        value = results.get(args.key)
        if value is None:
            print(f"{args.output}: its run record has no {args.key}", file=sys.stderr)
            return 1
        print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
