"""Qwen2.5-Omni and Qwen3-Omni as labellers: their *thinker* (audio in, text out) only.

Both need Qwen's own system text (docs/method.md §2). The released repositories hold the whole Omni model -
thinker, talker and vocoder - with the thinker's weights under ``thinker.*``; the thinker class
loads such a folder directly (transformers takes the ``thinker_config`` and the ``thinker.``
weights and skips the speech parts), and equally a thinker-only export. The thinker's
``generate`` returns token ids only: no speech is ever synthesised.
"""

from __future__ import annotations

from .mllm import ChatLabeller
from .models import QWEN2_5_OMNI, QWEN3_OMNI
from .prompting import SYSTEM_TEXT_QWEN_OMNI


class QwenOmniLabeller(ChatLabeller):
    system_text = SYSTEM_TEXT_QWEN_OMNI
    #: the ``transformers`` thinker class of this Omni generation
    thinker_class_name: str

    def model_class(self):
        import transformers

        return getattr(transformers, self.thinker_class_name)


class Qwen2_5OmniLabeller(QwenOmniLabeller):
    description = QWEN2_5_OMNI
    thinker_class_name = "Qwen2_5OmniThinkerForConditionalGeneration"

    @property
    def max_audio_seconds(self) -> float:
        # The processor pads every clip to the feature extractor's window and cuts what is longer.
        extractor = self.processor.feature_extractor
        return extractor.n_samples / extractor.sampling_rate


class Qwen3OmniLabeller(QwenOmniLabeller):
    description = QWEN3_OMNI
    thinker_class_name = "Qwen3OmniMoeThinkerForConditionalGeneration"
    # The processor turns truncation off and the audio encoder works through any length in
    # fixed windows, so nothing is cut: a long clip costs memory and time, not content.
    max_audio_seconds = None
    # Below 201 samples (two mel frames) its convolutional downsampling has nothing to work on.
    min_audio_seconds = 0.013
