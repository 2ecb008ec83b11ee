"""Gemma-3n (E2B/E4B, also the bnb-4bit re-uploads) as a labeller.

System text "Describing an auditory scene." (docs/method.md §2); Gemma's chat template folds it into the
first user turn. The template starts with ``<bos>`` and the tokenizer adds one of its own, so the
rendered chat is tokenised with special tokens off: one ``<bos>``, as the template's own
tokenisation gives. The published script let the processor add its own as well: every published
Gemma-3n prompt began with two ``<bos>``, which ``--double_bos`` gives back. Gemma-3n hears 30 s (its processor inserts 188 audio tokens, one per 160 ms);
longer clips are cut there and shorter ones padded to it, so batching does not change a label.
"""

from __future__ import annotations

from .mllm import ChatLabeller
from .models import GEMMA_3N


class Gemma3nLabeller(ChatLabeller):
    description = GEMMA_3N
    max_audio_seconds = 30.0  # every clip is padded to this window, so no clip is too short
    extra_flags = (("--double_bos", dict(
        action="store_true",
        help="tokenise the prompt as the published script did: the processor adds a second <bos> before the "
             "chat template's own, so the model sees two (the published labels); default: one, as the template "
             "defines")),)

    def __init__(self, model_path, runtime, flag, double_bos: bool = False):
        self.double_bos = double_bos
        super().__init__(model_path, runtime, flag)

    def model_class(self):
        from transformers import Gemma3nForConditionalGeneration

        return Gemma3nForConditionalGeneration

    def processor_inputs(self, texts: list[str], audios: list) -> dict:
        window = int(self.max_audio_seconds * self.sampling_rate)
        return self.processor(
            text=texts, audio=audios, sampling_rate=self.sampling_rate, return_tensors="pt",
            # the rendered chat already starts with <bos>; --double_bos adds the processor's own too
            add_special_tokens=self.double_bos,
            text_kwargs={"padding": True},
            # Gemma-3n's audio subsampling looks two frames past a clip's end, so every clip is
            # padded to the whole window: what follows it is then the same in any batch.
            audio_kwargs={"padding": "max_length", "max_length": window},
        )
