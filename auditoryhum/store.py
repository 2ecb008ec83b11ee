"""The one resumable store of a per-file output (labels CSV or embeddings .npy), whatever runs the
model - in this process or on a Ray cluster.

While a run works, ``<output>.partial/`` holds

* ``manifest.json`` - what the rows are for: the kind of output, the files (by name, row i = file i),
  the batch size it was begun with, and ``made_with`` (the models, inputs and settings that decide
  the rows, as in the run record; the batch size is not among them: a file's row is the same in any
  batch);
* one file per finished piece of rows - files ``[start, stop)``, named ``<start>-<stop>.csv`` (label
  lines) or ``.npy`` (embedding rows; ``(rows, 0)`` where none of its files could be embedded) -
  each written atomically the moment it is complete: a stretch of finished batches, every few
  hundred files or every half minute, and whatever is finished when the run stops.

So a run killed at any moment (the driver or a worker, even with SIGKILL) loses at most the piece in
progress, and ``--resume`` computes only the files no finished piece holds - after checking the
manifest says they are the same files, made the same way; a manifest that
is missing, unreadable or without ``files`` or ``made_with`` is never resumed (rows could shift or
mix). When every file is there the pieces are merged, in file order, into the output in one atomic
write, and the folder goes. The bytes are the same however the work was split.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import formats
from .errors import UserError, counted, one_line

log = logging.getLogger(__name__)

LABELS, EMBEDDINGS = "labels", "embeddings"
_SUFFIX = {LABELS: ".csv", EMBEDDINGS: ".npy"}
MANIFEST = "manifest.json"
_PIECE = re.compile(r"^(\d+)-(\d+)\.(csv|npy)$")


def partial_folder(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".partial")


def _legacy_partials(output: Path) -> list[Path]:
    """What an older version of the suite left of an interrupted run: a labels ``.partial`` file
    (and its ``.partial.json``), or a Ray ``.shards`` folder."""
    found = [output.with_name(output.name + ".shards"), output.with_name(output.name + ".partial.json")]
    folder = partial_folder(output)
    if folder.exists() and not folder.is_dir():
        found.append(folder)
    return [path for path in found if os.path.lexists(path)]


@dataclass(frozen=True, order=True)
class Piece:
    """Files ``[start, stop)`` of the output."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def file_name(self, kind: str) -> str:
        return f"{self.start:09d}-{self.stop:09d}{_SUFFIX[kind]}"


class PartialOutput:
    """The pieces of one output. Reading what an earlier run left is done at once and writes
    nothing; :meth:`begin` is the first write (so a run that stops before it - a model that does not
    load - leaves nothing behind)."""

    def __init__(self, output: str | os.PathLike, names: Sequence[str], kind: str, batch_size: int,
                 made_with: dict, resume: bool):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.output = Path(output)
        self.folder = partial_folder(output)
        self.names = list(names)
        self.kind = kind
        self.batch_size = batch_size
        self._manifest = {"kind": kind, "batch_size": batch_size, "files": self.names, "made_with": made_with}
        self.finished: dict[Piece, None] = {}
        self._keep = False
        legacy = _legacy_partials(self.output)
        if legacy and resume:
            raise UserError(f"{legacy[0]}: an interrupted run of an older version of this suite, which cannot be "
                            f"resumed safely; delete {legacy[0]} to start over, or drop --resume")
        self._discard = legacy
        if os.path.islink(self.folder):
            raise UserError(f"{self.folder}: is a symbolic link; the suite never makes one - remove it")
        if self.folder.is_dir():
            if resume:
                self._check_manifest()
                self.finished = dict.fromkeys(self._finished_pieces())
                self._keep = True
            else:
                log.warning("%s: an interrupted run's rows are discarded and the run starts over (pass --resume to "
                            "continue it instead)", self.folder)
        elif legacy:
            log.warning("%s: an interrupted run of an older version is discarded and the run starts over", legacy[0])

    # -- what is done -------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.names)

    @property
    def done(self) -> int:
        return sum(piece.size for piece in self.finished)

    @property
    def complete(self) -> bool:
        return self.done == self.total

    def pending(self) -> list[range]:
        """The stretches of files no finished piece holds, in order."""
        stretches, at = [], 0
        for piece in sorted(self.finished):
            if piece.start > at:
                stretches.append(range(at, piece.start))
            at = max(at, piece.stop)
        if at < self.total:
            stretches.append(range(at, self.total))
        return stretches

    def _check_manifest(self) -> None:
        path = self.folder / MANIFEST
        again = f"delete {self.folder} to start over, or drop --resume"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if any(self.folder.iterdir()):
                raise UserError(f"{self.folder}: its {MANIFEST} is gone, so nothing says which files and settings its "
                                f"rows belong to; {again}") from None
            return  # killed before its first write: nothing to keep
        except (OSError, ValueError, RecursionError) as err:
            raise UserError(f"{path}: unreadable ({one_line(err)}); {again}") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != self.kind:
            raise UserError(f"{path}: not the partial output of this kind of output; {again}")
        if not isinstance(manifest.get("files"), list) or not isinstance(manifest.get("made_with"), dict):
            raise UserError(f"{path}: does not say which files or settings its rows belong to; {again}")
        formats.check_made_for(self.folder, manifest["files"], self.names)
        formats.check_made_the_same_way(self.folder, manifest["made_with"], self._manifest["made_with"])

    def _finished_pieces(self) -> list[Piece]:
        """The pieces that are there and whole, and do not overlap (any other is redone)."""
        named = [(Piece(int(match[1]), int(match[2])), path) for path in self.folder.iterdir()
                 if (match := _PIECE.match(path.name)) and match[3] == _SUFFIX[self.kind][1:]]
        found, taken_up_to = [], 0
        for piece, path in sorted(named):  # by first file: a piece starting before the last one's end overlaps it
            if not taken_up_to <= piece.start < piece.stop <= self.total or not path.is_file() or path.is_symlink():
                log.warning("%s: not a piece of this output; it is redone", path)
                continue
            if self._rows_in(path) != piece.size:
                log.warning("%s: not a finished piece (its rows do not number %d); it is redone", path, piece.size)
                continue
            found.append(piece)
            taken_up_to = piece.stop
        return found

    def _rows_in(self, path: Path) -> int:
        try:
            if self.kind == LABELS:
                return len(formats.read_labels_csv(path))
            return np.load(path, allow_pickle=False).shape[0]
        except (UserError, ValueError, OSError, EOFError, IndexError):
            return -1

    # -- writing ------------------------------------------------------------------------------

    def begin(self) -> None:
        """Make the folder (emptied unless resuming) and write the manifest."""
        for path in self._discard:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        if self.folder.exists() and not self._keep:
            shutil.rmtree(self.folder)
        self.folder.mkdir(exist_ok=True)
        formats.write_text_atomic(self.folder / MANIFEST, json.dumps(self._manifest, ensure_ascii=False) + "\n")

    def add_lines(self, piece: Piece, lines: Sequence[str]) -> None:
        if len(lines) != piece.size:
            raise ValueError(f"{len(lines)} lines for the {piece.size} files of {piece}")
        formats.write_text_atomic(self.folder / piece.file_name(LABELS), formats.format_labels_lines(lines))
        self.finished[piece] = None

    def add_rows(self, piece: Piece, rows: np.ndarray) -> None:
        if rows.shape[0] != piece.size:
            raise ValueError(f"{rows.shape[0]} rows for the {piece.size} files of {piece}")
        formats.save_npy(self.folder / piece.file_name(EMBEDDINGS), rows)
        self.finished[piece] = None

    def finish(self) -> list[str] | np.ndarray:
        """Write the output - every piece, in file order, in one atomic write - and drop the folder;
        its rows: the label lines, or the embeddings."""
        pieces = sorted(self.finished)
        if self.pending():
            raise RuntimeError(f"{self.folder}: {counted(self.total - self.done, 'file')} not finished")
        if self.kind == LABELS:
            rows = []
            with formats.atomic_open(self.output, "wb") as handle:
                for piece in pieces:
                    path = self.folder / piece.file_name(LABELS)
                    rows.extend(formats.read_labels_csv(path))
                    handle.write(path.read_bytes())
        else:
            rows = self._merged_rows(pieces)
            formats.save_npy(self.output, rows)
        shutil.rmtree(self.folder, ignore_errors=True)
        return rows

    def _merged_rows(self, pieces: list[Piece]) -> np.ndarray:
        parts = [np.load(self.folder / piece.file_name(EMBEDDINGS), allow_pickle=False) for piece in pieces]
        dims = {part.shape[1] for part in parts if part.shape[1]}
        if not dims:
            raise UserError(f"none of the {self.total} audio files could be embedded (first: {self.names[0]})")
        if len(dims) > 1:
            raise UserError(f"{self.folder}: pieces of different widths {sorted(dims)}; delete it and run again")
        dim = dims.pop()
        return np.concatenate([part if part.shape[1] else np.full((part.shape[0], dim), np.nan, np.float32)
                               for part in parts]).astype(np.float32, copy=False)
