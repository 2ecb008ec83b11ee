"""Qwen2.5-Omni and Qwen3-Omni as labellers: their *thinker* (audio in, text out) only.

Both need Qwen's own system text (docs/method.md §2). The released repositories hold the whole Omni model -
thinker, talker and vocoder - with the thinker's weights under ``thinker.*``; the thinker class
loads such a folder directly (transformers takes the ``thinker_config`` and the ``thinker.``
weights and skips the speech parts), and equally a thinker-only export. The thinker's
``generate`` returns token ids only: no speech is ever synthesised.
"""

from __future__ import annotations

from .errors import UserError
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


#: Qwen3-Omni's default window: what it hears of a clip (the published script passed the whole clip)
QWEN3_OMNI_WINDOW_SECONDS = 600.0


class Qwen3OmniLabeller(QwenOmniLabeller):
    description = QWEN3_OMNI
    thinker_class_name = "Qwen3OmniMoeThinkerForConditionalGeneration"
    # Below 201 samples (two mel frames) its convolutional downsampling has nothing to work on.
    min_audio_seconds = 0.013
    # Its processor turns truncation off and its audio encoder works through any length in fixed
    # windows, so the published script gave it whole clips - and a long one as many audio tokens
    # to the language model, whose memory grows with them. The window bounds that; every clip of
    # the paper's datasets (10 s) is far inside it.
    extra_flags = (("--max_audio_seconds", dict(
        type=float, default=QWEN3_OMNI_WINDOW_SECONDS, metavar="SECONDS",
        help="the part of each clip Qwen3-Omni hears; longer clips are cut there, and the run says so per file "
             "(default: %(default)g s; memory grows with it; 0: the whole clip, as the published script did)")),)

    def __init__(self, model_path, runtime, flag, max_audio_seconds: float = QWEN3_OMNI_WINDOW_SECONDS):
        if max_audio_seconds < 0:
            raise UserError(f"--max_audio_seconds={max_audio_seconds:g}: give a length in seconds, or 0 for whole clips")
        self.max_audio_seconds = max_audio_seconds or None
        super().__init__(model_path, runtime, flag)
