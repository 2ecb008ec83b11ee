"""Where the paper's datasets and the authors' supplementary data come from (the fetch registry).

Sources are the ones the authors' README and test script use:

* **ADVANCE** - Zenodo record 3828124, ``ADVANCE_sound.zip`` (the README unpacks it with
  ``7z e``, i.e. every WAV flattened into one folder).
* **AHEAD-DS** - the Hugging Face dataset ``hzhongresearch/ahead_ds`` (the README ``git clone``s
  it and moves the WAVs at its root).
* **TAU Urban Acoustic Scenes 2019, development** - Zenodo record 2589280 (DCASE 2019 task 1a),
  21 audio archives.
* **TAU Urban Audio-Visual Scenes 2021, development** - Zenodo record 4477542 (DCASE 2021 task
  1b), its 8 audio archives (the video archives are not needed).
* **Supplementary data** - the Hugging Face dataset ``hzhongresearch/auditoryhum_supplementary``:
  the CSVs at its root, named ``<prefix>_<mllm>_labels.csv`` (the published MLLM labels) and
  ``<prefix>_<mllm>_labels_annotations.csv`` (the human annotations), with prefixes ``advance``,
  ``ahead-ds``, ``tau2019`` and MLLM tags ``qwen2a``, ``qwen2_5o``, ``gemma3n_e2b``.

Checksums. Zenodo publishes an MD5 per file; those of the TAU and ADVANCE archives are recorded
here and verified. Their SHA-256 is not published, so it is recorded as unknown (``None``); the
fetch prints the SHA-256 it computes for every archive so a user can pin it here. Files from a
Hugging Face dataset are verified against the hashes the Hub lists for them (SHA-256 for files
stored in LFS, the git blob SHA-1 otherwise), so they need no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError

#: How an archive is unpacked once verified.
UNPACK_WAV = "wav"  # every *.wav member, flattened into the dataset's wav/ folder (like ``7z e``)
UNPACK_KEEP = "keep"  # kept as downloaded (documentation, metadata)

HF_ENDPOINT = "https://huggingface.co"  # overridden by the HF_ENDPOINT environment variable


@dataclass(frozen=True)
class Archive:
    """One file to download, with what is known about it."""

    url: str
    filename: str
    sha256: str | None  # None: not published; the fetch prints the computed one so it can be pinned
    md5: str | None = None  # as Zenodo publishes it
    size: int | None = None  # bytes, where published
    unpack: str = UNPACK_WAV


@dataclass(frozen=True)
class HubFiles:
    """Every file at the root of a Hugging Face dataset repository whose name matches ``pattern``.

    The list (and each file's hash) is read from the Hub at fetch time."""

    repo: str  # e.g. "hzhongresearch/ahead_ds"
    pattern: str  # fnmatch pattern on the file name, e.g. "*.wav"
    revision: str = "main"


Source = Archive | HubFiles


@dataclass(frozen=True)
class Dataset:
    name: str  # what --datasets takes, and the folder name under data/ and exp/
    title: str
    homepage: str
    licence: str
    sources: tuple[Source, ...]
    #: prefix of this dataset's files in the supplementary data ("" where it has none)
    supplementary_prefix: str = ""
    #: True for the authors' supplementary CSVs, which go to data/supplementary/, not to a wav/ folder
    is_supplementary: bool = False

    @property
    def size(self) -> int | None:
        """Total download size in bytes where every size is published, else None."""
        sizes = [source.size for source in self.sources if isinstance(source, Archive)]
        if len(sizes) != len(self.sources) or any(size is None for size in sizes):
            return None
        return sum(sizes)


def _zenodo(record: int, filename: str, md5: str, size: int | None = None, unpack: str = UNPACK_WAV) -> Archive:
    return Archive(
        url=f"https://zenodo.org/records/{record}/files/{filename}?download=1",
        filename=filename,
        sha256=None,
        md5=md5,
        size=size,
        unpack=unpack,
    )


_TAU2019 = "TAU-urban-acoustic-scenes-2019-development"
_TAU2019_AUDIO_MD5 = (
    "aca4ebfd9ed03d5f747d6ba8c24bc728", "c4f170408ce77c8c70c532bf268d7be0", "c7214a07211f10f3250290d05e72c37e",
    "a6a62110f6699cf4432072acb1dffda6", "091a0b6d3c84b8e60e46940aa7d4a8a0", "114f4ca13e074391b98a1cfd8140de65",
    "5951dd2968f7a514e2afbe279c4f060d", "b0b63dc95b327e1509857c8d8a663cc3", "3c32a693a6b111ffb957be3c1dd22e9b",
    "0ffbf60006da520cc761fb74c878b98b", "599055d93b4c11057c29be2df54538d4", "98b8d162ff3665695c4c910e6c372cc8",
    "a356c08b1a5a21d433eba37ef87587f4", "f8969771e7faf7dd471d1cf78b0cf011", "4758c4b0fb7484faa632266e78850820",
    "a18acad9ede8ea76574216feb887f0bc", "1af7703484632f340da5c33662dc9632", "b67402bf3e08f4da394a7c18756c0fd2",
    "035db315f19106eb848b6f9b32bcc47c", "9cb28c74911bf8a3eadcf53f50a5b5d6", "0e44ed85c88ec036a9725b4dd1dfaea0",
)

_TAU2021 = "TAU-urban-audio-visual-scenes-2021-development"
_TAU2021_AUDIO = (  # (md5, bytes) of audio.1 .. audio.8
    ("186f6273f8f69ed9dbdc18ad65ac234f", 4349202707), ("7fd6bb63127f5785874a55aba4e77aa5", 4490960726),
    ("61396bede29d7c8c89729a01a6f6b2e2", 4223486056), ("6ddac89717fcf9c92c451868eed77fe1", 4172854493),
    ("af4820756cdf1a7d4bd6037dc034d384", 4185568337), ("ebd11ec24411f2a17a64723bd4aa7fff", 4215402064),
    ("2be39a76aeed704d5929d020a2909efd", 4407222915), ("972d8afe0874720fc2f28086e7cb22a9", 345864456),
)

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="advance",
            title="ADVANCE (AuDio Visual Aerial sceNe reCognition datasEt), sound part",
            homepage="https://zenodo.org/records/3828124",
            licence="CC BY 4.0 (see the Zenodo record)",
            sources=(_zenodo(3828124, "ADVANCE_sound.zip", "a2d12f2d2a64f5c3d3a9d8c09aaf1c31"),),
            supplementary_prefix="advance",
        ),
        Dataset(
            name="ahead_ds",
            title="AHEAD-DS (auditory scene recognition for hearing devices)",
            homepage="https://huggingface.co/datasets/hzhongresearch/ahead_ds",
            licence="see the dataset card",
            sources=(HubFiles("hzhongresearch/ahead_ds", "*.wav"),),
            supplementary_prefix="ahead-ds",
        ),
        Dataset(
            name="tau2019",
            title="TAU Urban Acoustic Scenes 2019, development set (DCASE 2019 task 1a)",
            homepage="https://zenodo.org/records/2589280",
            licence="free for academic, non-commercial use (see the Zenodo record)",
            sources=tuple(
                _zenodo(2589280, f"{_TAU2019}.audio.{i}.zip", md5) for i, md5 in enumerate(_TAU2019_AUDIO_MD5, start=1)
            ) + (_zenodo(2589280, f"{_TAU2019}.meta.zip", "09782f2097e4735687af73c44919329c", unpack=UNPACK_KEEP),),
            supplementary_prefix="tau2019",
        ),
        Dataset(
            name="tau2021",
            title="TAU Urban Audio-Visual Scenes 2021, development set, audio (DCASE 2021 task 1b)",
            homepage="https://zenodo.org/records/4477542",
            licence="free for academic, non-commercial use (see the Zenodo record)",
            sources=tuple(
                _zenodo(4477542, f"{_TAU2021}.audio.{i}.zip", md5, size)
                for i, (md5, size) in enumerate(_TAU2021_AUDIO, start=1)
            ),
            supplementary_prefix="tau2021",
        ),
        Dataset(
            name="supplementary",
            title="AuditoryHuM supplementary data: published MLLM labels and human annotations",
            homepage="https://huggingface.co/datasets/hzhongresearch/auditoryhum_supplementary",
            licence="see the dataset card",
            sources=(HubFiles("hzhongresearch/auditoryhum_supplementary", "*.csv"),),
            is_supplementary=True,
        ),
    )
}

#: Upstream tag of each MLLM in the supplementary file names (``<prefix>_<tag>_labels.csv``).
SUPPLEMENTARY_MLLM_TAGS = {"qwen2a": "qwen2a", "qwen2_5o": "qwen2_5o", "gemma3n": "gemma3n_e2b"}


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise UserError(f"unknown dataset {name!r}: known are {', '.join(DATASETS)}") from None


def supplementary_name(dataset: str, mllm: str, kind: str) -> str:
    """File name of a supplementary CSV: ``kind`` is "labels" or "labels_annotations".

    Datasets not in the registry use their own name as prefix, so a user can drop their own
    annotations into data/supplementary/ under the same scheme."""
    entry = DATASETS.get(dataset)
    prefix = entry.supplementary_prefix if entry and entry.supplementary_prefix else dataset
    return f"{prefix}_{SUPPLEMENTARY_MLLM_TAGS.get(mllm, mllm)}_{kind}.csv"
