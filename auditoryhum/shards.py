"""A scale-out run's results, kept shard by shard beside its output until the run is whole.

``<output>.shards/`` holds ``manifest.json`` (the files the run is for, by name, the shard size,
the batch size, the kind of output and what decides it: ``made_with``, as in the run record) and one file per finished shard - files ``[start, stop)`` -
named ``<start>-<stop>.csv`` (label lines) or ``.npy`` (embedding rows; ``(rows, 0)`` when no file
of the shard could be embedded). Every shard is written atomically as soon as its last batch is
in, so killing the run at any moment (the driver or a worker, even with SIGKILL) loses no finished
shard; ``--resume`` keeps them and computes only the others. When every shard is there they are
merged into the output in one atomic write, and the folder goes.

Shards are merged in file order, and their bytes are the bytes the in-process loops write: a
labels CSV is its lines one after the other, a ``.npy`` is its rows.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import formats
from .errors import UserError

log = logging.getLogger(__name__)

LABELS, EMBEDDINGS = "labels", "embeddings"
_SUFFIX = {LABELS: ".csv", EMBEDDINGS: ".npy"}
_MANIFEST = "manifest.json"
_NAME = re.compile(r"^(\d+)-(\d+)\.(csv|npy)$")


def shard_folder(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".shards")


@dataclass(frozen=True)
class Shard:
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def file_name(self, kind: str) -> str:
        return f"{self.start:09d}-{self.stop:09d}{_SUFFIX[kind]}"


class ShardStore:
    """The shards of one output. Reading what an earlier run left is done at once and writes
    nothing; :meth:`begin` is the first write (so a run that stops before it - Ray missing, a
    cluster that does not answer - leaves nothing behind)."""

    def __init__(self, output: str | Path, names: Sequence[str], kind: str, shard_size: int, batch_size: int,
                 resume: bool, made_with: dict | None = None):
        if shard_size < 1 or batch_size < 1:
            raise ValueError("shard_size and batch_size must be at least 1")
        self.output = Path(output)
        self.folder = shard_folder(output)
        self.names = list(names)
        self.kind = kind
        self.batch_size = batch_size
        # Whole batches per shard, so a batch never spans two shards.
        self.shard_size = -(-shard_size // batch_size) * batch_size
        total = len(self.names)
        self.shards = [Shard(start, min(start + self.shard_size, total)) for start in range(0, total, self.shard_size)]
        self._manifest = {"kind": kind, "shard_size": self.shard_size, "batch_size": batch_size, "files": self.names,
                          "made_with": made_with}
        self.finished: set[Shard] = set()
        self._keep_folder = False
        if self.folder.exists():
            if resume:
                self._check_manifest()
                self.finished = {shard for shard in self.shards if self._complete(shard)}
                self._keep_folder = True
            else:
                log.warning("%s: an interrupted run's shards are discarded and the run starts over (pass --resume to "
                            "continue it instead)", self.folder)

    @property
    def pending(self) -> list[Shard]:
        return [shard for shard in self.shards if shard not in self.finished]

    @property
    def files_done(self) -> int:
        return sum(shard.size for shard in self.finished)

    def _check_manifest(self) -> None:
        path = self.folder / _MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return  # killed before its first write: nothing to keep, nothing to check
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: unreadable ({err}); delete {self.folder} or drop --resume") from None
        if not isinstance(manifest, dict) or manifest.get("kind") != self.kind:
            raise UserError(f"{path}: not the shards of this kind of output; delete {self.folder} or drop --resume")
        formats.check_made_for(self.folder, manifest.get("files"), self.names)
        formats.check_made_the_same_way(self.folder, manifest.get("made_with"), self._manifest["made_with"])
        for key, flag in (("batch_size", "--batch_size"), ("shard_size", "--shard_size")):
            if manifest.get(key) != self._manifest[key]:
                raise UserError(f"{self.folder}: made with {flag}={manifest.get(key)}, this run has "
                                f"{self._manifest[key]}; pass the same to resume it, or drop --resume to start over")

    def _complete(self, shard: Shard) -> bool:
        """A shard file that is there and whole (any other is redone)."""
        path = self.folder / shard.file_name(self.kind)
        if not path.is_file():
            return False
        try:
            rows = (len(formats.read_labels_csv(path)) if self.kind == LABELS
                    else np.load(path, allow_pickle=False).shape[0])
        except (UserError, ValueError, OSError, EOFError, IndexError):
            rows = -1
        if rows != shard.size:
            log.warning("%s: not a finished shard (%d rows for %d files); it is redone", path, rows, shard.size)
            return False
        return True

    def begin(self) -> None:
        """Make the folder (emptied unless resuming) and write the manifest."""
        if self.folder.exists() and not self._keep_folder:
            shutil.rmtree(self.folder)
        self.folder.mkdir(exist_ok=True)
        formats.write_text_atomic(self.folder / _MANIFEST, json.dumps(self._manifest, ensure_ascii=False) + "\n")

    def shard_of(self, index: int) -> Shard:
        return self.shards[index // self.shard_size]

    def write_labels(self, shard: Shard, lines: Sequence[str]) -> None:
        if len(lines) != shard.size:
            raise ValueError(f"{len(lines)} lines for the {shard.size} files of shard {shard}")
        formats.write_text_atomic(self.folder / shard.file_name(LABELS), formats.format_labels_lines(lines))
        self.finished.add(shard)

    def write_rows(self, shard: Shard, rows: np.ndarray) -> None:
        if rows.shape[0] != shard.size:
            raise ValueError(f"{rows.shape[0]} rows for the {shard.size} files of shard {shard}")
        formats.save_npy(self.folder / shard.file_name(EMBEDDINGS), rows)
        self.finished.add(shard)

    def merge_labels(self) -> None:
        """Write the output: every shard's lines, in file order, in one atomic write."""
        self._check_all_finished()
        with formats.atomic_open(self.output, "wb") as handle:
            for shard in self.shards:
                handle.write((self.folder / shard.file_name(LABELS)).read_bytes())

    def merged_rows(self) -> np.ndarray:
        """Every shard's rows in file order; the rows of shards where nothing could be embedded are NaN."""
        self._check_all_finished()
        parts = [np.load(self.folder / shard.file_name(EMBEDDINGS), allow_pickle=False) for shard in self.shards]
        dims = {part.shape[1] for part in parts if part.shape[1]}
        if not dims:
            raise UserError(f"none of the {len(self.names)} audio files could be embedded (first: {self.names[0]})")
        if len(dims) > 1:
            raise UserError(f"{self.folder}: shards of different widths {sorted(dims)}; delete it and run again")
        dim = dims.pop()
        return np.concatenate([part if part.shape[1] else np.full((part.shape[0], dim), np.nan, np.float32)
                               for part in parts]).astype(np.float32, copy=False)

    def _check_all_finished(self) -> None:
        if self.pending:
            raise RuntimeError(f"{self.folder}: {len(self.pending)} shards are not finished")

    def remove(self) -> None:
        """Drop the shards once the output holds them."""
        shutil.rmtree(self.folder, ignore_errors=True)
