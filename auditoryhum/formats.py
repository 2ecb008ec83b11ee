"""Every file the scripts exchange, read and written in one place (docs/method.md §8).

Formats, as the published supplementary data has them:

* **labels CSV** - one line per audio file holding the cleaned MLLM response, e.g.
  ``traffic noise, car horn``. The commas separate label pieces, so the line is *not* quoted
  (the upstream scripts split it on commas). Response cleaning removes quotes and newlines, so a
  line can never break the format. A line wrapped in double quotes (as a spreadsheet may save it)
  is unwrapped on reading.
* **annotations CSV** - same layout; blank lines mean "no human note"; the file may be shorter
  than the file list (missing lines are blank).
* **top-label scores CSV** - no header, ``index (1-based), filename, label, score`` joined by
  ``", "``; a field holding a comma or a quote is quoted, so ``pandas.read_csv(path, header=None,
  skipinitialspace=True)`` reads it back.
* **multi-label scores CSV** - no header, ``index (1-based), filename, label, score, rank``, joined
  and quoted as the scores CSV: one row per label a file keeps (features_clap_text.py
  --multi_label), best first (rank 1, 2, ...); a file without a label has one row with an empty
  label, score ``nan`` and rank 0, so every file is listed.
* **sweep CSV** - header ``k,silhouette,adjusted_silhouette``, one row per k of the sweep.
* **composite labels CSV** - header ``cluster,n_samples,composite_label,top_labels``, one row per
  cluster.
* **review sheet** - header ``row,filename,label,score,reason,annotator,annotation``, one row per
  file a person should look at; ``row`` is the file's 1-based row of the scores CSV, ``annotator``
  who wrote the note (a stand-in says so), and the annotation column, last, is what the reviewer
  fills in.
* **taxonomy JSON** - a hierarchy of partitions of the same rows: ``files``, ``levels`` (coarsest
  first; each ``{"level", "k", "ids"}`` with one cluster id per row) and ``nodes`` (``level``,
  ``cluster``, ``name``, ``parent`` - its cluster one level up -, ``rows``, ``label_counts``).
* **ground-truth CSV** - header ``filename,class``, one row per (file, class): a file with several
  classes has several rows; files are named as in the scores CSV (base names).
* **evaluation CSV** - header ``k,silhouette,adjusted_silhouette,nmi,ari,v_measure,homogeneity,
  completeness,purity``, one row per k of the sweep (evaluate_taxonomy.py); a figure that was not
  computed (no ground truth) is empty.
* **cluster ids CSV** - one integer per line; ``-1`` (:data:`NO_CLUSTER`) marks a row in no
  cluster: a file without a label (its embedding row is NaN), or a point HDBSCAN calls noise.
* **.npy** - float32, one row per file; a row of NaN marks a file that could not be read.

All writes are atomic (temporary file in the same folder, then ``os.replace``), so an interrupted
run never leaves a half-written output behind. A run with several outputs can hold them back
(:func:`hold_outputs`): each is written to its temporary file, and they replace their outputs
together when the run has made them all. A temporary file is named
``.<output>.<pid>-XXXXXXXX.tmp``; one whose process is gone (a killed run) is removed by the next run
of that output (:func:`remove_stale_temporaries`). Files that must line up row by row are checked by
:func:`auditoryhum.records.check_rows_belong`: by name where a run record lists the files, by count
otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .errors import UserError, counted, one_line

PathLike = str | os.PathLike
log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# atomic writes


def _umask() -> int:
    """The process umask, read without changing it (Linux), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _give_umask_mode(path: PathLike) -> None:
    """The mode a newly created file gets (temporary files are created 0600)."""
    os.chmod(path, 0o666 & ~_umask())


def temporary_prefix(path: PathLike, mark: str = "") -> str:
    """The start of the name of a temporary file for ``path``: hidden, and naming this process."""
    return f".{Path(path).name}.{mark}{os.getpid()}-"


def remove_stale_temporaries(paths: Iterable[PathLike], mark: str = "") -> list[str]:
    """Remove the temporary files that killed runs left for ``paths`` (or, for a folder, for the
    files in it): those named by :func:`temporary_prefix` whose process is gone; a running
    process's own are kept. Returns what was removed."""
    folders: dict[Path, set[str] | None] = {}  # None: every file in the folder
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            folders[path] = None
        elif (names := folders.setdefault(path.parent, set())) is not None:
            names.add(path.name)
    removed = []
    for folder, names in folders.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            owner = _temporary_owner(entry.name, mark)
            if owner is None or (names is not None and owner[0] not in names) or _process_alive(owner[1]):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(entry.path)
    if removed:
        log.info("removed %s left by interrupted runs", counted(len(removed), "temporary file"))
    return removed


def _temporary_owner(name: str, mark: str) -> tuple[str, int] | None:
    """(output name, pid) of a temporary file's name; None for any other name."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    output, _, rest = name[1:-len(".tmp")].rpartition("." + mark)
    pid = rest.split("-", 1)[0]
    return (output, int(pid)) if output and pid.isdigit() and "-" in rest else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class HeldOutputs:
    """Outputs whose finished atomic writes wait as temporary files until :meth:`commit` (they all
    replace their outputs, renames only, one after another) or :meth:`discard` (they are removed):
    a run that stops part-way then leaves its earlier outputs as they were, never some new ones
    beside old ones. One at a time per process (:func:`hold_outputs`). A write that reads an output
    back while it is held reads the old one: keep such reads out of a held run."""

    def __init__(self, paths: Iterable[PathLike]):
        self.paths = {os.path.abspath(path) for path in paths}
        self.finished: dict[str, str] = {}  # output -> its finished temporary

    def hold(self, path: Path, tmp_name: str) -> bool:
        """Keep ``tmp_name``, the finished write of ``path``, if ``path`` is held."""
        key = os.path.abspath(path)
        if key not in self.paths:
            return False
        earlier = self.finished.pop(key, None)
        if earlier is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(earlier)
        self.finished[key] = tmp_name
        return True

    def commit(self) -> None:
        self._release()
        for path, tmp_name in self.finished.items():
            os.replace(tmp_name, path)
        self.finished.clear()

    def discard(self) -> None:
        self._release()
        for tmp_name in self.finished.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        self.finished.clear()

    def _release(self) -> None:
        global _held
        if _held is self:
            _held = None


_held: HeldOutputs | None = None


def hold_outputs(paths: Iterable[PathLike]) -> HeldOutputs:
    """From now until its commit or discard, hold back the writes of ``paths`` (see :class:`HeldOutputs`)."""
    global _held
    if _held is not None:
        raise RuntimeError("outputs are already held for another run in this process")
    _held = HeldOutputs(paths)
    return _held


@contextlib.contextmanager
def outputs_together(paths: Iterable[PathLike]) -> Iterator[HeldOutputs]:
    """:func:`hold_outputs` for a block: committed when it ends without an error, else discarded."""
    held = hold_outputs(paths)
    try:
        yield held
    except BaseException:
        held.discard()
        raise
    held.commit()


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs) -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one step (or, while
    ``path`` is held, at :meth:`HeldOutputs.commit`), with the mode the umask gives a new file.
    A write that fails (a full disk, a read-only folder) raises an ``OSError`` naming ``path``, and
    ``path`` is left as it was. ``path`` is never written through: a symbolic link there is
    replaced, not followed."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{path}: output folder {folder} does not exist")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=folder)
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _give_umask_mode(tmp_name)
        if _held is None or not _held.hold(path, tmp_name):
            os.replace(tmp_name, path)
    except BaseException as err:
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        if isinstance(err, OSError) and err.errno is not None and err.filename != str(path):
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


def jsonable(value):
    """numpy scalars and paths as plain JSON values; NaN and infinities (figures that do not
    exist) as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: PathLike, data, indent: int = 1) -> None:
    """``data`` as strict JSON (:func:`jsonable`), written atomically."""
    write_text_atomic(path, json.dumps(jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False) + "\n")


def write_text_atomic(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def _read_text(path: PathLike, what: str) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: {what} is a folder, expected a file") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: {what} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read {what} ({err.strerror})") from None


def _split_lines(text: str) -> list[str]:
    """Lines without terminators. Only ``\\n``/``\\r\\n`` end a line (not the other characters
    ``str.splitlines`` treats as breaks, which may appear inside a label); a final newline does
    not start an extra empty line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _unquote_whole_line(line: str) -> str:
    if len(line) >= 2 and line.startswith('"') and line.endswith('"'):
        return line[1:-1].replace('""', '"')
    return line


def csv_records(text: str, path: PathLike, skipinitialspace: bool = False) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-blank line of a CSV the suite reads, each physical line
    parsed on its own: every file the suite writes holds one record per line, so a quoted field
    that runs over its line's end (an unbalanced ``"``) is a mistake - read as CSV it would swallow
    the lines after it and shift every row - and stops with one line naming the file and line."""
    for line_no, line in enumerate(_split_lines(text.removeprefix("\ufeff")), start=1):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line], strict=True, skipinitialspace=skipinitialspace))
        except csv.Error as err:
            raise UserError(f"{path}: line {line_no}: malformed quoted field ({err}); a field holding a comma or "
                            'a quote is written in double quotes, each " inside it doubled') from None
        yield line_no, fields


def csv_dicts(text: str, path: PathLike, what: str) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header of a CSV with one, and ``(line number, record)`` of every line after it (fields
    past the header's under the key None, as :class:`csv.DictReader` keeps them)."""
    lines = csv_records(text, path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise UserError(f"{path}: the {what} is empty") from None

    def records():
        for line_no, fields in lines:
            record = dict(zip(header, fields))
            if len(fields) > len(header):
                record[None] = fields[len(header):]
            yield line_no, record

    return header, records()


# ----------------------------------------------------------------------------------------------
# labels and annotations


def read_labels_csv(path: PathLike) -> list[str]:
    """One response line per audio file (blank lines kept: they are files with no label)."""
    return [_unquote_whole_line(line) for line in _split_lines(_read_text(path, "labels CSV"))]


def read_annotations_csv(path: PathLike, n_files: int | None = None, keep_whitespace: bool = False) -> list[str]:
    """Human notes, one line per file; blank = no note. Padded with blanks to ``n_files``.

    Blank lines past the last file are dropped (spreadsheet exports add them); a note past the
    last file is an error naming its line: it would belong to no file. ``keep_whitespace``: each
    line as it is, so a line of spaces is a note of spaces (as the published scripts read it).
    """
    lines = [_unquote_whole_line(line) for line in _split_lines(_read_text(path, "annotations CSV"))]
    notes = lines if keep_whitespace else [line.strip() for line in lines]
    if n_files is not None:
        extra = [line_no for line_no, note in enumerate(notes[n_files:], start=n_files + 1) if note.strip()]
        if extra:
            raise UserError(
                f"{path}: line {extra[0]} holds a note ({notes[extra[0] - 1]!r}) but there are only "
                f"{counted(n_files, 'audio file')}; an annotations CSV has one line per file"
            )
        notes = notes[:n_files] + [""] * (n_files - len(notes))
    return notes


def format_labels_lines(lines: Iterable[str]) -> str:
    return "".join(f"{_check_single_line(line)}\n" for line in lines)


def _check_single_line(line: str) -> str:
    if "\n" in line or "\r" in line:
        raise ValueError(f"a labels-CSV line cannot hold a line break: {line!r}")
    return line


def write_labels_csv(path: PathLike, lines: Iterable[str]) -> None:
    write_text_atomic(path, format_labels_lines(lines))


def check_made_for(output: PathLike, made_for: Sequence[str] | None, names: Sequence[str]) -> None:
    """Stop with one line unless ``output`` (a partial or a finished output), made for the inputs
    ``made_for``, was made for ``names``; nothing to check where ``made_for`` is unknown (None)."""
    if made_for is None or list(made_for) == list(names):
        return
    for row, (before, now) in enumerate(zip(made_for, names), start=1):
        if before != now:
            raise UserError(f"{output}: was made for another file list: row {row} is {before} there "
                            f"but {now} now; restore the files, or drop --resume to start over")
    raise UserError(f"{output}: was made for {counted(len(made_for), 'file')}, there are {len(names)} now; "
                    "restore the files, or drop --resume to start over")


def settings_change(before: dict | None, now: dict | None) -> str | None:
    """The first setting (by name) in which two runs' ``made_with`` differ, as ``name: A there, B
    now``; None when they agree or either is unknown (an output of an older version)."""
    if not isinstance(before, dict) or not isinstance(now, dict):
        return None
    for name in sorted(set(before) | set(now)):
        if before.get(name) != now.get(name):
            return f"{name}: {json.dumps(before.get(name))} there, {json.dumps(now.get(name))} now"
    return None


def check_made_the_same_way(output: PathLike, before: dict | None, now: dict | None) -> None:
    """Stop with one line when an interrupted run's ``output`` was begun with other settings than
    this run's: resuming it would mix two runs' results in one output."""
    change = settings_change(before, now)
    if change:
        raise UserError(f"{output}: was begun with other settings ({change}); pass the same to resume it, "
                        "or drop --resume to start over")


# ----------------------------------------------------------------------------------------------
# top-label scores


class ScoreRow(NamedTuple):
    """One row of a top-label scores CSV (a tuple: a million of them are made in a fraction of a second)."""

    index: int  # 1-based, as upstream
    filename: str
    label: str
    score: float  # nan when the file had no usable label or unreadable audio


def _format_field(field: str) -> str:
    if field != field.strip() or any(ch in field for ch in ',"\n\r'):
        return '"' + field.replace('"', '""') + '"'
    return field


def format_score(score: float) -> str:
    return "nan" if math.isnan(score) else f"{score:.6f}"


def format_scores_csv(rows: Iterable[ScoreRow]) -> str:
    return "".join(
        ", ".join([str(r.index), _format_field(r.filename), _format_field(r.label), format_score(r.score)]) + "\n"
        for r in rows
    )


def write_scores_csv(path: PathLike, rows: Iterable[ScoreRow]) -> None:
    write_text_atomic(path, format_scores_csv(rows))


class ScoresTable(Sequence[ScoreRow]):
    """The rows of a top-label scores CSV, held as columns. Each column becomes a Python list the
    first time it is asked for (a million strings take a tenth of a second each), so a script that
    needs the labels alone never pays for the file names; indexing and iterating give
    :class:`ScoreRow` tuples."""

    def __init__(self, indices, filenames, labels, scores):
        self._columns = {"indices": indices, "filenames": filenames, "labels": labels, "scores": scores}

    def _column(self, name: str) -> list:
        column = self._columns[name]
        if not isinstance(column, list):
            column = self._columns[name] = column.tolist() if hasattr(column, "tolist") else list(column)
        return column

    @property
    def indices(self) -> list[int]:
        return self._column("indices")

    @property
    def filenames(self) -> list[str]:
        return self._column("filenames")

    @property
    def labels(self) -> list[str]:
        return self._column("labels")

    @property
    def scores(self) -> list[float]:
        return self._column("scores")

    def __len__(self) -> int:
        return len(self._columns["indices"])

    def __getitem__(self, item):
        rows = zip(self.indices[item], self.filenames[item], self.labels[item], self.scores[item]) \
            if isinstance(item, slice) else None
        if rows is not None:
            return list(map(ScoreRow._make, rows))
        return ScoreRow(self.indices[item], self.filenames[item], self.labels[item], self.scores[item])

    def __iter__(self) -> Iterator[ScoreRow]:
        return map(ScoreRow._make, zip(self.indices, self.filenames, self.labels, self.scores))

    @classmethod
    def from_rows(cls, rows: Iterable[ScoreRow]) -> "ScoresTable":
        columns = list(zip(*rows)) or [(), (), (), ()]
        return cls(*(list(column) for column in columns))


def read_scores_csv(path: PathLike) -> ScoresTable:
    """The rows of a top-label scores CSV. pandas' C parser reads a well-formed file (a million rows
    in a fraction of a second); a file it cannot read, or a value that is wrong, is read again line by
    line to name the line and what is wrong with it."""
    table = _parse_scores_fast(path)
    if table is not None:
        return table
    text = _read_text(path, "top-label scores CSV").removeprefix("\ufeff")
    return ScoresTable.from_rows(_parse_scores_by_line(text, path))


def _parse_scores_fast(path: PathLike) -> ScoresTable | None:
    """The columns, or None when the file is not four well-formed fields per line (the slow path
    then says where)."""
    import pandas as pd

    try:
        data = Path(path).read_bytes()
        if not data:
            return ScoresTable([], [], [], [])
        table = pd.read_csv(io.BytesIO(data), header=None, skipinitialspace=True, na_filter=False, engine="c",
                            encoding="utf-8-sig", dtype={0: "int64", 3: "float64"})
    except (OSError, ValueError, TypeError, OverflowError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if table.shape[1] != 4 or not all(pd.api.types.is_string_dtype(table[column]) for column in (1, 2)):
        return None  # a row short of fields, or a column pandas read as numbers: read it as text
    if len(table) != data.count(b"\n") + (not data.endswith(b"\n")):
        return None  # not one row per line: a quote that swallowed lines, or blank lines (the slow path says which)
    scores = table[3].to_numpy()
    if np.isinf(scores).any():
        return None
    return ScoresTable(table[0].to_numpy(), table[1], table[2].str.rstrip(), scores)


def _parse_scores_by_line(text: str, path: PathLike) -> list[ScoreRow]:
    rows = []
    for line_no, fields in csv_records(text, path, skipinitialspace=True):
        if len(fields) != 4:
            raise UserError(
                f"{path}: line {line_no} has {len(fields)} fields, expected 4 "
                "(index, filename, label, score)"
            )
        # Leading spaces after ", " are already skipped; a quoted field keeps its own spaces.
        index, filename, label, score = fields
        try:
            row = ScoreRow(int(index), filename, label.rstrip(), float(score))
        except ValueError:
            raise UserError(f"{path}: line {line_no}: index or score is not a number: {fields!r}") from None
        if math.isinf(row.score):
            raise UserError(f"{path}: line {line_no}: score {score} is not a cosine (expected a number from -1 to 1, "
                            "or nan for a file without a label)")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# multi-label scores: several labels per file (features_clap_text.py --multi_label)

#: the rank of the one row of a file without a label (empty label, score nan)
NO_LABEL_RANK = 0


class LabelRow(NamedTuple):
    """One row of a multi-label scores CSV: one label a file keeps."""

    index: int  # the file's 1-based row, as in the scores CSV
    filename: str
    label: str  # "" for a file without a label
    score: float  # nan for a file without a label
    rank: int  # 1 = the file's best label, 2 = the next, ...; NO_LABEL_RANK for a file without a label


def format_multi_label_csv(rows: Iterable[LabelRow]) -> str:
    return "".join(
        ", ".join([str(r.index), _format_field(r.filename), _format_field(r.label), format_score(r.score),
                   str(r.rank)]) + "\n"
        for r in rows
    )


def write_multi_label_csv(path: PathLike, rows: Iterable[LabelRow]) -> None:
    write_text_atomic(path, format_multi_label_csv(rows))


def read_multi_label_csv(path: PathLike) -> list[LabelRow]:
    """The rows of a multi-label scores CSV, checked: every file from index 1 on, its rows together,
    ranked 1, 2, ... (or one row of rank 0 and no label); anything else is one line naming the line."""
    text = _read_text(path, "multi-label scores CSV").removeprefix("\ufeff")
    rows: list[LabelRow] = []
    for line_no, fields in csv_records(text, path, skipinitialspace=True):
        if len(fields) != 5:
            raise UserError(f"{path}: line {line_no} has {len(fields)} fields, expected 5 (index, filename, label, "
                            "score, rank: features_clap_text.py --multi_label_csv writes them)")
        index, filename, label, score, rank = fields
        try:
            row = LabelRow(int(index), filename, label.rstrip(), float(score), int(rank))
        except ValueError:
            raise UserError(f"{path}: line {line_no}: index, score or rank is not a number: {fields!r}") from None
        previous = rows[-1] if rows else None
        same_file = previous is not None and previous.index == row.index
        expected_index = 1 if previous is None else previous.index + (0 if same_file else 1)
        expected_rank = previous.rank + 1 if same_file else None
        if row.index != expected_index or (same_file and (previous.filename != row.filename
                                                          or row.rank != expected_rank)):
            raise UserError(f"{path}: line {line_no}: expected file {expected_index}"
                            + (f" at rank {expected_rank}" if same_file else "")
                            + f", got index {row.index} rank {row.rank}; a file's rows are together, ranked 1, 2, ...")
        if not same_file and row.rank not in (1, NO_LABEL_RANK):
            raise UserError(f"{path}: line {line_no}: a file's first row has rank 1 (or 0 without a label), got "
                            f"{row.rank}")
        if (row.rank == NO_LABEL_RANK) != (not row.label) or math.isinf(row.score) \
                or (row.label and math.isnan(row.score)):
            raise UserError(f"{path}: line {line_no}: a label needs a score and a rank from 1; an empty label has "
                            f"score nan and rank 0: {fields!r}")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# cluster ids

#: The id of a row in no cluster: no label (a NaN embedding row), or HDBSCAN noise.
NO_CLUSTER = -1


def write_cluster_ids(path: PathLike, ids: Iterable[int]) -> None:
    write_text_atomic(path, "".join(f"{int(i)}\n" for i in ids))


def read_cluster_ids(path: PathLike) -> np.ndarray:
    """One integer per line (``3`` or ``3.0``), of a size an id can have; anything else is an error
    naming its line."""
    ids = []
    for line_no, line in enumerate(_split_lines(_read_text(path, "cluster ids CSV")), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            value = float(line)
        except ValueError:
            value = math.nan
        if not value.is_integer() or not -2**31 <= value < 2**31:
            raise UserError(f"{path}: line {line_no}: {line!r} is not a cluster id (one integer per line, "
                            "below 2^31 in size)")
        ids.append(int(value))
    return np.array(ids, dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# the k sweep

SWEEP_CSV_HEADER = ("k", "silhouette", "adjusted_silhouette")


@dataclass(frozen=True)
class SweepCurve:
    k: np.ndarray  # int64
    silhouette: np.ndarray
    adjusted: np.ndarray

    @property
    def best_k(self) -> int:
        """The k maximising S_adj (the smallest such k on a tie), as cluster_sweep.py chooses it."""
        return int(self.k[int(np.nanargmax(self.adjusted))])


def write_sweep_csv(path: PathLike, ks: np.ndarray, silhouette: np.ndarray, adjusted: np.ndarray) -> None:
    rows = (f"{k},{s:.8f},{a:.8f}" for k, s, a in zip(np.asarray(ks).tolist(), np.asarray(silhouette).tolist(),
                                                        np.asarray(adjusted).tolist()))
    write_text_atomic(path, "\n".join([",".join(SWEEP_CSV_HEADER), *rows]) + "\n")


def read_sweep_csv(path: PathLike) -> SweepCurve:
    _, records = csv_dicts(_read_text(path, "sweep CSV"), path, "sweep CSV")
    try:
        values = np.array([[float(r["k"]), float(r["silhouette"]), float(r["adjusted_silhouette"])]
                           for _, r in records], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: expected a header {','.join(SWEEP_CSV_HEADER)} and numbers below it") from None
    if values.size == 0:
        raise UserError(f"{path}: the sweep CSV has no rows")
    return SweepCurve(values[:, 0].astype(np.int64), values[:, 1], values[:, 2])


# ----------------------------------------------------------------------------------------------
# composite labels

COMPOSITE_CSV_HEADER = ("cluster", "n_samples", "composite_label", "top_labels")


@dataclass(frozen=True)
class CompositeLabel:
    cluster: int
    n_samples: int
    composite_label: str
    top_labels: str


def write_composite_csv(path: PathLike, rows: Iterable[CompositeLabel]) -> None:
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COMPOSITE_CSV_HEADER)
        writer.writerows((r.cluster, r.n_samples, r.composite_label, r.top_labels) for r in rows)


def read_composite_csv(path: PathLike) -> list[CompositeLabel]:
    header, records = csv_dicts(_read_text(path, "composite labels CSV"), path, "composite labels CSV")
    if not set(COMPOSITE_CSV_HEADER) <= set(header):
        raise UserError(f"{path}: expected a header {','.join(COMPOSITE_CSV_HEADER)} (composite_labels.py writes it)")
    rows = []
    for line_no, record in records:
        try:
            rows.append(CompositeLabel(int(record["cluster"]), int(record["n_samples"]),
                                       (record.get("composite_label") or "").strip(), record.get("top_labels") or ""))
        except (TypeError, ValueError):
            raise UserError(f"{path}: line {line_no}: cluster or n_samples is not an integer") from None
    return rows


# ----------------------------------------------------------------------------------------------
# ground truth (filename,class) and the evaluation table of evaluate_taxonomy.py

GROUND_TRUTH_HEADER = ("filename", "class")


def format_ground_truth_csv(pairs: Iterable[tuple[str, str]]) -> str:
    """One row per (file, class), under the header ``filename,class``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GROUND_TRUTH_HEADER)
    writer.writerows(pairs)
    return out.getvalue()


def write_ground_truth_csv(path: PathLike, pairs: Iterable[tuple[str, str]]) -> None:
    write_text_atomic(path, format_ground_truth_csv(pairs))


def read_ground_truth_csv(path: PathLike) -> dict[str, tuple[str, ...]]:
    """file name -> its classes, in the order first listed (a file listed on several rows has several
    classes; a row repeated is one class). A row without a file name or a class is an error naming
    its line."""
    reader = csv.reader(io.StringIO(_read_text(path, "ground-truth CSV").removeprefix("\ufeff")))
    header = [field.strip().lower() for field in next(reader, [])]
    if header[:2] != list(GROUND_TRUTH_HEADER):
        raise UserError(f"{path}: expected the header {','.join(GROUND_TRUTH_HEADER)} (one row per file and class)")
    classes: dict[str, dict[str, None]] = {}
    for line_no, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue
        filename, label = (fields + ["", ""])[:2]
        filename, label = filename.strip(), label.strip()
        if not filename or not label:
            raise UserError(f"{path}: line {line_no}: expected a file name and a class, got {fields!r}")
        classes.setdefault(filename, {})[label] = None
    if not classes:
        raise UserError(f"{path}: the ground-truth CSV has no rows")
    return {filename: tuple(labels) for filename, labels in classes.items()}


EVALUATION_CSV_HEADER = ("k", "silhouette", "adjusted_silhouette", "nmi", "ari", "v_measure", "homogeneity",
                         "completeness", "purity")


def write_evaluation_csv(path: PathLike, columns: dict[str, Sequence[float | None]]) -> None:
    """The per-k table: ``columns`` maps each name of :data:`EVALUATION_CSV_HEADER` to one value per k
    (a missing column, or a None or NaN value, is written empty)."""
    n = len(columns["k"])

    def cell(name: str, i: int) -> str:
        values = columns.get(name)
        value = None if values is None else values[i]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return str(int(value)) if name == "k" else f"{float(value):.8f}"

    lines = [",".join(EVALUATION_CSV_HEADER)]
    lines += [",".join(cell(name, i) for name in EVALUATION_CSV_HEADER) for i in range(n)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_evaluation_json(path: PathLike) -> dict:
    """evaluate_taxonomy.py's JSON (every figure); anything else is one line naming the file."""
    try:
        data = json.loads(_read_text(path, "evaluation JSON"))
    except ValueError as err:
        raise UserError(f"{path}: not JSON ({one_line(err, limit=120)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), int):
        raise UserError(f"{path}: not an evaluation as evaluate_taxonomy.py --json_out writes it")
    return data


# ----------------------------------------------------------------------------------------------
# taxonomy tree (taxonomy.json): the levels of a hierarchy of clusters, each node named

TAXONOMY_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TaxonomyNode:
    """One cluster at one level of the tree."""

    level: int  # 1 = the top (coarsest) level; the last level is the chosen partition
    cluster: int  # its id at that level (the value in that level's ``ids``)
    name: str
    parent: int | None  # its cluster id one level up; None on level 1
    rows: tuple[int, ...]  # 0-based rows (files) it holds
    label_counts: tuple[tuple[str, int], ...]  # most frequent first


@dataclass(frozen=True)
class TaxonomyTree:
    """A hierarchy of partitions of the same rows: ``levels[j]`` holds one cluster id per row
    (``NO_CLUSTER`` for a row in no cluster) of level ``j + 1``, coarsest first; every cluster of a
    level lies inside one cluster of the level above."""

    files: tuple[str, ...]  # the file name of each row
    levels: tuple[tuple[int, ...], ...]
    nodes: tuple[TaxonomyNode, ...]
    about: dict  # how it was made: the inputs, the naming mode, ... (free-form, JSON)

    def level_ids(self, level: int) -> np.ndarray:
        """The cluster ids of level ``level`` (1-based), one per row."""
        if not 1 <= level <= len(self.levels):
            raise UserError(f"level {level}: the taxonomy has levels 1 to {len(self.levels)}")
        return np.asarray(self.levels[level - 1], dtype=np.int64)

    def names(self, level: int) -> dict[int, str]:
        return {node.cluster: node.name for node in self.nodes if node.level == level}


def format_taxonomy_json(tree: TaxonomyTree) -> str:
    data = {
        "format_version": TAXONOMY_FORMAT_VERSION,
        "files": list(tree.files),
        "levels": [{"level": j + 1, "k": len({i for i in ids if i != NO_CLUSTER}), "ids": list(ids)}
                   for j, ids in enumerate(tree.levels)],
        "nodes": [{"level": n.level, "cluster": n.cluster, "name": n.name, "parent": n.parent, "rows": list(n.rows),
                   "label_counts": [[label, count] for label, count in n.label_counts]} for n in tree.nodes],
        "about": tree.about,
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def write_taxonomy_json(path: PathLike, tree: TaxonomyTree) -> None:
    write_text_atomic(path, format_taxonomy_json(tree))


def read_taxonomy_json(path: PathLike) -> TaxonomyTree:
    """A taxonomy tree as :func:`write_taxonomy_json` writes it; anything else is one line naming
    what is wrong."""
    text = _read_text(path, "taxonomy JSON")
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format_version") != TAXONOMY_FORMAT_VERSION:
            raise ValueError(f"expected format_version {TAXONOMY_FORMAT_VERSION}")
        files = tuple(str(name) for name in data["files"])
        levels = tuple(tuple(int(i) for i in level["ids"]) for level in data["levels"])
        nodes = tuple(TaxonomyNode(int(n["level"]), int(n["cluster"]), str(n["name"]),
                                   None if n["parent"] is None else int(n["parent"]),
                                   tuple(int(r) for r in n["rows"]),
                                   tuple((str(label), int(count)) for label, count in n["label_counts"]))
                      for n in data["nodes"])
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise UserError(f"{path}: not a taxonomy JSON as taxonomy tree writes it ({type(err).__name__}: {one_line(err, limit=200)})") from None
    if not levels or any(len(ids) != len(files) for ids in levels):
        raise UserError(f"{path}: every level must hold one cluster id per file ({len(files)} files)")
    return TaxonomyTree(files, levels, nodes, data.get("about") if isinstance(data.get("about"), dict) else {})


# ----------------------------------------------------------------------------------------------
# review sheet (util_review_sheet.py writes it, a person or util_review_app.py fills it in)

#: The annotation column is last: notes typed with unquoted commas spill into extra fields,
#: which :func:`read_review_sheet` joins back. ``annotator`` says who wrote a note: blank or
#: ``reviewer`` for a person, ``simulated (file name)`` for the stand-in annotator.
REVIEW_SHEET_COLUMNS = ("row", "filename", "label", "score", "reason", "annotator", "annotation")


@dataclass(frozen=True)
class SheetEntry:
    """One row of the review sheet, its text fields as they stand on the sheet."""

    row: int  # 1-based row of the top-label scores CSV
    filename: str
    label: str
    score: str  # as written ("0.123456", "nan")
    reason: str  # "" on sheets written before the reason column existed
    annotation: str
    line: int = 0  # line of the sheet it was read from (for messages); 0 when made in memory
    annotator: str = ""  # who wrote the note ("" on sheets written before the column existed)


def one_line_note(text: str) -> str:
    """A note as the annotations CSV can hold it: one line, runs of white space made one space."""
    return " ".join(text.split())


def format_review_sheet(entries: Iterable[SheetEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REVIEW_SHEET_COLUMNS)
    for entry in entries:
        writer.writerow([entry.row, entry.filename, entry.label, entry.score, entry.reason, entry.annotator,
                         entry.annotation])
    return out.getvalue()


def read_review_sheet(path: PathLike) -> list[SheetEntry]:
    """Every entry of a review sheet, in sheet order. Sheets written before the ``reason`` column
    existed read the same way (reason "")."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: review sheet not found (util_review_sheet.py writes it)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read the review sheet ({err})") from None
    header, records = csv_dicts(text, path, "review sheet")
    missing = [column for column in ("row", "filename", "annotation") if column not in header]
    if missing:
        raise UserError(f"{path}: review sheet lacks the column(s) {', '.join(missing)}")
    entries = []
    for line, record in records:
        try:
            index = int(record.get("row", ""))
        except (TypeError, ValueError):
            raise UserError(f"{path}: line {line}: row {record.get('row')!r} is not a number") from None
        note = one_line_note(",".join([record.get("annotation") or ""] + record.get(None, [])))
        entries.append(SheetEntry(index, record.get("filename") or "", record.get("label") or "",
                                  record.get("score") or "", record.get("reason") or "", note, line,
                                  (record.get("annotator") or "").strip()))
    return entries


# ----------------------------------------------------------------------------------------------
# .npy embeddings


def save_npy(path: PathLike, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.float32)
    with atomic_open(path, "wb") as handle:
        np.save(handle, array)


def load_npy(path: PathLike, what: str = "embeddings") -> np.ndarray:
    """A 2-D float array, one row per file. NaN rows (unreadable files) are allowed here;
    callers that cannot use them say so."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: {what} .npy not found") from None
    except (ValueError, OSError, EOFError) as err:
        raise UserError(f"{path}: not a readable .npy file ({err})") from None
    if array.dtype.kind not in "biuf":
        raise UserError(f"{path}: holds {array.dtype} values, expected numbers (float32 embeddings)")
    if array.ndim != 2:
        raise UserError(f"{path}: expected a 2-D array (rows x features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise UserError(f"{path}: the array has no rows")
    return array.astype(np.float32, copy=False)
