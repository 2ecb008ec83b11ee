"""setup.sh's package step: another apt holding the lock is waited for (bounded, with a message),
not a failure with status 100. A stand-in apt-get on PATH plays the package manager."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "env" / "install_debian_packages.sh"
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"


def fake_apt_get(folder: Path, locked_calls: int) -> Path:
    """An apt-get that fails as a held lock does for its first ``locked_calls`` calls, then works;
    each call is logged."""
    script = folder / "apt-get"
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {folder}/calls
n=$(wc -l < {folder}/calls)
if (( n <= {locked_calls} )); then echo "{LOCKED}" >&2; exit 100; fi
""")
    script.chmod(0o755)
    (folder / "sleep").write_text("#!/usr/bin/env bash\nexit 0\n")  # no real waiting in the test
    (folder / "sleep").chmod(0o755)
    return folder


def run_install(folder: Path, wait: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}", AUDITORYHUM_APT_LOCK_WAIT=str(wait))
    return subprocess.run(["bash", str(INSTALL), "ffmpeg"], env=env, capture_output=True, text=True, timeout=60)


def test_a_held_lock_is_waited_for_then_the_install_goes_on(tmp_path):
    result = run_install(fake_apt_get(tmp_path, locked_calls=2), wait=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("waiting for the package manager's lock") == 1
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [call.split()[2] for call in calls] == ["update"] * 3 + ["install"]


def test_a_lock_held_too_long_is_one_clear_line(tmp_path):
    result = run_install(fake_apt_get(tmp_path, locked_calls=1000), wait=10)
    assert result.returncode == 100
    assert "error: the package manager's lock is still held after 10 s" in result.stderr
    assert "held by process 4242" in result.stderr


def test_another_failure_is_not_waited_for(tmp_path):
    script = tmp_path / "apt-get"
    script.write_text("#!/usr/bin/env bash\necho 'E: Unable to locate package ffmpeg' >&2\nexit 100\n")
    script.chmod(0o755)
    result = run_install(tmp_path, wait=60)
    assert result.returncode == 100 and "Unable to locate package ffmpeg" in result.stderr
    assert "waiting" not in result.stderr


def setup_copy(tmp_path: Path) -> tuple[Path, Path]:
    """setup.sh in a folder of its own whose environment is already installed, and a PATH with the
    tools it uses but neither ffmpeg nor chromium, an apt-get that logs what it is asked, and root."""
    repo = tmp_path / "repo"
    (repo / "env").mkdir(parents=True)
    for name in ("setup.sh", "requirements.txt", "requirements-nodeps.txt", "constraints.txt", "pyproject.toml"):
        (repo / name).write_bytes((REPO / name).read_bytes())
    for path in (REPO / "env").iterdir():
        (repo / "env" / path.name).write_bytes(path.read_bytes())
    (repo / "setup.sh").chmod(0o755)
    (repo / "env" / "install_debian_packages.sh").chmod(0o755)
    stamp = subprocess.run("cat requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml env/*.py | "
                           "sha256sum | cut -c1-16", shell=True, cwd=repo, capture_output=True, text=True).stdout.strip()
    (repo / ".venv").mkdir()
    (repo / ".venv" / f".installed-{stamp}").touch()
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "grep", "wc", "dirname"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (tools / tool).symlink_to(found)
    (tools / "id").write_text("#!/usr/bin/env bash\necho 0\n")
    (tools / "id").chmod(0o755)
    fake_apt_get(tools, locked_calls=0)
    return repo, tools


def test_setup_installs_ffmpeg_for_the_example_and_chromium_only_for_the_tests(tmp_path):
    repo, tools = setup_copy(tmp_path)
    env = {"PATH": str(tools), "HOME": str(tmp_path)}
    plain = subprocess.run(["bash", "setup.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert (tools / "calls").read_text().splitlines()[-1].endswith("install -y -qq ffmpeg")
    for_tests = subprocess.run(["bash", "setup.sh", "--with-browser"], cwd=repo, env=env, capture_output=True,
                               text=True, timeout=60)
    assert for_tests.returncode == 0, for_tests.stderr
    assert (tools / "calls").read_text().splitlines()[-1].endswith("install -y -qq ffmpeg chromium")
    assert "./setup.sh --with-browser" in (REPO / "run_tests.sh").read_text()
