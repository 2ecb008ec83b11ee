"""The one per-file engine: "these files, this model adapter, this output", in process or on Ray.

Every per-file stage - each ``label_*.py`` and each audio ``features_*.py`` - is a *job*
(:class:`Job`): the files, and what the model does to a batch of them. The engine does, once for
every kind of job:

* **read** a batch - each file decoded at the model's rate, cut to its window and brought to its
  shortest clip (:func:`auditoryhum.audio.read_clip`, the one read rule), on any thread or Ray
  worker; a file that cannot be read keeps its row, marked;
* **run** the model on it (:class:`ModelSteps`: in two steps where the adapter offers them, so the
  next batch is prepared while the model works); a file the model fails on costs only its row -
  the batch is redone one file at a time;
* **keep** every finished stretch of consecutive batches as one piece of the output's one resumable
  store (:class:`auditoryhum.store.PartialOutput`), every few hundred files or every
  :data:`DEFAULT_FLUSH_SECONDS`, and whatever is finished when the run stops; then merge the pieces
  into the output in one atomic write.

A kind of job says only what is its own: what the model gets for a file (:meth:`Job.item`: a
labelling request with its prompt, or the waveform), what a model output becomes in its row
(:meth:`Job.row`: the cleaned response, or the vector), how rows are written, and what the run
reports (:mod:`auditoryhum.labelling`, :mod:`auditoryhum.features`).

:func:`run_job` is the driver. It hands the batches no finished piece holds to an executor -
:class:`InProcess` (the next batches read and prepared in background threads while the model
works, :func:`prefetched`) or :class:`auditoryhum.ray_backend.OnRay`, which the caller passes (so
this module never imports Ray's). Batch k is always files ``[k*B, (k+1)*B)``, whichever of them can
be read, so every executor gives the same bytes.

Preparation runs on one background thread, one batch after the other, and every prepare call -
from that thread, or from a batch redone one file at a time - holds one lock: feature extractors may
draw from numpy's global random state (CLAP's fusion crops, seeded per clip), so two must never
interleave. An adapter's prepare step may overlap its own model step, and adapters are written for
that (their processor and tokenizer are guarded where shared).

The library takes typed options (:class:`RunOptions`, :class:`RayOptions`); the command-line layer
(:mod:`auditoryhum.scripts.per_file`) builds them from the flags.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, Iterator, Protocol, Sequence, TypeVar

from tqdm.auto import tqdm

from .audio import AudioSettings, read_clip
from .errors import UserError, counted, one_line
from .store import PartialOutput, Piece

log = logging.getLogger(__name__)

#: a finished stretch of batches is written at least this often (seconds; AUDITORYHUM_FLUSH_SECONDS), so
#: a kill loses little, and a fast model does not write a file per batch
DEFAULT_FLUSH_SECONDS = 10.0
#: and at the latest after this many files
DEFAULT_PIECE_FILES = 256
#: batches read and prepared ahead of the model by default, in process (0: none, all on one thread)
DEFAULT_PREFETCH_BATCHES = 2

Item = TypeVar("Item")
Read = TypeVar("Read")


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: RAY_ADDRESS when set, else a local Ray started for the run
    workers: int = 1  # model replicas
    gpus_per_worker: float | None = None  # None: 1 where the cluster has GPUs and the model may use one
    cpus_per_worker: float = 1.0
    may_use_gpu: bool = True  # False for models that never run on a GPU (MFCC, a remote API)


@dataclass(frozen=True)
class RunOptions:
    """How a per-file job runs - nothing here changes its rows."""

    batch_size: int = 1
    resume: bool = False
    #: files written at once at the most (rounded up to whole batches); on Ray also the unit of work
    piece_files: int = DEFAULT_PIECE_FILES
    prefetch_batches: int = DEFAULT_PREFETCH_BATCHES  # in process: batches read and prepared ahead


# ----------------------------------------------------------------------------------------------
# batches, the model's call, and reading ahead of it


class _NotPrepared:
    def __repr__(self) -> str:
        return "NOT_PREPARED"


#: no prepared input: the model step prepares its batch itself
NOT_PREPARED: Any = _NotPrepared()


@dataclass(frozen=True)
class PrepareFailed:
    """A batch whose prepare step raised in the background; the model step redoes it file by file."""

    error: BaseException


class ModelSteps(Generic[Item]):
    """A model adapter called on a batch of items (label requests, waveforms), in one or two steps.

    ``name``: the adapter's, for messages; ``whole(items)``: its call; ``prepare(items)``: its CPU
    step and ``run(items, prepared)`` its model step, where it splits its call in two.
    """

    def __init__(self, name: str, whole: Callable[[list[Item]], Any],
                 prepare: Callable[[list[Item]], Any] | None = None, run: Callable[[list[Item], Any], Any] | None = None):
        if (prepare is None) != (run is None):
            raise ValueError("an adapter splits its call into both a prepare and a run step, or neither")
        self.name = name
        self._whole, self._prepare, self._run = whole, prepare, run
        self._lock = threading.Lock()

    @property
    def has_prepare_step(self) -> bool:
        return self._prepare is not None

    def prepare(self, items: list[Item]) -> Any:
        """The prepared input of ``items`` (one prepare at a time, whichever thread asks)."""
        if self._prepare is None or not items:
            return NOT_PREPARED
        with self._lock:
            return self._prepare(items)

    def __call__(self, items: list[Item], prepared: Any = NOT_PREPARED) -> Any:
        """The adapter's output for ``items``; ``prepared`` is :meth:`prepare`'s result for them, if
        it was made ahead (a :class:`PrepareFailed` is raised here, as the call would have)."""
        if isinstance(prepared, PrepareFailed):
            raise prepared.error
        if self._prepare is None:
            return self._whole(items)
        if prepared is NOT_PREPARED:
            prepared = self.prepare(items)
        return self._run(items, prepared)


def prefetched(batches: Iterable[range], read: Callable[[range], Read],
               prepare: Callable[[Read], Any] | None, depth: int = DEFAULT_PREFETCH_BATCHES,
               ) -> Iterator[tuple[range, Read, Any]]:
    """``(batch, read(batch), prepare(read) or NOT_PREPARED)`` for every batch, in order.

    With ``depth`` > 0 up to ``depth`` batches ahead are read in background threads (decoding and
    resampling release the GIL) and prepared on one more, while the caller works on the current
    one; a prepare step that raises gives a :class:`PrepareFailed`. With ``depth`` 0 everything runs
    on the calling thread, one batch at a time, and nothing is prepared ahead. An exception from
    ``read`` is raised in the caller. Leaving the loop early cancels the work not yet started.
    """
    if depth < 0:
        raise ValueError("depth must be 0 or more")
    if depth == 0:
        for batch in batches:
            yield batch, read(batch), NOT_PREPARED
        return

    readers = ThreadPoolExecutor(max_workers=min(depth, os.cpu_count() or 1), thread_name_prefix="read-audio")
    preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-batch") if prepare else None
    pending: deque[tuple[range, Future, Future | None]] = deque()
    upcoming = iter(batches)

    def prepare_when_read(reading: Future) -> Any:
        try:
            return prepare(reading.result())
        except BaseException as err:  # noqa: BLE001 - handed to the model step, which isolates the batch's files
            return PrepareFailed(err)

    def start_next() -> None:
        batch = next(upcoming, None)
        if batch is None:
            return
        reading = readers.submit(read, batch)
        preparing = preparer.submit(prepare_when_read, reading) if preparer else None
        pending.append((batch, reading, preparing))

    try:
        for _ in range(depth):
            start_next()
        while pending:
            batch, reading, preparing = pending.popleft()
            start_next()
            audio = reading.result()
            yield batch, audio, preparing.result() if preparing else NOT_PREPARED
    finally:
        for _, reading, preparing in pending:
            reading.cancel()
            if preparing:
                preparing.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        if preparer:
            preparer.shutdown(wait=True, cancel_futures=True)


def batch_ranges(total: int, batch_size: int, start: int = 0) -> list[range]:
    """The batches of files ``start..total-1``: files ``[k*B, (k+1)*B)``, the first one starting at
    ``start`` (a resumed run finishes the batch it was killed in, then goes on as a whole run)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    edges = [start, *range((start // batch_size + 1) * batch_size, total, batch_size), total]
    return [range(first, stop) for first, stop in zip(edges, edges[1:]) if first < stop]


# ----------------------------------------------------------------------------------------------
# jobs


class JobStopped(Exception):
    """A job cannot go on (a remote service failed for good): the run stops with one line, keeping
    every finished file for ``--resume``."""


@dataclass
class Outcome:
    """What happened to files besides their rows, by path: of one batch, or of a whole run."""

    unreadable: list[str] = field(default_factory=list)  # could not be decoded: no row
    failed: list[str] = field(default_factory=list)  # the model failed on them: no row
    empty: list[str] = field(default_factory=list)  # the model answered with nothing (labels)
    cut: list[str] = field(default_factory=list)  # longer than the model's window: cut there
    padded: list[str] = field(default_factory=list)  # shorter than the model takes: brought to its shortest clip

    def add(self, other: "Outcome") -> None:
        for name in ("unreadable", "failed", "empty", "cut", "padded"):
            getattr(self, name).extend(getattr(other, name))

    @property
    def without_a_row(self) -> list[str]:
        return self.unreadable + self.failed


@dataclass
class ReadBatch:
    """One batch of files read for the model: the items of the files that could be read, and where
    each goes among the batch's rows."""

    size: int  # files in the batch, readable or not
    items: list  # what the model gets, one per readable file
    slots: list[int]  # slots[i]: the row of items[i] within the batch
    paths: list[str]  # paths[i]: the file of items[i]
    outcome: Outcome


@dataclass
class BatchRows:
    """One batch's rows, one per file (None: the file has no row), and what happened to its files."""

    rows: list
    outcome: Outcome


@dataclass
class JobRun:
    """What a run did, for its report and record."""

    total: int
    done_before: int  # files a resumed run found finished
    done_now: int = 0
    seconds: float = 0.0  # the files (not loading the model in process)
    model_name: str = ""  # the adapter's, for messages
    runtime: Any = None  # where a Ray worker ran the model (device, dtype), for the record
    parameters: dict = field(default_factory=dict)  # how it ran, for the record
    results: dict = field(default_factory=dict)  # its speed figures, for the record
    rows: Any = None  # the output's rows, once it is written (label lines, or the embeddings)


class Job:
    """A per-file stage: the files (row i = file i), and what the model does to a batch of them.

    A kind of job sets :attr:`kind` and :attr:`left_without` and defines the methods marked "the
    kind's"; :meth:`read`, :meth:`run` and the kind's :meth:`steps`, :meth:`item`,
    :meth:`outputs` and :meth:`row` are class-level, so a Ray worker needs only the class.
    """

    kind: str  # store.LABELS or store.EMBEDDINGS
    #: what a file without a row gets, in messages ("its row is left as NaN")
    left_without: str
    #: the progress bar's title ({name}: the model's)
    progress: str = "{name}"

    def __init__(self, files: Sequence[str], notes: Sequence[str] | None = None):
        self.files = list(files)
        self.notes = list(notes) if notes is not None else None  # one per file: what the model is told of it
        self.outcome = Outcome()

    # -- the kind's ----------------------------------------------------------------------------

    @staticmethod
    def steps(model) -> ModelSteps:
        """The adapter's call, in two steps where it offers them."""
        raise NotImplementedError

    @staticmethod
    def item(path: str, audio, note: str) -> Any:
        """What the model gets for one file, from its audio as read and its note."""
        raise NotImplementedError

    @staticmethod
    def outputs(raw, count: int, name: str) -> Sequence:
        """The model's outputs for a batch of ``count`` items, one per item (a wrong shape raises)."""
        raise NotImplementedError

    @staticmethod
    def row(output) -> Any:
        """What one output becomes in the file's row."""
        raise NotImplementedError

    @staticmethod
    def empty(row) -> bool:
        """Whether a row holds nothing (an empty response)."""
        return False

    def write_piece(self, store: PartialOutput, piece: Piece, rows: list) -> None:
        """Write the rows of ``piece``'s files (None: a file without a row)."""
        raise NotImplementedError

    def report(self, output: str, run: JobRun) -> dict:
        """Say what the run did; its figures, for the record."""
        raise NotImplementedError

    # -- the engine's --------------------------------------------------------------------------

    @classmethod
    def read(cls, settings: AudioSettings, paths: list[str], notes: list[str]) -> ReadBatch:
        """Read a batch's files for the model (the CPU work before it; any thread or Ray worker)."""
        read = ReadBatch(size=len(paths), items=[], slots=[], paths=[], outcome=Outcome())
        for slot, (path, note) in enumerate(zip(paths, notes)):
            clip = read_clip(settings, path, cls.left_without)
            if clip is None:
                read.outcome.unreadable.append(path)
                continue
            if clip.cut:
                read.outcome.cut.append(path)
            if clip.fitted:
                read.outcome.padded.append(path)
            read.items.append(cls.item(path, clip.audio, note))
            read.slots.append(slot)
            read.paths.append(path)
        return read

    @classmethod
    def run(cls, steps: ModelSteps, read: ReadBatch, prepared: Any = NOT_PREPARED) -> BatchRows:
        """The model on a read batch: one row per file, None for a file without one."""
        done = BatchRows(rows=[None] * read.size, outcome=Outcome())
        done.outcome.add(read.outcome)
        rows = cls._rows(steps, read.items, read.paths, done.outcome, prepared)
        for slot, path, row in zip(read.slots, read.paths, rows):
            done.rows[slot] = row
            if row is not None and cls.empty(row):
                done.outcome.empty.append(path)
        return done

    @classmethod
    def _rows(cls, steps: ModelSteps, items: list, paths: list[str], outcome: Outcome,
              prepared: Any = NOT_PREPARED) -> list:
        """One row per item; None for a file the model failed on (the others are kept: a batch
        that fails is redone one file at a time)."""
        if not items:
            return []
        try:
            raw = steps(items, prepared)
        except (JobStopped, UserError, MemoryError):
            raise
        except Exception as err:  # noqa: BLE001 - one bad file must not stop a run of thousands
            if len(items) == 1:
                log.warning("%s: %s failed on this file (%s); %s", paths[0], steps.name, one_line(err),
                            cls.left_without)
                outcome.failed.append(paths[0])
                return [None]
            return [row for item, path in zip(items, paths) for row in cls._rows(steps, [item], [path], outcome)]
        return [cls.row(output) for output in cls.outputs(raw, len(items), steps.name)]

    def keep(self, done: BatchRows) -> list:
        """What the driver keeps of a batch's result until its piece is written: its rows."""
        self.outcome.add(done.outcome)
        return done.rows


# ----------------------------------------------------------------------------------------------
# the driver and the in-process executor


class Pieces:
    """The batches of the unfinished stretches, written to the store as finished stretches of
    consecutive batches: when ``max_files`` are done in a row, when :data:`DEFAULT_FLUSH_SECONDS` passed
    since the last write, at a stretch's end, and - :meth:`flush` - when the run stops."""

    def __init__(self, store: PartialOutput, job: Job, max_files: int):
        self.store, self.job = store, job
        self.flush_seconds = _flush_seconds()
        self.max_files = max(max_files, store.batch_size)
        self.stretches = [batch_ranges(stretch.stop, store.batch_size, start=stretch.start)
                          for stretch in store.pending()]
        self.next = [0] * len(self.stretches)  # per stretch, its first batch not yet written
        self.kept: dict[int, Any] = {}  # batch start -> what the job kept of it
        self._stretch_of = {batch.start: i for i, batches in enumerate(self.stretches) for batch in batches}
        self._written_at: float | None = None  # the clock starts with the first result

    @property
    def batches(self) -> list[range]:
        return [batch for batches in self.stretches for batch in batches]

    def add(self, batch: range, result) -> None:
        if batch.start in self.kept or batch.start not in self._stretch_of:
            return  # a batch Ray redid after losing a worker: its first result stands
        self.kept[batch.start] = self.job.keep(result)
        now = time.monotonic()
        if self._written_at is None:
            self._written_at = now
        self._write(self._stretch_of[batch.start], force=now - self._written_at >= self.flush_seconds)

    def flush(self) -> None:
        """Write every finished stretch of consecutive batches (the run is stopping)."""
        for i in range(len(self.stretches)):
            self._write(i, force=True)

    def _write(self, i: int, force: bool) -> None:
        batches, first = self.stretches[i], self.next[i]
        while first < len(batches):
            last, files = first, 0
            while last < len(batches) and batches[last].start in self.kept and files < self.max_files:
                files += len(batches[last])
                last += 1
            whole = files >= self.max_files or last == len(batches)
            if last == first or not (whole or force):
                break
            run = batches[first:last]
            self.job.write_piece(self.store, Piece(run[0].start, run[-1].stop),
                                 [row for batch in run for row in self.kept.pop(batch.start)])
            self._written_at = time.monotonic()
            first = self.next[i] = last


class Executor(Protocol):
    def run(self, job: Job, make_model: Callable[[], Any], pieces: Pieces, store: PartialOutput,
            worker_runtime: Callable[[], Any] | None) -> JobRun: ...


class InProcess:
    """The model in this process; the next batches read (decoded, resampled) and prepared (the
    processor's features) in background threads while it works on the current one."""

    def __init__(self, prefetch_batches: int = DEFAULT_PREFETCH_BATCHES):
        self.prefetch_batches = prefetch_batches

    def run(self, job: Job, make_model, pieces: Pieces, store: PartialOutput, worker_runtime) -> JobRun:
        model = make_model()
        store.begin()
        settings, steps = AudioSettings.of(model), job.steps(model)
        notes = job.notes if job.notes is not None else [""] * len(job.files)
        run = JobRun(total=len(job.files), done_before=store.done, model_name=settings.name,
                     parameters={"backend": "in-process", "prefetch_batches": self.prefetch_batches})
        started = time.perf_counter()
        with tqdm(total=len(job.files), initial=store.done, desc=job.progress.format(name=settings.name),
                  unit="file") as bar:
            for batch, read, prepared in prefetched(
                    pieces.batches,
                    lambda batch: job.read(settings, [job.files[i] for i in batch], [notes[i] for i in batch]),
                    (lambda read: steps.prepare(read.items)) if steps.has_prepare_step else None,
                    self.prefetch_batches):
                pieces.add(batch, job.run(steps, read, prepared))
                run.done_now += len(batch)
                bar.update(len(batch))
        run.seconds = time.perf_counter() - started
        run.results = {"seconds": round(run.seconds, 3),
                       "files_per_second": round(run.done_now / run.seconds, 3) if run.seconds > 0 else None}
        return run


def run_job(job: Job, output: str, made_with: dict, make_model: Callable[[], Any], options: RunOptions,
            worker_runtime: Callable[[], Any] | None = None, executor: Executor | None = None) -> JobRun:
    """Make ``output`` from the job's files: every file no finished piece of an interrupted run holds
    (with ``options.resume``), with ``executor`` (default: :class:`InProcess`; or
    :class:`auditoryhum.ray_backend.OnRay`), then the output in one atomic write, and the job's
    report. What is finished when the run stops for any reason - Ctrl-C, a labeller that gives up,
    a full disk - is written to the store first, for ``--resume``. ``worker_runtime``: the runtime
    a Ray worker resolves, for the record."""
    from .records import file_names

    store = PartialOutput(output, file_names(job.files), job.kind, options.batch_size, made_with, options.resume)
    if store.done:
        log.info("resuming %s: %s of %d already done", output, counted(store.done, "file"), len(job.files))
    pieces = Pieces(store, job, -(-options.piece_files // options.batch_size) * options.batch_size)
    if store.complete:  # killed between its last piece and the output: only the merge is left
        run = JobRun(total=len(job.files), done_before=store.done)
    else:
        executor = executor or InProcess(options.prefetch_batches)
        try:
            run = executor.run(job, make_model, pieces, store, worker_runtime)
        except BaseException as err:
            kept = _keep_what_is_finished(pieces, store)
            if isinstance(err, JobStopped):
                raise UserError(f"{err}; {kept}") from None
            if isinstance(err, OSError):
                raise UserError(f"{err.filename or store.folder}: cannot write ({err.strerror or err}); {kept}") from None
            if isinstance(err, KeyboardInterrupt) and store.done:
                log.info("%s", kept)
            raise
    run.rows = store.finish()
    run.results.update(job.report(output, run))
    return run


def _flush_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("AUDITORYHUM_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS)))
    except ValueError:
        return DEFAULT_FLUSH_SECONDS


def _keep_what_is_finished(pieces: Pieces, store: PartialOutput) -> str:
    """Write the finished batches before the run stops (a write that fails too - the disk is full -
    leaves the pieces written before); what is kept, in words."""
    if store.folder.is_dir():
        try:
            pieces.flush()
        except OSError as failed:
            log.warning("%s: could not keep the last finished files (%s)", store.folder, failed.strerror or failed)
    return (f"{counted(store.done, 'finished file')} kept in {store.folder}; re-run with --resume to continue"
            if store.done else "nothing was finished")
