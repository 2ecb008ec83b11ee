"""Qwen2-Audio-7B-Instruct as a labeller (system text "Describing an auditory scene.")."""

from __future__ import annotations

from .mllm import ChatLabeller
from .models import QWEN2_AUDIO


class Qwen2AudioLabeller(ChatLabeller):
    description = QWEN2_AUDIO
    # The Whisper encoder hears 30 s (3000 mel frames); the feature extractor cuts the rest.
    max_audio_seconds = 30.0
    # Below 961 samples (seven 10 ms mel frames) the processor finds no audio token to expand and
    # generate() fails; padded to 0.061 s at 16 kHz the clip is heard as itself plus silence.
    min_audio_seconds = 0.061

    def model_class(self):
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration
