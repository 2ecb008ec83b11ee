"""A small byte-level BPE vocabulary trained offline with the ``tokenizers`` library.

Every tiny checkpoint needs a real tokenizer of its family's class; this trains the vocabulary
(and merges) those classes are built from, on a little English text about sounds, so prompts
tokenise into ordinary sub-words rather than single bytes.
"""

from __future__ import annotations

import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..prompting import PROMPT_TEXT, SYSTEM_TEXT_DEFAULT, SYSTEM_TEXT_QWEN_OMNI

_CORPUS = [
    PROMPT_TEXT,
    SYSTEM_TEXT_DEFAULT,
    SYSTEM_TEXT_QWEN_OMNI,
    "Provide a short sentence to describe this set of audio samples.",
    "traffic noise, car horn, birds chirping, wind blowing, dog barking, people talking",
    "rain falling, water flowing, train passing, crowd cheering, fire crackling, door closing",
    "engine running, music playing, footsteps walking, bell ringing, machine humming, baby crying",
    "the quick brown fox jumps over the lazy dog while a distant siren wails in the city street",
    "You are a helpful assistant. user assistant system audio",
]


def train_byte_level_bpe(vocab_size: int = 400) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE; special tokens are added by the tokenizer class."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    saved = json.loads(tokenizer.to_str())["model"]
    return saved["vocab"], [tuple(merge) for merge in saved["merges"]]
