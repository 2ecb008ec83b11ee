"""Which files a ``--filedir`` glob names, in the one order every script uses (standard library only,
so the recipe's quick checks can ask it without loading numpy)."""

from __future__ import annotations

import glob
import os


def expand_glob(pattern: str) -> list[str]:
    """The sorted files matching ``pattern`` (folders left out; a broken symbolic link kept: it is
    a file the user listed, and it keeps its row as an unreadable one)."""
    return sorted(path for path in glob.glob(pattern, recursive=True)
                  if os.path.isfile(path) or (os.path.islink(path) and not os.path.exists(path)))
