"""speech_phonemes: segments per sentence with per-chunk queries, CTC feasibility, PER scoring."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from bench.data.phonemes import BLANK, N_CLASSES, SIL, UnknownWordError, ctc_frames_needed, text_to_phonemes
from bench.data.simulators.speech import DaySpec, simulate_day
from bench.errors import DataError
from bench.tasks.base import TaskKind
from bench.tasks.speech import SpeechPhonemes, pooled_per
from bench.training.losses import task_loss


@pytest.fixture(scope="module")
def rec():
    return simulate_day(DaySpec("t12_task", 0, 0, n_blocks=2, trials_per_block=3))


def one_hot_path(seg, hyp):
    """Logits whose greedy decoding is ``hyp`` (each token then a blank)."""
    frames = [t for h in hyp for t in (h, BLANK)]
    frames += [BLANK] * (seg.query_times.size - len(frames))
    return np.eye(N_CLASSES)[frames]


def test_phoneme_module():
    assert N_CLASSES == 41 and SIL == 40
    ids = text_to_phonemes("Hello, world!")
    assert ids[-1] == SIL and ids.count(SIL) == 2
    with pytest.raises(UnknownWordError, match=r"file f.mat, trial 3.*'qwxzzy'"):
        text_to_phonemes("hello qwxzzy", "file f.mat, trial 3")
    assert ctc_frames_needed([1, 1, 2]) == 4


def test_prepare_segments(rec):
    data = SpeechPhonemes().prepare(rec, 0.02)
    assert data.spec.kind == TaskKind.sequence and data.spec.dim == 41 and data.spec.blank == BLANK
    assert len(data.segments("test")) == 3
    seg = data.segments("train")[0]
    n = int(round(seg.duration / 0.02))
    assert seg.query_times.size == n and np.allclose(np.diff(seg.query_times), 0.02)
    assert seg.targets.dtype == np.int64 and seg.targets[-1] == SIL


def test_score_per_and_pooled(rec):
    task = SpeechPhonemes(SpeechPhonemes.Params(n_bootstrap=200))
    segs = task.prepare(rec, 0.02).segments("test")
    perfect = task.score(segs, [one_hot_path(s, s.targets.tolist()) for s in segs])
    assert perfect["per"] == 0 and perfect["per_ci_high"] == 0
    # drop the first phoneme of every sentence: PER = n_sentences / total length
    scores = task.score(segs, [one_hot_path(s, s.targets.tolist()[1:]) for s in segs])
    total = sum(s.targets.size for s in segs)
    assert scores["per"] == pytest.approx(len(segs) / total)
    assert scores["edit_distance"] == len(segs) and scores["reference_length"] == total
    assert scores["per_ci_low"] <= scores["per"] <= scores["per_ci_high"]
    assert pooled_per([perfect, scores]) == pytest.approx(len(segs) / (2 * total))
    # per-sentence scores (what a report pools over sessions and bootstraps) and decoded examples
    assert scores["sentence_edit_distance"] == [1] * len(segs)
    assert scores["sentence_length"] == [s.targets.size for s in segs]
    assert len(scores["examples"]) == min(len(segs), task.params.n_examples)
    first = scores["examples"][0]
    assert first["true"].split()[1:] == first["decoded"].split()  # the decoding lost its first phoneme
    assert first["true"].split()[-1] == "SIL"


def test_pooled_report_interval_from_sentences(rec, tmp_path):
    """The report's pooled PER equals summed distance / summed length over sessions, mean over seeds."""
    from types import SimpleNamespace

    from bench.results.sequences import pooled_frame, sequence_report

    def record(seed, dists, lengths):
        metrics = {"sentence_edit_distance": dists, "sentence_length": lengths,
                   "examples": [{"trial_start": 1.0, "true": "HH AH SIL", "decoded": "HH SIL"}]}
        return SimpleNamespace(label="m", dataset="d", seed=seed, trained=True, status="ok", train_seconds=10.0,
                               sessions=[SimpleNamespace(recording_id="day", metrics=metrics, fit={"peak_rss_mb": 900.0})])

    recs = [record(0, [1, 3, 0, 2], [10, 10, 10, 10]), record(1, [3, 3, 2, 0], [10, 10, 10, 10])]
    df = pooled_frame(recs)
    row = df.iloc[0]
    assert row["pooled_per"] == pytest.approx((6 / 40 + 8 / 40) / 2)
    assert row["per_sd_over_seeds"] == pytest.approx(np.std([6 / 40, 8 / 40], ddof=1))
    assert row["per_ci_low"] < row["pooled_per"] < row["per_ci_high"] and row["peak_train_rss_mb"] == 900
    md, files = sequence_report(recs, tmp_path)
    assert re.search(r"\| m +\| d +\| +17\.5 ", md) and (tmp_path / "pooled.csv").is_file() and (tmp_path / "decoded_d.png").is_file()
    assert not list(tmp_path.glob(".*.part"))


def test_trial_too_short_for_its_labels(rec):
    tr = rec.trials
    short = replace(tr, end=tr.start + np.where(np.arange(len(tr)) == 2, 0.1, tr.end - tr.start))
    with pytest.raises(DataError, match=r"trial 2: .*fewer than the \d+ frames CTC needs"):
        SpeechPhonemes().prepare(replace(rec, trials=short, _views={}), 0.02)


def test_blank_in_labels_refused(rec):
    labels = rec.trials.labels.copy()
    labels[1, 0] = BLANK
    with pytest.raises(DataError, match="trial 1: label 0"):
        SpeechPhonemes().prepare(replace(rec, trials=replace(rec.trials, labels=labels), _views={}), 0.02)


def test_ctc_loss_masks_padding():
    """The sequence loss is CTC over each sample's weighted frames and its non-blank labels."""
    torch.manual_seed(0)
    logits = torch.randn(2, 12, 5)
    targets = torch.tensor([[1, 2, 3], [4, 0, 0]])
    weights = torch.tensor([[1.0] * 12, [1.0] * 7 + [0.0] * 5])
    loss = task_loss(TaskKind.sequence, logits, targets, weights, blank=0)
    lp = torch.log_softmax(logits, -1)
    a = torch.nn.functional.ctc_loss(lp[0:1].transpose(0, 1), targets[0:1], [12], [3], reduction="sum") / 3
    b = torch.nn.functional.ctc_loss(lp[1:2, :7].transpose(0, 1), targets[1:2, :1], [7], [1], reduction="sum")
    assert float(loss) == pytest.approx(float((a + b) / 2), rel=1e-5)
    # changing the padded frames of the second sample leaves the loss unchanged
    logits2 = logits.clone()
    logits2[1, 7:] = 100.0
    assert float(task_loss(TaskKind.sequence, logits2, targets, weights)) == pytest.approx(float(loss), rel=1e-6)
