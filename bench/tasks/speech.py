"""Attempted-speech decoding: per-chunk phoneme logits, trained with CTC, scored by phoneme error rate.

Each trial (one attempted sentence, 2-16 s) is one segment from its go cue to its end, decoded from
a fresh state. The decoder emits logits over the 41 classes of ``bench.data.phonemes`` (blank 0)
at one query per streaming chunk (the chunk's midpoint), so a streaming decoder emits a frame per
chunk. Training uses CTC against the trial's label sequence; scoring decodes each test sentence
greedily and reports PER = summed edit distance / summed reference length over the session's test
sentences, with a bootstrap 95 % interval over sentences, and the sums themselves, so a pooled
PER over sessions is their ratio (``pooled_per``). Splits follow the recording's domains (the
simulator and the importers hold out the last block of each day as test).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from bench.data.phonemes import BLANK, CLASS_NAMES, N_CLASSES, ctc_frames_needed
from bench.data.recording import Recording
from bench.data.views import snap_inward
from bench.errors import DataError
from bench.metrics.sequence import greedy_ctc_decode, levenshtein, per_bootstrap_ci
from bench.registry import tasks
from bench.tasks.base import OutputSpec, Segment, Task, TaskData, TaskKind, TaskParams


class SpeechParams(TaskParams):
    n_bootstrap: int = Field(2000, ge=100, description="bootstrap resamples of sentences for the PER interval")
    n_examples: int = Field(4, ge=0, le=50, description="test sentences per session stored decoded beside their "
                            "reference (the report's decoded-vs-true figure)")


def phoneme_text(ids: list[int]) -> str:
    """Phoneme ids as ARPAbet names separated by spaces ('SIL' between words)."""
    return " ".join(CLASS_NAMES[i] for i in ids)


def pooled_per(scores: list[dict]) -> float:
    """PER over several sessions' test sentences: summed distances over summed reference lengths."""
    return float(sum(s["edit_distance"] for s in scores) / max(sum(s["reference_length"] for s in scores), 1))


@tasks.register("speech_phonemes")
class SpeechPhonemes(Task):
    """Decode the phoneme sequence of each attempted sentence (CTC, PER)."""

    kind = TaskKind.sequence
    Params = SpeechParams
    primary_metric = "per"
    higher_is_better = False

    def check_recording(self, rec: Recording) -> None:
        where = rec.path or rec.recording_id
        if rec.trials is None or len(rec.trials) == 0 or rec.trials.labels is None:
            raise DataError(
                f"Recording {where} has no trials with phoneme labels: task 'speech_phonemes' needs "
                "trials.labels (each sentence's phoneme ids; see bench/data/phonemes.py)."
            )
        bad = (rec.trials.labels >= N_CLASSES) | (rec.trials.labels == BLANK)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(
                f"Recording {where}, trial {i}: label {rec.trials.labels[i, j]} at position {j} is not a "
                f"phoneme class (expected 1..{N_CLASSES - 1}; 0 is the CTC blank, -1 pads)."
            )
        missing = [s for s in ("train", "test") if s not in rec.splits]
        if missing:
            raise DataError(f"Recording {where} has no {', '.join(m + '_domain' for m in missing)}.")

    def prepare(self, rec: Recording, chunk_s: float) -> TaskData:
        self.check_recording(rec)
        tr, where = rec.trials, rec.path or rec.recording_id
        origin = float(rec.domain.start[0])
        data = TaskData(rec, OutputSpec(TaskKind.sequence, N_CLASSES, CLASS_NAMES, blank=BLANK), chunk_s)
        for split in ("train", "valid", "test"):
            dom = rec.splits.get(split)
            if dom is None:
                data.splits[split] = []
                continue
            segments = []
            for i in np.flatnonzero(dom.contains(tr.start)):
                labels = tr.label_sequence(i)
                s, e = snap_inward(tr.start[i], tr.end[i], origin, chunk_s)
                n = int(round((e - s) / chunk_s)) if e > s else 0
                if labels.size == 0:
                    raise DataError(f"Recording {where}, trial {i}: the trial has no phoneme labels.")
                if n < ctc_frames_needed(labels):
                    raise DataError(
                        f"Recording {where}, trial {i}: {tr.end[i] - tr.start[i]:.3f} s gives {n} chunks of "
                        f"{chunk_s * 1000:g} ms, fewer than the {ctc_frames_needed(labels)} frames CTC needs for its "
                        f"{labels.size} labels (one per label, plus a blank between repeats). The trial's times "
                        "or its labels are wrong."
                    )
                q = s + (np.arange(n) + 0.5) * chunk_s
                segments.append(Segment(rec, s, e, q, labels, np.ones(n, np.float32), np.ones(n, bool)))
            data.splits[split] = segments
        if not data.splits["train"] or not data.splits["test"]:
            raise DataError(
                f"Recording {where}: speech_phonemes found {len(data.splits['train'])} train and "
                f"{len(data.splits['test'])} test sentences; need both."
            )
        return data

    def score(self, segments: list[Segment], predictions: list[np.ndarray]) -> dict:
        refs = [s.targets.tolist() for s in segments]
        hyps = [greedy_ctc_decode(p.reshape(len(s.query_times), -1), BLANK) for s, p in zip(segments, predictions)]
        dists = [int(levenshtein(r, h)) for r, h in zip(refs, hyps)]
        dist = sum(dists)
        length = sum(len(r) for r in refs)
        low, high = per_bootstrap_ci(refs, hyps, n_resamples=self.params.n_bootstrap, seed=0)
        return {
            "per": dist / length,
            "per_ci_low": low,
            "per_ci_high": high,
            "edit_distance": int(dist),
            "reference_length": int(length),
            "n_sentences": len(refs),
            # per test sentence, in segment order: what a PER pooled over sessions (and seeds) and
            # its bootstrap interval over sentences are computed from (bench.results.sequences)
            "sentence_edit_distance": dists,
            "sentence_length": [len(r) for r in refs],
            # a few test sentences decoded, for the report's decoded-vs-true figure
            "examples": [{"trial_start": round(float(seg.start), 3), "true": phoneme_text(r), "decoded": phoneme_text(h)}
                         for seg, r, h in list(zip(segments, refs, hyps))[: self.params.n_examples]],
        }
