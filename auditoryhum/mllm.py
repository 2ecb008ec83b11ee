"""What the local Hugging Face MLLM labellers have in common (docs/method.md §2).

:class:`ChatLabeller` loads a model folder with ``from_pretrained`` (the upstream workflow
``git clone``s each model), renders one chat per file - system message, then a user turn holding
the audio and the prompt, generation prompt added - and generates greedily: no sampling, one beam,
at most 64 new tokens, KV cache on, seed 100. Batches are left-padded so a batch gives the same
tokens as one file at a time.

A model family is a small subclass: which model class, which system text, and - where its
processor or checkpoint layout differ - one overridden hook.
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

from .errors import UserError
from .labelling import LabelRequest
from .models import Model
from .prompting import SYSTEM_TEXT_DEFAULT
from .runtime import (
    Runtime,
    bitsandbytes_installed,
    check_model_type,
    loading_model,
    resolve_model_path,
    seed_everything,
)

log = logging.getLogger(__name__)

#: The published decoding (docs/method.md §2), shared by every local labeller.
GENERATION_KWARGS = dict(do_sample=False, num_beams=1, max_new_tokens=64, use_cache=True)


class ChatLabeller:
    #: the model family (name, ``model_type`` values checked before loading weights, flag, ...)
    description: Model
    system_text: str = SYSTEM_TEXT_DEFAULT
    #: the audio encoder's window; longer clips are cut there and the engine logs it per file
    max_audio_seconds: float | None = 30.0
    #: the shortest clip the processor and encoder accept (None: any length); the engine pads to it
    min_audio_seconds: float | None = None

    def __init__(self, model_path: str, runtime: Runtime, flag: str):
        self.model_path = resolve_model_path(model_path, flag)
        self.runtime = runtime
        check_model_type(self.model_path, flag, self.description.model_types, f"{self.name} model")
        # e.g. Gemma-3n's vision tower needs timm, the Omni processors torchvision: one line each
        with loading_model(flag, model_path):
            self._check_prequantised(flag)
            self.processor = self.load_processor()
            self.model = self.load_model().eval()
        self.tokenizer = self.processor.tokenizer
        # Decoder-only generation continues from the last position of every row: pad on the left.
        self.tokenizer.padding_side = "left"
        self.sampling_rate = self.processor.feature_extractor.sampling_rate
        # A fast tokenizer must not encode and decode at once (the engine prepares the next batch on
        # another thread while this one decodes): its Rust core refuses with "Already borrowed".
        self._processor_lock = threading.Lock()
        seed_everything()

    @property
    def name(self) -> str:
        """Shown in progress bars and messages."""
        return self.description.display_name

    @classmethod
    def generation_parameters(cls) -> dict:
        """The decoding settings, for the run record."""
        return dict(GENERATION_KWARGS)

    #: flags of this model family's label script beyond the shared ones: ``(flag, add_argument
    #: keywords)``; their values reach the constructor as keywords named by the flag
    extra_flags: tuple[tuple[str, dict], ...] = ()

    # -- hooks a model family may override ---------------------------------------------------

    def model_class(self):
        raise NotImplementedError

    def load_processor(self):
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(self.model_path)

    def load_model(self):
        return self.model_class().from_pretrained(self.model_path, **self.runtime.from_pretrained_kwargs())

    def conversation(self, prompt: str) -> list[dict]:
        return [
            {"role": "system", "content": [{"type": "text", "text": self.system_text}]},
            {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": prompt}]},
        ]

    def render_chat(self, prompt: str) -> str:
        return self.processor.apply_chat_template(self.conversation(prompt), add_generation_prompt=True, tokenize=False)

    def processor_inputs(self, texts: list[str], audios: list) -> dict:
        return self.processor(
            text=texts, audio=audios, sampling_rate=self.sampling_rate, padding=True, return_tensors="pt"
        )

    # -- the adapter interface the labelling loop calls -----------------------------------------

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        return self.label_prepared(requests, self.prepare_batch(requests))

    def prepare_batch(self, requests: Sequence[LabelRequest]):
        """The processor's inputs of a batch (chat text, tokens, audio features), on the CPU; the
        loop makes the next batch's while the model generates."""
        texts = [self.render_chat(request.prompt) for request in requests]
        # The tokenizer is shared with label_prepared's decoding, which may run at the same time.
        with self._processor_lock:
            return self.processor_inputs(texts, [request.audio for request in requests])

    def label_prepared(self, requests: Sequence[LabelRequest], inputs) -> list[str]:
        import torch

        inputs = inputs.to(self.model.device)
        # Audio features follow the weights' dtype (bf16 on CUDA); ids and masks stay integer.
        for key, value in inputs.items():
            if torch.is_floating_point(value):
                inputs[key] = value.to(self.model.dtype)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            output = self.model.generate(**inputs, **GENERATION_KWARGS, pad_token_id=pad_id)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        with self._processor_lock:
            return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    # -----------------------------------------------------------------------------------------

    def _check_prequantised(self, flag: str) -> None:
        """A checkpoint saved already quantised by bitsandbytes (e.g. unsloth's bnb-4bit builds)
        loads only where ``--load_in_4bit`` could: on CUDA, with bitsandbytes installed."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_path)
        quantization = getattr(config, "quantization_config", None) or {}
        method = quantization.get("quant_method") if isinstance(quantization, dict) else quantization.quant_method
        if method != "bitsandbytes":
            return
        if not self.runtime.device.startswith("cuda"):
            raise UserError(f"{flag}={self.model_path}: a bitsandbytes-quantised checkpoint needs a CUDA GPU "
                            "(use the unquantised model on CPU)")
        if not bitsandbytes_installed():
            raise UserError(f'{flag}={self.model_path}: a bitsandbytes-quantised checkpoint needs bitsandbytes: '
                            'pip install bitsandbytes')
