"""Audio embeddings from the MLLMs' own audio encoders (SPEC §3).

* Qwen2-Audio: the audio tower's last hidden state summed over time (the Whisper encoder always
  sees a 30 s window, padding included, as the published features were computed).
* Gemma-3n: the audio tower's output (mask all False) summed over time.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError
from .runtime import Runtime, resolve_model_path


def _check_model_type(model_path: str, flag: str, expected: str) -> None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as err:
        raise UserError(f"{flag}={model_path}: not a model folder ({str(err).splitlines()[0]})") from None
    if config.model_type != expected:
        raise UserError(
            f"{flag}={model_path}: the folder holds a {type(config).__name__} ({config.model_type}) model, "
            f"but this script needs {expected}"
        )


class Qwen2AudioTower:
    """``embed_batch`` for :func:`auditoryhum.features.embed_audio_files`."""

    def __init__(self, model_path: str, runtime: Runtime, flag: str = "--qwen2a_model"):
        from transformers import AutoFeatureExtractor, Qwen2AudioForConditionalGeneration

        model_path = resolve_model_path(model_path, flag)
        _check_model_type(model_path, flag, "qwen2_audio")
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(model_path)
        model = Qwen2AudioForConditionalGeneration.from_pretrained(model_path, **runtime.from_pretrained_kwargs())
        # Only the encoder is used; the language model is dropped to free its memory.
        self.tower = model.model.audio_tower.eval()
        del model
        self.sampling_rate = self.feature_extractor.sampling_rate

    def __call__(self, audios: list[np.ndarray]) -> np.ndarray:
        import torch

        features = self.feature_extractor(audios, sampling_rate=self.sampling_rate, return_tensors="pt")
        first = next(self.tower.parameters())
        with torch.inference_mode():
            hidden = self.tower(features["input_features"].to(first.device, first.dtype)).last_hidden_state
        return hidden.float().sum(dim=1).cpu().numpy()
