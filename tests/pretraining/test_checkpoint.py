"""Checkpoints: round trip, CPU loading, and every refusal leaving nothing half-loaded."""

import json

import numpy as np
import pytest
import torch

from bench.pretraining.checkpoint import CheckpointError, load_checkpoint, paths, save_checkpoint
from bench.training.config import TrainConfig
from tests.pretraining.helpers import TINY_POSSM, sessions, tiny_model


@pytest.fixture(scope="module")
def trained():
    data = sessions(2)
    model = tiny_model()
    model.fit(data, TrainConfig(epochs=1, batch_size=8), progress=False)
    return model, data


@pytest.fixture
def saved(trained, tmp_path):
    model, _ = trained
    stem = tmp_path / "ck"
    save_checkpoint(stem, model, provenance={"run_key": "abc123"})
    return stem


def test_round_trip_predicts_the_same(trained, saved):
    model, data = trained
    ck = load_checkpoint(saved, "possm-gru", model.params.model_dump(mode="json"))
    test = data[1].segments("test")
    for a, b in zip(model.predict(test), ck.decoder.predict(test)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert ck.key == "abc123"
    assert list(ck.decoder.vocab.units) == list(model.vocab.units)
    assert all(p.device.type == "cpu" for p in ck.decoder.module.parameters())


def test_sidecar_holds_vocabulary_architecture_and_provenance(trained, saved):
    side = json.loads(paths(saved)[1].read_text())
    assert side["format"] == 1 and side["architecture"]["model"] == "possm-gru"
    assert side["architecture"]["params"]["dim"] == TINY_POSSM["dim"]
    assert len(side["vocabulary"]["sessions"]) == 2
    assert side["weights"]["sha256"]


def test_optimizer_state_round_trips(trained, tmp_path):
    model, _ = trained
    opt = torch.optim.AdamW(model.module.parameters(), lr=1e-3)
    model.module(model_batch(model, trained[1])).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "o", model, provenance={}, optimizer_state=opt.state_dict())
    ck = load_checkpoint(tmp_path / "o")
    opt2 = torch.optim.AdamW(ck.decoder.module.parameters(), lr=1e-3)
    opt2.load_state_dict(ck.optimizer_state)
    for p1, p2 in zip(model.module.parameters(), ck.decoder.module.parameters()):
        assert torch.equal(opt.state[p1]["exp_avg"], opt2.state[p2]["exp_avg"])
        assert torch.equal(opt.state[p1]["step"], opt2.state[p2]["step"])


def model_batch(model, data):
    from bench.models.torch_decoder import pad_collate

    return pad_collate([model.encode(s) for s in data[0].segments("train")[:2]])


def test_another_architecture_is_refused(trained, saved):
    params = {**trained[0].params.model_dump(mode="json"), "hidden": 32}
    with pytest.raises(CheckpointError, match="hidden: checkpoint 16 vs suite 32"):
        load_checkpoint(saved, "possm-gru", params)
    with pytest.raises(CheckpointError, match="another architecture|only loads into"):
        load_checkpoint(saved, "gru", {})


def test_training_only_parameters_may_differ(trained, saved):
    params = {**trained[0].params.model_dump(mode="json"), "dropout": 0.3}
    load_checkpoint(saved, "possm-gru", params)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage_sidecar", "missing"])
def test_corrupt_or_truncated_checkpoint_is_refused(saved, damage):
    weights, side = paths(saved)
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "flip":
        raw = bytearray(weights.read_bytes())
        raw[-5] ^= 0xFF
        weights.write_bytes(bytes(raw))
    elif damage == "garbage_sidecar":
        side.write_text(side.read_text()[:50])
    else:
        weights.unlink()
    with pytest.raises(CheckpointError, match="corrupt|truncated|does not exist"):
        load_checkpoint(saved)


def test_newer_format_is_refused(saved):
    side = paths(saved)[1]
    data = json.loads(side.read_text())
    side.write_text(json.dumps({**data, "format": 99}))
    with pytest.raises(CheckpointError, match="format 99.*newer"):
        load_checkpoint(saved)


def test_gpu_saved_tensors_load_on_cpu(trained, tmp_path, monkeypatch):
    """safetensors stores no device; the loader maps every tensor to the CPU. Simulate a GPU save by
    recording the weights with the module claiming a CUDA device, then load with CUDA hidden."""
    model, data = trained
    save_checkpoint(tmp_path / "g", model, provenance={"device": "cuda"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ck = load_checkpoint(tmp_path / "g", device="cpu")
    assert ck.decoder.device == "cpu"
    assert ck.decoder.predict(data[0].segments("test")[:1])[0].shape[1] == 2


def test_failed_save_leaves_no_partial_files(trained, tmp_path, monkeypatch):
    import safetensors.torch

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "f", trained[0], provenance={})
    assert list(tmp_path.iterdir()) == []


def test_poyo_round_trips_and_grows(tmp_path):
    """POYO-mp (the other transferable family) saves, loads and grows its vocabulary like POSSM."""
    from bench import registry
    from bench.pretraining.finetune import grow_vocabulary

    cls = registry.models.get("poyo-mp")
    model = cls(cls.Params(dim=16, depth=1, dim_head=8, self_heads=2, latents_per_step=2), seed=0)
    data = sessions(2)
    model.initialise(data)
    save_checkpoint(tmp_path / "poyo", model, provenance={})
    ck = load_checkpoint(tmp_path / "poyo", "poyo-mp", model.params.model_dump(mode="json"))
    seg = data[0].segments("test")[:1]
    np.testing.assert_allclose(model.predict(seg)[0], ck.decoder.predict(seg)[0], atol=1e-6)
    grow_vocabulary(ck.decoder, sessions(1, start=7, animal="new"))
    assert ck.decoder.module.session_emb.weight.shape[0] == 3


def test_checkpoint_files_get_the_users_permissions(saved):
    import os

    mask = os.umask(0)
    os.umask(mask)
    for p in paths(saved):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask
