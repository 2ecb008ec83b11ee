"""Download the paper's datasets and the authors' supplementary data (the recipe's stage 1).

    python -m auditoryhum.scripts.fetch_data --datasets tau2019 advance --data_dir data
    python -m auditoryhum.scripts.fetch_data --datasets ahead_ds supplementary --dry_run

Each dataset of :mod:`auditoryhum.datasets` goes to ``<data_dir>/<name>/``:

* ``download/`` - archives, downloaded to ``<archive>.part`` first. An interrupted download is
  resumed with an HTTP ``Range`` request (a server that ignores it is re-read from the start).
  A finished archive is checked against its published size and checksums, and its computed
  SHA-256 is printed so it can be pinned in the registry. A mismatch stops with one line, and the
  file is renamed ``<archive>.corrupt``. After unpacking, the archive is replaced by
  ``<archive>.done`` (holding its SHA-256) unless ``--keep_archives``; a re-run skips it.
* ``wav/`` - every ``*.wav`` member of the audio archives, flattened into one folder (as the
  authors' ``7z e``), or every WAV at the root of a Hugging Face dataset. Each file appears
  atomically; a name that two different members would share stops the fetch.

The supplementary CSVs go to ``<data_dir>/supplementary/``. Files from a Hugging Face dataset are
listed through the Hub API (``HF_ENDPOINT`` overrides the address) and checked against the hashes
it lists. Only the standard library is used for the network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .datasets import HF_ENDPOINT, UNPACK_KEEP, Archive, Dataset, HubFiles
from .errors import UserError, one_line
from .retry import Failure, GaveUp, RetryPolicy

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
ATTEMPTS = 5  # per file; each retry resumes where the previous attempt stopped
RETRY_PAUSE_SECONDS = 2  # doubled after every failed attempt (with jitter), up to the cap
RETRY_CAP_SECONDS = 60
#: What a dropped or stalled connection raises; anything else (a full disk, say) is not retried.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
USER_AGENT = "auditoryhum-fetch/1"


# ----------------------------------------------------------------------------------------------
# resumable download


def _request(url: str, start: int = 0) -> urllib.request.Request:
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers)


def download(url: str, dest: Path, expected_size: int | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial file; return ``dest``.

    Connection failures are retried (with a growing pause), each time resuming from the bytes
    already on disk. ``dest`` appears only once the whole body has arrived."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    policy = RetryPolicy(max_retries=ATTEMPTS - 1, base_seconds=RETRY_PAUSE_SECONDS, cap_seconds=RETRY_CAP_SECONDS)
    try:
        policy.call(lambda: _download_once(url, part, expected_size, progress), f"download of {url}",
                    _network_failure)
    except GaveUp as gave_up:
        if not gave_up.failure.retryable:
            raise UserError(f"cannot download {url}: {gave_up.failure.text}") from None
        raise UserError(f"cannot download {url} after {gave_up.attempts} attempts: {gave_up.failure.text} "
                        f"(partial file kept: {part}; re-run to resume)") from None
    os.replace(part, dest)
    return dest


def _network_failure(err: BaseException) -> Failure | None:
    """Dropped or stalled connections and server errors are worth another attempt (each resumes
    where the last stopped); a client error is not; anything else (a full disk) is not ours."""
    if isinstance(err, urllib.error.HTTPError):
        return Failure(f"HTTP {err.code} {err.reason}", err.code >= 500, err.code)
    if isinstance(err, NETWORK_ERRORS):
        return Failure(one_line(err), True)
    return None


def _download_once(url: str, part: Path, expected_size: int | None, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have == expected_size:
        return
    try:
        response = urllib.request.urlopen(_request(url, have), timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the partial file is already whole
            return
        raise
    with response:
        if have and response.status != 206:
            log.warning("%s: the server ignored the resume request; downloading from the start", url)
            have = 0
        total = _total_size(response, have)
        if expected_size is not None and total is not None and total != expected_size:
            raise UserError(f"{url}: the server offers {total} bytes but {expected_size} are expected")
        with open(part, "ab" if have else "wb") as handle, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress,
            leave=False,
        ) as bar:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    if total is not None and got < total:
        raise ConnectionError(f"connection closed after {got} of {total} bytes")


def _total_size(response, already: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    match = re.search(r"/(\d+)$", content_range)
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    return already + int(length) if length is not None else None


# ----------------------------------------------------------------------------------------------
# checksums


@dataclass(frozen=True)
class Hashes:
    size: int
    md5: str
    sha256: str
    git_sha1: str  # git's blob id, which the Hub lists for files not stored in LFS


def file_hashes(path: Path) -> Hashes:
    size = path.stat().st_size
    md5, sha256, git_sha1 = hashlib.md5(), hashlib.sha256(), hashlib.sha1()
    git_sha1.update(f"blob {size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            md5.update(chunk)
            sha256.update(chunk)
            git_sha1.update(chunk)
    return Hashes(size, md5.hexdigest(), sha256.hexdigest(), git_sha1.hexdigest())


def verify(path: Path, size: int | None = None, md5: str | None = None, sha256: str | None = None,
           git_sha1: str | None = None) -> Hashes:
    """Check ``path`` against every value given; on a mismatch rename it ``<path>.corrupt`` and stop."""
    hashes = file_hashes(path)
    expected = {"size": size, "md5": md5, "sha256": sha256, "git_sha1": git_sha1}
    for what, value in expected.items():
        if value is not None and str(getattr(hashes, what)).lower() != str(value).lower():
            corrupt = path.with_name(path.name + ".corrupt")
            os.replace(path, corrupt)
            raise UserError(f"{path}: {what} is {getattr(hashes, what)} but {value} was expected; "
                            f"moved to {corrupt} - delete it and re-run to download again")
    return hashes


# ----------------------------------------------------------------------------------------------
# unpacking


def _wav_members(archive_path: Path) -> Iterator[tuple[str, object]]:
    """(flattened name, opener) for every ``*.wav`` member of a zip or tar archive."""
    if zipfile.is_zipfile(archive_path):
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name
                if not info.is_dir() and name.lower().endswith(".wav"):
                    yield name, lambda info=info, archive=archive: archive.open(info)
    elif tarfile.is_tarfile(archive_path):
        with tarfile.open(archive_path) as archive:
            for member in archive:
                name = Path(member.name).name
                if member.isfile() and name.lower().endswith(".wav"):
                    yield name, lambda member=member, archive=archive: archive.extractfile(member)
    else:
        raise UserError(f"{archive_path}: neither a zip nor a tar archive")


def unpack_wavs(archive_path: Path, wav_dir: Path) -> int:
    """Copy every WAV member into ``wav_dir`` (flattened, each file atomic); return how many.

    A member whose name is already taken by a file of a different size (from another folder of the
    archive, or another archive) stops the unpacking: flattening would lose one of them."""
    wav_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    seen: set[str] = set()
    for name, opener in _wav_members(archive_path):
        target = wav_dir / name
        tmp = wav_dir / f".{name}.tmp"
        try:
            with opener() as source, open(tmp, "wb") as handle:
                shutil.copyfileobj(source, handle, CHUNK_BYTES)
        except NotImplementedError:  # e.g. Deflate64, which Python's zipfile cannot read
            tmp.unlink(missing_ok=True)
            raise UserError(f"{archive_path}: {name} uses a compression method Python cannot unpack; "
                            f"unpack it with 7z (7z e {archive_path} -o{wav_dir} '*.wav' -r) and re-run") from None
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as err:
            tmp.unlink(missing_ok=True)
            raise UserError(f"{archive_path}: cannot unpack {name} ({err}); the archive is damaged - "
                            "delete it and re-run") from None
        if name in seen or (target.exists() and target.stat().st_size != tmp.stat().st_size):
            tmp.unlink()
            raise UserError(f"{archive_path}: two different WAV files are named {name}; "
                            f"flattening them into {wav_dir} would lose one")
        os.replace(tmp, target)
        seen.add(name)
        count += 1
    return count


# ----------------------------------------------------------------------------------------------
# archives


@dataclass(frozen=True)
class Layout:
    """Where a dataset's files go."""

    root: Path  # <data_dir>/<name>, or <data_dir>/supplementary
    wav_folder: Path | None = None  # where the WAVs go, when not <root>/wav (the authors' tau2019.sh: here)

    @property
    def downloads(self) -> Path:
        return self.root / "download"

    @property
    def wav_dir(self) -> Path:
        return self.wav_folder or self.root / "wav"

    def hub_destination(self, dataset: Dataset) -> Path:
        """Hub files go to wav/, except the supplementary CSVs, which stay at the root."""
        return self.root if dataset.is_supplementary else self.wav_dir

    def done_marker(self, filename: str) -> Path:
        return self.downloads / f"{filename}.done"


def layout_for(dataset: Dataset, data_dir: Path, wav_dir: Path | None = None) -> Layout:
    return Layout(Path(data_dir) / dataset.name, wav_dir)


def archive_state(archive: Archive, layout: Layout) -> str:
    """"done", "downloaded", "partial (<n> bytes)" or "missing"."""
    if layout.done_marker(archive.filename).exists():
        return "done"
    path = layout.downloads / archive.filename
    if path.exists():
        return "downloaded"
    part = path.with_name(path.name + ".part")
    if part.exists():
        return f"partial ({part.stat().st_size} bytes)"
    return "missing"


def fetch_archive(archive: Archive, layout: Layout, keep_archives: bool) -> None:
    if archive_state(archive, layout) == "done":
        log.info("already done: %s", archive.filename)
        return
    path = layout.downloads / archive.filename
    if not path.exists():
        log.info("downloading %s", archive.url)
        download(archive.url, path, archive.size)
    hashes = verify(path, size=archive.size, md5=archive.md5, sha256=archive.sha256)
    checked = [what for what in ("size", "md5", "sha256") if getattr(archive, what) is not None]
    print(f"sha256 {hashes.sha256}  {archive.filename}  "
          f"({'verified: ' + ', '.join(checked) if checked else 'no published checksum: pin this sha256'})")
    if archive.unpack == UNPACK_KEEP:
        return
    count = unpack_wavs(path, layout.wav_dir)
    log.info("unpacked %d WAV files from %s into %s", count, archive.filename, layout.wav_dir)
    layout.done_marker(archive.filename).write_text(hashes.sha256 + "\n", encoding="utf-8")
    if not keep_archives:
        path.unlink()


# ----------------------------------------------------------------------------------------------
# Hugging Face datasets


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # files stored in LFS
    git_sha1: str | None  # other files


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", HF_ENDPOINT).rstrip("/")


def tree_url(source: HubFiles) -> str:
    return f"{hub_endpoint()}/api/datasets/{source.repo}/tree/{urllib.parse.quote(source.revision, safe='')}"


def file_url(source: HubFiles, path: str) -> str:
    return f"{hub_endpoint()}/datasets/{source.repo}/resolve/{source.revision}/{urllib.parse.quote(path)}"


def list_hub_files(source: HubFiles) -> list[HubFile]:
    """Files at the repository root matching the pattern, following the API's page links."""
    files = []
    url: str | None = tree_url(source)
    while url:
        try:
            with urllib.request.urlopen(_request(url), timeout=TIMEOUT_SECONDS) as response:
                entries = json.load(response)
                url = _next_link(response.headers.get("Link", ""))
        except NETWORK_ERRORS as err:
            raise UserError(f"cannot list the files of the Hugging Face dataset {source.repo} "
                            f"({url}): {one_line(err)}") from None
        except json.JSONDecodeError:
            raise UserError(f"{url}: the Hub answered something that is not JSON") from None
        for entry in entries:
            name = entry.get("path", "")
            if entry.get("type") != "file" or "/" in name or not fnmatch.fnmatch(name, source.pattern):
                continue
            lfs = entry.get("lfs") or {}
            size = int(lfs.get("size", entry.get("size", 0)))
            files.append(HubFile(name, size, lfs.get("oid") or lfs.get("sha256"),
                                 None if lfs else entry.get("oid")))
    return sorted(files, key=lambda f: f.path)


def _next_link(link_header: str) -> str | None:
    match = re.search(r'<([^>]+)>\s*;\s*rel="next"', link_header)
    return match.group(1) if match else None


def fetch_hub_file(source: HubFiles, hub_file: HubFile, dest_dir: Path, downloads: Path) -> bool:
    """Download and verify one file into ``dest_dir``; False when it was already there and intact."""
    target = dest_dir / hub_file.path
    if target.exists() and target.stat().st_size == hub_file.size and _matches(file_hashes(target), hub_file):
        return False
    staged = download(file_url(source, hub_file.path), downloads / hub_file.path, hub_file.size, progress=False)
    verify(staged, size=hub_file.size, sha256=hub_file.sha256, git_sha1=hub_file.git_sha1)
    os.replace(staged, target)
    return True


def _matches(hashes: Hashes, hub_file: HubFile) -> bool:
    if hub_file.sha256:
        return hashes.sha256 == hub_file.sha256
    return hub_file.git_sha1 is None or hashes.git_sha1 == hub_file.git_sha1


def fetch_hub_files(source: HubFiles, dest_dir: Path, downloads: Path, jobs: int) -> None:
    files = list_hub_files(source)
    if not files:
        raise UserError(f"the Hugging Face dataset {source.repo} has no file matching {source.pattern} at its root")
    dest_dir.mkdir(parents=True, exist_ok=True)
    downloads.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(tqdm(pool.map(lambda f: fetch_hub_file(source, f, dest_dir, downloads), files),
                            total=len(files), unit="file", desc=source.repo))
    print(f"{source.repo}: {sum(results)} downloaded, {len(files) - sum(results)} already present "
          f"({len(files)} files matching {source.pattern}, each verified against the Hub's hash) in {dest_dir}")


# ----------------------------------------------------------------------------------------------
# datasets


def fetch_dataset(dataset: Dataset, data_dir: Path, keep_archives: bool = False, jobs: int = 4,
                  wav_dir: Path | None = None) -> Layout:
    layout = layout_for(dataset, data_dir, wav_dir)
    layout.downloads.mkdir(parents=True, exist_ok=True)
    print(f"== {dataset.name}: {dataset.title} ({dataset.homepage}; licence: {dataset.licence})")
    for source in dataset.sources:
        if isinstance(source, Archive):
            fetch_archive(source, layout, keep_archives)
        else:
            fetch_hub_files(source, layout.hub_destination(dataset), layout.downloads, jobs)
    return layout


def describe_plan(dataset: Dataset, data_dir: Path, wav_dir: Path | None = None) -> list[str]:
    """What a fetch would do, without touching the network."""
    layout = layout_for(dataset, data_dir, wav_dir)
    size = dataset.size
    lines = [f"{dataset.name}: {dataset.title}; {len(dataset.sources)} source(s), "
             f"{_human_size(size) if size else 'total size not published'}"]
    for source in dataset.sources:
        if isinstance(source, Archive):
            checks = ", ".join(f"{what} {getattr(source, what)}" for what in ("md5", "sha256")
                               if getattr(source, what)) or "no published checksum"
            sha = "" if source.sha256 else "; sha256 unknown (printed after download)"
            target = layout.downloads if source.unpack == UNPACK_KEEP else layout.wav_dir
            lines.append(f"  [{archive_state(source, layout)}] {source.url} -> {layout.downloads / source.filename}"
                         f" ({_human_size(source.size) if source.size else 'size not published'}; {checks}{sha})"
                         f" -> {target}")
        else:
            lines.append(f"  every {source.pattern} at the root of {source.repo} (listed from {tree_url(source)}, "
                         f"each checked against the Hub's hash) -> {layout.hub_destination(dataset)}")
    return lines


def _human_size(size: int) -> str:
    units = ("B", "kB", "MB", "GB", "TB")
    exponent = min(len(str(size)) - 1, 3 * (len(units) - 1)) // 3
    return f"{size} B" if exponent == 0 else f"{size / 1000 ** exponent:.1f} {units[exponent]}"
