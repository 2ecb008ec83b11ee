"""Label embeddings: each distinct label is embedded once and its vector copied to every row.

Many files share a best label, and the clustering counts on rows with the same label being the
*same* point (docs/method.md §6, choosing k); embedding each distinct label once makes them bit-identical
whatever the batch composition, and saves the repeated work. Rows with an empty label (a file
that had no usable label) stay NaN rather than getting the embedding of the empty string, which
would place all of them at one made-up point and form a spurious cluster.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import UserError, one_line
from .runtime import loading_model, resolve_model_path

#: ``embed(list of distinct non-empty texts) -> (len(texts), dim) array``
EmbedTexts = Callable[[list[str]], np.ndarray]


def unique_in_order(texts: Iterable[str]) -> list[str]:
    """The distinct texts, in order of first appearance."""
    return list(dict.fromkeys(texts))


def embed_distinct(labels: Sequence[str], embed: EmbedTexts) -> np.ndarray:
    """``(len(labels), dim)`` float32: row i is the embedding of ``labels[i]``, computed once per
    distinct label; rows of empty labels are NaN. At least one label must be non-empty."""
    distinct = unique_in_order(label for label in labels if label)
    if not distinct:
        raise ValueError("no non-empty label to embed")
    vectors = np.asarray(embed(distinct), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(distinct):
        raise RuntimeError(f"embedding returned shape {vectors.shape} for {len(distinct)} labels")
    row_of = {label: row for row, label in enumerate(distinct)}
    out = np.full((len(labels), vectors.shape[1]), np.nan, dtype=np.float32)
    for index, label in enumerate(labels):
        if label:
            out[index] = vectors[row_of[label]]
    return out


def load_sentence_transformer(model_path: str, device: str, flag: str = "--st_model"):
    """A ``SentenceTransformer`` from a local folder (or hub id where a hub is reachable).

    A local folder must be a sentence-transformers model with a pooling module: given any other
    folder (a CLAP checkpoint, a bare transformer) ``SentenceTransformer`` would quietly build a
    mean-pooling model around it and write embeddings that mean nothing, so it is refused."""
    from sentence_transformers import SentenceTransformer

    path = resolve_model_path(model_path, flag)
    if os.path.isdir(path):
        _check_sentence_transformer_folder(path, flag)
    with loading_model(flag, path, "sentence-transformers model"):
        model = SentenceTransformer(path, device=device)
    return model


def load_on_device(model_path: str, device: str, parameters: dict | None = None):
    """:func:`load_sentence_transformer` on the device ``--device`` resolves to, recorded in a run's
    ``parameters`` when given."""
    from .runtime import resolve_runtime

    resolved = resolve_runtime(device).device
    if parameters is not None:
        parameters["device"] = resolved
    return load_sentence_transformer(model_path, resolved)


def encoder(model) -> Callable[[list[str]], np.ndarray]:
    """``embed(texts)``: the model's embeddings of a few texts, as one array, no progress bar."""
    return lambda texts: model.encode(texts, convert_to_numpy=True, show_progress_bar=False)


def _check_sentence_transformer_folder(path: str, flag: str) -> None:
    modules_json = os.path.join(path, "modules.json")
    try:
        with open(modules_json, encoding="utf-8") as handle:
            modules = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"{flag}={path}: not a sentence-transformers model folder (no modules.json); use one "
                        "such as all-MiniLM-L6-v2 or all-mpnet-base-v2") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{flag}={path}: cannot read its modules.json ({one_line(err)})") from None
    types = [module.get("type", "") for module in modules if isinstance(module, dict)] if isinstance(modules, list) else []
    if not any(kind.endswith(".Pooling") for kind in types):
        raise UserError(f"{flag}={path}: its modules.json has no pooling module, so it gives no sentence embedding")


def sentence_embeddings(model, labels: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Sentence-transformer embeddings of ``labels`` (see :func:`embed_distinct`)."""

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=True)

    return embed_distinct(labels, embed)
