"""Prompt texts, MLLM response cleaning and label parsing (docs/method.md §2, §3).

These are the published strings and rules; change them and results stop being comparable with
the paper.
"""

from __future__ import annotations

import re
import string

PROMPT_TEXT = "Describe the auditory scene using word pairs. Separate each pair with a comma."

#: System text for Qwen2-Audio and Gemma-3n.
SYSTEM_TEXT_DEFAULT = "Describing an auditory scene."

#: Qwen2.5-Omni and Qwen3-Omni are trained to expect Qwen's own system text.
SYSTEM_TEXT_QWEN_OMNI = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)


def build_prompt(annotation: str = "") -> str:
    """The prompt text, with a non-blank human annotation appended after one space (HITL)."""
    annotation = annotation.strip()
    return f"{PROMPT_TEXT} {annotation}" if annotation else PROMPT_TEXT


_PUNCTUATION_EXCEPT_COMMA = "".join(ch for ch in string.punctuation if ch != ",")
_REMOVE_PUNCTUATION = str.maketrans("", "", _PUNCTUATION_EXCEPT_COMMA)
# \r\n and \n per the published rule; a lone \r and the other characters that text tools treat
# as line breaks would split a labels-CSV line, so they are handled the same way.
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


# Other control characters (a NUL, an escape sequence a model emits) would reach every later file
# and the pages invisibly: a tab becomes a space, the rest go (not in the published rule).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def clean_response(text: str) -> str:
    """Line breaks become ``", "``, ASCII punctuation except the comma is removed, control
    characters are removed (a tab becomes a space), lower case."""
    text = _LINE_BREAKS.sub(", ", text)
    text = _CONTROL.sub("", text.replace("\t", " "))
    return text.translate(_REMOVE_PUNCTUATION).lower()


def parse_label_line(line: str) -> list[str]:
    """The candidate labels of one labels-CSV line, as CLAP scoring reads them.

    Split on commas; from every piece drop non-ASCII characters, strip, keep the first two words.
    Empty pieces (e.g. from a trailing comma) are ignored.
    """
    labels = []
    for piece in line.split(","):
        ascii_piece = piece.encode("ascii", "ignore").decode("ascii").strip()
        words = ascii_piece.split()
        if words:
            labels.append(" ".join(words[:2]))
    return labels
