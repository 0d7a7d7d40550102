"""Data-parallel batch step: a process's loss weighted by its share of the batch's normaliser sums
to the global batch's loss (every task kind), and two gloo processes running the shared loop's
Trainer end with the weights of one process on the same global batches."""

import json
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bench.tasks.base import TaskKind
from bench.training.config import TrainConfig
from bench.training.distributed import DataParallel, world
from bench.training.loop import Trainer, train_loop
from bench.training.losses import loss_normaliser, task_loss


def _batch(kind: TaskKind, n: int = 6, q: int = 5, gen: torch.Generator | None = None):
    gen = gen or torch.Generator().manual_seed(0)
    weights = (torch.rand(n, q, generator=gen) > 0.3).float() * torch.rand(n, q, generator=gen) * 3
    weights[:, 0] = 1.0  # every sample scores at least one query (CTC: at least one frame)
    if kind == TaskKind.regression:
        return torch.randn(n, q, 2, generator=gen), torch.randn(n, q, 2, generator=gen), weights
    if kind == TaskKind.classification:
        return torch.randn(n, q, 4, generator=gen), torch.randint(0, 4, (n, q), generator=gen), weights
    frames = (weights > 0).float()  # CTC reads the frames from the weights
    labels = torch.zeros(n, 2, dtype=torch.long)
    labels[:, 0] = torch.randint(1, 4, (n,), generator=gen)
    return torch.randn(n, q, 4, generator=gen), labels, frames


@pytest.mark.parametrize("kind", list(TaskKind))
def test_shares_of_the_normaliser_recompose_the_global_loss(kind):
    pred, target, weight = _batch(kind)
    whole = task_loss(kind, pred, target, weight)
    parts = [slice(0, 2), slice(2, 6)]  # unequal parts, with unequal weight sums
    total = sum(loss_normaliser(kind, weight[p]) for p in parts)
    recomposed = sum(task_loss(kind, pred[p], target[p], weight[p]) * loss_normaliser(kind, weight[p]) / total
                     for p in parts)
    torch.testing.assert_close(recomposed, whole)
    # the naive mean of the parts' losses is not the global loss (the weighting is needed)
    naive = sum(task_loss(kind, pred[p], target[p], weight[p]) for p in parts) / len(parts)
    assert not torch.allclose(naive, whole)


def test_a_single_process_has_no_data_parallel_split():
    assert world() == (0, 1)
    assert DataParallel.of_world(lambda batch: torch.tensor(1.0)) is None


# ------------------------------------------------------------------------ two gloo processes
N_EXAMPLES = 17  # batches of 8, 8 and 1: the last global batch leaves the second process without an example

def _problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N_EXAMPLES, 3, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    w = torch.rand(N_EXAMPLES, generator=gen) * 2  # unequal example weights: a plain average of the shards' losses is wrong
    return [{"x": x[i], "y": y[i], "w": w[i]} for i in range(N_EXAMPLES)], x, y


def _collate(items):
    return {k: torch.stack([i[k] for i in items]) for k in items[0]}


def _fit(parallel: DataParallel | None, epochs: int = 3):
    examples, x, y = _problem()
    torch.manual_seed(1)
    net = torch.nn.Linear(3, 1)
    module = parallel.wrap(net) if parallel else net

    def loss(b):
        err = ((module(b["x"]) - b["y"]) ** 2)[:, 0]
        return (err * b["w"]).sum() / b["w"].sum()

    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=0.05)
    trainer = Trainer(net, loss, lambda: float(((net(x) - y) ** 2).mean()), cfg, parallel=parallel)
    rng = np.random.default_rng(0)
    losses = [trainer.record(trainer.epoch(e, examples, _collate, rng))["train_loss"] for e in range(epochs)]
    return losses, net.weight.detach().clone(), trainer.steps


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        losses, weight, steps = _fit(DataParallel.of_world(lambda b: b["w"].sum()))
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump([losses, weight.tolist(), steps], f)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_two_gloo_processes_take_the_steps_of_one_process(tmp_path):
    one_losses, one_weight, one_steps = _fit(None)
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    (l0, w0, s0), (l1, w1, s1) = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert s0 == s1 == one_steps == 9  # ceil(17 / 8) global batches per epoch, 3 epochs
    assert l0 == l1  # both processes log the global batch's loss
    np.testing.assert_allclose(l0, one_losses, rtol=1e-5)
    assert w0 == w1
    torch.testing.assert_close(torch.tensor(w0), one_weight, rtol=1e-5, atol=1e-6)


def test_train_loop_keeps_its_single_process_step():
    """train_loop (early stopping, best weights) runs the same Trainer; one process, no split."""
    examples, x, y = _problem()
    torch.manual_seed(1)
    net = torch.nn.Linear(3, 1)
    rep = train_loop(net, examples, _collate, lambda b: (((net(b["x"]) - b["y"]) ** 2)[:, 0] * b["w"]).sum()
                     / b["w"].sum(), lambda: float(((net(x) - y) ** 2).mean()),
                     TrainConfig(epochs=3, batch_size=8, lr=0.05, select_on_valid=False), progress=False)
    losses, weight, _ = _fit(None)
    assert [h["train_loss"] for h in rep.history] == losses
    torch.testing.assert_close(net.weight.detach(), weight, rtol=0, atol=0)
