import numpy as np
import pytest
import torch

from bench.training.config import TrainConfig
from bench.training.loop import lr_factor, train_loop


def test_flat_cosine_schedule():
    cfg = TrainConfig(schedule="flat_cosine")
    assert lr_factor(cfg, 0.25, 5) == 1.0
    assert lr_factor(cfg, 0.75, 15) == pytest.approx(0.5)
    assert lr_factor(cfg, 1.0, 20) == pytest.approx(0.0)


def _problem():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return [{"x": x[i], "y": y[i]} for i in range(64)], x, y


def collate(items):
    return {"x": torch.stack([i["x"] for i in items]), "y": torch.stack([i["y"] for i in items])}


def test_loop_fits_and_is_seeded():
    examples, x, y = _problem()
    results = []
    for _ in range(2):
        torch.manual_seed(123)
        net = torch.nn.Linear(3, 1)
        loss = lambda b: ((net(b["x"]) - b["y"]) ** 2).mean()  # noqa: E731
        rep = train_loop(net, examples, collate, loss, lambda: float(((net(x) - y) ** 2).mean()),
                         TrainConfig(epochs=60, batch_size=8, lr=0.05), seed=1, progress=False)
        results.append(net.weight.detach().clone())
    assert rep.best_valid_loss < 1e-2
    torch.testing.assert_close(results[0], results[1])


def test_early_stopping_restores_best_weights():
    examples, x, y = _problem()
    net = torch.nn.Linear(3, 1)
    losses = iter([1.0, 0.5, 0.9, 0.8, 0.7, 0.6, 0.95] + [1.0] * 100)
    snapshots = []

    def valid():
        snapshots.append(net.weight.detach().clone())
        return next(losses)

    rep = train_loop(net, examples, collate, lambda b: ((net(b["x"]) - b["y"]) ** 2).mean(), valid,
                     TrainConfig(epochs=50, patience=3, lr=0.01), progress=False)
    assert rep.stopped_early and rep.best_epoch == 1 and rep.epochs_run == 5
    torch.testing.assert_close(net.weight.detach(), snapshots[1])


def test_loop_draws_examples_per_epoch_when_given_a_function():
    examples, x, y = _problem()
    calls, seen = [], []
    net = torch.nn.Linear(3, 1)

    def per_epoch(epoch):
        calls.append(epoch)
        return examples[: 8 * (epoch + 1)]  # a different number of examples each epoch

    def loss(b):
        seen.append(b["x"].shape[0])
        return ((net(b["x"]) - b["y"]) ** 2).mean()

    train_loop(net, per_epoch, collate, loss, lambda: 1.0, TrainConfig(epochs=3, batch_size=8, patience=10),
               progress=False)
    assert calls == [0, 1, 2]
    assert seen == [8] * (1 + 2 + 3)  # one batch in epoch 0, two in epoch 1, three in epoch 2


def _noisy_valid(values):
    """A validation loss that reads ``values`` epoch by epoch."""
    it = iter(values)
    return lambda: next(it)


def _fit(cfg, valid_values):
    examples, x, y = _problem()
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    loss = lambda b: ((net(b["x"]) - b["y"]) ** 2).mean()  # noqa: E731
    return train_loop(net, examples, collate, loss, _noisy_valid(valid_values), cfg, progress=False), net


def test_min_epochs_keeps_training_and_selects_from_it_on():
    # the valid loss is lowest at epoch 0 (noise on a small split): without min_epochs that epoch's
    # weights are kept and training stops after `patience` epochs
    losses = [0.1, 0.5, 0.4, 0.45, 0.3, 0.35, 0.36, 0.37]
    rep, _ = _fit(TrainConfig(epochs=8, batch_size=8, patience=2), losses)
    assert (rep.best_epoch, rep.epochs_run, rep.stopped_early) == (0, 3, True)
    rep, _ = _fit(TrainConfig(epochs=8, batch_size=8, patience=2, min_epochs=4), losses)
    assert rep.best_epoch == 4 and rep.epochs_run == 7 and rep.stopped_early and rep.max_epochs == 8


def test_without_selection_the_last_weights_are_kept():
    rep, net = _fit(TrainConfig(epochs=5, batch_size=8, patience=1, select_on_valid=False), [0.1, 0.9, 0.9, 0.9, 0.9])
    assert (rep.best_epoch, rep.epochs_run, rep.stopped_early) == (4, 5, False)


def test_min_epochs_above_the_cap_is_refused():
    with pytest.raises(ValueError, match=r"min_epochs \(9\) exceeds epochs \(5\)"):
        TrainConfig(epochs=5, min_epochs=9)


def test_an_epoch_without_examples_is_a_clear_error():
    from bench.errors import BenchError

    net = torch.nn.Linear(3, 1)
    with pytest.raises(BenchError, match="epoch 2 has no training examples"):
        train_loop(net, lambda epoch: _problem()[0] if epoch == 0 else [], collate,
                   lambda b: ((net(b["x"]) - b["y"]) ** 2).mean(), lambda: 1.0, TrainConfig(epochs=3), progress=False)
