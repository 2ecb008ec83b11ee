"""Shared test fixtures: short WAV files and tiny random-weight checkpoints (built once per run)."""

from __future__ import annotations

import contextlib
import os
import tempfile

# Tests never reach a model hub; fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The t-SNE cache goes to a throw-away folder, not the user's ~/.cache.
os.environ.setdefault("AUDITORYHUM_CACHE", tempfile.mkdtemp(prefix="auditoryhum-test-cache-"))

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def pytest_configure(config):
    import torch
    from transformers.utils import logging as transformers_logging

    # pytest -n 2 runs one worker per core; more threads per worker only oversubscribe.
    torch.set_num_threads(1)
    # transformers gives its logger a handler on the stderr of the moment it first logs; made now,
    # that is the session's stderr, not the stream of whichever test came first (closed after it).
    transformers_logging.get_logger("transformers")


def write_tone(path: Path, seconds: float = 1.0, rate: int = 16000, freq: float = 440.0, channels: int = 1,
               subtype: str = "PCM_16", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
    data = np.stack([signal] * channels, axis=1) if channels > 1 else signal
    sf.write(path, data.astype(np.float32), rate, subtype=subtype)
    return path


def error_line(err: str) -> str:
    """The one ``error: ...`` line a script printed for bad input (warnings may come before it)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0] + "\n"


@pytest.fixture
def wav_dir(tmp_path) -> Path:
    """Four short 16 kHz mono WAVs with distinct content, named so sorting matters."""
    folder = tmp_path / "wavs"
    folder.mkdir()
    for i, name in enumerate(["b.wav", "a.wav", "d.wav", "c.wav"]):
        write_tone(folder / name, seconds=0.5 + 0.25 * i, freq=220.0 * (i + 1), seed=i)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """``tiny_checkpoint(name)`` -> folder of a tiny checkpoint, built once and shared by the
    xdist workers (a file lock keeps two workers from building the same one)."""
    from filelock import FileLock

    from auditoryhum.tiny_checkpoints import build

    # One folder per test session: under pytest-xdist each worker's basetemp is a child of the
    # session's, so the workers share it; a plain run uses its own basetemp.
    session_temp = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session_temp = session_temp.parent
    root = session_temp / "tiny_checkpoints"
    root.mkdir(exist_ok=True)

    def get(name: str) -> Path:
        folder = root / name
        with FileLock(str(root / f"{name}.lock")):
            if not (folder / ".complete").exists():
                build(name, folder)
                (folder / ".complete").touch()
        return folder

    return get


#: Chromium flags for a machine with no network but loopback (no background connections, no
#: first-run or sync traffic); Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (installed by setup.sh), driven by Playwright, one per test worker."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the browser tests need Debian's chromium: run ./setup.sh as root (or apt install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(page, name)``: a PNG of the page, in $AUDITORYHUM_SCREENSHOTS when set (the
    README's pictures: AUDITORYHUM_SCREENSHOTS=docs), else in the test's temporary folder."""
    folder = Path(os.environ.get("AUDITORYHUM_SCREENSHOTS") or tmp_path)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take


@contextlib.contextmanager
def labelling_stopped_after(batches: int):
    """A labelling run stopped as by Ctrl-C once ``batches`` batches are labelled: its partial
    output (lines and file list) stays, as a killed run's does."""
    from auditoryhum.labelling import LabelJob

    original, calls = LabelJob.read, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) > batches:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    LabelJob.read = staticmethod(stopping)
    try:
        yield
    finally:
        del LabelJob.read  # the engine's again


def partial_lines(output) -> list[str]:
    """The label lines an interrupted run kept for ``output`` (its store's pieces, in file order)."""
    folder = Path(f"{output}.partial")
    return [line for piece in sorted(folder.glob("*.csv")) for line in piece.read_text(encoding="utf-8").splitlines()]
