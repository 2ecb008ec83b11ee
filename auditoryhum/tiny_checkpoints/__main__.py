import argparse
import sys
from pathlib import Path

from . import BUILDERS, available, build


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m auditoryhum.tiny_checkpoints",
        description="Build tiny random-weight checkpoints of the real architectures (offline).",
    )
    parser.add_argument("--out", required=True, help="folder to hold one sub-folder per checkpoint")
    parser.add_argument("names", nargs="*", choices=[[]] + list(BUILDERS), help="which (default: all)")
    args = parser.parse_args(argv)
    for name in args.names or available():
        folder = build(name, Path(args.out) / name)
        print(f"built {name}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
