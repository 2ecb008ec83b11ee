"""Audio embeddings from the MLLMs' own audio encoders (docs/method.md §5).

* Qwen2-Audio: the audio tower's last hidden state summed over time (the Whisper encoder always
  sees a 30 s window, padding included, as the published features were computed).
* Gemma-3n: the audio tower's output with the mask all False, summed over time (its feature
  extractor keeps the first 30 s of a clip).

Each tower is an :class:`~auditoryhum.features.AudioEmbedder` for the per-file engine (:mod:`auditoryhum.features`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .models import GEMMA_3N, QWEN2_AUDIO, Model
from .runtime import Runtime, check_model_type, loading_model, resolve_model_path


class _AudioTower:
    """Loads a whole MLLM checkpoint, keeps its audio encoder and drops the rest; an
    :class:`~auditoryhum.features.AudioEmbedder`."""

    #: the model family (name, ``model_type`` checked before loading weights)
    description: Model
    min_audio_seconds: float | None = None

    def __init__(self, model_path: str, runtime: Runtime, flag: str):
        from transformers import AutoFeatureExtractor

        model_path = resolve_model_path(model_path, flag)
        check_model_type(model_path, flag, self.description.model_types, f"{self.description.display_name} model")
        with loading_model(flag, model_path):
            self.feature_extractor = AutoFeatureExtractor.from_pretrained(model_path)
            model = self.model_class().from_pretrained(model_path, **runtime.from_pretrained_kwargs())
        self.sampling_rate = self.feature_extractor.sampling_rate
        self.tower = model.model.audio_tower.eval()
        del model  # the language model is not needed: free its memory

    def model_class(self):
        raise NotImplementedError

    def __call__(self, audios: list[np.ndarray]) -> np.ndarray:
        return self.embed_prepared(audios, self.prepare(audios))

    def prepare(self, audios: list[np.ndarray]):
        """The feature extractor's output for a batch, on the CPU."""
        raise NotImplementedError

    def embed_prepared(self, audios: list[np.ndarray], prepared) -> np.ndarray:
        raise NotImplementedError

    def _to_tower(self, tensor):
        first = next(self.tower.parameters())
        return tensor.to(first.device, first.dtype)


class Qwen2AudioTower(_AudioTower):
    description = QWEN2_AUDIO
    name = "Qwen2-Audio audio tower"

    def model_class(self):
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration

    @property
    def max_audio_seconds(self) -> float:
        """Whisper's window (30 s): only that much of a file is read."""
        return self.feature_extractor.n_samples / self.sampling_rate

    def prepare(self, audios: list[np.ndarray]):
        # Whisper features are always the 30 s window, so any batch gives the same rows.
        return self.feature_extractor(audios, sampling_rate=self.sampling_rate, return_tensors="pt")

    def embed_prepared(self, audios: list[np.ndarray], features) -> np.ndarray:
        import torch

        with torch.inference_mode():
            hidden = self.tower(self._to_tower(features["input_features"])).last_hidden_state
        return hidden.float().sum(dim=1).cpu().numpy()


class Gemma3nAudioTower(_AudioTower):
    description = GEMMA_3N
    name = "Gemma-3n audio tower"
    #: its subsampling convolutions need 513 samples (32 ms at 16 kHz)
    min_audio_seconds = 0.033
    #: its feature extractor keeps the first 480,000 samples (30 s at 16 kHz) of a clip by default,
    #: so no more is read
    max_audio_seconds = 30.0

    def model_class(self):
        from transformers import Gemma3nForConditionalGeneration

        return Gemma3nForConditionalGeneration

    def prepare(self, audios: list[np.ndarray]) -> list[tuple[list[int], object]]:
        # With the mask all False every frame counts, padding included, so clips are batched only
        # with clips of the same length: each row is then what the clip gives on its own.
        by_length: dict[int, list[int]] = defaultdict(list)
        for index, audio in enumerate(audios):
            by_length[audio.shape[0]].append(index)
        return [(indices, self.feature_extractor([audios[i] for i in indices], sampling_rate=self.sampling_rate,
                                                 return_tensors="pt")["input_features"])
                for indices in by_length.values()]

    def embed_prepared(self, audios: list[np.ndarray], groups: list[tuple[list[int], object]]) -> np.ndarray:
        import torch

        rows: list[np.ndarray | None] = [None] * len(audios)
        for indices, mel in groups:
            not_padding = torch.zeros(mel.shape[:2], dtype=torch.bool, device=self.tower.device)
            with torch.inference_mode():
                hidden = self.tower(self._to_tower(mel), not_padding).last_hidden_state
            for i, row in zip(indices, hidden.float().sum(dim=1).cpu().numpy()):
                rows[i] = row
        return np.stack(rows)
