"""Shared plumbing for the console entry points.

Every script module in :mod:`auditoryhum.scripts` exposes ``get_parser()`` and ``main(argv=None)``.
``main`` is made by :func:`script`, which parses the flags, runs the work inside a
:class:`~auditoryhum.records.ScriptRun` (outputs locked, a run record written beside each main
output once it is complete) and is the error boundary: a :class:`~auditoryhum.errors.UserError` or
an ``OSError`` (a full disk, a read-only folder, a missing permission) becomes one line on stderr
and exit status 2, and Ctrl-C exits with 130 without a traceback.

Flags say what their value is with :func:`add_output`, :func:`add_input`, :func:`add_model` and
:func:`add_filedir_argument`, so the record knows which files the run read and wrote.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from typing import Callable

from . import records
from .errors import UserError
from .runtime import CUDA_4BIT, CUDA_BFLOAT16, CUDA_FLOAT32, DTYPES, Runtime, check_model_exists, resolve_runtime

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message comes (a caller that redirects stderr
    after the first script ran - a notebook, a test - still gets the messages, not an error)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler sets it; the property always answers sys.stderr
        pass


def _configure_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(logging.INFO)


def entry_point(func: Callable[..., int | None]) -> Callable[..., int]:
    """``func(argv)`` with the error boundary: one line and exit 2 for what a user can act on."""

    @functools.wraps(func)
    def wrapper(argv=None) -> int:
        _configure_logging()
        try:
            status = func(argv)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_status
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            print(f"error: {where}{err.strerror or err}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("interrupted; work finished so far is kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        return 0 if status is None else int(status)

    return wrapper


def script(get_parser: Callable[[], argparse.ArgumentParser], outputs_together: bool = False):
    """Decorator turning ``work(args, run) -> status`` into ``main(argv=None) -> exit status``.

    ``run`` is the :class:`~auditoryhum.records.ScriptRun`: the work sets its ``files``,
    ``parameters`` and ``results``; the record is written only when the work returns 0.
    ``outputs_together``: the run's outputs all appear when the work returns 0, or none does (for a
    script with several outputs that does not read them back).
    """

    def decorate(work: Callable[[argparse.Namespace, records.ScriptRun], int | None]) -> Callable[..., int]:
        @entry_point
        @functools.wraps(work)
        def main(argv=None) -> int | None:
            argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
            parser = get_parser()
            args = parse_args(parser, argv)
            _check_models(parser, args)
            with _script_run(parser, args, argv, outputs_together) as run:
                status = work(args, run)
                run.status = 0 if status is None else int(status)
            return run.status

        return main

    return decorate


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the example's layout and shows a flag's default where it has a meaningful one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in help_text:
            help_text += " (default: %(default)s)"
        return help_text


def make_parser(prog: str, description: str, example: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` ends with a copy-paste example, like the upstream README."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=HelpFormatter,
    )


#: argparse action attribute saying what a flag's value is
_ROLE = "record_role"
_OUTPUT, _EXTRA_OUTPUT = "output", "extra_output"
#: a flag that changes how the work is done, not its result (see ScriptRun.made_with)
_PROCEDURAL = "procedural"
_NOT_PARAMETERS = {"help", "cuda_default"}


def _mark(action: argparse.Action, role: str) -> argparse.Action:
    setattr(action, _ROLE, role)
    return action


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The flags; a glob the shell expanded (``--filedir *.wav`` unquoted gives argparse one file and
    the rest as stray arguments) is explained in one line instead of "unrecognized arguments"."""
    args, stray = parser.parse_known_args(argv)
    if stray:
        filedir = getattr(args, "filedir", None)
        if filedir and os.path.isfile(filedir) and all(os.path.exists(arg) for arg in stray):
            raise UserError(f"--filedir: the shell expanded the glob into {len(stray) + 1} files ({filedir}, "
                            f"{stray[0]}, ...) before this script saw it; quote it, e.g. --filedir=\"*.wav\"")
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    return args


def _check_models(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A model flag naming a folder that is not there stops at once, before any model code loads."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if getattr(action, _ROLE, None) == records.MODEL and value:
            check_model_exists(str(value), action.option_strings[0], action.model_what)


def _script_run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str],
                outputs_together: bool = False) -> records.ScriptRun:
    """The run record of this command line: outputs, inputs and models from the flags' roles,
    every other flag (defaults included, secrets left out) as a parameter."""
    outputs, inputs, parameters, procedural = [], [], {}, []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        role = getattr(action, _ROLE, None)
        flag = action.option_strings[0] if action.option_strings else action.dest
        if role in (_OUTPUT, _EXTRA_OUTPUT):
            if value:
                outputs.append((flag, str(value), role == _OUTPUT))
        elif role in (records.INPUT, records.MODEL):
            for one in (value if isinstance(value, list) else [value] if value else []):  # nargs="+": each
                inputs.append((flag, str(one), role))
        elif role in (None, _PROCEDURAL) and action.dest not in _NOT_PARAMETERS \
                and flag not in records.SECRET_FLAGS and action.default is not argparse.SUPPRESS:
            parameters[action.dest] = value
            if role == _PROCEDURAL:
                procedural.append(action.dest)
    return records.ScriptRun(parser.prog, argv, outputs, inputs, parameters, procedural, outputs_together)


def add_filedir_argument(parser: argparse.ArgumentParser) -> argparse.Action:
    return _mark(parser.add_argument(
        "--filedir",
        required=True,
        help='glob of the audio files, quoted so the shell does not expand it, e.g. "*.wav"; '
        "files are processed in sorted order and row i of every output belongs to the i-th file",
    ), records.AUDIO)


def add_output(parser, flag: str, *, extra: bool = False, **kwargs) -> argparse.Action:
    """An output file: locked while the run writes it; a main output gets a run record beside it,
    an ``extra`` one (a plot, a side file) is only listed in the record."""
    return _mark(parser.add_argument(flag, **kwargs), _EXTRA_OUTPUT if extra else _OUTPUT)


def add_input(parser, flag: str, **kwargs) -> argparse.Action:
    """An input file: its size and SHA-256 go into the record."""
    return _mark(parser.add_argument(flag, **kwargs), records.INPUT)


def add_model(parser, flag: str, what: str = "model folder", **kwargs) -> argparse.Action:
    """A model folder (or file, or hub id): its config's name, architectures and hash go into the
    record, and a value that names nothing stops the run before any model code loads (``what``:
    how the message calls it)."""
    action = _mark(parser.add_argument(flag, **kwargs), records.MODEL)
    action.model_what = what
    return action


def add_procedural(container, *args, **kwargs) -> argparse.Action:
    """A flag (of a parser or an argument group) that changes how the work is done but not its
    result - a batch size, a backend, retries: a run resumed with another value continues the same
    output."""
    return _mark(container.add_argument(*args, **kwargs), _PROCEDURAL)


def require_at_least_one(value: int, flag: str) -> None:
    if value < 1:
        raise UserError(f"{flag}={value}: must be at least 1")





_AUTO_DTYPE_HELP = {
    CUDA_4BIT: "auto = 4-bit NF4 with bf16 compute on CUDA (as the published runs), float32 on CPU",
    CUDA_FLOAT32: "auto = float32 (as the published runs); bfloat16 only when asked",
    CUDA_BFLOAT16: "auto = bfloat16 on CUDA, float32 on CPU",
}


def add_runtime_arguments(parser: argparse.ArgumentParser, cuda_default: str) -> None:
    """``--device``, ``--dtype`` and ``--load_in_4bit``; ``cuda_default`` is what ``--dtype auto``
    means on CUDA for this script's kind of model (``runtime.CUDA_4BIT``, ...)."""
    group = parser.add_argument_group("runtime")
    group.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    group.add_argument("--dtype", default="auto", choices=DTYPES,
                       help=f"weights dtype; {_AUTO_DTYPE_HELP[cuda_default]}")
    group.add_argument(
        "--load_in_4bit",
        action="store_true",
        help="load weights 4-bit (NF4, double quantisation, bf16 compute) with bitsandbytes, as the "
        "published runs did; needs CUDA",
    )
    parser.set_defaults(cuda_default=cuda_default)


def runtime_from_args(args: argparse.Namespace, run: records.ScriptRun | None = None) -> Runtime:
    """The resolved runtime of the runtime flags, noted in ``run``'s parameters."""
    runtime = resolve_runtime(args.device, args.dtype, args.load_in_4bit, args.cuda_default)
    if run is not None:
        run.record_runtime(runtime)
    return runtime
