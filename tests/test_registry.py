"""Registration: built-ins and plugins through the same entry points, clashes, presets as data."""

import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from bench import registry
from bench.errors import SuiteError
from bench.models.base import Decoder
from bench.models.presets import Preset, PresetError
from bench.registry import RegistrationError
from bench.tasks.base import TaskKind


class OutsideDecoder(Decoder):
    """A decoder from another package."""

    supported_kinds = frozenset({TaskKind.regression})


@pytest.fixture
def fresh_registry(monkeypatch):
    """Copies of the loaded registries (built-ins in, as once their modules are imported), loaded
    again from the ``declared`` entry points (group -> list) only: the plugins of a test."""
    registry.load_all()
    declared: dict[str, list] = {}
    monkeypatch.setattr(registry, "_loaded", False)
    for reg in (registry.models, registry.tasks, registry.data_sources):
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))
        monkeypatch.setattr(reg, "_bound", {})
    monkeypatch.setattr(registry, "declared_entry_points", lambda group: declared.get(group, []))
    return declared


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A package ``tmp_plugin`` on sys.path with a decorated decoder in a submodule no __init__ imports."""
    pkg = tmp_path / "tmp_plugin"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text(textwrap.dedent('''
        from bench.models.base import Decoder
        from bench.registry import models

        @models.register("deep-model")
        class DeepDecoder(Decoder):
            """Found only by importing every submodule."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tmp_plugin"
    for name in [m for m in sys.modules if m.startswith("tmp_plugin")]:
        del sys.modules[name]


def test_builtins_come_from_this_projects_entry_points():
    declared = registry.declared_entry_points("bench.models")
    assert {("baselines", "baselines"), ("possm", "possm")} <= {(ep.name, ep.value) for ep in declared}
    assert {"wiener", "mlp", "gru", "possm-gru", "poyo-ss"} <= set(registry.models.names())
    assert {"simulator", "import", "hdf5", "brainsets"} <= set(registry.data_sources.names())
    assert {"reaching_velocity", "reach_direction"} <= set(registry.tasks.names())


def test_package_entry_point_imports_every_submodule(fresh_registry, plugin_package):
    fresh_registry["bench.models"] = [EntryPoint("plugin", plugin_package, "bench.models")]
    cls = registry.models.get("deep-model")
    assert cls.__name__ == "DeepDecoder" and cls.registry_name == "deep-model"
    assert "deep-model" in registry.models.names()


def test_class_entry_point_registers_under_its_name(fresh_registry):
    fresh_registry["bench.models"] = [EntryPoint("outside-model", f"{__name__}:OutsideDecoder", "bench.models")]
    assert registry.models.get("outside-model") is OutsideDecoder
    assert OutsideDecoder.registry_name == "outside-model"


def test_clash_between_plugin_and_builtin_names_both(fresh_registry):
    fresh_registry["bench.models"] = [EntryPoint("gru", f"{__name__}:OutsideDecoder", "bench.models")]
    with pytest.raises(RegistrationError) as err:
        registry.models.names()
    message = str(err.value)
    assert "'gru' is registered twice" in message
    assert "baselines.recurrent" in message and "OutsideDecoder" in message and "entry point 'gru" in message
    with pytest.raises(RegistrationError):  # reported again, not a half-filled registry
        registry.models.names()


def test_clash_between_two_plugins(fresh_registry):
    fresh_registry["bench.models"] = [
        EntryPoint("same", f"{__name__}:OutsideDecoder", "bench.models"),
        EntryPoint("same", "bench.models.base:Decoder", "bench.models"),
    ]
    with pytest.raises(RegistrationError, match="OutsideDecoder.*bench.models.base.Decoder"):
        registry.models.names()


def test_entry_point_must_name_a_module_or_class(fresh_registry):
    fresh_registry["bench.tasks"] = [EntryPoint("odd", "bench.registry:load_all", "bench.tasks")]
    with pytest.raises(RegistrationError, match="must name a module .* or a task class"):
        registry.tasks.names()


def test_unknown_name_suggests():
    with pytest.raises(SuiteError, match="Did you mean 'wiener'"):
        registry.models.get("wienr")


def test_decorator_refuses_a_taken_name():
    with pytest.raises(RegistrationError, match="'gru' is registered twice.*baselines.recurrent"):
        registry.models.register("gru")(OutsideDecoder)


# ---------------------------------------------------------------------------- presets


def test_presets_of_one_class_resolve_to_their_values():
    gru, large = registry.models.get("possm-gru"), registry.models.get("possm-gru-large")
    base = registry.models.base("possm-gru")
    assert registry.models.base("possm-mamba-large") is base
    assert issubclass(gru, base) and gru.Params.__mro__[1] is base.Params  # one Params class underneath
    assert registry.models.preset("possm-gru-large").values["hidden"] == 512
    assert registry.models.defaults("possm-gru-large")["hidden"] == 512 == large.Params().hidden
    assert registry.models.defaults("possm-gru")["hidden"] == 256
    assert (gru.multi_session, large.multi_session) == (False, True)
    assert (gru.paper_parameters, large.paper_parameters) == (470_000, 7_960_000)
    assert registry.models.preset("wiener") is None
    assert registry.models.get("wiener") is registry.models.base("wiener")


def test_suite_params_override_preset_values_and_are_validated():
    params = registry.models.params("possm-s4d-large", {"layers": 2})
    assert (params.layers, params.hidden, params.backbone) == (2, 512, "s4d")
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        registry.models.params("possm-gru", {"hiden": 3})
    with pytest.raises(Exception, match="greater than or equal"):
        registry.models.params("possm-gru", {"hidden": 1})


def test_a_bad_preset_is_refused_when_bound(fresh_registry):
    registry.models.register_presets({"broken": Preset({"widht": 3})})(OutsideDecoder)
    with pytest.raises(PresetError, match="'widht'"):
        registry.models.get("broken")


def test_the_same_preset_twice_is_not_a_clash(fresh_registry):
    presets = {"p": Preset({}, "a preset")}
    registry.models.register_presets(presets)(OutsideDecoder)
    registry.models.register_presets(presets)(OutsideDecoder)
    with pytest.raises(RegistrationError, match="'p' is registered twice"):
        registry.models.register_presets({"p": Preset({}, "another")})(OutsideDecoder)


def test_reloading_a_module_re_registers_its_names(fresh_registry, plugin_package):
    import importlib

    fresh_registry["bench.models"] = [EntryPoint("plugin", plugin_package, "bench.models")]
    first = registry.models.get("deep-model")
    importlib.reload(sys.modules["tmp_plugin.sub.deep"])
    assert registry.models.get("deep-model") is not first
