"""`pip install --requirement requirements.txt`, the authors' README line, gives a working suite:
every package any script of the suite imports is pinned there (torchvision and bitsandbytes
included), at the version installed here."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    """requirements.txt's ``name==version`` lines, by normalised name."""
    found = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[normalised(name)] = version
    return found


def imported_modules() -> dict[str, Path]:
    """Every top-level module the package and the top-level scripts import (at module level or
    inside functions), with a file that imports it."""
    found: dict[str, Path] = {}
    for path in sorted([*REPO.glob("*.py"), *(REPO / "auditoryhum").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


#: packages the scripts need that no file of the suite imports itself: the libraries load them
INDIRECT = {
    "torchvision": "the Qwen2.5-Omni and Qwen3-Omni processors (transformers), Gemma-3n's vision tower (timm)",
    "bitsandbytes": "4-bit NF4 loading on CUDA, the MLLM scripts' default there (transformers)",
    "timm": "Gemma-3n's vision tower (transformers)",
    "accelerate": "device_map loading (transformers)",
    "gguf": "composite_labels.py --llm_model=<file>.gguf (transformers)",
    "soundfile": "reading audio (librosa, the suite)",
}


def test_every_package_the_scripts_need_is_pinned_in_requirements_txt():
    requirements = pinned()
    assert not [name for name in INDIRECT if normalised(name) not in requirements], "an indirect need is not pinned"
    distributions = importlib.metadata.packages_distributions()
    outside = {module: path for module, path in imported_modules().items()
               if module not in sys.stdlib_module_names and module not in ("auditoryhum", "__future__")}
    assert {"torch", "transformers", "sklearn", "sentence_transformers", "ray"} <= set(outside)
    missing = []
    for module, path in sorted(outside.items()):
        names = distributions.get(module)
        assert names, f"{module} (imported by {path.relative_to(REPO)}) is not installed here"
        if not any(normalised(name) in requirements for name in names):
            missing.append(f"{module} ({', '.join(names)}, imported by {path.relative_to(REPO)})")
    assert not missing, "not in requirements.txt: " + "; ".join(missing)


def test_every_pin_is_the_version_installed_here():
    wrong = []
    for name, version in pinned().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} is not installed")
            continue
        if installed.split("+")[0] != version:  # torch's local build tag (+cpu) aside
            wrong.append(f"{name}=={version} pinned, {installed} installed")
    assert not wrong, "; ".join(wrong)
