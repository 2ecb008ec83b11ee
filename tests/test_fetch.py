"""The dataset fetch stage against a local file server on 127.0.0.1 (no network needed).

The server serves small zip/tar archives of short WAV recordings and a fake Hugging Face tree API.
It honours HTTP Range requests (or, on request, ignores them), and can drop a connection half-way
through a body, so resuming, checksum verification, unpacking and the Hub listing are all exercised.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import write_tone
from local_file_server import FileServer, git_blob_sha1

from auditoryhum import datasets, fetch
from auditoryhum.scripts import fetch_data
from auditoryhum.datasets import Archive, Dataset, HubFiles
from auditoryhum.errors import UserError


@pytest.fixture
def server():
    with FileServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_PAUSE_SECONDS", 0)


def wav_bytes(tmp_path: Path, name: str, seed: int) -> bytes:
    return write_tone(tmp_path / name, seconds=0.3, freq=200.0 + 100 * seed, seed=seed).read_bytes()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_gz_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def register(monkeypatch, dataset: Dataset) -> None:
    monkeypatch.setitem(datasets.DATASETS, dataset.name, dataset)


# ----------------------------------------------------------------------------------------------
# download


def test_download_resumes_after_a_dropped_connection(server, tmp_path):
    data = bytes(range(256)) * 400
    server.files["/big.bin"] = data
    server.cut_after["/big.bin"] = 30000
    dest = fetch.download(f"{server.url}/big.bin", tmp_path / "big.bin", expected_size=len(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests == [("/big.bin", None), ("/big.bin", "bytes=30000-")]
    assert not (tmp_path / "big.bin.part").exists()


def test_download_continues_a_partial_file_from_an_earlier_run(server, tmp_path):
    data = b"0123456789" * 1000
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:1234])
    fetch.download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.requests == [("/f.bin", "bytes=1234-")]


def test_download_restarts_when_the_server_ignores_range(server, tmp_path):
    data = b"abcdefgh" * 500
    server.files["/f.bin"] = data
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from elsewhere")
    fetch.download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data


def test_download_of_a_missing_file_is_one_line(server, tmp_path):
    with pytest.raises(UserError, match=r"cannot download .*/nope\.zip: HTTP 404"):
        fetch.download(f"{server.url}/nope.zip", tmp_path / "nope.zip", progress=False)


# ----------------------------------------------------------------------------------------------
# archives


@pytest.fixture
def tiny_dataset(server, tmp_path, monkeypatch):
    """Two archives of example-like recordings (a zip with nested folders, a tar.gz) and a kept metadata zip."""
    wavs = {f"{prefix}_{i}.wav": wav_bytes(tmp_path, f"src{prefix}{i}.wav", seed=i + 3 * (prefix == "b"))
            for prefix in ("a", "b") for i in range(2)}
    zip_data = zip_of({f"sound/class{i}/a_{i}.wav": wavs[f"a_{i}.wav"] for i in range(2)} | {"sound/readme.txt": b"x"})
    tar_data = tar_gz_of({f"audio/b_{i}.wav": wavs[f"b_{i}.wav"] for i in range(2)})
    meta_data = zip_of({"meta.csv": b"file,label\n"})
    for name, data in (("a.zip", zip_data), ("b.tar.gz", tar_data), ("meta.zip", meta_data)):
        server.files[f"/{name}"] = data
    dataset = Dataset(
        name="tiny", title="tiny test dataset", homepage=server.url, licence="test",
        sources=(
            Archive(f"{server.url}/a.zip", "a.zip", sha256=hashlib.sha256(zip_data).hexdigest(),
                    md5=hashlib.md5(zip_data).hexdigest(), size=len(zip_data)),
            Archive(f"{server.url}/b.tar.gz", "b.tar.gz", sha256=None, md5=hashlib.md5(tar_data).hexdigest()),
            Archive(f"{server.url}/meta.zip", "meta.zip", sha256=None, unpack=datasets.UNPACK_KEEP),
        ),
    )
    register(monkeypatch, dataset)
    return dataset, wavs, {"a.zip": zip_data, "b.tar.gz": tar_data}


def test_fetch_verifies_unpacks_flat_and_prints_sha256(tiny_dataset, server, tmp_path, capsys):
    _, wavs, archives = tiny_dataset
    data_dir = tmp_path / "data"
    assert fetch_data.main(["--datasets", "tiny", "--data_dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    wav_dir = data_dir / "tiny" / "wav"
    assert sorted(p.name for p in wav_dir.iterdir()) == sorted(wavs)
    for name, data in wavs.items():
        assert (wav_dir / name).read_bytes() == data
    assert f"sha256 {hashlib.sha256(archives['b.tar.gz']).hexdigest()}  b.tar.gz" in out
    assert "no published checksum: pin this sha256" in out
    assert "verified: size, md5, sha256" in out
    downloads = data_dir / "tiny" / "download"
    # unpacked archives are replaced by markers holding their sha256; the metadata archive is kept
    assert (downloads / "a.zip.done").read_text().strip() == hashlib.sha256(archives["a.zip"]).hexdigest()
    assert not (downloads / "a.zip").exists() and (downloads / "meta.zip").exists()


def test_second_fetch_downloads_nothing(tiny_dataset, server, tmp_path, capsys):
    data_dir = tmp_path / "data"
    fetch_data.main(["--datasets", "tiny", "--data_dir", str(data_dir)])
    fetched = len(server.requests)
    assert fetch_data.main(["--datasets", "tiny", "--data_dir", str(data_dir)]) == 0
    assert len(server.requests) == fetched
    assert capsys.readouterr().err.count("already done") == 2


def test_checksum_mismatch_stops_and_keeps_the_file_aside(tiny_dataset, server, tmp_path, monkeypatch, capsys):
    dataset, _, _ = tiny_dataset
    bad = Archive(dataset.sources[1].url, "b.tar.gz", sha256=None, md5="0" * 32)
    register(monkeypatch, Dataset("tiny", "t", "h", "l", (bad,)))
    assert fetch_data.main(["--datasets", "tiny", "--data_dir", str(tmp_path / "data")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "md5 is" in errors[0] and "0" * 32 in errors[0]
    downloads = tmp_path / "data" / "tiny" / "download"
    assert (downloads / "b.tar.gz.corrupt").exists() and not (downloads / "b.tar.gz").exists()
    assert not (tmp_path / "data" / "tiny" / "wav").exists()


def test_interrupted_archive_resumes_on_the_next_run(tiny_dataset, server, tmp_path, monkeypatch, capsys):
    _, wavs, _ = tiny_dataset
    monkeypatch.setattr(fetch, "ATTEMPTS", 1)  # no retry within the run: the run stops
    server.cut_after["/a.zip"] = 100
    data_dir = tmp_path / "data"
    assert fetch_data.main(["--datasets", "tiny", "--data_dir", str(data_dir)]) == 2
    assert "partial file kept" in capsys.readouterr().err
    assert (data_dir / "tiny" / "download" / "a.zip.part").stat().st_size == 100
    assert fetch_data.main(["--datasets", "tiny", "--data_dir", str(data_dir)]) == 0
    assert server.data_requests()[1] == ("/a.zip", "bytes=100-")
    assert (data_dir / "tiny" / "wav" / "a_0.wav").read_bytes() == wavs["a_0.wav"]


def test_flattening_two_different_wavs_of_one_name_is_refused(server, tmp_path, monkeypatch, capsys):
    data = zip_of({"x/same.wav": wav_bytes(tmp_path, "1.wav", 1), "y/same.wav": wav_bytes(tmp_path, "2.wav", 2)[:-10]})
    server.files["/c.zip"] = data
    register(monkeypatch, Dataset("clash", "t", "h", "l", (Archive(f"{server.url}/c.zip", "c.zip", None),)))
    assert fetch_data.main(["--datasets", "clash", "--data_dir", str(tmp_path / "data")]) == 2
    assert "two different WAV files are named same.wav" in capsys.readouterr().err


def test_damaged_archive_is_one_line_and_leaves_no_partial_wav(server, tmp_path, monkeypatch, capsys):
    data = bytearray(zip_of({"a/x_1.wav": wav_bytes(tmp_path, "1.wav", 1)}))
    data[200:210] = b"\xff" * 10  # inside the member's data: its CRC no longer matches
    server.files["/d.zip"] = bytes(data)
    register(monkeypatch, Dataset("damaged", "t", "h", "l", (Archive(f"{server.url}/d.zip", "d.zip", None),)))
    assert fetch_data.main(["--datasets", "damaged", "--data_dir", str(tmp_path / "data")]) == 2
    assert "cannot unpack x_1.wav" in capsys.readouterr().err
    assert list((tmp_path / "data" / "damaged" / "wav").iterdir()) == []


def test_dry_run_prints_the_plan_and_fetches_nothing(tiny_dataset, server, tmp_path, capsys):
    data_dir = tmp_path / "data"
    assert fetch_data.main(["--datasets", "tiny", "tau2019", "--data_dir", str(data_dir), "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert server.requests == [] and not data_dir.exists()
    assert f"[missing] {server.url}/a.zip" in out
    assert "sha256 unknown (printed after download)" in out
    tau_lines = [line for line in out.splitlines() if "zenodo.org/records/2589280/files/TAU-urban" in line]
    assert len(tau_lines) == 22  # 21 audio archives and the metadata
    assert "md5 aca4ebfd9ed03d5f747d6ba8c24bc728" in out
    assert out.rstrip().endswith("dry run: nothing fetched")


def test_unknown_dataset_is_one_line_before_any_download(server, tmp_path, capsys):
    assert fetch_data.main(["--datasets", "tau2019", "nosuch", "--data_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown dataset 'nosuch': known are " + ", ".join(datasets.DATASETS)


# ----------------------------------------------------------------------------------------------
# Hugging Face datasets


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    """A fake dataset repo: two WAVs in LFS, one CSV not in LFS, a sub-folder and a README; the
    tree listing comes in two pages."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    files = {"x_1.wav": wav_bytes(tmp_path, "h1.wav", 5), "x_2.wav": wav_bytes(tmp_path, "h2.wav", 6),
             "notes.csv": b"traffic noise\n\ncar horn\n"}
    for name, data in files.items():
        server.files[f"/datasets/someone/ds/resolve/main/{name}"] = data

    def lfs(name):
        return {"type": "file", "path": name, "size": len(files[name]), "oid": "f" * 40,
                "lfs": {"oid": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}}

    page1 = [lfs("x_1.wav"), {"type": "directory", "path": "sub", "oid": "d" * 40, "size": 0},
             {"type": "file", "path": "README.md", "size": 3, "oid": "e" * 40}]
    page2 = [lfs("x_2.wav"), {"type": "file", "path": "notes.csv", "size": len(files["notes.csv"]),
                              "oid": git_blob_sha1(files["notes.csv"])}]
    tree = "/api/datasets/someone/ds/tree/main"
    server.json[tree] = (page1, f'<{server.url}{tree}?cursor=2>; rel="next"')
    server.json[f"{tree}?cursor=2"] = (page2, "")
    register(monkeypatch, Dataset("hubwav", "t", "h", "l", (HubFiles("someone/ds", "*.wav"),)))
    register(monkeypatch, Dataset("hubcsv", "t", "h", "l", (HubFiles("someone/ds", "*.csv"),), is_supplementary=True))
    return files


def test_hub_files_are_listed_across_pages_and_verified(hub, server, tmp_path, capsys):
    data_dir = tmp_path / "data"
    assert fetch_data.main(["--datasets", "hubwav", "hubcsv", "--data_dir", str(data_dir), "--jobs", "2"]) == 0
    assert sorted(p.name for p in (data_dir / "hubwav" / "wav").iterdir()) == ["x_1.wav", "x_2.wav"]
    assert (data_dir / "hubwav" / "wav" / "x_2.wav").read_bytes() == hub["x_2.wav"]
    assert (data_dir / "hubcsv" / "notes.csv").read_bytes() == hub["notes.csv"]  # supplementary: no wav/ folder
    out = capsys.readouterr().out
    assert "someone/ds: 2 downloaded, 0 already present" in out

    before = len(server.data_requests())
    fetch_data.main(["--datasets", "hubwav", "--data_dir", str(data_dir)])
    assert len(server.data_requests()) == before  # intact files are not downloaded again
    assert "0 downloaded, 2 already present" in capsys.readouterr().out


def test_hub_file_with_wrong_content_is_refused(hub, server, tmp_path, capsys):
    server.files["/datasets/someone/ds/resolve/main/notes.csv"] = b"x" * len(hub["notes.csv"])  # same size
    assert fetch_data.main(["--datasets", "hubcsv", "--data_dir", str(tmp_path / "data")]) == 2
    assert "git_sha1 is" in capsys.readouterr().err
    assert not (tmp_path / "data" / "hubcsv" / "notes.csv").exists()


def test_supplementary_names_follow_the_published_scheme():
    assert datasets.supplementary_name("ahead_ds", "gemma3n", "labels_annotations") == \
        "ahead-ds_gemma3n_e2b_labels_annotations.csv"
    assert datasets.supplementary_name("tau2019", "qwen2_5o", "labels") == "tau2019_qwen2_5o_labels.csv"
    assert datasets.supplementary_name("mydata", "qwen2a", "labels") == "mydata_qwen2a_labels.csv"


# ----------------------------------------------------------------------------------------------
# the authors' dataset scripts


@pytest.mark.parametrize("script, dataset", [("tau2019.sh", "tau2019"), ("tau2021.sh", "tau2021")])
def test_the_authors_tau_scripts_put_every_wav_in_the_current_folder(script, dataset, tiny_dataset, server,
                                                                     tmp_path):
    """./tau2019.sh as the authors' README runs it: the WAVs end up beside it, verified. The registry
    entry is pointed at the local server's archives (in the script's own Python, by sitecustomize)."""
    import os
    import subprocess

    _, wavs, _ = tiny_dataset
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import dataclasses, auditoryhum.datasets as d\n"
        f"d.DATASETS[{dataset!r}] = dataclasses.replace(d.DATASETS[{dataset!r}], sources=("
        + ", ".join(f"d.{source!r}" for source in tiny_dataset[0].sources) + "))\n")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=f"{hook}{os.pathsep}{Path(fetch.__file__).parents[1]}")
    repo = Path(fetch.__file__).resolve().parents[1]
    done = subprocess.run(["bash", str(repo / script)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in work.glob("*.wav")) == sorted(wavs)
    assert all((work / name).read_bytes() == data for name, data in wavs.items())
    assert "verified: size, md5, sha256" in done.stdout
    # a second run downloads nothing
    requests = len(server.requests)
    assert subprocess.run(["bash", str(repo / script)], cwd=work, env=env, capture_output=True,
                          timeout=120).returncode == 0
    assert len(server.requests) == requests
