"""python -m auditoryhum.scripts.fetch_data: download, verify and unpack the datasets (see auditoryhum.fetch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import cli
from ..datasets import DATASETS, get_dataset
from ..errors import UserError
from ..fetch import describe_plan, fetch_dataset


def get_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "python -m auditoryhum.scripts.fetch_data",
        "Download, verify and unpack the paper's datasets (ADVANCE, AHEAD-DS, TAU 2019 and 2021) and "
        "the authors' supplementary labels and annotations. Interrupted downloads resume; archives "
        "are checked against their published MD5 and size, and the SHA-256 of each is printed so it "
        "can be pinned. WAVs end up in <data_dir>/<dataset>/wav/.",
        "python -m auditoryhum.scripts.fetch_data --datasets tau2019 supplementary --data_dir data",
    )
    parser.add_argument("--datasets", nargs="+", required=True, metavar="NAME",
                        help=f"datasets to fetch: {', '.join(DATASETS)}")
    parser.add_argument("--data_dir", default="data", help="folder that receives one sub-folder per dataset")
    parser.add_argument("--wav_dir", default=None,
                        help="put the WAVs here instead of <data_dir>/<dataset>/wav/ (one dataset only; the authors' "
                        "tau2019.sh and tau2021.sh put them in the current folder)")
    parser.add_argument("--dry_run", action="store_true",
                        help="print what would be downloaded and where, with sizes and checksums; fetch nothing")
    parser.add_argument("--keep_archives", action="store_true",
                        help="keep each archive after unpacking (by default it is deleted, leaving a .done marker)")
    parser.add_argument("--jobs", type=int, default=4, help="files downloaded at the same time from a Hugging Face dataset")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    datasets = [get_dataset(name) for name in args.datasets]  # every name checked before any download
    if args.jobs < 1:
        raise UserError(f"--jobs={args.jobs}: must be a positive integer")
    data_dir = Path(args.data_dir)
    wav_dir = Path(args.wav_dir) if args.wav_dir else None
    if wav_dir is not None and len(datasets) != 1:
        raise UserError(f"--wav_dir={wav_dir}: takes one dataset, got {len(datasets)}")
    if wav_dir is not None and not wav_dir.is_dir():
        raise UserError(f"--wav_dir={wav_dir}: folder not found")
    if args.dry_run:
        for dataset in datasets:
            print("\n".join(describe_plan(dataset, data_dir, wav_dir)))
        print("dry run: nothing fetched")
        return 0
    for dataset in datasets:
        fetch_dataset(dataset, data_dir, args.keep_archives, args.jobs, wav_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
