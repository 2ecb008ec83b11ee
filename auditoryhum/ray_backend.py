"""The per-file stages on a Ray cluster (``--backend ray``), through Ray Data.

The work is the in-process backend's, split where a cluster splits it:

* **read tasks** (CPU, as many as the cluster runs at once): one batch of files each - decoding,
  resampling, cutting to the model's window, padding to its shortest clip, the prompts - with the
  job's ``read`` (:mod:`auditoryhum.engine`);
* **model workers** (``--workers`` Ray actors, each with ``--gpus_per_worker`` and
  ``--cpus_per_worker``): each builds the script's own adapter once - the same object the
  in-process backend uses - and runs one batch at a time through the job's ``run``;
* **the driver** (this process, :func:`auditoryhum.engine.run_job`): collects each batch's result
  whatever order they come back in, writes every finished stretch of batches to the output's one
  resumable store (:mod:`auditoryhum.store`) - the same as in process -, shows one progress bar of
  files done, and merges the pieces into the output.

The batches are the in-process backend's (files ``[k*B, (k+1)*B)``), so the output is the same,
byte for byte, whatever the number of workers and the order Ray finishes them in. Before any file
is read, one *probe* task with a worker's resources builds the adapter: a worker that cannot load
the model stops the run with the loader's one line, and the probe gives the audio settings the
read tasks need (the model's rate, window, shortest clip) and the runtime a worker resolves.

A worker that dies is restarted by Ray and its batch redone (Ray Data's actor pool retries);
a driver that dies loses no finished piece, and ``--resume`` goes on from them. Ray Data's own
checkpointing is not used: the store is this suite's. Messages the workers log (an unreadable
file, a file the model failed on) come back with their batch and are logged by the driver, so the
run reads as an in-process one does; Ray's own worker output stays in Ray's log folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from .audio import AudioSettings
from .engine import JobRun, JobStopped, RayOptions
from .errors import UserError, counted, one_line

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install ".[ray]"'
#: read tasks are made of at most this many blocks (past it, one task reads several batches)
MAX_READ_BLOCKS = 4096
#: environment variables the workers get from the driver, so they find models as it would
PASSED_ENVIRONMENT = ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "TOKENIZERS_PARALLELISM")
LOGS_HINT = "the workers' logs are under /tmp/ray/session_latest/logs on the cluster's nodes"


# ----------------------------------------------------------------------------------------------
# connecting


def import_ray():
    """The ``ray`` module with Ray Data, or one line saying how to install it."""
    # Ray Data always keeps its actors' constructor arguments in the object store, and Ray's C++
    # core then logs an error line per worker on the terminal that says nothing is wrong yet (Ray
    # issue 53727); real failures reach the driver as exceptions. Its level is read when Ray is
    # imported; set the variable to see those lines.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(f"--backend ray needs Ray (with Ray Data), which is not installed here: {INSTALL_HINT}") from None
    return ray


def check_address(address: str | None) -> None:
    """Stop with one line when ``--ray_address`` names no listening host:port (Ray itself would
    retry for a minute before saying so)."""
    if address is None or address in ("auto", "local"):
        return
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise UserError(f"--ray_address={address}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
                        "ray://HOST:PORT, or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as err:
        raise UserError(f"--ray_address={address}: no Ray cluster answers there ({err.strerror or one_line(err)}); "
                        "start one with `ray start --head`, or leave the flag out to start a local Ray") from None


def _runtime_env() -> dict:
    """The workers run this driver's copy of the package (shipped with the job), with the
    driver's model-finding environment; the libraries must be installed on the nodes."""
    package = Path(__file__).resolve().parent
    env_vars = {name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ}
    return {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"], "env_vars": env_vars}


@contextlib.contextmanager
def connected(address: str | None):
    """Ray, connected to ``address`` (or started locally) for the length of the block."""
    ray = import_ray()
    check_address(address)
    local = address is None and not os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"include_dashboard": False} if local else {}
    if local:
        # a new Ray of its own: ray.init() alone would join the last cluster `ray start` made on this
        # machine, or hang on its address when that cluster is gone
        address = "local"
    try:
        with _without_native_stderr():
            ray.init(address=address, runtime_env=_runtime_env(), logging_level=logging.ERROR, log_to_driver=False,
                     **kwargs)
    except Exception as err:  # noqa: BLE001 - whatever Ray raises, the user gets one line
        where = f"--ray_address={address}" if address else "--backend ray"
        hint = "" if local else ("; a cluster with token authentication also needs RAY_AUTH_MODE=token here (and "
                                 "its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)")
        raise UserError(f"{where}: cannot {'start' if local else 'connect to'} Ray ({one_line(err)}){hint}") from None
    _quiet_ray_data(ray)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _without_native_stderr():
    """Ray's C++ core writes its start-up chatter and its connection retries straight to file
    descriptor 2; while Ray starts or connects, that goes nowhere (a failure becomes one line, and
    the processes Ray starts keep their own logs)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_ray_data(ray) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _worker_resources(ray, options: RayOptions) -> tuple[float, float]:
    """``(gpus, cpus)`` per worker; one line when the cluster cannot hold the workers and still
    leave a CPU for reading the audio."""
    available = ray.cluster_resources()
    cluster_gpus, cluster_cpus = available.get("GPU", 0.0), available.get("CPU", 0.0)
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if cluster_gpus and options.may_use_gpu else 0.0
    cpus = options.cpus_per_worker
    if gpus * options.workers > cluster_gpus:
        raise UserError(f"--workers={options.workers} with --gpus_per_worker={gpus:g} need "
                        f"{gpus * options.workers:g} GPUs; the Ray cluster has {cluster_gpus:g}")
    if cpus * options.workers + 1 > cluster_cpus:
        raise UserError(f"--workers={options.workers} with --cpus_per_worker={cpus:g} leave no CPU of the Ray "
                        f"cluster's {cluster_cpus:g} for reading the audio; lower --cpus_per_worker or --workers")
    return gpus, cpus


# ----------------------------------------------------------------------------------------------
# the probe, the read tasks and the model workers (run on the cluster)


def _probe(make_model: Callable[[], Any], worker_runtime: Callable[[], Any] | None) -> dict:
    """Build the adapter as a worker would: its audio settings and runtime, or the one line why not."""
    try:
        runtime = worker_runtime() if worker_runtime else None
        model = make_model()
        return {"settings": AudioSettings.of(model), "runtime": runtime}
    except UserError as err:
        return {"error": str(err)}
    except Exception as err:  # noqa: BLE001 - reported as one line by the driver
        return {"error": f"a Ray worker could not load the model: {one_line(err)}"}


class _Captured(logging.Handler):
    """The package's log records of one call, to be logged again by the driver."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


@contextlib.contextmanager
def _capturing_logs():
    logger = logging.getLogger(__package__)
    handler, level = _Captured(), logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _read_row(row: dict, job: type, settings: AudioSettings) -> dict:
    paths = [str(path) for path in row["paths"]]
    notes = [str(note) for note in row["notes"]] if "notes" in row else [""] * len(paths)
    with _capturing_logs() as records:
        read = job.read(settings, paths, notes)
    return {"batch": row["batch"], "payload": pickle.dumps((read, records), protocol=pickle.HIGHEST_PROTOCOL)}


class _ModelWorker:
    """One model replica: the script's adapter, built once, labelling or embedding one batch per call."""

    def __init__(self, make_model: Callable[[], Any], job: type):
        self.job = job
        self.steps = job.steps(make_model())

    def __call__(self, rows: dict) -> dict:
        results = []
        for payload in rows["payload"]:
            read, records = pickle.loads(payload)
            with _capturing_logs() as more:
                result = self.job.run(self.steps, read)
            results.append(pickle.dumps((result, records + more), protocol=pickle.HIGHEST_PROTOCOL))
        return {"batch": rows["batch"], "result": results}


# ----------------------------------------------------------------------------------------------
# the executor


class OnRay:
    """The engine's executor on a Ray cluster (see the module notes)."""

    def __init__(self, options: RayOptions):
        if options.workers < 1:
            raise UserError(f"--workers={options.workers}: must be at least 1")
        self.options = options

    def run(self, job, make_model, pieces, store, worker_runtime) -> JobRun:
        """Connect, probe, then read and run every batch of the unfinished stretches, handing each
        result to ``pieces`` as it comes."""
        options = self.options
        started = time.perf_counter()
        with connected(options.address) as ray:
            gpus, cpus = _worker_resources(ray, options)
            probe = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_probe)
            found = ray.get(probe.remote(make_model, worker_runtime))
            if "error" in found:
                raise UserError(found["error"])
            settings: AudioSettings = found["settings"]
            start_seconds = time.perf_counter() - started
            store.begin()
            run = JobRun(total=len(job.files), done_before=store.done, model_name=settings.name,
                         runtime=found["runtime"])
            started = time.perf_counter()
            to_first = 0.0
            batches = pieces.batches
            if batches:
                dataset = _dataset(ray, job, settings, batches, make_model, options.workers, gpus, cpus)
                to_first = _collect(dataset, pieces, store, batches, run, job.progress.format(name=settings.name),
                                    started)
            run.seconds = time.perf_counter() - started
        per_second = run.done_now / run.seconds if run.seconds > 0 else float("nan")
        run.parameters = {"backend": "ray", "workers": options.workers, "gpus_per_worker": gpus,
                          "cpus_per_worker": cpus, "shard_size": pieces.max_files}
        run.results = {"files_per_second": round(per_second, 3), "seconds": round(run.seconds, 3),
                       "ray_start_seconds": round(start_seconds, 3), "seconds_to_first_result": round(to_first, 3)}
        log.info("Ray: %s, %s in %.1f s (%.2f files/s) after %.1f s of start-up (Ray and one model load)",
                 counted(options.workers, "worker"), counted(run.done_now, "file"), run.seconds, per_second,
                 start_seconds)
        return run


def _dataset(ray, job, settings: AudioSettings, batches: list[range], make_model, workers: int, gpus: float,
             cpus: float):
    items = []
    for batch_id, batch in enumerate(batches):
        item = {"batch": batch_id, "paths": [job.files[index] for index in batch]}
        if job.notes is not None:
            item["notes"] = [job.notes[index] for index in batch]
        items.append(item)
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_READ_BLOCKS))
    dataset = dataset.map(_read_row, fn_kwargs={"job": type(job), "settings": settings}, num_cpus=1)
    return dataset.map_batches(
        _ModelWorker, fn_constructor_kwargs={"make_model": make_model, "job": type(job)},
        batch_size=1, concurrency=workers, num_gpus=gpus, num_cpus=cpus,
    )


def _collect(dataset, pieces, store, batches: list[range], run: JobRun, desc: str, started: float) -> float:
    """Take each batch's result as it comes; the seconds until the first came."""
    to_first = 0.0
    try:
        with tqdm(total=run.total, initial=store.done, desc=desc, unit="file") as bar:
            for row in dataset.iter_rows():
                if not run.done_now:
                    to_first = time.perf_counter() - started
                result, records = pickle.loads(row["result"])
                for name, level, message in records:
                    logging.getLogger(name).log(level, "%s", message)
                batch = batches[int(row["batch"])]
                pieces.add(batch, result)
                run.done_now += len(batch)
                bar.update(len(batch))
    except (UserError, OSError, JobStopped):
        raise
    except Exception as err:  # noqa: BLE001 - a failure on the cluster: one line, the finished files are kept
        cause = _user_cause(err)
        if cause is not None:
            raise cause from None
        raise UserError(f"the Ray run failed ({type(err).__name__}: {one_line(err)}); {LOGS_HINT}") from None
    return to_first


def _user_cause(err: BaseException) -> BaseException | None:
    """The exception a worker raised that a user can act on (a :class:`UserError`, a labeller
    that stopped for good), through Ray's wrapping."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (UserError, JobStopped)):
            return current
        current = getattr(current, "cause", None) or current.__cause__
    return None
