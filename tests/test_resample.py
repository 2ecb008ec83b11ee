"""util_resample.py: converts in place, never loses or half-writes an input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_tone

from auditoryhum.resample import Converter, Status, Target
from auditoryhum.scripts.util_resample import main

WRAPPER = Path(__file__).resolve().parents[1] / "util_resample.py"
TARGET_FLAGS = ["--sampling_rate", "16000", "--bits", "s16", "--channels", "1", "--jobs", "2"]


def leftovers(folder: Path) -> list[str]:
    """Anything in the folder that is not one of the test's own files."""
    return sorted(p.name for p in folder.iterdir() if ".resample-" in p.name or p.suffix == ".tmp")


# Bodies for a stand-in ffmpeg shell script; $in and $out are its input and output files.
HANGS_HALF_WAY = 'printf RIFF > "$out"; exec sleep 60'  # a conversion interrupted half-way


def fake_ffmpeg(folder: Path, body: str = HANGS_HALF_WAY) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ffmpeg"
    script.write_text(
        '#!/bin/sh\nprev=""; for arg; do [ "$prev" = "-i" ] && in="$arg"; prev="$arg"; out="$arg"; done\n'
        + body + "\n"
    )
    script.chmod(0o755)
    return script


def test_corrupt_input_is_left_untouched_and_the_rest_converted(tmp_path, capsys):
    write_tone(tmp_path / "a.wav", seconds=0.5, rate=44100, channels=2, subtype="FLOAT")
    write_tone(tmp_path / "c.wav", seconds=0.5, rate=22050, channels=1, subtype="PCM_24")
    corrupt = tmp_path / "b.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    corrupt_bytes = corrupt.read_bytes()

    status = main(["--filedir", str(tmp_path / "*.wav"), *TARGET_FLAGS])

    assert status == 1
    assert corrupt.read_bytes() == corrupt_bytes
    for name in ("a.wav", "c.wav"):
        info = sf.info(str(tmp_path / name))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - 0.5) < 0.01
    out, err = capsys.readouterr()
    assert "converted 2, already in format 0, failed 1" in out
    assert f"{corrupt}" in err and "left untouched" in err
    assert leftovers(tmp_path) == []

    # --allow_failures: the same report, exit 0 while some file is usable; 1 when none is
    assert main(["--filedir", str(tmp_path / "*.wav"), *TARGET_FLAGS, "--allow_failures"]) == 0
    assert "already in format 2, failed 1" in capsys.readouterr().out
    assert main(["--filedir", str(corrupt), *TARGET_FLAGS, "--allow_failures"]) == 1
    assert corrupt.read_bytes() == corrupt_bytes


def test_stereo_float_44k_becomes_mono_s16_16k_with_the_same_sound(tmp_path):
    path = write_tone(tmp_path / "x.wav", seconds=1.0, rate=44100, channels=2, subtype="FLOAT", freq=440.0)
    mode = 0o640
    path.chmod(mode)

    assert main(["--filedir", str(tmp_path / "*.wav"), *TARGET_FLAGS]) == 0

    data, rate = sf.read(str(path), dtype="float32")
    info = sf.info(str(path))
    assert (rate, data.ndim, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
    assert abs(len(data) - 16000) <= 16
    # The 440 Hz tone survives: the strongest frequency of the converted file is still 440 Hz.
    spectrum = np.abs(np.fft.rfft(data))
    assert abs(spectrum.argmax() * rate / len(data) - 440.0) < 2.0
    assert path.stat().st_mode & 0o777 == mode


def test_files_already_in_format_are_skipped_untouched(tmp_path, capsys):
    done = write_tone(tmp_path / "done.wav", seconds=0.3, rate=16000, channels=1, subtype="PCM_16")
    os.utime(done, (1_000_000_000, 1_000_000_000))
    before = (done.read_bytes(), done.stat().st_mtime_ns)
    write_tone(tmp_path / "todo.wav", seconds=0.3, rate=8000, channels=1, subtype="PCM_16")

    assert main(["--filedir", str(tmp_path / "*.wav"), *TARGET_FLAGS]) == 0

    assert (done.read_bytes(), done.stat().st_mtime_ns) == before
    assert "converted 1, already in format 1, failed 0" in capsys.readouterr().out
    # A second run has nothing left to do.
    assert main(["--filedir", str(tmp_path / "*.wav"), *TARGET_FLAGS]) == 0
    assert "converted 0, already in format 2, failed 0" in capsys.readouterr().out


def test_other_sample_formats_and_channel_counts(tmp_path):
    path = write_tone(tmp_path / "x.wav", seconds=0.4, rate=16000, channels=1)
    assert main(["--filedir", str(path), "--sampling_rate", "8000", "--bits", "flt", "--channels", "2"]) == 0
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 2, "FLOAT")


def test_dry_run_changes_nothing(tmp_path, capsys):
    path = write_tone(tmp_path / "x.wav", seconds=0.3, rate=44100)
    before = path.read_bytes()
    assert main(["--filedir", str(tmp_path / "*.wav"), "--dry_run"]) == 0
    assert path.read_bytes() == before
    out = capsys.readouterr().out
    assert f"would convert: {path}" in out and "1 to convert, 0 already in format" in out


def test_missing_ffmpeg_is_one_line_and_inputs_untouched(tmp_path, monkeypatch, capsys):
    path = write_tone(tmp_path / "x.wav", seconds=0.3, rate=44100)
    before = path.read_bytes()
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    assert main(["--filedir", str(tmp_path / "*.wav")]) == 2

    assert path.read_bytes() == before
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ffmpeg not found" in err


def test_empty_glob_is_one_line(tmp_path, capsys):
    assert main(["--filedir", str(tmp_path / "*.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "matches no files" in err


def test_bad_values_are_user_errors(tmp_path, capsys):
    write_tone(tmp_path / "x.wav", seconds=0.2)
    assert main(["--filedir", str(tmp_path / "*.wav"), "--sampling_rate", "0"]) == 2
    assert "--sampling_rate=0" in capsys.readouterr().err


def test_non_wav_file_is_reported_not_overwritten(tmp_path, capsys):
    flac = tmp_path / "x.flac"
    sf.write(str(flac), [0.1, -0.1] * 2000, 44100, format="FLAC")
    before = flac.read_bytes()
    assert main(["--filedir", str(flac)]) == 1
    assert flac.read_bytes() == before
    assert "not a .wav file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body, reason",
    [
        ('echo "Invalid data found when processing input" >&2; exit 1', "ffmpeg failed: Invalid data found"),
        (': > "$out"', "ffmpeg output does not decode"),
        ('cp "$in" "$out"', "ffmpeg output is (44100, 1, 'PCM_16'), expected (16000, 1, 'PCM_16')"),
    ],
    ids=["ffmpeg-fails", "empty-output", "wrong-format-output"],
)
def test_a_bad_conversion_never_replaces_the_original(tmp_path, monkeypatch, capsys, body, reason):
    path = write_tone(tmp_path / "x.wav", seconds=0.3, rate=44100)
    before = path.read_bytes()
    monkeypatch.setenv("PATH", f"{fake_ffmpeg(tmp_path, body).parent}{os.pathsep}{os.environ['PATH']}")

    assert main(["--filedir", str(path), *TARGET_FLAGS]) == 1

    assert path.read_bytes() == before
    assert reason in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_a_truncated_conversion_is_caught_by_its_length(tmp_path):
    path = write_tone(tmp_path / "x.wav", seconds=1.0, rate=16000, subtype="PCM_24")
    before = path.read_bytes()
    (tmp_path / "elsewhere").mkdir()
    short = write_tone(tmp_path / "elsewhere" / "short.wav", seconds=0.5, rate=16000)
    converter = Converter(Target(16000, 1, "s16"), str(fake_ffmpeg(tmp_path, f'cp "{short}" "$out"')))

    outcome = converter.convert(str(path))

    assert outcome.status is Status.FAILED and "lasts 0.500 s but the original lasts 1.000 s" in outcome.reason
    assert path.read_bytes() == before


def test_cancel_mid_conversion_keeps_original_and_leaves_no_temp_file(tmp_path):
    path = write_tone(tmp_path / "x.wav", seconds=0.3, rate=44100)
    before = path.read_bytes()
    converter = Converter(Target(16000, 1, "s16"), str(fake_ffmpeg(tmp_path)))
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(converter.convert(str(path))))
    worker.start()
    _wait_for(lambda: any(".resample-" in p.name and p.stat().st_size for p in tmp_path.iterdir()))

    converter.cancel()
    worker.join(timeout=10)

    assert outcomes[0].status is Status.FAILED and outcomes[0].reason == "cancelled"
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_killed_run_keeps_originals_and_leaves_no_temp_file(tmp_path):
    files = [write_tone(tmp_path / f"{i}.wav", seconds=0.3, rate=44100, seed=i) for i in range(3)]
    before = [path.read_bytes() for path in files]
    env = dict(os.environ, PATH=f"{fake_ffmpeg(tmp_path).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.Popen(
        [sys.executable, str(WRAPPER), "--filedir", str(tmp_path / "*.wav"), "--jobs", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for(lambda: sum(".resample-" in p.name for p in tmp_path.iterdir()) == 2)

    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=20)

    assert run.returncode == 130, err
    assert [path.read_bytes() for path in files] == before
    assert leftovers(tmp_path) == []


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
