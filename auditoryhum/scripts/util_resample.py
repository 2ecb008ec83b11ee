"""util_resample.py - convert audio files in place to one sampling rate, sample format and channel count.

Unlike the published script, a file is replaced only after its converted copy has been decoded and
checked; a file that fails is left untouched and reported, and the run exits 1 after converting the
rest. Files already in the target format are skipped, so re-running after a failure or Ctrl-C only
does the remaining work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

from .. import cli, formats
from ..errors import UserError
from ..filelist import list_audio_files
from ..resample import (
    SAMPLE_FORMATS,
    Converter,
    Outcome,
    Status,
    Target,
    find_ffmpeg,
    is_in_format,
    remove_stale_temporaries,
)

EXIT_SOME_FAILED = 1


def get_parser():
    parser = cli.make_parser(
        "util_resample.py",
        "Convert every matching WAV file in place (with ffmpeg) to the given sampling rate, sample "
        "format and channel count. Each file is converted to a hidden temporary file beside it, "
        "checked, and only then swapped in; a file that fails is left as it was and reported (exit "
        "status 1). Files already in the target format are skipped.",
        'python3 util_resample.py --filedir="*.wav" --sampling_rate=16000 --bits="s16" --channels=1',
    )
    cli.add_filedir_argument(parser)
    parser.add_argument("--sampling_rate", type=int, default=16000, help="target sampling rate in Hz")
    parser.add_argument(
        "--bits",
        default="s16",
        choices=sorted(SAMPLE_FORMATS),
        help="target sample format, as ffmpeg's -sample_fmt names it: u8, s16, s32 (integer PCM), "
        "flt (32-bit float), dbl (64-bit float)",
    )
    parser.add_argument("--channels", type=int, default=1, help="target channel count (1 = mono, mixed down)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="files converted at the same time (ffmpeg processes)"
    )
    parser.add_argument(
        "--allow_failures",
        action="store_true",
        help="a file that cannot be converted is still reported and left as it is, but the run exits 0 "
        "unless no file at all is usable; the label and feature scripts then give it a blank line or a "
        "NaN row (what auditoryhum_tests.sh does with unreadable recordings)",
    )
    parser.add_argument(
        "--dry_run", action="store_true", help="only list the files that would be converted; change nothing"
    )
    cli.add_output(parser, "--summary_txt",
                   help="also write the printed counts to this file, with its run record beside it, when the "
                   "run succeeds")
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    for flag in ("sampling_rate", "channels", "jobs"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag}={getattr(args, flag)}: must be a positive integer")
    ffmpeg = find_ffmpeg()
    files = list_audio_files(args.filedir, unique_names=False)  # converted in place: names need not differ
    target = Target(args.sampling_rate, args.channels, args.bits)
    remove_stale_temporaries(files)

    if args.dry_run:
        pending = [path for path in files if not is_in_format(path, target)]
        for path in pending:
            print(f"would convert: {path}")
        already = len(files) - len(pending)
        print(f"dry run ({target.describe()}): {len(pending)} to convert, {already} already in format")
        return 0

    converter = Converter(target, ffmpeg)
    with cancel_on_signals(converter) as interrupted:
        outcomes = convert_all(files, converter, args.jobs)
    if interrupted.is_set():
        raise KeyboardInterrupt
    status, summary = report(outcomes, target, args.allow_failures)
    if args.summary_txt and status == 0:  # a failed run leaves no summary that could pass for a finished one
        formats.write_text_atomic(args.summary_txt, summary + "\n")
    # The files as they are now (converted), so a later change to them shows in the fingerprint.
    run.add_audio(args.filedir, files)
    run.results.update({f"files_{status.name.lower()}": sum(outcome.status is status for outcome in outcomes)
                        for status in Status})
    return status


def convert_all(files: list[str], converter: Converter, jobs: int) -> list[Outcome]:
    """Convert in a thread pool (each thread drives one ffmpeg process); outcomes in file order.

    After :meth:`Converter.cancel` (Ctrl-C or SIGTERM, see :func:`cancel_on_signals`) pending files
    end as "cancelled" and running ffmpeg processes are killed; their temporary files are removed
    and every original is intact.
    """
    outcomes = []
    executor = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [executor.submit(converter.convert, path) for path in files]
        with tqdm(total=len(files), unit="file", desc="resampling") as progress:
            for future in as_completed(futures):
                outcomes.append(future.result())
                progress.update()
    except BaseException:
        converter.cancel()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    order = {path: i for i, path in enumerate(files)}
    return sorted(outcomes, key=lambda outcome: order[outcome.path])


def report(outcomes: list[Outcome], target: Target, allow_failures: bool = False) -> tuple[int, str]:
    """Name every failed file on stderr, print the counts; the exit status and the counts line."""
    counts = {status: 0 for status in Status}
    for outcome in outcomes:
        counts[outcome.status] += 1
        if outcome.status is Status.FAILED:
            print(f"failed (left untouched): {outcome.path}: {outcome.reason}", file=sys.stderr)
    summary = (f"{target.describe()}: converted {counts[Status.CONVERTED]}, "
               f"already in format {counts[Status.ALREADY_IN_FORMAT]}, failed {counts[Status.FAILED]}")
    print(summary)
    if not counts[Status.FAILED] or (allow_failures and counts[Status.FAILED] < len(outcomes)):
        return 0, summary
    return EXIT_SOME_FAILED, summary


@contextlib.contextmanager
def cancel_on_signals(converter: Converter):
    """Ctrl-C and ``kill`` cancel the conversions (running ffmpeg processes are killed, their
    temporary files removed) and set the yielded event; the caller then stops as interrupted.

    The handler does not raise: an exception thrown into the main thread while it holds one of
    the thread pool's internal locks could leave that lock held and hang the shutdown.
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def cancel(signum, frame):
        interrupted.set()
        converter.cancel()

    previous = {signum: signal.signal(signum, cancel) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
