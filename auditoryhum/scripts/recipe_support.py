"""python -m auditoryhum.scripts.recipe_support: what auditoryhum_tests.sh asks the package.

* ``describe`` - the datasets, MLLMs and model folders the recipe knows, one per line
  (``dataset NAME``, ``mllm KEY SCRIPT FLAG DEFAULT_FOLDER``, ``clone FOLDER URL``), read from
  auditoryhum.datasets and auditoryhum.models so the recipe repeats none of it;
* ``supplementary DATASET MLLM KIND`` - the name of a published supplementary CSV;
* ``up_to_date OUTPUT ARG...`` - exit 0 when OUTPUT was made by a finished run of a script with
  exactly these arguments whose inputs still match the files on disk; else exit 1 and say why;
* ``result OUTPUT KEY`` - a figure from OUTPUT's run record (e.g. ``chosen_k``).
"""

from __future__ import annotations

import argparse
import sys

from .. import models, records
from ..datasets import DATASETS, supplementary_name


def describe() -> list[str]:
    lines = [f"dataset {name}" for name, dataset in DATASETS.items() if not dataset.is_supplementary]
    lines += [f"mllm {m.key} {m.label_script} {m.model_flag} {m.default_model}" for m in models.MLLMS.values()]
    lines += [f"clone {m.default_model} {m.clone_url}" for m in models.ALL]
    return lines


def get_parser():
    # plain argparse: the recipe calls this once per step, so it stays clear of numpy and torch
    parser = argparse.ArgumentParser(prog="python -m auditoryhum.scripts.recipe_support",
                                     description=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("describe", help="the datasets, MLLMs and model folders the recipe knows")
    supplementary = commands.add_parser("supplementary", help="the file name of a published supplementary CSV")
    for name in ("dataset", "mllm", "kind"):
        supplementary.add_argument(name)
    check = commands.add_parser("up_to_date", help="exit 0 when OUTPUT is finished and current for these arguments")
    check.add_argument("output")
    check.add_argument("arguments", nargs=argparse.REMAINDER, help="the script's arguments, after its path")
    result = commands.add_parser("result", help="print one figure of OUTPUT's run record")
    result.add_argument("output")
    result.add_argument("key")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    if args.command == "describe":
        print("\n".join(describe()))
    elif args.command == "supplementary":
        print(supplementary_name(args.dataset, args.mllm, args.kind))
    elif args.command == "up_to_date":
        reason = records.up_to_date(args.output, args.arguments)
        if reason:
            print(reason)
            return 1
    else:
        value = ((records.read_record(args.output, check_output=False) or {}).get("results") or {}).get(args.key)
        if value is None:
            print(f"{args.output}: its run record has no {args.key}", file=sys.stderr)
            return 1
        print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
