"""Run records: every output carries the provenance of the run that made it.

Each script writes ``<output>.run.json`` beside its main output(s) when - and only when - the run
finished: the script, its command line (secrets masked), when it ran, the package and library
versions, every input with its size and SHA-256 (model folders by their config), the ordered audio
files row i belongs to, every setting that changes the result, and the figures it printed. The
fields are documented in ``docs/run-records.md``; this module is the one place that reads and
writes them.

While a run writes its outputs it holds a lock on each (``.<output>.lock`` beside it, naming the
holder's pid): a second run on the same output stops at once. The record of an output is removed
when a new run on it starts and written last, after every output of the run is complete, so a
crash leaves no record claiming the run finished - which is how the recipe tells a finished step
from one that was interrupted. A run whose outputs appear together (``outputs_together``) leaves
the old outputs and their records as they are until it has made every new output, then swaps them.

Reading never fails a run: a record that is unreadable or of a newer format version gives one
warning, and the caller falls back to what the files themselves say (row counts).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UserError, one_line
from .formats import jsonable as _jsonable

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".run.json"
FORMAT_VERSION = 1
#: Command-line flags whose values never reach a record or a log.
SECRET_FLAGS = ("--api_key", "--token")
MASK = "***"
#: Libraries whose versions change results; recorded when installed.
LIBRARIES = ("torch", "transformers", "sentence-transformers", "scikit-learn", "numpy", "scipy", "librosa",
             "google-genai", "bitsandbytes")

#: What a flag's value can be, for the record: the audio glob, an input file, a model folder.
AUDIO, INPUT, MODEL = "audio", "input", "model"


def record_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.name + RECORD_SUFFIX)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# describing inputs


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's contents; a file already hashed by this process is not read again
    while its size and modification time stay the same (the recipe checks many steps that read
    the same inputs)."""
    stat = os.stat(path)
    return _sha256_cached(os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=4096)
def _sha256_cached(path: str, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_names(paths: Iterable[str]) -> list[str]:
    """The names rows are matched by: each audio file's base name, as the scores CSV has them."""
    return [os.path.basename(path) for path in paths]


def describe_file(path: str | os.PathLike) -> dict:
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "sha256": sha256_of(path)}


#: bytes read from the start, the middle and the end of each audio file for its content fingerprint
AUDIO_SAMPLE_BYTES = 4096


def describe_audio(pattern: str, files: Sequence[str]) -> dict:
    """An audio glob by two fingerprints of its files (hashing every recording of a real dataset
    would cost minutes per step):

    * ``fingerprint``: each file's name, size and modification time - free to compute, and what
      a run checks first;
    * ``content_fingerprint``: each file's name, size and :data:`AUDIO_SAMPLE_BYTES` bytes from
      its start, middle and end - what decides when the first differs, so a copied or moved
      folder (new modification times) still counts as the same audio.

    Any added, removed, renamed, replaced or resampled file changes both."""
    return {"pattern": pattern, "count": len(files), "size": sum(max(_size(path), 0) for path in files),
            "fingerprint": audio_fingerprint(files), "content_fingerprint": audio_content_fingerprint(files)}


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:  # a broken link: it is a row of its own, without audio
        return -1


def audio_fingerprint(files: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for path in files:
        try:
            stat = os.stat(path)
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = -1, 0
        digest.update(f"{path}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def audio_content_fingerprint(files: Sequence[str]) -> str:
    """Read once per process while no file's size, modification time or inode changes (the recipe
    asks at every step of a copied experiment, whose modification times are new)."""
    return _content_fingerprint_cached(tuple(files), tuple(_stat_key(path) for path in files))


def _stat_key(path: str) -> tuple[int, int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return -1, 0, 0
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@functools.lru_cache(maxsize=32)
def _content_fingerprint_cached(files: tuple[str, ...], stats: tuple[tuple[int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path in files:
        size = _size(path)
        digest.update(f"{path}\0{size}\n".encode())
        if size > 0:
            try:
                with open(path, "rb") as handle:
                    for offset in sorted({0, max(0, size // 2 - AUDIO_SAMPLE_BYTES // 2),
                                          max(0, size - AUDIO_SAMPLE_BYTES)}):
                        digest.update(os.pread(handle.fileno(), AUDIO_SAMPLE_BYTES, offset))
            except OSError as err:  # unreadable: its row says so; the fingerprint notes it
                digest.update(f"unreadable {err.errno}\n".encode())
    return digest.hexdigest()


def audio_unchanged(described: dict, files: Sequence[str]) -> bool:
    """Whether ``files`` are the audio a record describes: the same names, sizes and modification
    times, or else the same names, sizes and sampled contents (a copied folder)."""
    if audio_fingerprint(files) == described.get("fingerprint"):
        return True
    return described.get("content_fingerprint") is not None and \
        audio_content_fingerprint(files) == described["content_fingerprint"]


#: the file a tiny random-weight checkpoint carries (auditoryhum.tiny_checkpoints), so that every
#: result made with one says so
RANDOM_WEIGHTS_MARKER = "RANDOM_WEIGHTS"


def describe_model(value: str) -> dict:
    """A model folder by its config (name, architectures, SHA-256 of the config file), not its
    weights; a single model file (e.g. GGUF) by name and size; anything else as a hub id. A folder
    of random weights (:data:`RANDOM_WEIGHTS_MARKER`) is marked ``random_weights``."""
    path = Path(value)
    if path.is_file():
        return {"path": value, "file": path.name, "size": path.stat().st_size}
    if not path.is_dir():
        return {"hub_id": value}
    described: dict[str, Any] = {"path": value}
    if (path / RANDOM_WEIGHTS_MARKER).is_file():
        described["random_weights"] = True
    config = path / "config.json"
    if config.is_file():
        described["config_sha256"] = sha256_of(config)
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            described["name_or_path"] = data.get("_name_or_path")
            described["architectures"] = data.get("architectures")
            described["model_type"] = data.get("model_type")
    return described


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def masked_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the values of :data:`SECRET_FLAGS` replaced by ``***``."""
    masked, hide_next = [], False
    for arg in argv:
        if hide_next:
            masked.append(MASK)
            hide_next = False
        elif arg in SECRET_FLAGS:
            masked.append(arg)
            hide_next = True
        elif arg.split("=", 1)[0] in SECRET_FLAGS and "=" in arg:
            masked.append(arg.split("=", 1)[0] + "=" + MASK)
        else:
            masked.append(arg)
    return masked


# ----------------------------------------------------------------------------------------------
# locks


#: how long a run waits for another run writing the same output, in seconds (AUDITORYHUM_LOCK_WAIT)
DEFAULT_LOCK_WAIT = 600.0
_LOCK_POLL = 0.2


class OutputLock:
    """An exclusive lock on one output for the length of a run (``flock`` on a hidden
    ``.<name>.lock`` beside it, holding the pid). A second run on the same output waits for the
    first - saying so once - for at most ``AUDITORYHUM_LOCK_WAIT`` seconds (default 600), then stops
    with one line naming the holder. The kernel releases the lock of a process that died, so a lock
    file a killed run left behind is simply taken over."""

    def __init__(self, output: str | os.PathLike):
        output = Path(output)
        self.path = output.with_name(f".{output.name}.lock")
        self.output = output
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline, said = None, False
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                wait = _lock_wait()
                deadline = deadline or time.monotonic() + wait
                if time.monotonic() >= deadline:
                    raise UserError(f"{self.output}: another run (pid {holder}) is still writing this output after "
                                    f"{wait:g} s; wait for it to finish or stop it") from None
                if not said:
                    log.info("%s: another run (pid %s) is writing this output; waiting for it (at most %g s)",
                             self.output, holder, wait)
                    said = True
                time.sleep(_LOCK_POLL)
                continue
            # The holder before us unlinks the file as it lets go: a lock on that unlinked file is no
            # lock at all (a third run makes a new one), so hold only the file the name still names.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as err:  # a full disk: even the pid does not fit
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            raise OSError(err.errno, err.strerror, str(self.output)) from None
        self._fd = fd

    def _open(self) -> int:
        """The lock file, never through a symbolic link (it would write the pid into its target)."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UserError(f"{self.path}: the lock file of {self.output} is a symbolic link; remove it "
                                "(the suite never makes one)") from None
            raise

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlinked while still held, so no other run can lock this file in between.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("AUDITORYHUM_LOCK_WAIT", DEFAULT_LOCK_WAIT)))
    except ValueError:
        return DEFAULT_LOCK_WAIT


# ----------------------------------------------------------------------------------------------
# the record of one run


@dataclass
class RunRecord:
    """What one script run records; scripts fill :attr:`files`, :attr:`parameters` and
    :attr:`results`, :class:`ScriptRun` the rest."""

    script: str
    argv: list[str]
    started: str = field(default_factory=_now)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    files: list[str] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    made_with: dict[str, Any] | None = None
    #: what in this output is not real: a simulated annotator, a random-weight model - its own and
    #: its inputs' (each a sentence a reader understands)
    stand_ins: list[str] = field(default_factory=list)

    def add_input(self, flag: str, kind: str, described: dict) -> None:
        self.inputs.append({"flag": flag, "kind": kind, **described})

    def as_dict(self, output: str) -> dict:
        from . import __version__

        data = {
            "format_version": FORMAT_VERSION,
            "script": self.script,
            "argv": masked_argv(self.argv),
            "cwd": os.getcwd(),
            "started": self.started,
            "finished": _now(),
            "package_version": __version__,
            "versions": library_versions(),
            "output": describe_file(output) if os.path.isfile(output) else {"path": output},
            "outputs": self.outputs,
            "inputs": self.inputs,
            "files": self.files,
            "parameters": self.parameters,
            "made_with": self.made_with,
            "stand_ins": self.stand_ins,
            "results": self.results,
        }
        return _jsonable(data)


class ScriptRun:
    """One run of a script: locks its outputs, removes their old records, and - when the work is
    done with status 0 - writes a record beside each main output. Use as a context manager around
    the work; the command-line layer (:func:`auditoryhum.cli.script`) builds it from the flags.

    ``outputs``: ``(flag, path, main)`` of every output; ``inputs``: ``(flag, path, kind)`` of the
    input files (:data:`INPUT`) and model folders (:data:`MODEL`), described when the run ends.
    """

    def __init__(self, script: str, argv: Sequence[str], outputs: Sequence[tuple[str, str, bool]] = (),
                 inputs: Sequence[tuple[str, str, str]] = (), parameters: dict[str, Any] | None = None,
                 procedural: Iterable[str] = (), outputs_together: bool = False):
        self.record = RunRecord(script=script, argv=list(argv), parameters=dict(parameters or {}))
        #: parameters that change how the work is done, not its result (batch size, backend, retries)
        self._procedural = set(procedural)
        #: the flags as given ("auto" before it is resolved, which a Ray worker does elsewhere)
        self._flags = dict(self.record.parameters)
        self.record.outputs = [path for _, path, _ in outputs]
        self._outputs = list(outputs)
        self._inputs = list(inputs)
        #: the work's exit status; a record is written only for 0
        self.status = 0
        self._locks: list[OutputLock] = []
        # main output -> (its stat when the run started, its record then): restored when the run
        # fails without touching the output, so a typo in a flag does not cost a finished record
        self._previous: dict[str, tuple[tuple[int, int] | None, str]] = {}
        self._kept: set[str] = set()
        self._hashing = None  # the thread hashing the input files while the run works
        #: hold every output back until the work has made them all (formats.HeldOutputs)
        self._outputs_together = outputs_together
        self._held = None

    @property
    def main_outputs(self) -> list[str]:
        return [path for _, path, main in self._outputs if main]

    # -- filled in by the script ------------------------------------------------------------

    @property
    def files(self) -> list[str] | None:
        return self.record.files

    @files.setter
    def files(self, names: Sequence[str] | None) -> None:
        self.record.files = None if names is None else list(names)

    @property
    def parameters(self) -> dict[str, Any]:
        return self.record.parameters

    @property
    def results(self) -> dict[str, Any]:
        return self.record.results

    def add_audio(self, pattern: str, files: Sequence[str], flag: str = "--filedir") -> None:
        """The audio glob's files (row i = file i) and their fingerprint."""
        self.record.add_input(flag, AUDIO, describe_audio(pattern, files))
        self.files = file_names(files)

    def add_input_file(self, flag: str, path: str) -> None:
        """A file the run read that its flags do not declare as an input (the review sheet, which
        the same run may have written): described, like the others, when the run ends."""
        if (flag, path, INPUT) not in self._inputs:
            self._inputs.append((flag, path, INPUT))

    def add_stand_in(self, what: str) -> None:
        """Something this run made up instead of measuring (a simulated annotator): every record
        downstream of the output says so."""
        if what not in self.record.stand_ins:
            self.record.stand_ins.append(what)

    def stand_ins(self) -> list[str]:
        """What in this run's results is not real: its own stand-ins, each random-weight model it
        loads, and the stand-ins the records of its input files name (read now, so a page can show
        them before the run ends)."""
        found = list(self.record.stand_ins)
        for flag, path, kind in self._inputs:
            if kind == MODEL and os.path.isdir(path) and describe_model(path).get("random_weights"):
                found.append(random_weights_stand_in(path, flag))
            elif kind == INPUT and os.path.isfile(path):
                found.extend(recorded_stand_ins(path))
        return list(dict.fromkeys(found))

    def add_output(self, flag: str, path: str, main: bool = True) -> None:
        """An output known only once the run has started (a default that depends on other flags):
        locked and recorded like the others."""
        self._outputs.append((flag, path, main))
        self.record.outputs.append(path)
        self._lock(path, main)
        if self._held is not None:
            self._held.paths.add(os.path.abspath(path))

    def previous_record(self, output: str) -> dict | None:
        """The record ``output`` had when this run started (removed while it runs)."""
        previous = self._previous.get(output)
        if previous is None:
            return None
        try:
            return parse_record(previous[1])
        except ValueError:
            return None

    def keep_previous_record(self, output: str) -> None:
        """The run found ``output`` already finished: its old record goes back, not a new one."""
        self._kept.add(output)

    def made_with(self) -> dict[str, Any]:
        """What decides the contents of this run's per-file output, fixed when first asked (before
        the work): the audio files' fingerprint, each model (its folder and config hash), each input
        file (its SHA-256) and every parameter but the procedural ones, each flag as given (so both
        backends agree). A run resumed or skipped with ``--resume`` must have the same, or it would
        mix or keep another run's results."""
        if self.record.made_with is None:
            if self._hashing is not None:
                self._hashing.join()  # it hashes these inputs: reading them again at once would be twice the work
            settings: dict[str, Any] = {}
            for item in self.record.inputs:
                if item.get("kind") == AUDIO:  # by content, so a copied dataset resumes
                    settings[item["flag"]] = item.get("content_fingerprint")
            for flag, path, kind in self._inputs:
                if kind == MODEL:  # by absolute path, so a run started from another folder agrees
                    settings[flag] = describe_model(os.path.abspath(path) if os.path.exists(path) else path)
                elif kind == INPUT:
                    settings[flag] = sha256_of(path) if os.path.isfile(path) else None
            parameters = {**self.parameters, **self._flags}
            settings.update((name, value) for name, value in parameters.items() if name not in self._procedural)
            self.record.made_with = _jsonable(settings)
        return self.record.made_with

    def record_runtime(self, runtime) -> None:
        """Where the model ran, as resolved (device, dtype, 4-bit)."""
        self.parameters.update(device=runtime.device, dtype=runtime.dtype, load_in_4bit=runtime.load_in_4bit)

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> "ScriptRun":
        self._hash_inputs_meanwhile()
        for flag, output, _ in self._outputs:
            folder = os.path.dirname(output) or "."
            if not os.path.isdir(folder):
                raise UserError(f"{flag}={output}: output folder {folder} does not exist")
            if os.path.islink(output):
                raise UserError(f"{flag}={output}: is a symbolic link; outputs are never written through one (it "
                                "would overwrite what it points to) - remove it, or name the file it points to")
        try:
            for _, output, main in self._outputs:
                self._lock(output, main)
        except BaseException:
            self._release()
            raise
        from . import formats

        formats.remove_stale_temporaries([output for _, output, _ in self._outputs])
        if self._outputs_together:
            self._held = formats.hold_outputs([output for _, output, _ in self._outputs])
        return self

    def _hash_inputs_meanwhile(self) -> None:
        """The record's SHA-256 of every input file, computed in a background thread while the run
        works (hashing releases the interpreter: a large .npy is hashed while the sweep runs);
        the record then finds them done."""
        import threading

        paths = [path for _, path, kind in self._inputs if kind == INPUT]

        def hash_all():
            for path in paths:
                with contextlib.suppress(OSError):
                    sha256_of(path)

        self._hashing = threading.Thread(target=hash_all, name="hash-inputs", daemon=True)
        self._hashing.start()

    def _lock(self, output: str, main: bool) -> None:
        """Hold ``output`` for this run; its old record goes, so a run killed part-way leaves no
        record saying the output is finished (for held outputs, at the commit)."""
        lock = OutputLock(output)
        lock.acquire()
        self._locks.append(lock)
        if main:
            try:
                old = record_path(output).read_text(encoding="utf-8")
            except (FileNotFoundError, UnicodeDecodeError):
                return
            self._previous[output] = (_stat(output), old)
            if not self._outputs_together:  # held outputs stay as they are until the commit: so does their record
                os.unlink(record_path(output))

    def _restore_untouched(self, only: set[str] | None = None) -> None:
        from .formats import write_text_atomic

        for output, (stat, old) in self._previous.items():
            if (only is None or output in only) and stat is not None and _stat(output) == stat:
                write_text_atomic(record_path(output), old)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._held is not None:
                if exc_type is not None or self.status != 0:
                    self._held.discard()
                else:
                    for output in self._previous:  # from here the old record no longer describes them
                        record_path(output).unlink(missing_ok=True)
                    self._held.commit()
            if exc_type is not None or self.status != 0:
                self._restore_untouched()
            else:
                self._hashing.join()  # a failed run writes no record: it need not wait for the hashes
                for flag, path, kind in self._inputs:
                    if kind == MODEL:
                        self.record.add_input(flag, MODEL, describe_model(path))
                    elif os.path.isfile(path):
                        self.record.add_input(flag, INPUT, describe_file(path))
                self.record.stand_ins = self.stand_ins()
                if self.record.stand_ins:
                    log.warning("not real results - made with %s", "; ".join(self.record.stand_ins))
                self._restore_untouched(only=self._kept)
                for output in self.main_outputs:
                    if os.path.exists(output) and output not in self._kept:
                        write_record(output, self.record.as_dict(output))
        finally:
            self._release()

    def _release(self) -> None:
        for lock in reversed(self._locks):
            lock.release()
        self._locks.clear()


def _stat(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def write_record(output: str | os.PathLike, data: dict) -> None:
    from .formats import write_text_atomic

    write_text_atomic(record_path(output), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------------------
# reading


#: The fields of a record whose types code downstream relies on, and the types they must have.
_FIELD_CHECKS = {
    "script": lambda value: isinstance(value, str),
    "argv": lambda value: _strings(value),
    "output": lambda value: isinstance(value, dict),
    "outputs": lambda value: _strings(value),
    "inputs": lambda value: isinstance(value, list) and all(isinstance(item, dict) for item in value),
    "files": lambda value: value is None or _strings(value),
    "parameters": lambda value: isinstance(value, dict),
    "made_with": lambda value: value is None or isinstance(value, dict),
    "stand_ins": lambda value: _strings(value),
    "results": lambda value: isinstance(value, dict),
}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def parse_record(text: str) -> dict:
    """A record's text as a dict whose fields have the types this module writes; ValueError (one
    line, naming what is wrong) for anything else - invalid or deeply nested JSON, a newer format
    version, a field of the wrong type - so no reader meets a surprise further on."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to be a run record") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("not a run record (no format_version)")
    if version > FORMAT_VERSION:
        raise ValueError(f"run record format {version} is newer than this version reads ({FORMAT_VERSION})")
    wrong = [name for name, check in _FIELD_CHECKS.items() if name in data and not check(data[name])]
    if wrong:
        raise ValueError(f"malformed run record: {', '.join(wrong)} not of the type the suite writes")
    return data


def read_record(output: str | os.PathLike, *, check_output: bool = True, quiet: bool = False) -> dict | None:
    """The record of ``output``, or None when there is none or it cannot be used (one warning,
    unless ``quiet``: unreadable, a newer format, or - with ``check_output`` - written for other
    contents of the file than it now holds)."""
    path = record_path(output)
    try:
        data = parse_record(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        problem = f"unusable run record ({one_line(err)})"
    else:
        problem = None
        if check_output:
            try:
                if not _describes(data.get("output"), output):
                    problem = f"the run record describes other contents than {output} now holds (changed since)"
            except OSError:
                return None
    if problem is None:
        return data
    if not quiet:
        log.warning("%s: %s; checking %s by its row count only", path, problem, output)
    return None


def _describes(described: Any, output: str | os.PathLike) -> bool:
    """Whether a record's ``output`` field describes what the file ``output`` holds now, by its
    SHA-256 (raises OSError when it cannot be read)."""
    current = sha256_of(output)
    return isinstance(described, dict) and described.get("sha256") == current


def finished_as_recorded(output: str | os.PathLike, record: dict | None, files: Sequence[str] | None,
                         made_with: dict) -> bool:
    """Whether ``output`` is finished as ``record`` (its record when the run started) says, for these
    ``files`` and ``made_with``: the record is a well-formed one of this format, it still describes
    the output (its SHA-256), and it was made for the same files the same way. Anything else -
    no record, another output, other files or settings - means the output is made again (the old
    one stays until the new one is complete); the reason is logged."""
    if not os.path.isfile(output):
        return False
    why = _not_as_recorded(output, record, files, made_with)
    if why:
        log.info("%s: made again (%s)", output, why)
    return why is None


def _not_as_recorded(output, record, files, made_with) -> str | None:
    from .formats import settings_change

    if record is None:
        return "no run record says how it was made"
    if not _describes(record.get("output"), output):
        return "it changed since its run record was written"
    if record.get("files") != (None if files is None else list(files)):
        return "its run record names other files"
    if not isinstance(record.get("made_with"), dict):
        return "its run record does not say what it was made with"
    change = settings_change(record["made_with"], made_with)
    return f"made with other settings: {change}" if change else None


def random_weights_stand_in(path: str, flag: str) -> str:
    return f"random-weight model {path} ({flag}): its outputs mean nothing"


def recorded_stand_ins(path: str | os.PathLike, check_output: bool = True) -> list[str]:
    """The stand-ins the record of ``path`` names; none without a record (that still describes
    the output, with ``check_output``)."""
    data = read_record(path, check_output=check_output, quiet=True)
    return list(data.get("stand_ins", [])) if data else []


def recorded_results(path: str | os.PathLike, quiet: bool = False) -> dict | None:
    """The results the last run recorded for ``path``, whether or not the output changed since;
    None without a record."""
    data = read_record(path, check_output=False, quiet=quiet)
    return dict(data.get("results", {})) if data else None


def recorded_files(path: str | os.PathLike) -> list[str] | None:
    """The audio file names row i of ``path`` belongs to, from its record; None without one."""
    data = read_record(path)
    files = data.get("files") if data else None
    return list(files) if isinstance(files, list) else None


def _check_counts(name_a: str | os.PathLike, count_a: int, name_b: str | os.PathLike, count_b: int) -> None:
    if count_a != count_b:
        raise UserError(f"row-count mismatch: {name_a} has {count_a} rows but {name_b} has {count_b}")


def check_same_files(name_a: str, files_a: Sequence[str] | None, name_b: str, files_b: Sequence[str] | None) -> None:
    """Stop with one line when two inputs that line up row by row list different files (inputs
    without a known file list are checked by their row count elsewhere)."""
    if files_a is None or files_b is None:
        return
    for row, (a, b) in enumerate(zip(files_a, files_b), start=1):
        if a != b:
            raise UserError(f"{name_a} and {name_b} list different files at row {row} ({a} vs {b})")
    _check_counts(name_a, len(files_a), name_b, len(files_b))


def check_rows_belong(path: str | os.PathLike, n_rows: int, other_name: str, other_files: Sequence[str]) -> None:
    """Stop with one line unless the ``n_rows`` rows of ``path`` belong to ``other_files``, in order:
    by name where ``path`` has a record listing its files, and by count always (inputs without a
    record, such as the published CSVs, can only be checked that way)."""
    check_same_files(str(path), recorded_files(path), other_name, other_files)
    _check_counts(path, n_rows, other_name, len(other_files))


def check_scores_files(scores_csv: str | os.PathLike, filenames: Sequence[str], other_name: str,
                       other_files: Sequence[str]) -> None:
    """Stop with one line unless the file names a scores CSV carries in its rows are ``other_files``,
    in order (the scores CSV names its files itself, so its record adds nothing)."""
    _check_counts(scores_csv, len(filenames), other_name, len(other_files))
    for row, (name, other) in enumerate(zip(filenames, other_files), start=1):
        if name != other:
            raise UserError(f"{scores_csv}: row {row} is {name!r} but file {row} of {other_name} is {other}; "
                            "were the scores made from other files?")


def inputs_changed(data: dict) -> str | None:
    """Why the inputs a record lists differ from the files on disk now; None when they all match."""
    from .filelist import expand_glob

    for item in data.get("inputs", []):
        kind, flag = item.get("kind"), item.get("flag")
        path = item.get("path")
        if kind in (INPUT, MODEL) and not isinstance(path, str):
            return f"{flag}: its run record names no path"
        if kind == INPUT:
            if not os.path.isfile(path) or sha256_of(path) != item.get("sha256"):
                return f"{flag} {path} changed"
        elif kind == MODEL and "config_sha256" in item:
            config = Path(path) / "config.json"
            if not config.is_file() or sha256_of(config) != item["config_sha256"]:
                return f"{flag} {path} changed"
        elif kind == AUDIO:
            pattern = item.get("pattern")
            if not isinstance(pattern, str):
                return f"{flag}: its run record names no audio pattern"
            if not audio_unchanged(item, expand_glob(pattern)):
                return f"{flag}={pattern}: the audio files changed"
    return None


def up_to_date(output: str | os.PathLike, argv: Sequence[str] | None = None,
               ignore: Sequence[str] = ()) -> str | None:
    """None when ``output`` was made by a finished run whose inputs still match the files on disk
    (and, given ``argv``, with the same command line, flags in ``ignore`` aside); else why it must
    be made again."""
    if not os.path.exists(output):
        return "missing"
    data = read_record(output, check_output=False, quiet=True)
    described = data.get("output") if data else None
    if isinstance(described, dict) and described.get("sha256") and os.path.isfile(output) \
            and not _describes(described, output):  # an output folder is described by its path alone
        return "changed since its run record was written"
    return current_reason(data, argv, ignore)


def current_reason(data: dict | None, argv: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> str | None:
    """:func:`up_to_date` for a record already read."""
    if data is None:
        return "no finished run record"

    def command(args) -> list[str]:
        return [arg for arg in masked_argv(args) if arg.split("=", 1)[0] not in ignore]

    if argv is not None and command(data.get("argv") or []) != command(argv):
        return "made with another command"
    # Not the folder it ran in: the inputs are compared by content, so a finished experiment that
    # was copied or moved (relative paths, as the recipe gives them) is still up to date.
    return inputs_changed(data)
