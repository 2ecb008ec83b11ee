"""Which files a ``--filedir`` glob names, in the one order every script uses: row i of every
output belongs to the i-th file of that list (standard library only, so the recipe's quick checks
can ask it without loading numpy)."""

from __future__ import annotations

import glob
import logging
import os

from .errors import UserError

log = logging.getLogger(__name__)


def expand_glob(pattern: str) -> list[str]:
    """The sorted files matching ``pattern`` (folders left out; a broken symbolic link kept: it is
    a file the user listed, and it keeps its row as an unreadable one)."""
    return sorted(path for path in glob.glob(pattern, recursive=True)
                  if os.path.isfile(path) or (os.path.islink(path) and not os.path.exists(path)))


def list_audio_files(pattern: str, unique_names: bool = True) -> list[str]:
    """The sorted list of files matching ``pattern``; an empty match is a :class:`UserError`, and so
    are two files of the same name in different folders (a recursive glob), unless ``unique_names``
    is False: rows are matched to files by name (the scores CSV, the run records), so those two
    would be confused."""
    files = expand_glob(pattern)
    if not files:
        raise UserError(f'--filedir="{pattern}" matches no files (quote the glob so the shell does not expand it)')
    if unique_names:
        first_of: dict[str, str] = {}
        for path in files:
            other = first_of.setdefault(os.path.basename(path), path)
            if other != path:
                raise UserError(f'--filedir="{pattern}": two files are named {os.path.basename(path)}: {other} and '
                                f"{path}; rows are matched to files by name, so rename one or narrow the glob")
    broken = [path for path in files if not os.path.exists(path)]
    if broken:
        log.warning("%d of the files matching %s are broken symbolic links; each keeps its row as an unreadable "
                    "file: %s", len(broken), pattern, ", ".join(broken))
    return files
