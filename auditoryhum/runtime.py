"""Where and how models run: device, dtype, 4-bit quantisation, seeding.

CPU always runs in float32. On CUDA, ``--dtype auto`` means what the published runs used for that
kind of model:

* the MLLMs (labellers and their audio towers): 4-bit - bitsandbytes NF4, double quantisation,
  bf16 compute, ``device_map="auto"`` (:data:`CUDA_4BIT`);
* CLAP, AST and the sentence transformers: float32 (:data:`CUDA_FLOAT32`);
* the chat LLM that names clusters (not part of the published runs): bfloat16.

``--dtype bfloat16``/``float32``/``float16`` opts out; ``--load_in_4bit`` asks for 4-bit
explicitly. 4-bit needs CUDA; bitsandbytes itself does not refuse on a CPU machine, so we do.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError, one_line

SEED = 100
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: What ``--dtype auto`` means on CUDA, per kind of model (see the module docstring).
CUDA_4BIT = "4bit"
CUDA_FLOAT32 = "float32"
CUDA_BFLOAT16 = "bfloat16"


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu", "cuda", "cuda:1", ...
    dtype: str  # one of DTYPES minus "auto"
    load_in_4bit: bool

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def from_pretrained_kwargs(self) -> dict:
        """Keyword arguments for ``Model.from_pretrained`` that place and quantise the model."""
        kwargs: dict = {"dtype": self.torch_dtype}
        if self.load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=self.torch_dtype,
            )
            kwargs["device_map"] = "auto"
        elif self.device.startswith("cuda"):
            kwargs["device_map"] = self.device
        return kwargs


def resolve_runtime(device: str = "auto", dtype: str = "auto", load_in_4bit: bool = False,
                    cuda_default: str = CUDA_FLOAT32) -> Runtime:
    import torch

    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise UserError(f"--device={device}: CUDA is not available on this machine (use --device=cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f'--device={device}: expected "cpu", "cuda", "cuda:N" or "auto"')
    on_cuda = device.startswith("cuda")
    if load_in_4bit and not on_cuda:
        raise UserError("--load_in_4bit needs a CUDA GPU (bitsandbytes 4-bit); drop the flag to run on CPU")
    if dtype == "auto" and on_cuda and cuda_default == CUDA_4BIT:
        load_in_4bit = True
        _require_bitsandbytes("4-bit loading (NF4, the published setting and this script's default on CUDA) "
                              "needs bitsandbytes: pip install bitsandbytes, or pass --dtype bfloat16 to load unquantised")
    elif load_in_4bit:
        _require_bitsandbytes('--load_in_4bit needs bitsandbytes: pip install bitsandbytes')
    if dtype == "auto":
        dtype = (CUDA_BFLOAT16 if cuda_default != CUDA_FLOAT32 else "float32") if on_cuda else "float32"
    return Runtime(device=device, dtype=dtype, load_in_4bit=load_in_4bit)


def bitsandbytes_installed() -> bool:
    """Found, not imported: importing it reaches for CUDA at once."""
    return importlib.util.find_spec("bitsandbytes") is not None


def _require_bitsandbytes(message: str) -> None:
    if not bitsandbytes_installed():
        raise UserError(message)


def seed_everything(seed: int = SEED) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_model_path(path: str, flag: str) -> str:
    """A model flag's value: an existing local folder (the upstream workflow ``git clone``s each
    model), or a hub id ``owner/name`` where a model hub is reachable. Anything else - a bare name
    or path that does not exist - is a missing model folder and stops with one line."""
    if os.path.isdir(path):
        return path
    check_model_exists(path, flag)
    return path


def check_model_exists(path: str, flag: str, what: str = "model folder") -> None:
    """Stop with one line unless ``path`` is a local model folder or file, or a hub id ``owner/name``
    where a model hub may be reached: cheap, so every script asks it before loading anything."""
    if os.path.exists(path):
        return
    parts = path.split("/")
    is_hub_id = len(parts) == 2 and all(parts) and not path.startswith((".", "~"))
    if not is_hub_id or os.environ.get("HF_HUB_OFFLINE") == "1":
        how = "git clone the model there, or pass its path" if what == "model folder" else "pass its path"
        raise UserError(f"{flag}={path}: {what} not found ({how})")


def check_model_type(path: str, flag: str, model_types: tuple[str, ...], what: str) -> None:
    """Stop with one line unless the local folder ``path`` holds a ``config.json`` whose
    ``model_type`` is one of ``model_types`` - before any weights are read, so an empty folder, a
    damaged config or another architecture's folder is named instead of failing deep inside.
    Hub ids (no local folder) are left to ``from_pretrained``."""
    folder = Path(path)
    if not folder.is_dir():
        return
    config = folder / "config.json"
    if not config.is_file():
        raise UserError(f"{flag}={path}: no config.json in the folder, so it holds no {what} checkpoint")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{flag}={path}: cannot read its config.json ({one_line(err)})") from None
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if model_type not in model_types:
        held = ((data.get("architectures") if isinstance(data, dict) else None) or [model_type or "an unknown model"])
        raise UserError(f"{flag}={path}: the folder holds {held[0]} (model_type {model_type!r}), not a {what} "
                        f"({' or '.join(model_types)})")


@contextlib.contextmanager
def loading_model(flag: str, path: str, what: str = "model"):
    """Any failure while loading a model folder - a missing or truncated weights file, a wrong
    architecture's weights, a tokenizer that does not parse, a missing package - becomes one line
    naming the flag, the folder and the cause."""
    try:
        yield
    except UserError:
        raise
    except ImportError as err:
        # transformers spreads the install hint over several lines: keep them all, folded
        raise UserError(f"{flag}={path}: a package this {what} needs is missing: {' '.join(str(err).split())}") from None
    except Exception as err:  # noqa: BLE001 - whatever a broken folder raises, the user gets one line
        raise UserError(f"{flag}={path}: cannot load the {what} ({type(err).__name__}: {one_line(err)})") from None
