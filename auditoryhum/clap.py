"""CLAP: audio and text embeddings, and the best-label scoring of docs/method.md §3.

Loading and embedding need a ``ClapModel`` folder (Human-CLAP ``human-clap-wsce-mse-mae``,
``laion/clap-htsat-fused``, ...). The scoring math - cosine of each file's candidate labels with
its audio embedding, best label kept, paper metrics µc and µ1% - is pure numpy and works on any
embeddings.

Deterministic audio embeddings. The fused CLAP feature extractor draws random numbers: for a clip
longer than 10 s it picks three random crops, and when no clip of a call is longer than 10 s it
marks a random one as "longer" (which switches on the fusion branch for that clip only). So a
clip's embedding would depend on the global random state and on which other clips share its
batch. Each clip therefore goes through the feature extractor on its own, with numpy seeded to
100 first: a short clip is then always the one marked (as it was in the published scripts, which
ran one file at a time) and a long clip always gets the same crops. Only the model forward pass
is batched, and it is batch-independent in eval mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from .audio import LongAudio
from .clap_long import STREAM_ABOVE_SECONDS, long_clip_inputs
from .models import HUMAN_CLAP
from .runtime import SEED, Runtime, check_model_type, loading_model, resolve_model_path

#: The paper's µ1%: the mean over this fraction of files with the lowest scores.
LOWEST_FRACTION = 0.01


# ----------------------------------------------------------------------------------------------
# model


@dataclass
class Clap:
    """A loaded CLAP model with its processor."""

    model: object  # transformers.ClapModel
    processor: object  # transformers.ClapProcessor

    @property
    def sampling_rate(self) -> int:
        """The rate the audio tower was trained on (48 kHz for the published checkpoints)."""
        return int(self.processor.feature_extractor.sampling_rate)

    @property
    def embedding_dim(self) -> int:
        """Length of the audio and text embeddings (the projection size)."""
        return int(self.model.config.projection_dim)


def load_clap(model_path: str, runtime: Runtime, flag: str = "--clap_model") -> Clap:
    """Load a CLAP folder (or hub id where a hub is reachable) in eval mode on ``runtime``."""
    from transformers import ClapModel, ClapProcessor

    path = resolve_model_path(model_path, flag)
    check_model_type(path, flag, HUMAN_CLAP.model_types, "CLAP model")
    load_kwargs = runtime.from_pretrained_kwargs()
    with loading_model(flag, model_path, "CLAP model"):
        model = ClapModel.from_pretrained(path, **load_kwargs)
        processor = ClapProcessor.from_pretrained(path)
    if "device_map" not in load_kwargs:
        model = model.to(runtime.device)
    return Clap(model=model.eval(), processor=processor)


class ClapAudioEmbedder:
    """The :class:`~auditoryhum.features.AudioEmbedder` for CLAP's audio tower (any clip length:
    the feature extractor pads a short one, and one longer than :data:`STREAM_ABOVE_SECONDS` is
    read block by block, :mod:`auditoryhum.clap_long`)."""

    name = "CLAP audio"
    min_audio_seconds = None
    stream_above_seconds = STREAM_ABOVE_SECONDS

    def __init__(self, clap: Clap):
        self.clap = clap
        self.sampling_rate = clap.sampling_rate

    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        return embed_audio_batch(self.clap, waveforms)

    def prepare(self, waveforms: list[np.ndarray]) -> dict:
        return audio_inputs(self.clap, waveforms)

    def embed_prepared(self, waveforms: list[np.ndarray], inputs: dict) -> np.ndarray:
        return embed_audio_inputs(self.clap, inputs)


def embed_audio_batch(clap: Clap, waveforms: list[np.ndarray]) -> np.ndarray:
    """``(len(waveforms), d)`` float32 unit-length audio embeddings of mono clips at
    :attr:`Clap.sampling_rate`; deterministic and independent of the batch (module docstring)."""
    return embed_audio_inputs(clap, audio_inputs(clap, waveforms))


def audio_inputs(clap: Clap, waveforms: list[np.ndarray | LongAudio]) -> dict:
    """The audio tower's inputs (features and fusion flags) of a batch, one clip at a time with
    numpy seeded first (module docstring); CPU only."""
    import torch

    features, is_longer = [], []
    for waveform in waveforms:
        np.random.seed(SEED)
        if isinstance(waveform, LongAudio):
            mel, longer = long_clip_inputs(clap.processor.feature_extractor, waveform)
            features.append(torch.from_numpy(mel)[None])
            is_longer.append(torch.tensor([[longer]]))
            continue
        one = clap.processor(audio=waveform, sampling_rate=clap.sampling_rate, return_tensors="pt")
        features.append(one["input_features"])
        is_longer.append(one["is_longer"])
    return {"input_features": torch.cat(features), "is_longer": torch.cat(is_longer)}


def embed_audio_inputs(clap: Clap, inputs: dict) -> np.ndarray:
    """The unit-length embeddings of :func:`audio_inputs`' batch."""
    import torch

    model = clap.model
    with torch.inference_mode():
        output = model.get_audio_features(
            input_features=inputs["input_features"].to(model.device, model.dtype),
            is_longer=inputs["is_longer"].to(model.device),
        )
    return output.pooler_output.float().cpu().numpy()


def embed_texts(clap: Clap, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """``(len(texts), d)`` float32 unit-length text embeddings of one or more texts,
    ``batch_size`` texts per pass (``progress=False``: no progress bar, for one-off calls)."""
    import torch

    model = clap.model
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="CLAP labels", unit="batch", disable=not progress):
        batch = list(texts[start : start + batch_size])
        tokens = clap.processor(text=batch, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            output = model.get_text_features(
                input_ids=tokens["input_ids"].to(model.device),
                attention_mask=tokens["attention_mask"].to(model.device),
            )
        chunks.append(output.pooler_output.float().cpu().numpy())
    return np.concatenate(chunks)


# ----------------------------------------------------------------------------------------------
# scoring (pure)


@dataclass(frozen=True)
class BestLabel:
    label: str  # "" when the file had no usable label or no audio embedding
    score: float  # cosine similarity; nan with an empty label


NO_LABEL = BestLabel("", math.nan)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length, in float64 (how every label embedding is compared)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def cosine_similarities(vectors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Cosine of every row of ``vectors`` (label embeddings) with ``target`` (an audio embedding),
    computed as :func:`best_labels` computes it."""
    target = np.asarray(target, dtype=np.float64)
    return unit_rows(vectors) @ (target / np.linalg.norm(target))


def _candidate_scores(audio_embeddings: np.ndarray, label_lists: Sequence[Sequence[str]],
                      label_embeddings: Mapping[str, np.ndarray], block_rows: int):
    """``(rows, scores, present)`` per block of usable files: ``scores[i, j]`` is the cosine of the
    j-th candidate of file ``rows[i]`` (``-inf`` past its last, where ``present`` is False).

    Each block's candidates are gathered into a (files, candidates, d) array and multiplied with the
    files' unit audio vectors in float64 - a million files take seconds, and memory stays at a few
    blocks."""
    if len(audio_embeddings) != len(label_lists):
        raise ValueError(f"{len(audio_embeddings)} audio embeddings but {len(label_lists)} label lists")
    audio = np.asarray(audio_embeddings)
    counts = np.fromiter((len(labels) for labels in label_lists), dtype=np.int64, count=len(label_lists))
    usable = np.flatnonzero((counts > 0) & np.isfinite(audio).all(axis=1))
    if usable.size == 0:
        return
    column = {label: j for j, label in enumerate(label_embeddings)}
    texts = unit_rows(np.stack(list(label_embeddings.values())))
    # every candidate of every usable file, flat, and where each file's candidates start
    flat = np.fromiter((column[label] for i in usable.tolist() for label in label_lists[i]), dtype=np.int64,
                       count=int(counts[usable].sum()))
    starts = np.concatenate([[0], np.cumsum(counts[usable])[:-1]])
    for first in range(0, usable.size, block_rows):
        rows = usable[first:first + block_rows]
        width = int(counts[rows].max())
        offsets = np.arange(width)
        present = offsets < counts[rows][:, None]
        candidates = flat[np.where(present, starts[first:first + block_rows, None] + offsets, 0)]
        unit_audio = unit_rows(audio[rows])
        scores = np.matmul(texts[candidates], unit_audio[:, :, None])[..., 0]
        scores[~present] = -np.inf
        yield rows, scores, present


def best_labels(
    audio_embeddings: np.ndarray,
    label_lists: Sequence[Sequence[str]],
    label_embeddings: Mapping[str, np.ndarray],
    block_rows: int = 512,
) -> list[BestLabel]:
    """For each file, its candidate label with the highest cosine to its audio embedding.

    ``label_lists[i]`` are file i's candidates (``prompting.parse_label_line``);
    ``label_embeddings`` maps every candidate to its text embedding. A file with no candidate or
    a NaN audio row gets :data:`NO_LABEL`. Ties keep the first candidate of the line.
    Array operations, ``block_rows`` files at a time (:func:`_candidate_scores`).
    """
    results = [NO_LABEL] * len(label_lists)
    for rows, scores, _ in _candidate_scores(audio_embeddings, label_lists, label_embeddings, block_rows):
        best = scores.argmax(axis=1)  # the first of equal scores: the first candidate of the line
        for i, position, score in zip(rows.tolist(), best.tolist(), scores[np.arange(len(rows)), best].tolist()):
            results[i] = BestLabel(label_lists[i][position], score)
    return results


@dataclass(frozen=True)
class LabelRule:
    """Which of a file's candidate labels it keeps besides the best (features_clap_text.py
    --multi_label): those within ``margin`` of the best score, those scoring at least ``threshold``,
    or the ``top`` best - exactly one of the three is set. The best label is always kept, so every
    file with a label keeps at least the label the scores CSV gives it."""

    margin: float | None = None
    threshold: float | None = None
    top: int | None = None

    def __post_init__(self):
        if sum(value is not None for value in (self.margin, self.threshold, self.top)) != 1:
            raise ValueError("a label rule sets exactly one of margin, threshold and top")

    def keeps(self, position: int, score: float, best: float) -> bool:
        """Whether the candidate ranked ``position`` (0 = the best) with ``score`` is kept."""
        if position == 0:
            return True
        if self.margin is not None:
            return best - score <= self.margin
        if self.threshold is not None:
            return score >= self.threshold
        return position < self.top

    def describe(self) -> str:
        if self.margin is not None:
            return f"within {self.margin:g} of the best score"
        if self.threshold is not None:
            return f"scoring at least {self.threshold:g}"
        return f"the {self.top} best"


def ranked_labels(
    audio_embeddings: np.ndarray,
    label_lists: Sequence[Sequence[str]],
    label_embeddings: Mapping[str, np.ndarray],
    rule: LabelRule,
    block_rows: int = 512,
) -> list[list[BestLabel]]:
    """For each file, the candidate labels ``rule`` keeps, best first (equal scores in line order, a
    label repeated in a line once): the first is :func:`best_labels`' label with the same score. A
    file with no candidate or a NaN audio row keeps none."""
    results: list[list[BestLabel]] = [[] for _ in label_lists]
    for rows, scores, present in _candidate_scores(audio_embeddings, label_lists, label_embeddings, block_rows):
        order = np.argsort(-scores, axis=1, kind="stable")
        for i, file_order, file_scores, n in zip(rows.tolist(), order, scores, present.sum(axis=1).tolist()):
            labels, kept, seen = label_lists[i], [], set()
            for j in file_order[:n].tolist():
                if labels[j] in seen:
                    continue
                seen.add(labels[j])
                score = float(file_scores[j])
                if not rule.keeps(len(kept), score, kept[0].score if kept else score):
                    break  # ranked by score: no later candidate passes the rule either
                kept.append(BestLabel(labels[j], score))
            results[i] = kept
    return results


def clap_summary(scores: Sequence[float]) -> tuple[float, float]:
    """``(µc, µ1%)``: the mean score, and the mean over the lowest 1 % of files (at least one
    file; 1 % of the count rounded down). NaN scores (files with no label) are left out; with no
    score left both are NaN."""
    valid = np.sort(np.asarray([s for s in scores if not math.isnan(s)], dtype=np.float64))
    if valid.size == 0:
        return math.nan, math.nan
    n_lowest = max(1, int(valid.size * LOWEST_FRACTION))
    return float(valid.mean()), float(valid[:n_lowest].mean())
