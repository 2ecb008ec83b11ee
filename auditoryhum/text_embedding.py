"""Label embeddings: each distinct label is embedded once and its vector copied to every row.

Many files share a best label, and the clustering counts on rows with the same label being the
*same* point (SPEC §3, choosing k); embedding each distinct label once makes them bit-identical
whatever the batch composition, and saves the repeated work. Rows with an empty label (a file
that had no usable label) stay NaN rather than getting the embedding of the empty string, which
would place all of them at one made-up point and form a spurious cluster.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from .runtime import resolve_model_path

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
    """A ``SentenceTransformer`` from a local folder (or hub id where a hub is reachable)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(model_path, flag), device=device)


def sentence_embeddings(model, labels: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Sentence-transformer embeddings of ``labels`` (see :func:`embed_distinct`)."""

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=True)

    return embed_distinct(labels, embed)
