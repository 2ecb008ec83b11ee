"""Audio Spectrogram Transformer (AST) embedding per audio file (docs/method.md §5).

The embedding is what the AudioSet classifier head sees after its own layer norm: the AST pooled
output (mean of the CLS and distillation tokens) passed through ``classifier.layernorm``, 768-d for
``ast-finetuned-audioset-10-10-0.4593``. It is computed directly (encoder, then that layer norm), so
the classification layer is never run; the tests check it equals a forward hook on
``classifier.layernorm`` during a full classification forward.

The feature extractor pads or truncates every clip to ``max_length`` filterbank frames (1024 frames
= 10.24 s for the real model), so a batch is uniform and no clip's result depends on its batch-mates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import AST
from .runtime import Runtime, check_model_type, loading_model



#: the Kaldi filterbank's frame length and shift, as the AST feature extractor computes it
KALDI_FRAME_SECONDS, KALDI_SHIFT_SECONDS = 0.025, 0.010


@dataclass
class ASTEmbedder:
    """The :class:`~auditoryhum.features.AudioEmbedder` for AST: call it with a list of mono
    waveforms at :attr:`sampling_rate`; it returns ``(len(batch), hidden_size)`` float32."""

    model: Any  # transformers.ASTForAudioClassification, in eval mode
    feature_extractor: Any  # transformers.ASTFeatureExtractor
    device: str = "cpu"
    name = "AST"
    #: the Kaldi filterbank needs one 25 ms frame; below 240 samples at 16 kHz it fails
    min_audio_seconds = 0.015

    @property
    def sampling_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    @property
    def max_audio_seconds(self) -> float:
        """What the model hears: ``max_length`` Kaldi frames (25 ms, every 10 ms); the extractor
        cuts the rest, so only this much of a file is read."""
        return KALDI_FRAME_SECONDS + (self.feature_extractor.max_length - 1) * KALDI_SHIFT_SECONDS

    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        return self.embed_prepared(waveforms, self.prepare(waveforms))

    def prepare(self, waveforms: list[np.ndarray]):
        """The filterbank features of a batch, on the CPU."""
        return self.feature_extractor(waveforms, sampling_rate=self.sampling_rate, return_tensors="pt")

    def embed_prepared(self, waveforms: list[np.ndarray], features) -> np.ndarray:
        import torch

        input_values = features["input_values"].to(self.device, dtype=self.model.dtype)
        with torch.inference_mode():
            pooled = self.model.audio_spectrogram_transformer(input_values).pooler_output
            embedding = self.model.classifier.layernorm(pooled)
        return embedding.float().cpu().numpy()


def load_ast_embedder(model_path: str, runtime: Runtime, flag: str = "--ast_model") -> ASTEmbedder:
    """Load ``ASTForAudioClassification`` and ``ASTFeatureExtractor`` from ``model_path``."""
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    check_model_type(model_path, flag, AST.model_types, "AST audio classifier (ASTForAudioClassification)")
    load_kwargs = runtime.from_pretrained_kwargs()
    with loading_model(flag, model_path, "AST model"), warnings.catch_warnings():
        model = ASTForAudioClassification.from_pretrained(model_path, **load_kwargs)
        # Without torchaudio the extractor builds its Kaldi mel bank in numpy and warns that 128
        # mel bins over a 512-point FFT leave some filters empty; Kaldi's own fbank (which the
        # model was trained with) has the same empty filters, so there is nothing to act on.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        feature_extractor = ASTFeatureExtractor.from_pretrained(model_path)
    if "device_map" not in load_kwargs:
        model = model.to(runtime.device)
    model.eval()
    return ASTEmbedder(model, feature_extractor, runtime.device)

