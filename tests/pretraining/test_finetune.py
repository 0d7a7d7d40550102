"""UI and FT: the vocabulary grows with rows kept, UI moves only the new rows, FT moves everything."""

import pytest
import torch

from bench.errors import SuiteError
from bench.pretraining.checkpoint import load_checkpoint, save_checkpoint
from bench.pretraining.finetune import adapt, grow_vocabulary
from bench.training.config import TrainConfig
from tests.pretraining.helpers import sessions, tiny_model


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    model = tiny_model()
    model.fit(sessions(2), TrainConfig(epochs=2, batch_size=8), progress=False)
    stem = tmp_path_factory.mktemp("ck") / "pre"
    save_checkpoint(stem, model, provenance={"run_key": "k"})
    return stem


def fresh(stem):
    return load_checkpoint(stem).decoder


def test_growing_keeps_every_pretrained_row(pretrained):
    dec = fresh(pretrained)
    units = dec.module.unit_emb.weight.detach().clone()
    n_sessions = len(dec.vocab.sessions)
    before = grow_vocabulary(dec, sessions(1, start=5, animal="new"))
    assert before == {"unit_emb": units.shape[0], "session_emb": n_sessions}
    assert dec.module.unit_emb.weight.shape[0] == units.shape[0] + 10
    assert len(dec.vocab.sessions) == n_sessions + 1
    assert torch.equal(dec.module.unit_emb.weight[: units.shape[0]], units)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_ui_trains_only_the_new_rows(pretrained):
    dec = fresh(pretrained)
    old = snapshot(dec.module)
    n_u, n_s = old["unit_emb.weight"].shape[0], old["session_emb.weight"].shape[0]
    new = sessions(1, start=5, animal="new")
    adapt(dec, new, TrainConfig(epochs=2, batch_size=8), "ui")
    after = snapshot(dec.module)
    for k, v in old.items():
        if k in ("unit_emb.weight", "session_emb.weight"):
            assert torch.equal(after[k][: v.shape[0]], v), k
        else:
            assert torch.equal(after[k], v), k
    grown = load_checkpoint(pretrained).decoder
    grow_vocabulary(grown, new)
    assert not torch.equal(after["unit_emb.weight"][n_u:], grown.module.unit_emb.weight[n_u:].detach())
    assert dec.predict(new[0].segments("test"))[0].shape[1] == 2
    assert n_s + 1 == after["session_emb.weight"].shape[0]


def test_ft_unfreezes_after_the_ui_epochs(pretrained):
    dec = fresh(pretrained)
    old = snapshot(dec.module)
    report = adapt(dec, sessions(1, start=5, animal="new"), TrainConfig(epochs=3, batch_size=8, patience=10), "ft",
                   ui_epochs=1, pretrained_lr_scale=0.5)
    assert report["epochs_run"] == 3
    assert not torch.equal(snapshot(dec.module)["readout.weight"], old["readout.weight"])
    assert all(p.requires_grad for p in dec.module.parameters())


def test_finetuning_on_a_pretraining_session_is_refused(pretrained):
    with pytest.raises(SuiteError, match="part of the pretraining data"):
        adapt(fresh(pretrained), sessions(1), TrainConfig(epochs=1), "ui")


def test_another_task_needs_new_head_and_then_trains_a_fresh_readout(pretrained):
    from bench.tasks.reach_direction import ReachDirection
    from tests.conftest import make_recording

    rec = make_recording(n_trials=24, n_units=10, seed=9, recording_id="cls_0")
    data = [ReachDirection().prepare(rec, 0.05)]
    with pytest.raises(SuiteError, match="new_head"):
        adapt(fresh(pretrained), data, TrainConfig(epochs=1, batch_size=8), "ui")
    dec = fresh(pretrained)
    old = snapshot(dec.module)
    adapt(dec, data, TrainConfig(epochs=2, batch_size=8), "ui", new_head=True)
    after = snapshot(dec.module)
    assert after["readout.weight"].shape[0] == data[0].spec.dim
    assert torch.equal(after["backbone.rnn.weight_hh_l0"], old["backbone.rnn.weight_hh_l0"])  # UI: body frozen
    assert dec.predict(data[0].segments("test"))[0].shape[-1] == data[0].spec.dim
