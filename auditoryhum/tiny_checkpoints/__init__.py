"""Tiny random-weight checkpoints of the real model architectures, built offline.

Each builder makes a model folder the way a real one is laid out - the real config and
processor classes, a tokenizer trained with the ``tokenizers`` library carrying the model's
special tokens, weights saved with ``save_pretrained`` - so the scripts load it through exactly
the code path a user's real checkpoint takes. The weights are random: labels come out as
gibberish, but every shape, token and file format is real. Used by the tests and the example run.

    python -m auditoryhum.scripts.tiny_checkpoints --out example/models            # all of them
    python -m auditoryhum.scripts.tiny_checkpoints --out example/models qwen2_audio clap
"""

from __future__ import annotations

import importlib
from pathlib import Path

#: builder name -> module holding ``build(dest: Path) -> None``; the folder name is the key.
BUILDERS = {
    "qwen2_audio": "auditoryhum.tiny_checkpoints.qwen2_audio",
    "clap": "auditoryhum.tiny_checkpoints.clap",
    "qwen2_5_omni": "auditoryhum.tiny_checkpoints.qwen2_5_omni",
    "qwen3_omni": "auditoryhum.tiny_checkpoints.qwen3_omni",
    "gemma3n": "auditoryhum.tiny_checkpoints.gemma3n",
    "ast": "auditoryhum.tiny_checkpoints.ast",
    "causal_lm": "auditoryhum.tiny_checkpoints.causal_lm",
}


def available() -> list[str]:
    """Builders whose module exists in this checkout."""
    return [name for name, module in BUILDERS.items() if importlib.util.find_spec(module) is not None]


def build(name: str, dest: str | Path) -> Path:
    """Build checkpoint ``name`` into folder ``dest`` (created; existing files are overwritten)."""
    from ..records import RANDOM_WEIGHTS_MARKER

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    importlib.import_module(BUILDERS[name]).build(dest)
    # Every run record made with this folder names it as a stand-in, and so does every result
    # downstream (docs/run-records.md).
    (dest / RANDOM_WEIGHTS_MARKER).write_text(
        f"A tiny random-weight checkpoint ({name}) built by auditoryhum.tiny_checkpoints: real architecture, "
        "random weights. Its outputs mean nothing; results made with it are marked as stand-ins.\n")
    return dest
