"""Shared plumbing for the console entry points.

Every script module in :mod:`auditoryhum.scripts` exposes ``get_parser()`` and ``main(argv=None)``;
``main`` is wrapped with :func:`entry_point` so a :class:`~auditoryhum.errors.UserError` becomes one
line on stderr and exit status 2, and Ctrl-C exits with 130 without a traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from typing import Callable

from .errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def entry_point(func: Callable[..., int | None]) -> Callable[..., int]:
    @functools.wraps(func)
    def wrapper(argv=None) -> int:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
        try:
            status = func(argv)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("interrupted; work finished so far is kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 0 if status is None else int(status)

    return wrapper


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the example's layout and shows a flag's default where it has a meaningful one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text


def make_parser(prog: str, description: str, example: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` ends with a copy-paste example, like the upstream README."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=HelpFormatter,
    )


def add_filedir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filedir",
        required=True,
        help='glob of the audio files, quoted so the shell does not expand it, e.g. "*.wav"; '
        "files are processed in sorted order and row i of every output belongs to the i-th file",
    )


def require_at_least_one(value: int, flag: str) -> None:
    if value < 1:
        raise UserError(f"{flag}={value}: must be at least 1")


def require_output_folder(path: str, flag: str) -> None:
    """Checked before any slow work, so a typo in an output path does not cost a whole run."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UserError(f"{flag}={path}: output folder {folder} does not exist")
