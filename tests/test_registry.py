"""Registration by decorator and by Python entry points (an outside package adds a model)."""

import pytest

from bench import registry
from bench.errors import SuiteError
from bench.models.base import Decoder
from bench.tasks.base import TaskKind


class OutsideDecoder(Decoder):
    """A decoder from another package."""

    supported_kinds = frozenset({TaskKind.regression})


class FakeEntryPoint:
    name = "outside-model"

    def load(self):
        return OutsideDecoder


def test_entry_point_models_are_registered(monkeypatch):
    registry.load_all()  # built-ins first, so the patched copy below holds them
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry.models, "_entries", dict(registry.models._entries))
    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()] if group == "bench.models" else [])
    assert registry.models.get("outside-model") is OutsideDecoder
    assert OutsideDecoder.registry_name == "outside-model"


def test_builtins_registered_and_unknown_name_suggests():
    assert {"wiener", "mlp", "gru"} <= set(registry.models.names())
    assert {"simulator", "import", "hdf5", "brainsets"} <= set(registry.data_sources.names())
    with pytest.raises(SuiteError, match="Did you mean 'wiener'"):
        registry.models.get("wienr")


def test_double_registration_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        registry.models.register("gru")(OutsideDecoder)
