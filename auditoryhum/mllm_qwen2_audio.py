"""Qwen2-Audio-7B-Instruct as a labeller (system text "Describing an auditory scene.")."""

from __future__ import annotations

from .mllm import ChatLabeller


class Qwen2AudioLabeller(ChatLabeller):
    name = "Qwen2-Audio"
    model_types = ("qwen2_audio",)
    # The Whisper encoder hears 30 s (3000 mel frames); the feature extractor cuts the rest.
    max_audio_seconds = 30.0

    def model_class(self):
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration
