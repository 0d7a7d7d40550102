"""Adapting a session the model was pretrained on (finetune's ``seen_sessions: allow``): UI trains
that session's pretrained embedding rows and nothing else; without the opt-in it is refused."""

import torch

from bench.pretraining.finetune import adapt
from bench.training.config import TrainConfig
from tests.pretraining.helpers import sessions
from tests.pretraining.test_finetune import fresh, pretrained, snapshot  # noqa: F401 (fixture)


def test_ui_on_a_seen_session_trains_its_own_pretrained_rows_only(pretrained):  # noqa: F811
    dec = fresh(pretrained)
    seen = sessions(1)  # session 0 of the two the model was pretrained on
    units = torch.from_numpy(dec.vocab.unit_index(seen[0].recording))
    row = dec.vocab.session_index(seen[0].recording)
    old = snapshot(dec.module)
    adapt(dec, seen, TrainConfig(epochs=2, batch_size=8), "ui", allow_seen=True)
    after = snapshot(dec.module)
    for k, v in old.items():
        assert after[k].shape == v.shape, k  # nothing grew: the session and its units were in the vocabulary
        if k not in ("unit_emb.weight", "session_emb.weight"):
            assert torch.equal(after[k], v), k
    others = torch.ones(old["unit_emb.weight"].shape[0], dtype=torch.bool)
    others[units] = False
    assert torch.equal(after["unit_emb.weight"][others], old["unit_emb.weight"][others])
    assert not torch.equal(after["unit_emb.weight"][units], old["unit_emb.weight"][units])
    assert not torch.equal(after["session_emb.weight"][row], old["session_emb.weight"][row])
    keep = [i for i in range(old["session_emb.weight"].shape[0]) if i != row]
    assert torch.equal(after["session_emb.weight"][keep], old["session_emb.weight"][keep])
