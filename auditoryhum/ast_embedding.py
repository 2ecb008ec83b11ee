"""Audio Spectrogram Transformer (AST) embedding per audio file (SPEC §3).

The embedding is what the AudioSet classifier head sees after its own layer norm: the AST pooled
output (mean of the CLS and distillation tokens) passed through ``classifier.layernorm``, 768-d for
``ast-finetuned-audioset-10-10-0.4593``. It is computed directly (encoder, then that layer norm), so
the classification layer is never run; the tests check it equals a forward hook on
``classifier.layernorm`` during a full classification forward.

The feature extractor pads or truncates every clip to ``max_length`` filterbank frames (1024 frames
= 10.24 s for the real model), so a batch is uniform and no clip's result depends on its batch-mates.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import UserError
from .features import embed_audio_files
from .runtime import Runtime

#: ``config.json`` ``model_type`` of an AST checkpoint.
AST_MODEL_TYPE = "audio-spectrogram-transformer"
DEFAULT_AST_MODEL = "ast-finetuned-audioset-10-10-0.4593"


@dataclass
class ASTEmbedder:
    """An :data:`auditoryhum.features.EmbedBatch` for AST: call it with a list of mono waveforms
    at :attr:`sampling_rate`; it returns ``(len(batch), hidden_size)`` float32."""

    model: Any  # transformers.ASTForAudioClassification, in eval mode
    feature_extractor: Any  # transformers.ASTFeatureExtractor
    device: str = "cpu"

    @property
    def sampling_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        import torch

        features = self.feature_extractor(waveforms, sampling_rate=self.sampling_rate, return_tensors="pt")
        input_values = features["input_values"].to(self.device, dtype=self.model.dtype)
        with torch.inference_mode():
            pooled = self.model.audio_spectrogram_transformer(input_values).pooler_output
            embedding = self.model.classifier.layernorm(pooled)
        return embedding.float().cpu().numpy()


def check_ast_folder(model_path: str, flag: str = "--ast_model") -> None:
    """Stop with one line when a local folder does not hold an AST checkpoint (transformers would
    otherwise load another architecture's weights with a page of warnings, or fail deep inside)."""
    if not Path(model_path).is_dir():
        return  # a hub id; from_pretrained checks it
    config_path = Path(model_path) / "config.json"
    if not config_path.is_file():
        raise UserError(f"{flag}={model_path}: no config.json in the folder, so it holds no model checkpoint")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise UserError(f"{flag}={model_path}: cannot read {config_path} ({err})") from None
    model_type = config.get("model_type")
    if model_type != AST_MODEL_TYPE:
        held = (config.get("architectures") or [model_type or "an unknown model"])[0]
        raise UserError(
            f"{flag}={model_path}: the folder holds {held} (model_type {model_type!r}), "
            "not an AST audio classifier (ASTForAudioClassification)"
        )


def load_ast_embedder(model_path: str, runtime: Runtime, flag: str = "--ast_model") -> ASTEmbedder:
    """Load ``ASTForAudioClassification`` and ``ASTFeatureExtractor`` from ``model_path``."""
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    check_ast_folder(model_path, flag)
    load_kwargs = runtime.from_pretrained_kwargs()
    model = ASTForAudioClassification.from_pretrained(model_path, **load_kwargs)
    if "device_map" not in load_kwargs:
        model = model.to(runtime.device)
    model.eval()
    with warnings.catch_warnings():
        # Without torchaudio the extractor builds its Kaldi mel bank in numpy and warns that 128
        # mel bins over a 512-point FFT leave some filters empty; Kaldi's own fbank (which the
        # model was trained with) has the same empty filters, so there is nothing to act on.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        feature_extractor = ASTFeatureExtractor.from_pretrained(model_path)
    return ASTEmbedder(model, feature_extractor, runtime.device)


def ast_embeddings(files: Sequence[str], embedder: ASTEmbedder, batch_size: int = 8) -> np.ndarray:
    """``(len(files), hidden_size)`` float32, NaN rows for files that cannot be decoded."""
    return embed_audio_files(files, embedder.sampling_rate, embedder, batch_size=batch_size, desc="AST")
