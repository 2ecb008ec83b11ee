"""python -m auditoryhum.scripts.tiny_checkpoints: build tiny random-weight checkpoints (see
auditoryhum.tiny_checkpoints), under their builder names or, with --as_models, under the folder
names of the real models they stand in for (models.py), ready for auditoryhum_tests.sh --model_dir."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import cli, models
from ..tiny_checkpoints import BUILDERS, available, build

STAND_INS = {model.key: model for model in models.ALL if model.tiny_checkpoint}


def get_parser():
    parser = cli.make_parser(
        "python -m auditoryhum.scripts.tiny_checkpoints",
        "Build tiny random-weight checkpoints of the real architectures, offline: real config, processor and "
        "tokenizer classes, random weights (gibberish outputs, real code paths).",
        "python -m auditoryhum.scripts.tiny_checkpoints --out models --as_models qwen2a clap",
    )
    parser.add_argument("--out", required=True, help="folder to hold one sub-folder per checkpoint")
    parser.add_argument("names", nargs="*", choices=[[]] + list(BUILDERS), help="builders to run (default: all)")
    parser.add_argument("--as_models", nargs="+", default=None, choices=sorted(STAND_INS), metavar="MODEL",
                        help="instead: build the stand-in of each of these models into a folder named like the real "
                        f"one (e.g. qwen2a -> {models.QWEN2_AUDIO.default_model}); one of {', '.join(sorted(STAND_INS))}")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.as_models:
        plan = [(STAND_INS[key].tiny_checkpoint, STAND_INS[key].default_model) for key in args.as_models]
    else:
        plan = [(name, name) for name in args.names or available()]
    for builder, folder_name in plan:
        folder = build(builder, Path(args.out) / folder_name)
        print(f"built {builder}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
