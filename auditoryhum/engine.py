"""The one per-file engine: "these files, this model adapter, this output", in process or on Ray.

Every per-file stage - each ``label_*.py`` and each audio ``features_*.py`` - is a *job*: the files,
and what the model does to a batch of them. A job says, once:

* ``read(settings, paths, notes)`` - the CPU work before the model: decoding, resampling, cutting
  to the model's window, bringing short clips to its shortest length, the prompts (any thread, any
  Ray worker);
* ``run(steps, paths, read, prepared)`` - the model on that batch, a file it fails on costing only
  that file's row;
* ``keep(batch, result)`` and ``piece_rows(...)`` - what the driver keeps of a batch's result, and
  the rows of a finished piece of the output.

:func:`run_job` is the driver: it opens the output's one resumable store
(:class:`auditoryhum.store.PartialOutput`), hands the batches no finished piece holds to an
executor - :class:`InProcess` (the next batches read and prepared in background threads while the
model works, :mod:`auditoryhum.pipeline`) or :class:`auditoryhum.ray_backend.OnRay`, which the
caller passes (so this module never imports Ray's) - and writes
each finished stretch of consecutive batches as one piece, every few hundred files or every
:data:`DEFAULT_FLUSH_SECONDS`, and whatever is finished when the run stops. Batch k is always files
``[k*B, (k+1)*B)``, so every executor gives the same bytes.

The library takes typed options (:class:`RunOptions`, :class:`RayOptions`); the command-line layer
(:mod:`auditoryhum.scripts.per_file`) builds them from the flags.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from tqdm.auto import tqdm

from .errors import UserError, counted
from .pipeline import DEFAULT_PREFETCH_BATCHES, AudioSettings, ModelSteps, batch_ranges, prefetched
from .store import PartialOutput, Piece

log = logging.getLogger(__name__)

#: a finished stretch of batches is written at least this often (seconds; AUDITORYHUM_FLUSH_SECONDS), so
#: a kill loses little, and a fast model does not write a file per batch
DEFAULT_FLUSH_SECONDS = 10.0
#: and at the latest after this many files
DEFAULT_PIECE_FILES = 256


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


class Job(Protocol):
    """A per-file stage (see the module notes). ``read``, ``steps`` and ``run`` are static, so a Ray
    worker can use them with the class alone."""

    kind: str  # store.LABELS or store.EMBEDDINGS
    files: Sequence[str]
    notes: Sequence[str] | None  # one per file, or None

    @staticmethod
    def steps(model) -> ModelSteps: ...

    @staticmethod
    def items(read) -> list: ...

    @staticmethod
    def read(settings: AudioSettings, paths: list[str], notes: list[str]) -> Any: ...

    @staticmethod
    def run(steps: ModelSteps, paths: list[str], read, prepared) -> Any: ...

    def keep(self, batch: range, result) -> Any: ...

    def write_piece(self, store: PartialOutput, piece: Piece, kept: list) -> None: ...


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
    rows: Any = None  # an embeddings job's rows, once the output is written


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
        self.kept[batch.start] = self.job.keep(batch, result)
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
                                 [self.kept.pop(batch.start) for batch in run])
            self._written_at = time.monotonic()
            first = self.next[i] = last


class Executor(Protocol):
    def run(self, job: Job, make_model: Callable[[], Any], pieces: Pieces, store: PartialOutput,
            worker_runtime: Callable[[], Any] | None, desc: str) -> JobRun: ...


class InProcess:
    """The model in this process; the next batches read (decoded, resampled) and prepared (the
    processor's features) in background threads while it works on the current one."""

    def __init__(self, prefetch_batches: int = DEFAULT_PREFETCH_BATCHES):
        self.prefetch_batches = prefetch_batches

    def run(self, job: Job, make_model, pieces: Pieces, store: PartialOutput, worker_runtime, desc: str) -> JobRun:
        model = make_model()
        store.begin()
        settings, steps = AudioSettings.of(model), job.steps(model)
        notes = job.notes if job.notes is not None else [""] * len(job.files)
        run = JobRun(total=len(job.files), done_before=store.done, model_name=settings.name,
                     parameters={"backend": "in-process", "prefetch_batches": self.prefetch_batches})
        started = time.perf_counter()
        with tqdm(total=len(job.files), initial=store.done, desc=desc.format(name=settings.name), unit="file") as bar:
            for batch, read, prepared in prefetched(
                    pieces.batches,
                    lambda batch: job.read(settings, [job.files[i] for i in batch], [notes[i] for i in batch]),
                    (lambda read: steps.prepare(job.items(read))) if steps.has_prepare_step else None,
                    self.prefetch_batches):
                pieces.add(batch, job.run(steps, [job.files[i] for i in batch], read, prepared))
                run.done_now += len(batch)
                bar.update(len(batch))
        run.seconds = time.perf_counter() - started
        run.results = {"seconds": round(run.seconds, 3),
                       "files_per_second": round(run.done_now / run.seconds, 3) if run.seconds > 0 else None}
        return run


def run_job(job: Job, output: str, made_with: dict, make_model: Callable[[], Any], options: RunOptions,
            worker_runtime: Callable[[], Any] | None = None, desc: str = "{name}",
            executor: Executor | None = None) -> JobRun:
    """Make ``output`` from the job's files: every file no finished piece of an interrupted run holds
    (with ``options.resume``), with ``executor`` (default: :class:`InProcess`; or
    :class:`auditoryhum.ray_backend.OnRay`), then the output in one atomic write. What is finished
    when the run stops for any reason - Ctrl-C, a labeller that gives up, a full disk - is written
    to the store first, for ``--resume``."""
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
            run = executor.run(job, make_model, pieces, store, worker_runtime, desc)
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
    return run


class JobStopped(Exception):
    """A job cannot go on (a remote service failed for good): the run stops with one line, keeping
    every finished file for ``--resume``."""


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
