"""A tiny instruction-style causal LM (Qwen2 architecture, ChatML chat template) for composite labels.

The real Qwen2 instruct checkpoints use a byte-level BPE tokenizer with ``<|endoftext|>`` (padding),
``<|im_start|>`` / ``<|im_end|>`` (turn markers, ``<|im_end|>`` ends generation) and a ChatML chat
template; this builds the same layout with tiny sizes and random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

#: ChatML, as the Qwen instruct models use it: one ``<|im_start|>role\n...<|im_end|>\n`` per turn.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Enough text for BPE to learn merges over the words the composite-label prompts hold.
_TRAINING_TEXT = [
    "Provide a short sentence to describe this set of audio samples.",
    "The frequency distribution of individual labels for this set of audio samples is provided:",
    "Total samples: 12",
    "traffic noise, car horn, birds chirping, wind blowing, speech murmur, dog barking, rain falling",
    "A busy street with cars and people talking. Birds singing in a quiet park.",
    "user assistant system 0 1 2 3 4 5 6 7 8 9",
]


def _train_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of a small byte-level BPE, special tokens first (ids 0, 1, 2)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def build(dest: Path) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    vocab, merges = _train_bpe()
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START, IM_END],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(dest)

    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,  # tied tiny embeddings only ever repeat the last input token
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(dest)
