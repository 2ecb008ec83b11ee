"""The one exception type a user can act on, how any error becomes one line, and how a message
counts things."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment (missing file, bad CSV, row mismatch...).

    Entry points print it as a single ``error: ...`` line and exit with :attr:`exit_status`, instead
    of a traceback. The message must name the file or flag involved.
    """

    exit_status = 2


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 files`` (``plural`` where adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def one_line(err: BaseException | str | None, *, last: bool = False, limit: int | None = None) -> str:
    """An exception, or a program's error output, as one line: its first non-empty line (``last``:
    its last one, where tools such as ffmpeg put the cause), whitespace folded, cut to ``limit``
    characters; the exception's type name when it says nothing."""
    text = str(getattr(err, "reason", None) or err or "") if isinstance(err, BaseException) else str(err or "")
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    line = (lines[-1] if last else lines[0]) if lines else (type(err).__name__ if isinstance(err, BaseException)
                                                           else "no message")
    if limit is not None and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line
