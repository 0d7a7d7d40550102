"""Classification training windows hold their trial's readout: every trial trained every epoch.

A classification segment (a trial) has one query, just before its end. POYO and NDT-2 train on
windows (POYO always; NDT-2 when the suite sets ``window_s``); random tiles held a readout only
when one happened to reach the trial end, about one trial in ten per epoch, so these models barely
trained. Checked end to end through ``fit``, with the training loop replaced by one that records
the epochs' examples.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from bench import registry
from bench.tasks.reach_direction import ReachDirection
from bench.training.config import TrainConfig
from tests.conftest import make_recording

CHUNK_S = 0.05
POYO_SMALL = dict(dim=16, depth=1, dim_head=8, cross_heads=1, self_heads=2, latents_per_step=2, ff_mult=1)
NDT2_SMALL = dict(dim=32, heads=2, layers=1, decoder_layers=1, ffn_dim=32, patch_size=8)


@pytest.fixture(scope="module")
def data():
    return ReachDirection().prepare(make_recording(n_trials=40, trial_s=2.0), CHUNK_S)


def epochs_of_windows(name, params, train, data, n_epochs=4):
    """The windows each training example of ``n_epochs`` epochs was made from, per epoch."""
    cls = registry.models.get(name)
    model = cls(cls.Params(**params), seed=0)
    made = []
    encode = model._example
    model._example = lambda seg: (made.append(seg), encode(seg))[1]
    captured = {}

    def loop(module, examples, *args, **kwargs):
        captured["examples"] = examples
        return SimpleNamespace(to_dict=lambda: {})

    model.train_loop_override = loop
    model.fit([data], train, progress=False)
    examples = captured["examples"]
    assert callable(examples), "random windows are drawn afresh every epoch"
    epochs = []
    for epoch in range(n_epochs):
        made.clear()
        assert len(examples(epoch)) == len(made)
        epochs.append(list(made))
    return epochs


@pytest.mark.parametrize("name, params, train", [
    ("poyo-ss", POYO_SMALL, TrainConfig(epochs=1)),  # POYO: windows of context_s (1 s) on 2 s trials
    ("ndt2", NDT2_SMALL, TrainConfig(epochs=1, window_s=1.0)),  # NDT-2 with a suite's window_s
])
def test_every_classification_training_example_of_every_epoch_holds_its_readout(data, name, params, train):
    trials = data.segments("train")
    assert all(t.duration > 1.5 for t in trials)  # longer than the window: tiles could miss the readout
    for windows in epochs_of_windows(name, params, train, data):
        assert len(windows) == len(trials)  # every trial, every epoch
        for trial, win in zip(trials, windows):
            assert win.query_times.tolist() == trial.query_times.tolist()  # its readout ...
            assert win.targets.tolist() == trial.targets.tolist()
            assert win.end == trial.end  # ... at its trailing edge, as streaming reads it
            assert win.start == pytest.approx(trial.end - 1.0, abs=1e-9)  # with a full context before


def test_poyo_encodes_the_readout_at_the_window_end(data):
    """What the network is given: the query at the END delimiter of a full-context window."""
    windows = epochs_of_windows("poyo-ss", POYO_SMALL, TrainConfig(epochs=1), data, n_epochs=1)[0]
    cls = registry.models.get("poyo-ss")
    model = cls(cls.Params(**POYO_SMALL), seed=0)
    model.initialise([data])
    ex = model._example(windows[0])
    assert ex["query_time"].tolist() == pytest.approx([1.0 - 1e-6]) and float(ex["window_end"]) == pytest.approx(1.0)
    assert ex["targets"].tolist() == windows[0].targets.tolist()


def test_regression_keeps_random_tiles(data):
    """Regression windows are still the tiles at a random chunk phase, drawn as before."""
    from bench.models.windows import tiled_windows
    from bench.tasks.reaching import ReachingVelocity

    reg = ReachingVelocity().prepare(data.recording, CHUNK_S)
    windows = epochs_of_windows("poyo-ss", POYO_SMALL, TrainConfig(epochs=1), reg, n_epochs=3)
    rng = np.random.default_rng(0 + 1)  # the sliding base's window rng: seed + 1
    for got in windows:
        want = tiled_windows(reg.segments("train"), 1.0, 0.5, CHUNK_S, rng)
        assert [(w.start, w.end, w.query_times.size) for w in got] == [(w.start, w.end, w.query_times.size) for w in want]
    assert [w.start for w in windows[0]] != [w.start for w in windows[1]]  # a new phase each epoch


@pytest.mark.parametrize("name", ["poyo-ss", "poyo-mp", "ndt2"])
def test_only_classification_records_of_the_window_models_are_restamped(name):
    """The readout windows changed classification training only: its records carry version 2
    (made stale), regression records keep version 1 and their keys."""
    from bench.suite.plan import run_identity

    def version(task):
        return run_identity(model=name, model_params={}, train={}, task=task, task_params={}, source="simulator",
                            source_params={}, chunk_ms=50.0, latency={}, device="cpu", needs_gpu=False,
                            seed=0)["model"]["version"]

    assert version("reach_direction") == version("handwriting_character") == 2
    assert version("reaching_velocity") == 1
