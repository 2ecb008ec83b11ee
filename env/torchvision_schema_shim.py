"""Environment workaround, installed into .venv by setup.sh - not part of the auditoryhum package.

The only torchvision wheel on PyPI for torch 2.13 is a CUDA build; beside the CPU torch its
compiled ops library fails to load, so ``torchvision::nms`` and ``torchvision::qnms`` are never
defined and ``import torchvision`` dies registering fake kernels for them. transformers imports
torchvision whenever it is installed (the Qwen-Omni processors and Gemma-3n's timm need it), so
on this machine every model import would fail. This hook defines the two operator schemas just
before torchvision is first imported. A user with a matching torchvision never needs it: the
schemas are only defined when torchvision's own library did not define them.
"""

import importlib.abc
import sys

_SCHEMAS = {
    "nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


class _DefineSchemasBeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)
        import torch

        for op, schema in _SCHEMAS.items():
            if not _schema_exists(torch, op):
                torch.library.define(f"torchvision::{op}", schema)
        return None  # let the normal finders import torchvision itself


def _schema_exists(torch, op):
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{op}", "")
        return True
    except RuntimeError:
        return False


sys.meta_path.insert(0, _DefineSchemasBeforeTorchvision())
