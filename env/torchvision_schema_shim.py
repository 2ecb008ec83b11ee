"""Environment workaround, installed into .venv by setup.sh - not part of the auditoryhum package.

The only torchvision wheel on PyPI for torch 2.13 is a CUDA build; beside the CPU torch its
compiled ops library fails to load, so ``torchvision::nms`` and ``torchvision::qnms`` are never
defined and ``import torchvision`` dies registering fake kernels for them. transformers imports
torchvision whenever it is installed (the Qwen-Omni processors and Gemma-3n's timm need it), so
on this machine every model import would fail. Just before torchvision is first imported, this
hook tries to load torchvision's own ops library; only if that fails does it define the two
operator schemas, so a matching torchvision (e.g. on a CUDA machine) is left exactly as it is.
"""

import importlib.abc
import importlib.util
import pathlib
import sys

_SCHEMAS = {
    "nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


class _DefineSchemasIfTorchvisionOpsFail(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torchvision")
        if spec is not None and spec.submodule_search_locations:
            _ensure_schemas(pathlib.Path(next(iter(spec.submodule_search_locations))))
        return None  # the normal finders import torchvision itself


def _ensure_schemas(package_dir):
    import torch

    for library in package_dir.glob("_C*.so"):
        try:
            torch.ops.load_library(str(library))
            return  # torchvision's own ops loaded: they define the schemas
        except (OSError, RuntimeError):
            break
    for op, schema in _SCHEMAS.items():
        try:
            torch._C._dispatch_find_schema_or_throw(f"torchvision::{op}", "")
        except RuntimeError:
            torch.library.define(f"torchvision::{op}", schema)


sys.meta_path.insert(0, _DefineSchemasIfTorchvisionOpsFail())
