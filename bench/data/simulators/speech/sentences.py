"""Sentences of real English words and the timing of their phonemes as the participant tries to say them.

Words are drawn by frequency (``wordfreq``) from the most common English words the CMU dictionary
knows, so sentences have a natural phoneme distribution. Each trial has its own speaking rate;
phoneme durations vary around a per-class mean; pauses of variable length fall between words.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench.data.phonemes import PHONEMES, SIL, word_phonemes, words_of

VOCABULARY_SIZE = 3000
MIN_SPEECH_S, MAX_TRIAL_S = 1.2, 15.0  # with the go-cue lead and tail, trials last 2-16 s
LEAD_S = (0.4, 0.9)  # silence between the go cue and the first phoneme
TAIL_S = 0.4
MEAN_PHONEME_S = 0.085


@lru_cache(maxsize=1)
def vocabulary() -> tuple[tuple[str, ...], np.ndarray]:
    """The most frequent English words with a pronunciation, and their sampling probabilities."""
    import wordfreq

    words, freqs = [], []
    for w in wordfreq.top_n_list("en", 4 * VOCABULARY_SIZE):
        if len(words) == VOCABULARY_SIZE:
            break
        if words_of(w) == [w] and word_phonemes(w) is not None:
            words.append(w)
            freqs.append(wordfreq.word_frequency(w, "en"))
    p = np.asarray(freqs) ** 0.6  # flattened Zipf: closer to the mix of the original sentence corpus
    return tuple(words), p / p.sum()


@dataclass
class SpokenSentence:
    text: str
    labels: np.ndarray  # class ids: each word's phonemes then SIL
    onsets: np.ndarray  # s from the trial start, one per phoneme (SIL excluded)
    durations: np.ndarray
    classes: np.ndarray  # the phoneme class of each timed segment
    duration: float  # trial length (go cue to end)


def _phoneme_mean_durations() -> np.ndarray:
    """Vowels longer than stops (a fixed per-class profile, index = class id)."""
    vowels = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
    means = np.full(SIL + 1, MEAN_PHONEME_S)
    for i, p in enumerate(PHONEMES, start=1):
        means[i] = MEAN_PHONEME_S * (1.35 if p in vowels else 0.8)
    return means


def speak_sentence(rng: np.random.Generator) -> SpokenSentence:
    """A random sentence of 3-16 words and the times at which each phoneme is attempted."""
    words, p = vocabulary()
    means = _phoneme_mean_durations()
    rate = rng.uniform(0.7, 1.4)  # speaking-rate factor of this trial (>1: slower)
    n_words = int(rng.integers(3, 17))
    picked = [words[i] for i in rng.choice(len(words), size=n_words, p=p)]
    t = rng.uniform(*LEAD_S)
    labels, onsets, durations, classes, kept = [], [], [], [], []
    for w in picked:
        ids = word_phonemes(w)
        dur = rate * means[ids] * rng.lognormal(0.0, 0.25, size=len(ids))
        if t + dur.sum() > MAX_TRIAL_S - TAIL_S and len(kept) >= 1:
            break
        kept.append(w)
        for c, d in zip(ids, dur):
            onsets.append(t), durations.append(d), classes.append(c)
            t += d
        labels.extend(ids + [SIL])
        t += rate * rng.gamma(2.0, 0.06)  # pause between words
    duration = max(t + TAIL_S, MIN_SPEECH_S + LEAD_S[1])
    return SpokenSentence(" ".join(kept), np.asarray(labels, np.int64), np.asarray(onsets),
                          np.asarray(durations), np.asarray(classes, np.int64), float(duration))
